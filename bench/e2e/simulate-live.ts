/**
 * @module bench/e2e/simulate-live
 *
 * `npm run bench:simulate-live`: the replay simulator against Ferry itself
 * (issue 15 §3, validation (b)). One seeded synthetic trace (Poisson
 * arrivals, exponential service, one target twice as slow) is replayed
 * twice per algorithm:
 *
 *   live       in real time through a real Ferry (startFerry, one worker
 *              thread) to two real HTTP targets that serve one request at a
 *              time (FIFO) for the request's `x-service-ms` × their slowdown;
 *   simulated  through `ferry simulate`'s engine (workers/simulate), with
 *              the same targets, slowdowns and concurrency 1.
 *
 * It prints p50/p90/mean of both and the p50 ratio; the goal is simulated
 * p50 within ±15 % of live. Latency is measured at the client, so the live
 * numbers include Ferry's and the client's own time (well under a
 * millisecond per request here, against a 20 ms mean service time).
 * Thread: the bench's main thread (Ferry's workers are its own threads).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import pino from 'pino';
import { Pool } from 'undici';
import type { SimRequest } from '../../proto/simulate.ts';
import { parseConfig } from '../../src/config/index.ts';
import { startFerry } from '../../src/main.ts';
import { createRandom } from '../../src/shared/random.ts';
import { simulate } from '../../workers/simulate/index.ts';

const REQUESTS = Number(process.env['SIM_LIVE_REQUESTS'] ?? 1_000);
const RATE_PER_MS = 0.04; // 40 requests/s
const MEAN_SERVICE_MS = 20;
const SLOWDOWNS = [1, 2] as const;
const ALGORITHMS = ['round_robin', 'least_outstanding_requests', 'response_time', 'peak_ewma'] as const;

function trace(): SimRequest[] {
  const random = createRandom(2026);
  const requests: SimRequest[] = [];
  let nowMs = 0;
  for (let i = 0; i < REQUESTS; i++) {
    nowMs += -Math.log(1 - random()) / RATE_PER_MS;
    const serviceMs = -Math.log(1 - random()) * MEAN_SERVICE_MS;
    requests.push({
      arrivalMs: nowMs,
      key: `c${i % 100}`,
      serviceMs: Math.round(serviceMs * 1000) / 1000,
      serviceMsByTarget: null,
      isError: false,
    });
  }
  return requests;
}

/** A target that serves one request at a time, in arrival order, for x-service-ms × slowdown. */
async function startQueueTarget(slowdown: number): Promise<{ address: string; close(): Promise<void> }> {
  let busyUntilMs = 0;
  const server = http.createServer((req, res) => {
    const serviceMs = Number(req.headers['x-service-ms'] ?? 0) * slowdown;
    const nowMs = performance.now();
    const startMs = Math.max(nowMs, busyUntilMs);
    busyUntilMs = startMs + serviceMs;
    req.resume();
    setTimeout(() => res.end('ok'), busyUntilMs - nowMs);
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    address: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function stats(latencies: number[]): { p50: number; p90: number; mean: number } {
  const sorted = [...latencies].sort((a, b) => a - b);
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
  const round = (ms: number) => Math.round(ms * 100) / 100;
  return {
    p50: round(at(50)),
    p90: round(at(90)),
    mean: round(sorted.reduce((a, b) => a + b, 0) / sorted.length),
  };
}

async function live(algorithm: string, requests: SimRequest[]): Promise<number[]> {
  const targets = await Promise.all(SLOWDOWNS.map((slowdown) => startQueueTarget(slowdown)));
  const parsed = parseConfig(
    `workers: 1
admin: { address: "127.0.0.1:0" }
listeners:
  - { name: web, protocol: HTTP, address: "127.0.0.1:0", defaultAction: { forward: { targetGroup: app } } }
targetGroups:
  - name: app
    algorithm: ${algorithm}
    healthCheck: { enabled: false }
    timeouts: { response: 60s }
    targets: [${targets.map((t) => `{ address: "${t.address}" }`).join(', ')}]
`,
    '<bench>',
  );
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  const ferry = await startFerry(parsed.snapshot, { log: pino({ level: 'silent' }), logLevel: 'silent' });
  const pool = new Pool(`http://127.0.0.1:${ferry.listenerPorts.get('web')}`, {
    connections: 256,
    pipelining: 1,
  });
  const latencies: number[] = [];
  try {
    // Warm the connections so the first requests do not pay the handshakes.
    await Promise.all(
      Array.from({ length: 8 }, () =>
        pool
          .request({ path: '/', method: 'GET', headers: { 'x-service-ms': '0' } })
          .then((r) => r.body.text()),
      ),
    );
    const startMs = performance.now();
    const pending: Promise<void>[] = [];
    for (const request of requests) {
      const dueMs = startMs + request.arrivalMs;
      const waitMs = dueMs - performance.now();
      if (waitMs > 1) await new Promise((resolve) => setTimeout(resolve, waitMs));
      const sentMs = performance.now();
      pending.push(
        pool
          .request({ path: '/', method: 'GET', headers: { 'x-service-ms': String(request.serviceMs) } })
          .then(async (response) => {
            await response.body.text();
            latencies.push(performance.now() - sentMs);
          }),
      );
    }
    await Promise.all(pending);
  } finally {
    await pool.close();
    await ferry.stop(1_000);
    await Promise.all(targets.map((t) => t.close()));
  }
  return latencies;
}

async function main(): Promise<void> {
  const requests = trace();
  console.log(
    `# bench:simulate-live — node ${process.version}, ${os.cpus()[0]?.model ?? 'unknown CPU'} × ${os.cpus().length}`,
  );
  console.log(
    `# ${REQUESTS} requests, Poisson ${RATE_PER_MS * 1000}/s, exponential service mean ${MEAN_SERVICE_MS} ms, targets slowdown ${SLOWDOWNS.join(', ')} (FIFO, one at a time)`,
  );
  const simulated = simulate({
    algorithms: [...ALGORITHMS],
    targets: SLOWDOWNS.map((slowdown, i) => ({ address: `t${i}`, weight: 1, slowdown, concurrency: 1 })),
    requests,
    whatIfs: [],
    seed: 1,
  });
  console.log(
    '| algorithm | live p50 ms | sim p50 ms | sim/live p50 | live p90 ms | sim p90 ms | live mean ms | sim mean ms |',
  );
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const algorithm of ALGORITHMS) {
    const measured = stats(await live(algorithm, requests));
    const sim = simulated.results.find((r) => r.algorithm === algorithm)!;
    const ratio = Math.round((sim.p50Ms / measured.p50) * 100) / 100;
    console.log(
      `| ${algorithm} | ${measured.p50} | ${sim.p50Ms.toFixed(2)} | ${ratio} ${Math.abs(ratio - 1) <= 0.15 ? '✓' : '✗'} | ${measured.p90} | ${sim.p90Ms.toFixed(2)} | ${measured.mean} | ${sim.meanMs.toFixed(2)} |`,
    );
  }
}

await main();
