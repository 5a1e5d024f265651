/**
 * @module workers/simulate/engine
 *
 * The replay simulator's discrete-event engine: each request of a trace is
 * picked by the very balancer a worker runs (workers/balance, over a real
 * SharedArrayBuffer table written through proto/table-layout.ts), and its
 * completion is recorded by the very function a worker's record phase calls
 * (`recordExchange`: in-flight, EWMA, peak-EWMA, consecutive 5xx), so
 * least-outstanding, response-time and peak-EWMA see what they would see
 * live. Thread: a worker thread of `ferry simulate` (entry.ts), or a test.
 *
 * Model: each target is a FIFO queue in front of `concurrency` servers;
 * a request's latency is its wait plus its service time (the trace's, times
 * the target's slowdown). Connections follow requests one to one (each
 * request holds a connection while queued or served), so least_connections
 * reads the same number as least_outstanding_requests would; the table
 * clock is the simulated clock (ms), so EWMA decay follows simulated time.
 *
 *   arrival(t) ──> complete every request finishing ≤ t (in-flight −1, recordExchange)
 *              ──> apply what-ifs due ≤ t ──> balancer.pick(view, keyHash, t) ──> queue at target
 *
 * Not modelled (and said so in docs/simulate.md): stickiness and slow start
 * (no cookie stream in a trace), health checks, connection setup, retries.
 */

import type { SimAlgorithmResult, SimInput, SimResult, SimTarget } from '../../proto/simulate.ts';
import {
  addTarget,
  initTable,
  NO_SLOT,
  storeTarget,
  TARGET_ACTIVE_CONNECTIONS,
  TARGET_GROUP_INDEX,
  TARGET_IN_FLIGHT,
  TARGET_STATE,
  TARGET_STATE_HEALTHY,
  TARGET_STATE_UNHEALTHY,
  TARGET_WEIGHT,
  type TableView,
  tableBytes,
} from '../../proto/table-layout.ts';
import { assert } from '../../src/shared/assert.ts';
import { hashString } from '../../src/shared/hash.ts';
import { createRandom } from '../../src/shared/random.ts';
import { type AlgorithmName, createBalancer, ELIGIBLE_ROUTABLE, isAlgorithmName } from '../balance/index.ts';
import { recordExchange } from '../record/index.ts';

/** Simulated clock starts here (ms), so "0 = unmeasured" table cells never meet a real time of 0. */
const SIM_CLOCK_START_MS = 1_000;

/** A min-heap of (time, slot) completion events, in two parallel arrays. */
class CompletionHeap {
  private times: Float64Array;
  private slots: Int32Array;
  private statuses: Int32Array;
  private latenciesUs: Float64Array;
  size: number;

  constructor(capacity: number) {
    this.times = new Float64Array(Math.max(16, capacity));
    this.slots = new Int32Array(this.times.length);
    this.statuses = new Int32Array(this.times.length);
    this.latenciesUs = new Float64Array(this.times.length);
    this.size = 0;
  }

  push(timeMs: number, slot: number, status: number, latencyUs: number): void {
    let i = this.size++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.times[parent]! <= timeMs) break;
      this.move(parent, i);
      i = parent;
    }
    this.times[i] = timeMs;
    this.slots[i] = slot;
    this.statuses[i] = status;
    this.latenciesUs[i] = latencyUs;
  }

  peekTimeMs(): number {
    return this.size === 0 ? Number.POSITIVE_INFINITY : this.times[0]!;
  }

  /** Remove the earliest; its fields are left in the `top*` properties. */
  pop(): void {
    this.topTimeMs = this.times[0]!;
    this.topSlot = this.slots[0]!;
    this.topStatus = this.statuses[0]!;
    this.topLatencyUs = this.latenciesUs[0]!;
    const last = --this.size;
    const time = this.times[last]!;
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= last) break;
      if (child + 1 < last && this.times[child + 1]! < this.times[child]!) child++;
      if (this.times[child]! >= time) break;
      this.move(child, i);
      i = child;
    }
    this.move(last, i);
  }

  topTimeMs = 0;
  topSlot = 0;
  topStatus = 0;
  topLatencyUs = 0;

  private move(from: number, to: number): void {
    this.times[to] = this.times[from]!;
    this.slots[to] = this.slots[from]!;
    this.statuses[to] = this.statuses[from]!;
    this.latenciesUs[to] = this.latenciesUs[from]!;
  }
}

/** Per target: when each of its servers is next free (ms). */
function serverFreeTimes(targets: readonly SimTarget[]): Float64Array[] {
  return targets.map((target) => new Float64Array(Math.max(1, target.concurrency)));
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index]!;
}

