/**
 * Which worker thread served what, read from the shared table's worker rows,
 * so cross-worker tests can pin a connection to a known worker instead of
 * hoping the kernel's SO_REUSEPORT spread put traffic on both.
 */
import { loadWorker, WORKER_ACTIVE_CONNECTIONS, WORKER_REQUESTS_TOTAL } from '../../proto/table-layout.ts';
import type { TestFerry } from './ferry.ts';
import { RawClient } from './raw-http.ts';
import { waitForSettled } from './table-counters.ts';

/** Connections opened, at most, to find one on every worker (all on one of 2 workers: odds 2^-63). */
const CONNECT_ATTEMPTS_MAX = 64;

/** Downstream requests received by each worker so far (WORKER_REQUESTS_TOTAL). */
export function workerRequests(ferry: TestFerry, workerCount: number): number[] {
  return Array.from({ length: workerCount }, (_, i) =>
    loadWorker(ferry.table.view, i, WORKER_REQUESTS_TOTAL),
  );
}

/** Requests each worker received since `before` (a workerRequests() reading). */
export function workerRequestsSince(ferry: TestFerry, before: readonly number[]): number[] {
  return workerRequests(ferry, before.length).map((count, i) => count - before[i]!);
}

/**
 * One keep-alive RawClient per worker, index = worker index. Each candidate
 * connection sends one `GET <path>` and keeps it if the worker whose
 * WORKER_REQUESTS_TOTAL moved has no client yet. Throws if some worker never
 * accepts within CONNECT_ATTEMPTS_MAX connections.
 */
export async function clientPerWorker(
  ferry: TestFerry,
  workerCount: number,
  path = '/',
): Promise<RawClient[]> {
  const clients: (RawClient | undefined)[] = new Array(workerCount);
  for (let attempt = 0; attempt < CONNECT_ATTEMPTS_MAX; attempt++) {
    const before = workerRequests(ferry, workerCount);
    const client = await RawClient.connect(ferry.port);
    await client.write(`GET ${path} HTTP/1.1\r\nhost: workers.test\r\n\r\n`);
    await client.response();
    const worker = workerRequestsSince(ferry, before).indexOf(1);
    if (worker >= 0 && clients[worker] === undefined) clients[worker] = client;
    else client.destroy();
    if (clients.filter((c) => c !== undefined).length === workerCount) return clients as RawClient[];
  }
  for (const client of clients) client?.destroy();
  throw new Error(
    `no connection reached every one of ${workerCount} workers in ${CONNECT_ATTEMPTS_MAX} tries`,
  );
}

/** Live downstream connections per worker (WORKER_ACTIVE_CONNECTIONS). */
export function workerConnectionCounts(ferry: TestFerry, workerCount: number): number[] {
  return Array.from({ length: workerCount }, (_, i) =>
    loadWorker(ferry.table.view, i, WORKER_ACTIVE_CONNECTIONS),
  );
}

/**
 * The worker that accepted a connection just opened: waits (bounded) until
 * exactly one worker's WORKER_ACTIVE_CONNECTIONS is one above `before`.
 * Returns -1 if none moved.
 */
export async function workerThatAccepted(ferry: TestFerry, before: readonly number[]): Promise<number> {
  const deltas = await waitForSettled(
    () => workerConnectionCounts(ferry, before.length).map((count, i) => count - before[i]!),
    (d) => d.reduce((sum, x) => sum + x, 0) === 1,
  );
  return deltas.indexOf(1);
}
