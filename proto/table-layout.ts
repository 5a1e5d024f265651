/**
 * @module proto/table-layout
 *
 * The shared table: the one mutable thing the main thread (control plane) and
 * the worker threads (data plane) share. It lives in a SharedArrayBuffer viewed
 * as an Int32Array; every read and write goes through the accessors at the end
 * of this file, always with `Atomics`, so a worker picking a target sees a
 * health change, weight change or failover the moment main stores it.
 *
 * Thread: both. Place in the flow: main writes it on config apply, health and
 * failover; workers read it on every pick and count into it on every request.
 * Why a table and not messages: a pick must not wait for another thread, and
 * least-connection / response-time choices must see every worker's load.
 *
 * This is the only file with numeric offsets. Capacities come from config
 * (`limits`), so regions are placed at run time from the header, but every
 * offset *inside* a region is a constant below.
 *
 * Region map, in Int32 units (one row = one 64-byte cache line = 16 Int32):
 *
 *   0            16           16+16G          16+16G+16T       16+16(G+T+W)
 *   +------------+------------+---------------+----------------+-----------------------+
 *   | HEADER(16) | GROUP x G  | TARGET x T    | WORKER x W     | LEDGER x W x T x 2    |
 *   +------------+------------+---------------+----------------+-----------------------+
 *   G = HEADER_GROUP_CAPACITY, T = HEADER_TARGET_CAPACITY, W = HEADER_WORKER_CAPACITY
 *
 * The LEDGER is each worker's own share of TARGET_IN_FLIGHT and
 * TARGET_ACTIVE_CONNECTIONS, per slot (LEDGER_IN_FLIGHT, LEDGER_CONNECTIONS).
 * Only the owning worker writes its ledger; when a worker dies, main subtracts
 * the dead worker's ledger from the shared counters, so a crash never leaves a
 * target looking busy forever. Ledger cells are not row-padded: a worker only
 * touches its own ledger, so the lines are not shared between writers.
 *
 * Each row is padded to 64 bytes so workers hammering different targets do not
 * share cache lines (false sharing turns every Atomics.add into a line bounce).
 *
 * Integers only: durations are `_US`/`_MS`, weights are integers, counters
 * named `_TOTAL` wrap at 2^31 and are compared by subtraction (`(a - b) | 0`).
 *
 * Multi-field updates (a slot being (re)assigned, weights rebuilt) use one
 * seqlock: main makes HEADER_GENERATION odd, writes, then makes it even.
 * Workers cache topology per generation and rebuild when it moves.
 */

// === Header ===
/** Int32 cells per row; 16 x 4 bytes = one 64-byte cache line. */
export const ROW_INT32 = 16;

/** Bump on any change to a field's offset, meaning or unit. */
export const LAYOUT_VERSION = 1;

/** Layout version of the writer. Writer: main at allocation. Readers: workers/entry.ts, which refuses a mismatch. */
export const HEADER_LAYOUT_VERSION = 0;
/** Seqlock and topology generation. Writer: main (odd while writing, even when stable). Readers: workers before picks. Reset: never; wraps. */
export const HEADER_GENERATION = 1;
/** Number of GROUP rows. Writer: main at allocation. Readers: all. Invariant: constant for the table's life. */
export const HEADER_GROUP_CAPACITY = 2;
/** Number of TARGET rows (slots). Writer: main at allocation. Invariant: constant. */
export const HEADER_TARGET_CAPACITY = 3;
/** Number of WORKER rows. Writer: main at allocation. Invariant: constant. */
export const HEADER_WORKER_CAPACITY = 4;
/** Seconds since the Unix epoch when the table was made; the clock origin for every `_MS` field. Writer: main at allocation. */
export const HEADER_CLOCK_ORIGIN_S = 5;
/** Set to 1 by main when the process is draining; workers stop accepting. Writer: main. Readers: workers. */
export const HEADER_DRAINING = 6;

