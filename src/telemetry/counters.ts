/**
 * @module src/telemetry/counters
 *
 * Which table counters the collector polls: one descriptor table per table
 * region (TARGET, STATS, HISTOGRAM, GROUP, LISTENER), each row a counter's
 * key and its field in proto/table-layout.ts, and the readers that copy those
 * cells into a flat Int32 snapshot. Thread: main. Place in the flow:
 * workers count -> table -> **counters** (which cells, in what order) ->
 * collector.ts (wrap-safe deltas into totals) -> render-metrics.ts, status.ts.
 *
 * Why descriptors: a snapshot and the Float64 totals it feeds are plain
 * arrays, and every position in them is derived here from row order
 * (`SLOT_CELL.requests`, `GROUP_CELL.noTargetRequests`, ...). No hand-typed
 * index mirrors an array, so adding, removing or reordering a row cannot
 * leave a stale index behind; a new counter is one row (and, for a group
 * counter, one family in render-metrics.ts, which tsc asks for).
 *
 *   per slot:      [ TARGET_COUNTERS | STATS_COUNTERS | HISTOGRAM_COUNTERS ]   SLOT_CELL_COUNT cells
 *   per group:     [ GROUP_COUNTERS ]                                          GROUP_CELL_COUNT cells
 *   per worker and listener: [ LISTENER_COUNTERS ]                             LISTENER_CELL_COUNT cells
 *
 * Only counters (`_TOTAL`, wrapping, read by delta) are here. Gauges
 * (weights, states, in flight, active connections) are read live by
 * gauges.ts and never accumulated.
 */
import {
  GROUP_CROSS_ZONE_TOTAL,
  GROUP_FAIL_OPEN_TOTAL,
  GROUP_FORWARD_STICKY_HITS_TOTAL,
  GROUP_FORWARD_STICKY_MISSES_TOTAL,
  GROUP_FORWARD_STICKY_REPICKS_TOTAL,
  GROUP_NO_TARGET_TOTAL,
  GROUP_STICKY_HITS_TOTAL,
  GROUP_STICKY_MISSES_TOTAL,
  GROUP_STICKY_REPICKS_TOTAL,
  GROUP_ZONE_SPILL_TOTAL,
  HISTOGRAM_BUCKETS,
  HISTOGRAM_SUM_100US,
  LISTENER_BYTES_IN_TOTAL,
  LISTENER_BYTES_OUT_TOTAL,
  LISTENER_CLIENT_TIMEOUTS_TOTAL,
  LISTENER_CONNECTIONS_TOTAL,
  LISTENER_FERRY_4XX_TOTAL,
  LISTENER_FERRY_5XX_TOTAL,
  LISTENER_FERRY_502_TOTAL,
  LISTENER_FERRY_503_TOTAL,
  LISTENER_FERRY_504_TOTAL,
  LISTENER_LIMIT_REFUSED_TOTAL,
  LISTENER_PROXY_REFUSED_TOTAL,
  LISTENER_REJECTED_CONNECTIONS_TOTAL,
  LISTENER_REQUESTS_TOTAL,
  LISTENER_SNI_PEEK_FAILED_TOTAL,
  LISTENER_SOURCE_REFUSED_TOTAL,
  LISTENER_UDP_DROPPED_TOTAL,
  loadGroup,
  loadHistogram,
  loadListener,
  loadStats,
  loadTarget,
  RESPONSE_TIME_BUCKET_COUNT,
  STATS_2XX_TOTAL,
  STATS_3XX_TOTAL,
  STATS_4XX_TOTAL,
  STATS_5XX_TOTAL,
  STATS_CONNECT_ERRORS_TOTAL,
  STATS_NEW_CONNECTIONS_TOTAL,
  TARGET_FAILURES_TOTAL,
  TARGET_REQUESTS_TOTAL,
  type TableView,
} from '../../proto/table-layout.ts';
import { assert } from '../shared/assert.ts';

// === Descriptor rows ===
/** One counter, or a run of `cellCount` adjacent cells (histogram buckets), in one table region. */
export interface CounterRow {
  /** Name of the counter's position in a snapshot (`SLOT_CELL[key]`). */
  readonly key: string;
  /** Offset of the (first) cell in the region's row: a proto/table-layout.ts constant. */
  readonly field: number;
  /** Adjacent cells from `field`; 1 when absent. */
  readonly cellCount?: number;
}

/** Position of each row's first cell in a snapshot, by key. */
export type CellIndex<Row extends CounterRow> = { readonly [R in Row as R['key']]: number };

