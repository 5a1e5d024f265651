/**
 * @module bench/micro/pick.bench
 *
 * Micro bench of the balancers' hot path: ns per `pick` for every algorithm
 * at 8, 64 and 1,024 targets, the spread of picks (max/min share per target,
 * Envoy's hit stats), heap bytes allocated per pick, and rebuild time.
 * Thread: main (a bench process). Run: `npm run bench:pick`
 * (`node bench/micro/pick.bench.ts [--smoke]`, or FERRY_BENCH_SMOKE=1).
 *
 * Why it exists: a pick runs on every request in every worker, so it must
 * stay well under the proxy's per-request budget (goal: < 200 ns at 64
 * targets) and allocate nothing (rule H1). Every picked slot feeds a printed
 * checksum, so the work cannot be optimised away; pick counts are fixed and
 * every random source is seeded, so the checksum is stable across runs. A
 * `--smoke` run (runPickBench with `isSmoke`, called from
 * test/unit/bench/pick-smoke.test.ts) keeps the bench from rotting.
 *
 * Phases per (algorithm, target count), each on a fresh table:
 *
 *   timing      all healthy; random weights 1..100, connections and in-flight
 *               0..50, latency and peak EWMAs 1..50 ms, some idle for seconds;
 *               fixed number of picks with seeded key hashes, after a warm-up
 *   allocation  the same table; heap used before/after windows of picks with
 *               no GC inside (forced GC before each); bytes / pick is the
 *               slope between windows of P and 2P picks
 *   spread      equal weights and latencies, closed loop: each pick takes an
 *               in-flight request and a connection, released `4 x targets`
 *               picks later (a steady concurrency); max/min picks per target.
 *               For response_time and peak_ewma this measures tie handling.
 *
 * The pick call site sees all eight classes, so it is megamorphic and pick
 * is never inlined into the loop: the same as a worker serving groups with
 * different algorithms. Numbers vary with the machine and its load; the
 * header records Node, CPU and command.
 */
import os from 'node:os';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import {
  addTarget,
  initTable,
  storeTarget,
  TARGET_ACTIVE_CONNECTIONS,
  TARGET_IN_FLIGHT,
  TARGET_LATENCY_EWMA_US,
  TARGET_LATENCY_UPDATED_MS,
  TARGET_PEAK_EWMA_US,
  TARGET_STATE,
  TARGET_STATE_HEALTHY,
  TARGET_WEIGHT,
  type TableView,
  tableBytes,
} from '../../proto/table-layout.ts';
import { mixHash } from '../../src/shared/hash.ts';
import { createRandom } from '../../src/shared/random.ts';
import {
  ALGORITHMS,
  type AlgorithmName,
  type Balancer,
  createBalancer,
  ELIGIBLE_ROUTABLE,
} from '../../workers/balance/index.ts';

/** One measured (algorithm, target count). */
export interface PickBenchRow {
  readonly algorithm: AlgorithmName;
  readonly targetCount: number;
  readonly nsPerPick: number;
  /** Most picks on one target over fewest, in the closed-loop spread phase (Infinity if one got none). */
  readonly spreadMaxMin: number;
  /** Heap growth per pick (slope over GC-free windows); ~0 when pick allocates nothing. NaN if unmeasurable. */
  readonly bytesPerPick: number;
  readonly rebuildMs: number;
  /** Fold of every slot picked in the timing and spread phases. */
  readonly checksum: number;
}

export interface PickBenchResult {
  readonly rows: PickBenchRow[];
  /** Fold of every row's checksum (stable across runs for the same mode). */
  readonly checksum: number;
  readonly isSmoke: boolean;
}

export interface PickBenchOptions {
  /** Small counts, 8 and 64 targets, for CI (npm test): proves the bench runs, not how fast. */
  readonly isSmoke: boolean;
  readonly targetCounts?: readonly number[];
  readonly algorithms?: readonly AlgorithmName[];
}