// === Group rows (one per target group) ===
/** Shared round-robin cursor. Writer: any worker via Atomics.add. Unit: picks; wraps. */
export const GROUP_RR_CURSOR = 0;
/** Group index that takes this group's traffic: itself, or its standby after failover. Writer: main (one store = failover). Readers: workers on every pick. */
export const GROUP_ROUTE_TO = 1;
/** Requests routed over all targets because none was healthy (fail-open). Writer: any worker via Atomics.add. Wraps. */
export const GROUP_FAIL_OPEN_TOTAL = 2;
/** Requests answered 503 because no target could be picked. Writer: any worker via Atomics.add. Wraps. */
export const GROUP_NO_TARGET_TOTAL = 3;
/** 1 when the group routes to all targets if none is healthy (ALB fail-open). Writer: main. Readers: workers. */
export const GROUP_FAIL_OPEN = 4;

// === Target rows (one per slot) ===
/** TARGET_STATE_* below. Writer: main. Readers: workers on every pick. Reset: EMPTY when the slot is freed. */
export const TARGET_STATE = 0;
/** Bumped by main each time the slot is assigned to a target, so a worker's cached view of a reused slot is detectably stale. Wraps. */
export const TARGET_GENERATION = 1;
/** Index of the group the target belongs to. Writer: main on assignment. */
export const TARGET_GROUP_INDEX = 2;
/** Effective weight, integer 0..WEIGHT_MAX (slow start scales it). Writer: main. Readers: weighted pickers. 0 = takes no new traffic. */
export const TARGET_WEIGHT = 3;
/** Open upstream connections to the target, all workers. Writer: any worker via Atomics.add (+1 on connect, -1 on close). Invariant: >= 0. */
export const TARGET_ACTIVE_CONNECTIONS = 4;
/** Requests dispatched and not yet finished, all workers. Writer: any worker via Atomics.add (+1 at dispatch, -1 at completion on every path). Invariant: >= 0. */
export const TARGET_IN_FLIGHT = 5;
/** Response-time EWMA in microseconds (time to response head). Writer: any worker (bounded compareExchange). 0 = unmeasured. */
export const TARGET_LATENCY_EWMA_US = 6;
/** Clock ms (see HEADER_CLOCK_ORIGIN_S) of the last EWMA update; idle targets decay from here. Writer: any worker. Wraps after 24 days; compare by subtraction. */
export const TARGET_LATENCY_UPDATED_MS = 7;
/** Peak-EWMA cost in microseconds (linkerd): jumps up to a slow sample, decays toward fast ones. Writer: any worker (bounded compareExchange). */
export const TARGET_PEAK_EWMA_US = 8;
/** Requests completed, all workers. Writer: any worker via Atomics.add. Wraps. */
export const TARGET_REQUESTS_TOTAL = 9;
/** Consecutive 5xx responses. Writer: any worker (add on 5xx, store 0 on success). Reader: main (outlier detection). */
export const TARGET_CONSECUTIVE_5XX = 10;
/** Consecutive gateway failures (refused, reset, timeout). Writer: any worker. Reader: main (outlier detection). */
export const TARGET_CONSECUTIVE_GATEWAY_FAILURES = 11;
/** Upstream errors (connect refused/reset, timeout, bad framing). Writer: any worker via Atomics.add. Wraps. */
export const TARGET_FAILURES_TOTAL = 12;
/** 1 while outlier detection ejects the target. Writer: main. Readers: workers on every pick. */
export const TARGET_EJECTED = 13;

/** Slot is free. */
export const TARGET_STATE_EMPTY = 0;
/** Registered, waiting for its first passing health check: takes no traffic. */
export const TARGET_STATE_INITIAL = 1;
/** Passing health checks: routable. */
export const TARGET_STATE_HEALTHY = 2;
/** Failing health checks: not routable (except fail-open). */
export const TARGET_STATE_UNHEALTHY = 3;
/** Deregistering: no new requests; in-flight ones finish. */
export const TARGET_STATE_DRAINING = 4;
/** No listener uses the group: not routable. */
export const TARGET_STATE_UNUSED = 5;
/** Health checks disabled: routable (ELB's `unavailable`). */
export const TARGET_STATE_UNAVAILABLE = 6;