/** Run one algorithm over the trace. Allocates its table and result; picks allocate nothing. */
export function simulateAlgorithm(input: SimInput, algorithm: AlgorithmName): SimAlgorithmResult {
  const { targets, requests } = input;
  const capacity = { groupCapacity: 1, targetCapacity: Math.max(1, targets.length), workerCapacity: 1 };
  const view: TableView = initTable(new SharedArrayBuffer(tableBytes(capacity)), capacity, 0);
  const slots = new Int32Array(targets.length);
  const slowdown = new Float64Array(targets.length);
  targets.forEach((target, slot) => {
    slots[slot] = slot;
    slowdown[slot] = target.slowdown;
    storeTarget(view, slot, TARGET_STATE, TARGET_STATE_HEALTHY);
    storeTarget(view, slot, TARGET_GROUP_INDEX, 0);
    storeTarget(view, slot, TARGET_WEIGHT, target.weight);
  });
  const ids = targets.map((target) => target.address);
  const balancer = createBalancer(algorithm, 0, createRandom(input.seed));
  balancer.rebuild(view, slots, ids);
  const slotByAddress = new Map(ids.map((address, slot) => [address, slot]));
  const whatIfs = [...input.whatIfs].sort((a, b) => a.atMs - b.atMs);
  let nextWhatIf = 0;
  const free = serverFreeTimes(targets);
  const heap = new CompletionHeap(requests.length);
  const latencies = new Float64Array(requests.length);
  const perTargetCount = new Float64Array(targets.length);
  const perTargetSumMs = new Float64Array(targets.length);
  let served = 0;
  let unserved = 0;
  let errors = 0;
  let sumMs = 0;
  const complete = (untilMs: number) => {
    while (heap.peekTimeMs() <= untilMs) {
      heap.pop();
      addTarget(view, heap.topSlot, TARGET_IN_FLIGHT, -1);
      addTarget(view, heap.topSlot, TARGET_ACTIVE_CONNECTIONS, -1);
      recordExchange(
        view,
        heap.topSlot,
        heap.topStatus,
        heap.topLatencyUs,
        SIM_CLOCK_START_MS + heap.topTimeMs,
      );
    }
  };
  for (const request of requests) {
    const nowMs = request.arrivalMs;
    complete(nowMs);
    while (nextWhatIf < whatIfs.length && whatIfs[nextWhatIf]!.atMs <= nowMs) {
      const change = whatIfs[nextWhatIf++]!;
      const slot = slotByAddress.get(change.address);
      assert(slot !== undefined, `what-if names an unknown target ${change.address}`);
      if (change.kind === 'slow') slowdown[slot] = slowdown[slot]! * change.factor;
      else if (change.kind === 'fail') storeTarget(view, slot, TARGET_STATE, TARGET_STATE_UNHEALTHY);
      else {
        storeTarget(view, slot, TARGET_WEIGHT, change.weight);
        balancer.rebuild(view, slots, ids);
      }
    }
    const slot = balancer.pick(view, hashString(request.key), SIM_CLOCK_START_MS + nowMs, ELIGIBLE_ROUTABLE);
    if (slot === NO_SLOT) {
      unserved++;
      continue;
    }
    const address = ids[slot]!;
    const serviceMs = (request.serviceMsByTarget?.[address] ?? request.serviceMs) * slowdown[slot]!;
    // FIFO over `concurrency` servers: start on the one free first.
    const servers = free[slot]!;
    let earliest = 0;
    for (let i = 1; i < servers.length; i++) if (servers[i]! < servers[earliest]!) earliest = i;
    const startMs = Math.max(nowMs, servers[earliest]!);
    const endMs = startMs + serviceMs;
    servers[earliest] = endMs;
    const latencyMs = endMs - nowMs;
    addTarget(view, slot, TARGET_IN_FLIGHT, 1);
    addTarget(view, slot, TARGET_ACTIVE_CONNECTIONS, 1);
    heap.push(endMs, slot, request.isError ? 503 : 200, Math.round(latencyMs * 1000));
    latencies[served++] = latencyMs;
    sumMs += latencyMs;
    perTargetCount[slot]!++;
    perTargetSumMs[slot] = perTargetSumMs[slot]! + latencyMs;
    if (request.isError) errors++;
  }
  complete(Number.POSITIVE_INFINITY);
  const sorted = latencies.slice(0, served).sort();
  const round = (ms: number) => Math.round(ms * 1000) / 1000;
  return {
    algorithm,
    requests: requests.length,
    unserved,
    errors,
    meanMs: served === 0 ? 0 : round(sumMs / served),
    p50Ms: round(percentile(sorted, 50)),
    p90Ms: round(percentile(sorted, 90)),
    p99Ms: round(percentile(sorted, 99)),
    cdfMs: Array.from({ length: 101 }, (_, p) => round(percentile(sorted, p))),
    targets: targets.map((target, slot) => ({
      address: target.address,
      requests: perTargetCount[slot]!,
      sharePercent: served === 0 ? 0 : Math.round((perTargetCount[slot]! / served) * 1000) / 10,
      meanMs: perTargetCount[slot]! === 0 ? 0 : round(perTargetSumMs[slot]! / perTargetCount[slot]!),
    })),
  };
}

/** Every requested algorithm over the same trace. Throws on an unknown algorithm name (the CLI checks first). */
export function simulate(input: SimInput): SimResult {
  const last = input.requests.at(-1);
  return {
    durationMs: last === undefined ? 0 : last.arrivalMs,
    results: input.algorithms.map((name) => {
      assert(isAlgorithmName(name), `simulate: unknown algorithm ${name}`);
      return simulateAlgorithm(input, name);
    }),
  };
}