function cellCountOf(row: CounterRow): number {
  return row.cellCount ?? 1;
}

/** Snapshot positions from row order (prefix sums of cell counts). Asserts keys are unique. */
function cellIndex<Row extends CounterRow>(rows: readonly Row[]): CellIndex<Row> {
  const index: Record<string, number> = {};
  let next = 0;
  for (const row of rows) {
    assert(!Object.hasOwn(index, row.key), `telemetry counters: key ${row.key} appears twice`);
    index[row.key] = next;
    next += cellCountOf(row);
  }
  return index as CellIndex<Row>;
}

/** Cells a snapshot of these rows takes. */
function totalCells(rows: readonly CounterRow[]): number {
  let count = 0;
  for (const row of rows) count += cellCountOf(row);
  return count;
}

/** Fields must be distinct within a region: two rows on one cell would count it twice. */
function assertDistinctFields(region: string, rows: readonly CounterRow[]): void {
  const seen = new Set<number>();
  for (const row of rows) {
    for (let cell = row.field; cell < row.field + cellCountOf(row); cell++) {
      assert(!seen.has(cell), `telemetry counters: ${region} field ${cell} is read twice`);
      seen.add(cell);
    }
  }
}

// === TARGET, STATS, HISTOGRAM (per slot) ===
/** TARGET-region counters (the rest of the row is gauges and balancer state). */
export const TARGET_COUNTERS = [
  { key: 'requests', field: TARGET_REQUESTS_TOTAL },
  { key: 'gatewayFailures', field: TARGET_FAILURES_TOTAL },
] as const satisfies readonly CounterRow[];

/** STATS-region counters: the target's responses by class and its connections. */
export const STATS_COUNTERS = [
  { key: 'responses2xx', field: STATS_2XX_TOTAL },
  { key: 'responses3xx', field: STATS_3XX_TOTAL },
  { key: 'responses4xx', field: STATS_4XX_TOTAL },
  { key: 'responses5xx', field: STATS_5XX_TOTAL },
  { key: 'connectionErrors', field: STATS_CONNECT_ERRORS_TOTAL },
  { key: 'newConnections', field: STATS_NEW_CONNECTIONS_TOTAL },
] as const satisfies readonly CounterRow[];

/** HISTOGRAM-region counters: per-bucket response counts (not cumulative) and their sum. */
export const HISTOGRAM_COUNTERS = [
  { key: 'responseTimeBuckets', field: HISTOGRAM_BUCKETS, cellCount: RESPONSE_TIME_BUCKET_COUNT },
  { key: 'responseTimeSum100us', field: HISTOGRAM_SUM_100US },
] as const satisfies readonly CounterRow[];

/** The three per-slot regions in snapshot order, each with its accessor. */
const SLOT_REGIONS = [
  { region: 'TARGET', rows: TARGET_COUNTERS, load: loadTarget },
  { region: 'STATS', rows: STATS_COUNTERS, load: loadStats },
  { region: 'HISTOGRAM', rows: HISTOGRAM_COUNTERS, load: loadHistogram },
] as const;

/** Any row of any of the regions (keeps SLOT_CELL's keys typed). */
type RowOf<Regions extends readonly { readonly rows: readonly CounterRow[] }[]> =
  Regions[number]['rows'][number];

/** Every per-slot row in snapshot order: the SLOT_REGIONS tables one after another. */
const SLOT_ROWS = SLOT_REGIONS.flatMap((region): readonly RowOf<typeof SLOT_REGIONS>[] => region.rows);

/** Position of each per-slot counter in a slot snapshot and in TargetSeries.totals. */
export const SLOT_CELL = cellIndex(SLOT_ROWS);
/** Cells in a slot snapshot. */
export const SLOT_CELL_COUNT = totalCells(SLOT_ROWS);

/** Copy one slot's counters into `raw` (SLOT_CELL_COUNT cells). Allocates nothing. */
export function readSlotCells(view: TableView, slot: number, raw: Int32Array): void {
  let cell = 0;
  for (const { rows, load } of SLOT_REGIONS) {
    for (const row of rows) {
      const count = cellCountOf(row);
      for (let i = 0; i < count; i++) raw[cell++] = load(view, slot, row.field + i);
    }
  }
}