/** Largest weight a target may carry (config and control port validate against it). */
export const WEIGHT_MAX = 1000;

// === Worker rows (one per worker index) ===
/** Clock ms of the worker's last tick. Writer: owning worker. Reader: main (liveness). */
export const WORKER_HEARTBEAT_MS = 0;
/** Last HEADER_GENERATION the worker acted on. Writer: owning worker. Reader: main (failover waits for every worker). */
export const WORKER_OBSERVED_GENERATION = 1;
/** Downstream connections open in this worker. Writer: owning worker. */
export const WORKER_ACTIVE_CONNECTIONS = 2;
/** Downstream requests received by this worker. Writer: owning worker. Wraps. */
export const WORKER_REQUESTS_TOTAL = 3;

// === Ledger cells (per worker, per slot; 2 Int32 each) ===
/** This worker's requests in flight to the slot. Writer: owning worker (Atomics.add, same moments as TARGET_IN_FLIGHT). Reader: main on worker exit. */
export const LEDGER_IN_FLIGHT = 0;
/** This worker's open connections to the slot. Writer: owning worker. Reader: main on worker exit. */
export const LEDGER_CONNECTIONS = 1;
/** Int32 cells per ledger entry. */
export const LEDGER_CELLS = 2;

/** Returned by pickers and lookups when there is no slot. */
export const NO_SLOT = -1;

const HEADER_ROWS = 1;

/** Capacities a table is made with. */
export interface TableCapacity {
  readonly groupCapacity: number;
  readonly targetCapacity: number;
  readonly workerCapacity: number;
}

/** Bytes a table of the given capacity needs; regions are disjoint by construction. */
export function tableBytes(capacity: TableCapacity): number {
  const rows = HEADER_ROWS + capacity.groupCapacity + capacity.targetCapacity + capacity.workerCapacity;
  const ledgerCells = capacity.workerCapacity * capacity.targetCapacity * LEDGER_CELLS;
  return (rows * ROW_INT32 + ledgerCells) * Int32Array.BYTES_PER_ELEMENT;
}

// === Accessors ===
/**
 * A view on the shared table. Region bases are derived once from the header,
 * so per-pick offset math is one multiply and one add.
 */
export interface TableView {
  readonly i32: Int32Array;
  readonly groupBase: number;
  readonly targetBase: number;
  readonly workerBase: number;
  readonly ledgerBase: number;
  readonly groupCapacity: number;
  readonly targetCapacity: number;
  readonly workerCapacity: number;
}

/** Initialise a fresh table (main thread, once). */
export function initTable(
  buffer: SharedArrayBuffer,
  capacity: TableCapacity,
  clockOriginS: number,
): TableView {
  const i32 = new Int32Array(buffer);
  Atomics.store(i32, HEADER_GROUP_CAPACITY, capacity.groupCapacity);
  Atomics.store(i32, HEADER_TARGET_CAPACITY, capacity.targetCapacity);
  Atomics.store(i32, HEADER_WORKER_CAPACITY, capacity.workerCapacity);
  Atomics.store(i32, HEADER_CLOCK_ORIGIN_S, clockOriginS);
  Atomics.store(i32, HEADER_LAYOUT_VERSION, LAYOUT_VERSION);
  return attachTable(buffer);
}

