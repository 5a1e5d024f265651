/**
 * @module src/failover/observe
 *
 * Waits until every live worker has observed a table generation: the moment
 * a failover (or any single-store change) is in effect everywhere. Thread:
 * main. Reads WORKER_OBSERVED_GENERATION and WORKER_HEARTBEAT_MS only.
 *
 * Why this proves the switch: a worker reads GROUP_ROUTE_TO on every pick,
 * and a pick runs in one synchronous turn. A worker that has stored an
 * observed generation >= the one carrying the switch has finished every
 * pick that began before the store, so from then on none of its new
 * requests can go to the old route. Requests already picked finish where
 * they were sent.
 */
import {
  HEADER_CLOCK_ORIGIN_S,
  loadHeader,
  loadWorker,
  type TableView,
  WORKER_HEARTBEAT_MS,
  WORKER_OBSERVED_GENERATION,
  waitWorkerAsync,
} from '../../proto/table-layout.ts';
import { clockMs, elapsedMs, monoUs } from '../shared/clock.ts';
import { FAILOVER_HEARTBEAT_STALE_MS, FAILOVER_OBSERVE_RECHECK_MS } from './limits.ts';

export interface ObservedOutcome {
  /** True when every live worker observed the generation within the wait. */
  readonly isObserved: boolean;
  /** Microseconds from the call to the last check. */
  readonly waitedUs: number;
  /** Live workers (running, heartbeat fresh or not yet beating). */
  readonly workerCount: number;
  /** Indexes of live workers that had not observed it when the wait ended. */
  readonly behind: readonly number[];
}

/**
 * The live workers, and those among them still behind `generation`. A worker
 * that has not beaten yet (heartbeat 0) is live: it booted with the current
 * table and acknowledges on its first pick or tick. Allocates the result.
 */
export function workersBehind(
  view: TableView,
  generation: number,
  isWorkerLive: (workerIndex: number) => boolean,
): { readonly workerCount: number; readonly behind: number[] } {
  const nowTableMs = clockMs(loadHeader(view, HEADER_CLOCK_ORIGIN_S));
  const behind: number[] = [];
  let workerCount = 0;
  for (let worker = 0; worker < view.workerCapacity; worker++) {
    if (!isWorkerLive(worker)) continue;
    const heartbeatMs = loadWorker(view, worker, WORKER_HEARTBEAT_MS);
    if (heartbeatMs !== 0 && elapsedMs(nowTableMs, heartbeatMs) > FAILOVER_HEARTBEAT_STALE_MS) continue;
    workerCount++;
    const observed = loadWorker(view, worker, WORKER_OBSERVED_GENERATION);
    if (((observed - generation) | 0) < 0) behind.push(worker);
  }
  return { workerCount, behind };
}

/**
 * Resolve once every live worker has observed `generation` (wrap-safe), or
 * after `waitMsMax` with `isObserved: false`. Sleeps on the first lagging
 * worker's WORKER_OBSERVED_GENERATION with Atomics.waitAsync (workers notify
 * it when they store a new value), so the main thread neither polls nor
 * takes CPU from the workers it waits for; each sleep is at most
 * FAILOVER_OBSERVE_RECHECK_MS so a worker that stops beating is dropped.
 * Never rejects.
 */
export async function waitForWorkers(
  view: TableView,
  generation: number,
  isWorkerLive: (workerIndex: number) => boolean,
  waitMsMax: number,
): Promise<ObservedOutcome> {
  const startedUs = monoUs();
  for (;;) {
    const { workerCount, behind } = workersBehind(view, generation, isWorkerLive);
    const waitedUs = monoUs() - startedUs;
    if (behind.length === 0) return { isObserved: true, waitedUs, workerCount, behind };
    const leftMs = waitMsMax - waitedUs / 1000;
    if (leftMs <= 0) return { isObserved: false, waitedUs, workerCount, behind };
    const worker = behind[0]!;
    const observed = loadWorker(view, worker, WORKER_OBSERVED_GENERATION);
    if (((observed - generation) | 0) >= 0) continue;
    const wait = waitWorkerAsync(
      view,
      worker,
      WORKER_OBSERVED_GENERATION,
      observed,
      Math.min(leftMs, FAILOVER_OBSERVE_RECHECK_MS),
    );
    if (wait.async) await wait.value;
  }
}