// === GROUP ===
/** GROUP-region counters; render-metrics.ts names a Prometheus family for each key. */
export const GROUP_COUNTERS = [
  { key: 'failOpenRequests', field: GROUP_FAIL_OPEN_TOTAL },
  { key: 'noTargetRequests', field: GROUP_NO_TARGET_TOTAL },
  { key: 'stickyHits', field: GROUP_STICKY_HITS_TOTAL },
  { key: 'stickyMisses', field: GROUP_STICKY_MISSES_TOTAL },
  { key: 'stickyRepicks', field: GROUP_STICKY_REPICKS_TOTAL },
  { key: 'forwardStickyHits', field: GROUP_FORWARD_STICKY_HITS_TOTAL },
  { key: 'forwardStickyMisses', field: GROUP_FORWARD_STICKY_MISSES_TOTAL },
  { key: 'forwardStickyRepicks', field: GROUP_FORWARD_STICKY_REPICKS_TOTAL },
  { key: 'crossZoneRequests', field: GROUP_CROSS_ZONE_TOTAL },
  { key: 'zoneSpillRequests', field: GROUP_ZONE_SPILL_TOTAL },
] as const satisfies readonly CounterRow[];

export type GroupCounterKey = (typeof GROUP_COUNTERS)[number]['key'];

/** Position of each group counter in a group snapshot and in GroupSeries.totals. */
export const GROUP_CELL = cellIndex(GROUP_COUNTERS);
export const GROUP_CELL_COUNT = totalCells(GROUP_COUNTERS);

/** Copy one group's counters into `raw` (GROUP_CELL_COUNT cells). Allocates nothing. */
export function readGroupCells(view: TableView, groupIndex: number, raw: Int32Array): void {
  let cell = 0;
  for (const row of GROUP_COUNTERS) {
    const count = cellCountOf(row);
    for (let i = 0; i < count; i++) raw[cell++] = loadGroup(view, groupIndex, row.field + i);
  }
}

// === LISTENER (per worker and listener) ===
/** LISTENER-region counters, summed over workers. LISTENER_ACTIVE_CONNECTIONS is a gauge (gauges.ts). */
export const LISTENER_COUNTERS = [
  { key: 'newConnections', field: LISTENER_CONNECTIONS_TOTAL },
  { key: 'rejectedConnections', field: LISTENER_REJECTED_CONNECTIONS_TOTAL },
  { key: 'requests', field: LISTENER_REQUESTS_TOTAL },
  { key: 'bytesIn', field: LISTENER_BYTES_IN_TOTAL },
  { key: 'bytesOut', field: LISTENER_BYTES_OUT_TOTAL },
  { key: 'generated4xx', field: LISTENER_FERRY_4XX_TOTAL },
  { key: 'generated5xx', field: LISTENER_FERRY_5XX_TOTAL },
  { key: 'generated502', field: LISTENER_FERRY_502_TOTAL },
  { key: 'generated503', field: LISTENER_FERRY_503_TOTAL },
  { key: 'generated504', field: LISTENER_FERRY_504_TOTAL },
  { key: 'sourceRefused', field: LISTENER_SOURCE_REFUSED_TOTAL },
  { key: 'proxyRefused', field: LISTENER_PROXY_REFUSED_TOTAL },
  { key: 'sniPeekFailed', field: LISTENER_SNI_PEEK_FAILED_TOTAL },
  { key: 'udpDropped', field: LISTENER_UDP_DROPPED_TOTAL },
  { key: 'clientTimeouts', field: LISTENER_CLIENT_TIMEOUTS_TOTAL },
  { key: 'limitRefused', field: LISTENER_LIMIT_REFUSED_TOTAL },
] as const satisfies readonly CounterRow[];

/** Position of each listener counter in a listener snapshot and in ListenerSeries.totals. */
export const LISTENER_CELL = cellIndex(LISTENER_COUNTERS);
export const LISTENER_CELL_COUNT = totalCells(LISTENER_COUNTERS);

/** Copy one worker's counters of one listener into `raw` (LISTENER_CELL_COUNT cells). Allocates nothing. */
export function readListenerCells(
  view: TableView,
  workerIndex: number,
  listenerIndex: number,
  raw: Int32Array,
): void {
  let cell = 0;
  for (const row of LISTENER_COUNTERS) {
    const count = cellCountOf(row);
    for (let i = 0; i < count; i++)
      raw[cell++] = loadListener(view, workerIndex, listenerIndex, row.field + i);
  }
}

// === Load-time checks ===
for (const { region, rows } of SLOT_REGIONS) assertDistinctFields(region, rows);
assertDistinctFields('GROUP', GROUP_COUNTERS);
assertDistinctFields('LISTENER', LISTENER_COUNTERS);