/** Attach to an initialised table (any thread). Throws if the layout version differs. */
export function attachTable(buffer: SharedArrayBuffer): TableView {
  const i32 = new Int32Array(buffer);
  const version = Atomics.load(i32, HEADER_LAYOUT_VERSION);
  if (version !== LAYOUT_VERSION) {
    throw new Error(`table-layout: table has layout version ${version}, this code expects ${LAYOUT_VERSION}`);
  }
  const groupCapacity = Atomics.load(i32, HEADER_GROUP_CAPACITY);
  const targetCapacity = Atomics.load(i32, HEADER_TARGET_CAPACITY);
  const workerCapacity = Atomics.load(i32, HEADER_WORKER_CAPACITY);
  const groupBase = HEADER_ROWS * ROW_INT32;
  const targetBase = groupBase + groupCapacity * ROW_INT32;
  const workerBase = targetBase + targetCapacity * ROW_INT32;
  const ledgerBase = workerBase + workerCapacity * ROW_INT32;
  const endCell = ledgerBase + workerCapacity * targetCapacity * LEDGER_CELLS;
  if (endCell * Int32Array.BYTES_PER_ELEMENT > buffer.byteLength) {
    throw new Error('table-layout: buffer is smaller than its header says');
  }
  return {
    i32,
    groupBase,
    targetBase,
    workerBase,
    ledgerBase,
    groupCapacity,
    targetCapacity,
    workerCapacity,
  };
}

export function loadHeader(view: TableView, field: number): number {
  return Atomics.load(view.i32, field);
}
export function storeHeader(view: TableView, field: number, value: number): void {
  Atomics.store(view.i32, field, value);
}
export function addHeader(view: TableView, field: number, delta: number): number {
  return Atomics.add(view.i32, field, delta);
}

export function loadGroup(view: TableView, groupIndex: number, field: number): number {
  return Atomics.load(view.i32, view.groupBase + groupIndex * ROW_INT32 + field);
}
export function storeGroup(view: TableView, groupIndex: number, field: number, value: number): void {
  Atomics.store(view.i32, view.groupBase + groupIndex * ROW_INT32 + field, value);
}
/** Returns the value before the add, like Atomics.add. */
export function addGroup(view: TableView, groupIndex: number, field: number, delta: number): number {
  return Atomics.add(view.i32, view.groupBase + groupIndex * ROW_INT32 + field, delta);
}

export function loadTarget(view: TableView, slot: number, field: number): number {
  return Atomics.load(view.i32, view.targetBase + slot * ROW_INT32 + field);
}
export function storeTarget(view: TableView, slot: number, field: number, value: number): void {
  Atomics.store(view.i32, view.targetBase + slot * ROW_INT32 + field, value);
}
/** Returns the value before the add, like Atomics.add. */
export function addTarget(view: TableView, slot: number, field: number, delta: number): number {
  return Atomics.add(view.i32, view.targetBase + slot * ROW_INT32 + field, delta);
}
/** Returns the value found, like Atomics.compareExchange. */
export function casTarget(
  view: TableView,
  slot: number,
  field: number,
  expected: number,
  value: number,
): number {
  return Atomics.compareExchange(view.i32, view.targetBase + slot * ROW_INT32 + field, expected, value);
}

/**
 * Relaxed read of a target counter, for the balancers' O(n) scans only.
 *
 * Why not Atomics.load: in Node 24 each Atomics.load is a builtin call of
 * ~12 ns, a plain typed-array read ~0.8 ns (.scratch bench: 64 loads x 200k
 * rounds; bench/micro/pick.bench.ts shows least_connections at 64 targets
 * going from ~930 ns to the figure in bench/RESULTS.md). An aligned Int32
 * read of shared memory cannot tear under the JS memory model; it may miss a
 * store made a moment ago, which a load estimate tolerates. Never use it for
 * state, ejection, weight or generation: those decide correctness and stay on
 * Atomics.load.
 */
export function peekTarget(view: TableView, slot: number, field: number): number {
  return view.i32[view.targetBase + slot * ROW_INT32 + field]!;
}

export function loadWorker(view: TableView, workerIndex: number, field: number): number {
  return Atomics.load(view.i32, view.workerBase + workerIndex * ROW_INT32 + field);
}
export function storeWorker(view: TableView, workerIndex: number, field: number, value: number): void {
  Atomics.store(view.i32, view.workerBase + workerIndex * ROW_INT32 + field, value);
}
export function addWorker(view: TableView, workerIndex: number, field: number, delta: number): number {
  return Atomics.add(view.i32, view.workerBase + workerIndex * ROW_INT32 + field, delta);
}