const NOW_MS = 100_000;
const KEY_COUNT = 4_096;
const GROUP_INDEX = 0;

// === Phases ===

/** Run every algorithm at every target count; returns the rows and a checksum. Allocates (it is a bench). */
export function runPickBench(options: PickBenchOptions): PickBenchResult {
  const targetCounts = options.targetCounts ?? (options.isSmoke ? [8, 64] : [8, 64, 1_024]);
  const algorithms = options.algorithms ?? ALGORITHMS;
  const collectGarbage = obtainGc();
  const keys = new Int32Array(KEY_COUNT);
  const keyRandom = createRandom(0xfe11);
  for (let index = 0; index < KEY_COUNT; index++) keys[index] = (keyRandom() * 4294967296) | 0;

  const rows: PickBenchRow[] = [];
  let checksum = 0;
  for (const targetCount of targetCounts) {
    for (const algorithm of algorithms) {
      const row = measure(algorithm, targetCount, keys, options.isSmoke, collectGarbage);
      rows.push(row);
      checksum = (Math.imul(checksum, 31) + row.checksum) | 0;
    }
  }
  return { rows, checksum, isSmoke: options.isSmoke };
}

function measure(
  algorithm: AlgorithmName,
  targetCount: number,
  keys: Int32Array,
  isSmoke: boolean,
  collectGarbage: (() => void) | undefined,
): PickBenchRow {
  // Exact scans cost ~n table reads per pick: fewer picks keep the run short.
  const isLinear = algorithm === 'least_connections' || algorithm === 'response_time';
  const isLarge = targetCount > 64;
  const timedPicks = isSmoke ? 2_000 : isLinear && isLarge ? 50_000 : 1_000_000;
  // Smoke warms up 20,000 picks (~20 ms): after 500, V8 had not yet optimised pick, and unoptimised
  // code boxes every number outside the small-integer range (a `hash >>> 0` above 2^30, a double), ~16 B
  // each, which the allocation windows below read as bytes/pick (hash@64 read 15.8 on Node 24.21).
  const warmupPicks = isSmoke ? 20_000 : Math.min(timedPicks, 200_000);

  // Timing and allocation: random counters.
  const timing = makeTargets(targetCount, true);
  const balancer = createBalancer(algorithm, GROUP_INDEX, createRandom(targetCount));
  balancer.rebuild(timing.view, timing.slots, timing.ids);
  const rebuildStart = process.hrtime.bigint();
  balancer.rebuild(timing.view, timing.slots, timing.ids);
  const rebuildMs = Number(process.hrtime.bigint() - rebuildStart) / 1e6;

  let checksum = runPicks(balancer, timing.view, keys, warmupPicks, 0);
  const start = process.hrtime.bigint();
  checksum = runPicks(balancer, timing.view, keys, timedPicks, checksum);
  const nsPerPick = Number(process.hrtime.bigint() - start) / timedPicks;

  // Each window forces a full GC (tens of ms in a big heap such as vitest's): one window each in smoke mode.
  const windows = isSmoke ? 1 : 7;
  const picks = isSmoke ? 2_000 : 100_000;
  const bytesPerPick = measureBytesPerPick(balancer, timing.view, keys, picks, windows, collectGarbage);

  // Spread: equal weights and latencies, closed loop.
  const spread = makeTargets(targetCount, false);
  const spreadBalancer = createBalancer(algorithm, GROUP_INDEX, createRandom(targetCount + 1));
  spreadBalancer.rebuild(spread.view, spread.slots, spread.ids);
  const spreadPicks = isSmoke
    ? 20 * targetCount
    : isLinear && isLarge
      ? 50 * targetCount
      : Math.max(100_000, 200 * targetCount);
  const counts = new Int32Array(targetCount);
  checksum = runClosedLoop(spreadBalancer, spread.view, spreadPicks, 4 * targetCount, counts, checksum);
  let most = 0;
  let fewest = Number.POSITIVE_INFINITY;
  for (const count of counts) {
    most = Math.max(most, count);
    fewest = Math.min(fewest, count);
  }
  return {
    algorithm,
    targetCount,
    nsPerPick,
    spreadMaxMin: fewest === 0 ? Number.POSITIVE_INFINITY : most / fewest,
    bytesPerPick,
    rebuildMs,
    checksum,
  };
}

