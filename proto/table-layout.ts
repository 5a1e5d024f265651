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
 *   0            16          16(1+G)      16(1+G+T)    16(1+G+T+W)  16(1+G+2T+W)  16(1+G+3T+W)
 *   +------------+-----------+------------+------------+------------+-------------+----------------+---------------------+
 *   | HEADER(16) | GROUP x G | TARGET x T | WORKER x W | STATS x T  | HISTOGRAM x T| LISTENER x W x L| LEDGER x W x T x 2 |
 *   +------------+-----------+------------+------------+------------+-------------+----------------+---------------------+
 *   G = HEADER_GROUP_CAPACITY, T = HEADER_TARGET_CAPACITY, W = HEADER_WORKER_CAPACITY,
 *   L = HEADER_LISTENER_CAPACITY; a LISTENER row is two lines (ROW_INT32_PER_LISTENER = 32)
 *
 * STATS and HISTOGRAM rows are the per-target metrics (ELB's CloudWatch set:
 * target status classes, connection errors, the response-time histogram);
 * any worker counts into them with Atomics.add, main exports them on
 * `/metrics`. LISTENER rows are per worker *and* listener, so each has one
 * writer (the owning worker): downstream connections, requests, bytes and the
 * responses Ferry generated itself. Main sums the workers' rows.
 *
 * Metrics counters (`_TOTAL`) never reset; main keeps the last value it read
 * and accumulates `(now - last)` into a JS number on a 1 s poll (src/telemetry),
 * so an Int32 that wraps still exports a monotonic counter, provided a counter
 * moves less than 2^31 (bytes: 2^32, read unsigned) between two polls.
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
export const LAYOUT_VERSION = 6;

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
/** Set to 1 by main when the process is draining (`ferryctl drain`). Writer: main. Readers: each worker's tick, which then stops accepting and finishes in-flight requests. Reset: never (a drained Ferry is stopped). */
export const HEADER_DRAINING = 6;
/** Number of listeners per worker in the LISTENER region (listener index = position in Topology.listeners). Writer: main at allocation. Invariant: constant. */
export const HEADER_LISTENER_CAPACITY = 7;

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
// Sticky sessions (workers/route/sticky.ts), counted on the group that serves the request.
/** Requests of a sticky group sent to the target their valid cookie named. Writer: any worker via Atomics.add. Wraps. */
export const GROUP_STICKY_HITS_TOTAL = 5;
/** Requests of a sticky group without a valid cookie (absent, tampered, forged, expired): balanced. Writer: any worker via Atomics.add. Wraps. */
export const GROUP_STICKY_MISSES_TOTAL = 6;
/** Requests whose valid cookie named a target that is unhealthy, draining, ejected or gone: picked anew, cookie rewritten. Writer: any worker via Atomics.add. Wraps. */
export const GROUP_STICKY_REPICKS_TOTAL = 7;
/** Weighted forward with group-level stickiness: requests sent to the group their valid cookie named. Writer: any worker via Atomics.add. Wraps. */
export const GROUP_FORWARD_STICKY_HITS_TOTAL = 8;
/** Weighted forward with group-level stickiness: requests without a valid cookie, given this group by weight. Writer: any worker via Atomics.add. Wraps. */
export const GROUP_FORWARD_STICKY_MISSES_TOTAL = 9;
/** Weighted forward with group-level stickiness: requests whose cookie named a group the action no longer sends to (gone or weight 0), given this group anew. Writer: any worker via Atomics.add. Wraps. */
export const GROUP_FORWARD_STICKY_REPICKS_TOTAL = 10;
// Zones (workers/balance/zone-aware.ts), counted on the group whose balancer picked.
/** `crossZone: disabled` groups: picks sent to another zone because no target of Ferry's own zone was routable. Writer: any worker via Atomics.add. Reader: main (metrics, status page). Wraps. */
export const GROUP_CROSS_ZONE_TOTAL = 11;
/** `zoneAware` groups: picks spilled to another zone because the local zone's routable share x overprovisioning fell below 100 %. Writer: any worker via Atomics.add. Reader: main (metrics, status page). Wraps. */
export const GROUP_ZONE_SPILL_TOTAL = 12;

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