export function loadLedger(view: TableView, workerIndex: number, slot: number, cell: number): number {
  return Atomics.load(
    view.i32,
    view.ledgerBase + (workerIndex * view.targetCapacity + slot) * LEDGER_CELLS + cell,
  );
}
export function addLedger(
  view: TableView,
  workerIndex: number,
  slot: number,
  cell: number,
  delta: number,
): number {
  return Atomics.add(
    view.i32,
    view.ledgerBase + (workerIndex * view.targetCapacity + slot) * LEDGER_CELLS + cell,
    delta,
  );
}
export function storeLedger(
  view: TableView,
  workerIndex: number,
  slot: number,
  cell: number,
  value: number,
): void {
  Atomics.store(
    view.i32,
    view.ledgerBase + (workerIndex * view.targetCapacity + slot) * LEDGER_CELLS + cell,
    value,
  );
}

/**
 * True when a slot may take new traffic: healthy (or health checks off), not
 * ejected, weight above zero. Fail-open is the caller's decision.
 */
export function isTargetRoutable(view: TableView, slot: number): boolean {
  const base = view.targetBase + slot * ROW_INT32;
  const state = Atomics.load(view.i32, base + TARGET_STATE);
  return (
    (state === TARGET_STATE_HEALTHY || state === TARGET_STATE_UNAVAILABLE) &&
    Atomics.load(view.i32, base + TARGET_EJECTED) === 0 &&
    Atomics.load(view.i32, base + TARGET_WEIGHT) > 0
  );
}

/** Field names per region, for the contract snapshot test and the stats dump. */
export const TABLE_FIELDS = {
  HEADER: {
    HEADER_LAYOUT_VERSION,
    HEADER_GENERATION,
    HEADER_GROUP_CAPACITY,
    HEADER_TARGET_CAPACITY,
    HEADER_WORKER_CAPACITY,
    HEADER_CLOCK_ORIGIN_S,
    HEADER_DRAINING,
  },
  GROUP: { GROUP_RR_CURSOR, GROUP_ROUTE_TO, GROUP_FAIL_OPEN_TOTAL, GROUP_NO_TARGET_TOTAL, GROUP_FAIL_OPEN },
  TARGET: {
    TARGET_STATE,
    TARGET_GENERATION,
    TARGET_GROUP_INDEX,
    TARGET_WEIGHT,
    TARGET_ACTIVE_CONNECTIONS,
    TARGET_IN_FLIGHT,
    TARGET_LATENCY_EWMA_US,
    TARGET_LATENCY_UPDATED_MS,
    TARGET_PEAK_EWMA_US,
    TARGET_REQUESTS_TOTAL,
    TARGET_CONSECUTIVE_5XX,
    TARGET_CONSECUTIVE_GATEWAY_FAILURES,
    TARGET_FAILURES_TOTAL,
    TARGET_EJECTED,
  },
  WORKER: {
    WORKER_HEARTBEAT_MS,
    WORKER_OBSERVED_GENERATION,
    WORKER_ACTIVE_CONNECTIONS,
    WORKER_REQUESTS_TOTAL,
  },
} as const;

// === Load-time checks (TigerStyle: the layout proves itself when loaded) ===
for (const [region, fields] of Object.entries(TABLE_FIELDS)) {
  const offsets = Object.values(fields) as number[];
  if (new Set(offsets).size !== offsets.length)
    throw new Error(`table-layout: ${region} offsets are not unique`);
  for (const offset of offsets) {
    if (!Number.isInteger(offset) || offset < 0 || offset >= ROW_INT32) {
      throw new Error(`table-layout: ${region} offset ${offset} is outside its ${ROW_INT32}-cell row`);
    }
  }
}