/** The measured loop: nothing but the pick and an integer fold. */
function runPicks(
  balancer: Balancer,
  view: TableView,
  keys: Int32Array,
  picks: number,
  seed: number,
): number {
  let checksum = seed;
  for (let index = 0; index < picks; index++) {
    const slot = balancer.pick(view, keys[index & (KEY_COUNT - 1)]!, NOW_MS, ELIGIBLE_ROUTABLE);
    checksum = (Math.imul(checksum, 31) + slot) | 0;
  }
  return checksum;
}

function runClosedLoop(
  balancer: Balancer,
  view: TableView,
  picks: number,
  concurrency: number,
  counts: Int32Array,
  seed: number,
): number {
  const ring = new Int32Array(concurrency).fill(-1);
  let checksum = seed;
  for (let index = 0; index < picks; index++) {
    const position = index % concurrency;
    const done = ring[position]!;
    if (done >= 0) {
      addTarget(view, done, TARGET_IN_FLIGHT, -1);
      addTarget(view, done, TARGET_ACTIVE_CONNECTIONS, -1);
    }
    // A fresh key per pick (not the 4,096 timing keys), so hash's spread
    // reflects its table rather than which targets 4,096 keys happen to reach.
    const slot = balancer.pick(view, mixHash(index, 0x5eed), NOW_MS, ELIGIBLE_ROUTABLE);
    ring[position] = slot;
    if (slot >= 0) {
      counts[slot]!++;
      addTarget(view, slot, TARGET_IN_FLIGHT, 1);
      addTarget(view, slot, TARGET_ACTIVE_CONNECTIONS, 1);
    }
    checksum = (Math.imul(checksum, 31) + slot) | 0;
  }
  return checksum;
}

/**
 * Heap growth per pick, as a slope: the smallest growth over windows of 2P
 * picks minus the smallest over windows of P picks, over P. Each window runs
 * after a forced GC; windows where the heap shrank (a GC ran inside) are
 * dropped. The slope cancels what a window costs whatever its length
 * (process.memoryUsage's own object, ~20 KB V8 re-creates after a full GC
 * for some call paths); the minimum drops windows V8 spent compiling. An
 * allocation-free pick reads ~0; one boxed double per pick reads ~16.
 * Without a GC function the result is only a hint.
 */
function measureBytesPerPick(
  balancer: Balancer,
  view: TableView,
  keys: Int32Array,
  picks: number,
  windows: number,
  collectGarbage: (() => void) | undefined,
): number {
  const shortBytes = minimumHeapGrowth(balancer, view, keys, picks, windows, collectGarbage);
  const longBytes = minimumHeapGrowth(balancer, view, keys, 2 * picks, windows, collectGarbage);
  return Math.max(0, longBytes - shortBytes) / picks;
}

function minimumHeapGrowth(
  balancer: Balancer,
  view: TableView,
  keys: Int32Array,
  picks: number,
  windows: number,
  collectGarbage: (() => void) | undefined,
): number {
  let smallest = Number.NaN;
  for (let window = 0; window < windows; window++) {
    collectGarbage?.();
    const before = process.memoryUsage().heapUsed;
    runPicks(balancer, view, keys, picks, window);
    const growth = process.memoryUsage().heapUsed - before;
    if (growth >= 0 && !(growth >= smallest)) smallest = growth;
  }
  return smallest;
}

// === Fixtures ===

interface BenchTargets {
  readonly view: TableView;
  readonly slots: Int32Array;
  readonly ids: string[];
}