// === Stats rows (one per target slot; metrics) ===
// Writer: any worker via Atomics.add. Reader: main (src/telemetry), by delta. All wrap; never reset
// (a reused slot's new target is measured from the value main reads when it first sees it).
/** Final responses from the target with status 200-299 (HTTP listeners). Unit: responses. */
export const STATS_2XX_TOTAL = 0;
/** Final responses from the target with status 300-399. */
export const STATS_3XX_TOTAL = 1;
/** Final responses from the target with status 400-499. */
export const STATS_4XX_TOTAL = 2;
/** Final responses from the target with status 500-599. */
export const STATS_5XX_TOTAL = 3;
/** Connections to the target that were not established: refused, reset or timed out while connecting (ELB TargetConnectionErrorCount). */
export const STATS_CONNECT_ERRORS_TOTAL = 4;
/** Upstream connections to the target established (HTTP pool and TCP). Unit: connections. */
export const STATS_NEW_CONNECTIONS_TOTAL = 5;

// === Histogram rows (one per target slot; target response time) ===
/**
 * First of RESPONSE_TIME_BUCKET_COUNT cells: responses (and gateway failures)
 * whose time from dispatch to response head fell in bucket i, that is above
 * bound i-1 and at most RESPONSE_TIME_BUCKET_BOUNDS_US[i]; the last cell is
 * above every bound. Not cumulative (main sums them for Prometheus).
 * Writer: any worker via Atomics.add. Wraps.
 */
export const HISTOGRAM_BUCKETS = 0;
/** Sum of the same response times, in units of 100 µs (rounded). Writer: any worker via Atomics.add. Wraps; 2^31 units per poll is 59 hours of target time per second. */
export const HISTOGRAM_SUM_100US = 15;

/** Upper bounds of the response-time buckets, µs (Prometheus `le`, 250 µs .. 5 s); the bucket after the last is +Inf. */
export const RESPONSE_TIME_BUCKET_BOUNDS_US: readonly number[] = [
  250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000,
  5_000_000,
];
/** Histogram cells: one per bound plus +Inf. */
export const RESPONSE_TIME_BUCKET_COUNT = RESPONSE_TIME_BUCKET_BOUNDS_US.length + 1;

// === Listener rows (one per worker and listener; metrics) ===
/**
 * Int32 cells per LISTENER row: two cache lines (32 cells). Issue 13's layer-4
 * counters filled the first line and issue 10's client-deadline and
 * connection-limit counters needed more; a row stays whole cache lines so two
 * workers' rows never share one.
 */
export const ROW_INT32_PER_LISTENER = 2 * ROW_INT32;
// Writer: the owning worker only (Atomics.add, uncontended). Reader: main, summing over workers.
// Totals wrap and never reset: a restarted worker keeps adding to its predecessor's row.
/** Downstream connections accepted (ELB NewConnectionCount). */
export const LISTENER_CONNECTIONS_TOTAL = 0;
/** Downstream connections open now. Gauge (+1 accept, -1 close). Main ignores a dead worker's row; its replacement stores 0 at boot. */
export const LISTENER_ACTIVE_CONNECTIONS = 1;
/** Downstream connections closed without being served: draining, or no target for a TCP connection (ELB RejectedConnectionCount). */
export const LISTENER_REJECTED_CONNECTIONS_TOTAL = 2;
/** Request heads received, including ones Ferry answered itself (ELB RequestCount). */
export const LISTENER_REQUESTS_TOTAL = 3;
/** Bytes received from clients. Wraps at 2^32: main reads deltas unsigned (ELB ProcessedBytes, in). */
export const LISTENER_BYTES_IN_TOTAL = 4;
/** Bytes sent to clients. Wraps at 2^32, read unsigned (ELB ProcessedBytes, out). */
export const LISTENER_BYTES_OUT_TOTAL = 5;
/** Responses Ferry generated with status 400-499 (ELB HTTPCode_ELB_4XX_Count). */
export const LISTENER_FERRY_4XX_TOTAL = 6;
/** Responses Ferry generated with status 500-599 (HTTPCode_ELB_5XX_Count; 502-504 are also counted below). */
export const LISTENER_FERRY_5XX_TOTAL = 7;
/** Responses Ferry generated with status 502: the target refused, reset or answered badly. */
export const LISTENER_FERRY_502_TOTAL = 8;
/** Responses Ferry generated with status 503: no target could be picked. */
export const LISTENER_FERRY_503_TOTAL = 9;
/** Responses Ferry generated with status 504: connect or response timeout. */
export const LISTENER_FERRY_504_TOTAL = 10;
/** Connections closed at accept because the client address is not allowed (`scheme: internal`, `allowedSources`; workers/route/source-filter.ts). Not in LISTENER_CONNECTIONS_TOTAL or _REJECTED_. */
export const LISTENER_SOURCE_REFUSED_TOTAL = 11;
/** Layer-4 connections closed before any byte was forwarded because of their PROXY protocol header: missing, malformed or late from a trusted source, or sent by an untrusted one (workers/l4/tcp-flow.ts). Not in _REJECTED_. */
export const LISTENER_PROXY_REFUSED_TOTAL = 12;
/** TCP connections on a listener with sni rules whose ClientHello could not be read (malformed, oversized, or not complete by the peek deadline); they take the default action (workers/l4/tcp-flow.ts). */
export const LISTENER_SNI_PEEK_FAILED_TOTAL = 13;
/** UDP flows this worker tracks now. Gauge (+1 first datagram, -1 idle expiry or drain); bounded by limits.maxUdpFlows (workers/l4/udp-listener.ts). */
export const LISTENER_UDP_FLOWS_ACTIVE = 14;
/** Datagrams dropped: the flow table was full, no target could be picked, or a flow's queue before its upstream socket was ready was full. */
export const LISTENER_UDP_DROPPED_TOTAL = 15;
/** Connections cut for a client deadline (issue 10): request head, request body, send (slow reader), TLS handshake. Counted against the client, never a target. */
export const LISTENER_CLIENT_TIMEOUTS_TOTAL = 16;
/** Connections refused at accept because the listener's or the worker's `maxConnections` was reached (issue 10). Not in LISTENER_CONNECTIONS_TOTAL. */
export const LISTENER_LIMIT_REFUSED_TOTAL = 17;

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
  /** Listeners (LISTENER rows per worker); default DEFAULT_LISTENER_CAPACITY. Main passes the config's listener count. */
  readonly listenerCapacity?: number;
}

/** Listener rows per worker when a capacity does not say (tables made by tests and benches). */
export const DEFAULT_LISTENER_CAPACITY = 4;

function listenerCapacityOf(capacity: TableCapacity): number {
  return capacity.listenerCapacity ?? DEFAULT_LISTENER_CAPACITY;
}