function makeTargets(targetCount: number, isRandomCounters: boolean): BenchTargets {
  const capacity = { groupCapacity: 1, targetCapacity: targetCount, workerCapacity: 1 };
  const view = initTable(new SharedArrayBuffer(tableBytes(capacity)), capacity, 1_700_000_000);
  const random = createRandom(targetCount * 7 + (isRandomCounters ? 1 : 0));
  const between = (low: number, high: number): number => low + Math.floor(random() * (high - low + 1));
  const slots = new Int32Array(targetCount);
  const ids: string[] = [];
  for (let slot = 0; slot < targetCount; slot++) {
    slots[slot] = slot;
    ids.push(`10.${slot >> 16}.${(slot >> 8) & 255}.${slot & 255}:8080`);
    storeTarget(view, slot, TARGET_STATE, TARGET_STATE_HEALTHY);
    storeTarget(view, slot, TARGET_WEIGHT, isRandomCounters ? between(1, 100) : 10);
    storeTarget(view, slot, TARGET_ACTIVE_CONNECTIONS, isRandomCounters ? between(0, 50) : 0);
    storeTarget(view, slot, TARGET_IN_FLIGHT, isRandomCounters ? between(0, 50) : 0);
    storeTarget(view, slot, TARGET_LATENCY_EWMA_US, isRandomCounters ? between(1_000, 50_000) : 10_000);
    storeTarget(view, slot, TARGET_PEAK_EWMA_US, isRandomCounters ? between(1_000, 50_000) : 10_000);
    storeTarget(
      view,
      slot,
      TARGET_LATENCY_UPDATED_MS,
      isRandomCounters ? NOW_MS - between(0, 20_000) : NOW_MS,
    );
  }
  return { view, slots, ids };
}

/** `gc` from --expose-gc, or enabled at run time (V8 flag + a fresh context); undefined if neither works. */
function obtainGc(): (() => void) | undefined {
  const existing = (globalThis as { gc?: () => void }).gc;
  if (typeof existing === 'function') return existing;
  try {
    v8.setFlagsFromString('--expose-gc');
    const collect: unknown = runInNewContext('gc');
    return typeof collect === 'function' ? (collect as () => void) : undefined;
  } catch {
    return undefined;
  }
}

// === Report ===

/** The result as a fixed-width table with a header naming Node, CPU and command. */
export function formatPickBench(result: PickBenchResult): string {
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  const lines = [
    `# pick bench${result.isSmoke ? ' (smoke)' : ''}: node ${process.version}, ${cpu} x ${os.availableParallelism()}, ` +
      `command: node ${process.argv.slice(1).join(' ')}`,
    [
      'algorithm'.padEnd(28),
      'targets'.padStart(7),
      'ns/pick'.padStart(9),
      'spread max/min'.padStart(15),
      'bytes/pick'.padStart(11),
      'rebuild ms'.padStart(11),
      'checksum'.padStart(12),
    ].join(' '),
  ];
  for (const row of result.rows) {
    lines.push(
      [
        row.algorithm.padEnd(28),
        String(row.targetCount).padStart(7),
        row.nsPerPick.toFixed(1).padStart(9),
        (Number.isFinite(row.spreadMaxMin) ? row.spreadMaxMin.toFixed(2) : 'inf').padStart(15),
        (Number.isNaN(row.bytesPerPick) ? 'n/a' : row.bytesPerPick.toFixed(3)).padStart(11),
        row.rebuildMs.toFixed(2).padStart(11),
        String(row.checksum).padStart(12),
      ].join(' '),
    );
  }
  lines.push(`checksum ${result.checksum}`);
  return lines.join('\n');
}

if (import.meta.main) {
  const isSmoke = process.argv.includes('--smoke') || process.env['FERRY_BENCH_SMOKE'] === '1';
  console.log(formatPickBench(runPickBench({ isSmoke })));
}