/** Bytes a table of the given capacity needs; regions are disjoint by construction. */
export function tableBytes(capacity: TableCapacity): number {
  const rows =
    HEADER_ROWS +
    capacity.groupCapacity +
    capacity.targetCapacity * 3 + // TARGET, STATS, HISTOGRAM
    capacity.workerCapacity;
  const listenerCells = capacity.workerCapacity * listenerCapacityOf(capacity) * ROW_INT32_PER_LISTENER;
  const ledgerCells = capacity.workerCapacity * capacity.targetCapacity * LEDGER_CELLS;
  return (rows * ROW_INT32 + listenerCells + ledgerCells) * Int32Array.BYTES_PER_ELEMENT;
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
  readonly statsBase: number;
  readonly histogramBase: number;
  readonly listenerBase: number;
  readonly ledgerBase: number;
  readonly groupCapacity: number;
  readonly targetCapacity: number;
  readonly workerCapacity: number;
  readonly listenerCapacity: number;
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
  Atomics.store(i32, HEADER_LISTENER_CAPACITY, listenerCapacityOf(capacity));
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
  const listenerCapacity = Atomics.load(i32, HEADER_LISTENER_CAPACITY);
  const groupBase = HEADER_ROWS * ROW_INT32;
  const targetBase = groupBase + groupCapacity * ROW_INT32;
  const workerBase = targetBase + targetCapacity * ROW_INT32;
  const statsBase = workerBase + workerCapacity * ROW_INT32;
  const histogramBase = statsBase + targetCapacity * ROW_INT32;
  const listenerBase = histogramBase + targetCapacity * ROW_INT32;
  const ledgerBase = listenerBase + workerCapacity * listenerCapacity * ROW_INT32_PER_LISTENER;
  const endCell = ledgerBase + workerCapacity * targetCapacity * LEDGER_CELLS;
  if (endCell * Int32Array.BYTES_PER_ELEMENT > buffer.byteLength) {
    throw new Error('table-layout: buffer is smaller than its header says');
  }
  return {
    i32,
    groupBase,
    targetBase,
    workerBase,
    statsBase,
    histogramBase,
    listenerBase,
    ledgerBase,
    groupCapacity,
    targetCapacity,
    workerCapacity,
    listenerCapacity,
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
/** Wake every thread waiting on a header field (main, after a write moves HEADER_GENERATION). Returns how many woke. */
export function notifyHeader(view: TableView, field: number): number {
  return Atomics.notify(view.i32, field);
}
/**
 * Wait, without blocking the event loop, until a header field is no longer
 * `value`, it is notified, or `timeoutMs` passes (Atomics.waitAsync). A
 * pending wait does not keep a thread alive. Workers wait on
 * HEADER_GENERATION so an idle worker acknowledges a change at once.
 */
export function waitHeaderAsync(
  view: TableView,
  field: number,
  value: number,
  timeoutMs: number,
): ReturnType<typeof Atomics.waitAsync> {
  return Atomics.waitAsync(view.i32, field, value, timeoutMs);
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
/** Wake threads waiting on a worker field (a worker, after storing WORKER_OBSERVED_GENERATION). */
export function notifyWorker(view: TableView, workerIndex: number, field: number): number {
  return Atomics.notify(view.i32, view.workerBase + workerIndex * ROW_INT32 + field);
}
/** waitHeaderAsync for a worker field: main waits on WORKER_OBSERVED_GENERATION instead of polling. */
export function waitWorkerAsync(
  view: TableView,
  workerIndex: number,
  field: number,
  value: number,
  timeoutMs: number,
): ReturnType<typeof Atomics.waitAsync> {
  return Atomics.waitAsync(view.i32, view.workerBase + workerIndex * ROW_INT32 + field, value, timeoutMs);
}

/** Returns the value before the add, like Atomics.add. */
export function addStats(view: TableView, slot: number, field: number, delta: number): number {
  return Atomics.add(view.i32, view.statsBase + slot * ROW_INT32 + field, delta);
}
export function loadStats(view: TableView, slot: number, field: number): number {
  return Atomics.load(view.i32, view.statsBase + slot * ROW_INT32 + field);
}

/** Count one response time: its bucket and the sum. Any worker; allocates nothing. */
export function addResponseTime(view: TableView, slot: number, responseTimeUs: number): void {
  const base = view.histogramBase + slot * ROW_INT32;
  let bucket = 0;
  while (bucket < RESPONSE_TIME_BUCKET_COUNT - 1 && responseTimeUs > RESPONSE_TIME_BUCKET_BOUNDS_US[bucket]!)
    bucket++;
  Atomics.add(view.i32, base + HISTOGRAM_BUCKETS + bucket, 1);
  Atomics.add(view.i32, base + HISTOGRAM_SUM_100US, Math.round(responseTimeUs / 100));
}
/** `cell` is HISTOGRAM_BUCKETS + i or HISTOGRAM_SUM_100US. */
export function loadHistogram(view: TableView, slot: number, cell: number): number {
  return Atomics.load(view.i32, view.histogramBase + slot * ROW_INT32 + cell);
}

function listenerCell(view: TableView, workerIndex: number, listenerIndex: number, field: number): number {
  return (
    view.listenerBase + (workerIndex * view.listenerCapacity + listenerIndex) * ROW_INT32_PER_LISTENER + field
  );
}
/** Returns the value before the add, like Atomics.add. Owning worker only. */
export function addListener(
  view: TableView,
  workerIndex: number,
  listenerIndex: number,
  field: number,
  delta: number,
): number {
  return Atomics.add(view.i32, listenerCell(view, workerIndex, listenerIndex, field), delta);
}
export function loadListener(
  view: TableView,
  workerIndex: number,
  listenerIndex: number,
  field: number,
): number {
  return Atomics.load(view.i32, listenerCell(view, workerIndex, listenerIndex, field));
}
export function storeListener(
  view: TableView,
  workerIndex: number,
  listenerIndex: number,
  field: number,
  value: number,
): void {
  Atomics.store(view.i32, listenerCell(view, workerIndex, listenerIndex, field), value);
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
    HEADER_LISTENER_CAPACITY,
  },
  GROUP: {
    GROUP_RR_CURSOR,
    GROUP_ROUTE_TO,
    GROUP_FAIL_OPEN_TOTAL,
    GROUP_NO_TARGET_TOTAL,
    GROUP_FAIL_OPEN,
    GROUP_STICKY_HITS_TOTAL,
    GROUP_STICKY_MISSES_TOTAL,
    GROUP_STICKY_REPICKS_TOTAL,
    GROUP_FORWARD_STICKY_HITS_TOTAL,
    GROUP_FORWARD_STICKY_MISSES_TOTAL,
    GROUP_FORWARD_STICKY_REPICKS_TOTAL,
    GROUP_CROSS_ZONE_TOTAL,
    GROUP_ZONE_SPILL_TOTAL,
  },
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
  STATS: {
    STATS_2XX_TOTAL,
    STATS_3XX_TOTAL,
    STATS_4XX_TOTAL,
    STATS_5XX_TOTAL,
    STATS_CONNECT_ERRORS_TOTAL,
    STATS_NEW_CONNECTIONS_TOTAL,
  },
  HISTOGRAM: { HISTOGRAM_BUCKETS, HISTOGRAM_SUM_100US },
  LISTENER: {
    LISTENER_CONNECTIONS_TOTAL,
    LISTENER_ACTIVE_CONNECTIONS,
    LISTENER_REJECTED_CONNECTIONS_TOTAL,
    LISTENER_REQUESTS_TOTAL,
    LISTENER_BYTES_IN_TOTAL,
    LISTENER_BYTES_OUT_TOTAL,
    LISTENER_FERRY_4XX_TOTAL,
    LISTENER_FERRY_5XX_TOTAL,
    LISTENER_FERRY_502_TOTAL,
    LISTENER_FERRY_503_TOTAL,
    LISTENER_FERRY_504_TOTAL,
    LISTENER_SOURCE_REFUSED_TOTAL,
    LISTENER_PROXY_REFUSED_TOTAL,
    LISTENER_SNI_PEEK_FAILED_TOTAL,
    LISTENER_UDP_FLOWS_ACTIVE,
    LISTENER_UDP_DROPPED_TOTAL,
    LISTENER_CLIENT_TIMEOUTS_TOTAL,
    LISTENER_LIMIT_REFUSED_TOTAL,
  },
} as const;

// === Load-time checks (TigerStyle: the layout proves itself when loaded) ===
for (const [region, fields] of Object.entries(TABLE_FIELDS)) {
  const offsets = Object.values(fields) as number[];
  if (new Set(offsets).size !== offsets.length)
    throw new Error(`table-layout: ${region} offsets are not unique`);
  const rowCells = region === 'LISTENER' ? ROW_INT32_PER_LISTENER : ROW_INT32;
  for (const offset of offsets) {
    if (!Number.isInteger(offset) || offset < 0 || offset >= rowCells) {
      throw new Error(`table-layout: ${region} offset ${offset} is outside its ${rowCells}-cell row`);
    }
  }
}
// The histogram's bucket cells run from HISTOGRAM_BUCKETS up to, not into, the sum.
if (
  HISTOGRAM_BUCKETS + RESPONSE_TIME_BUCKET_COUNT > HISTOGRAM_SUM_100US &&
  HISTOGRAM_SUM_100US > HISTOGRAM_BUCKETS
)
  throw new Error('table-layout: HISTOGRAM bucket cells overlap HISTOGRAM_SUM_100US');
if (HISTOGRAM_BUCKETS + RESPONSE_TIME_BUCKET_COUNT > ROW_INT32)
  throw new Error('table-layout: HISTOGRAM bucket cells do not fit the row');
