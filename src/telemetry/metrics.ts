/**
 * @module src/telemetry/metrics
 *
 * The main thread's side of metrics: reads the workers' counters out of the
 * shared table, turns wrapping Int32 cells into monotonic JS-number totals,
 * keeps a few minutes of per-second history for the status page, and renders
 * `/metrics` in the Prometheus text format. Thread: main. Place in the flow:
 * workers count (workers/record) -> table -> **collector** -> admin.
 *
 * Why a poll: workers never send a message per request; main reads the
 * table once a second (METRICS_POLL_MS) and on every scrape. A counter cell
 * wraps at 2^32, so each read adds `(now - last) >>> 0` to a JS number; the
 * total is exact while a cell moves less than 2^32 between two reads.
 *
 * Deltas are owned by slot, not by target: whatever a slot counted since the
 * last read goes to the target holding the slot now, so a slot reused by
 * another target starts from what its previous owner left (the table never
 * resets counters) and nothing is counted twice.
 *
 * The metric set follows ELB's CloudWatch metrics; the table in
 * docs/observability.md maps each family to its CloudWatch name.
 * Hooks for features still being built (sticky re-picks, failovers): add a
 * row to GROUP_COUNTERS (a table field, a family name, a help text) and it is
 * polled, exported and shown on the status page.
 */
import {
  GROUP_FAIL_OPEN_TOTAL,
  GROUP_FORWARD_STICKY_HITS_TOTAL,
  GROUP_FORWARD_STICKY_MISSES_TOTAL,
  GROUP_FORWARD_STICKY_REPICKS_TOTAL,
  GROUP_NO_TARGET_TOTAL,
  GROUP_ROUTE_TO,
  GROUP_STICKY_HITS_TOTAL,
  GROUP_STICKY_MISSES_TOTAL,
  GROUP_STICKY_REPICKS_TOTAL,
  HISTOGRAM_BUCKETS,
  HISTOGRAM_SUM_100US,
  LAYOUT_VERSION,
  LISTENER_ACTIVE_CONNECTIONS,
  LISTENER_BYTES_IN_TOTAL,
  LISTENER_BYTES_OUT_TOTAL,
  LISTENER_CONNECTIONS_TOTAL,
  LISTENER_FERRY_4XX_TOTAL,
  LISTENER_FERRY_5XX_TOTAL,
  LISTENER_FERRY_502_TOTAL,
  LISTENER_FERRY_503_TOTAL,
  LISTENER_FERRY_504_TOTAL,
  LISTENER_REJECTED_CONNECTIONS_TOTAL,
  LISTENER_REQUESTS_TOTAL,
  loadGroup,
  loadHistogram,
  loadListener,
  loadStats,
  loadTarget,
  RESPONSE_TIME_BUCKET_BOUNDS_US,
  RESPONSE_TIME_BUCKET_COUNT,
  STATS_2XX_TOTAL,
  STATS_3XX_TOTAL,
  STATS_4XX_TOTAL,
  STATS_5XX_TOTAL,
  STATS_CONNECT_ERRORS_TOTAL,
  STATS_NEW_CONNECTIONS_TOTAL,
  TARGET_ACTIVE_CONNECTIONS,
  TARGET_EJECTED,
  TARGET_FAILURES_TOTAL,
  TARGET_IN_FLIGHT,
  TARGET_LATENCY_EWMA_US,
  TARGET_REQUESTS_TOTAL,
  TARGET_STATE,
  TARGET_STATE_HEALTHY,
  TARGET_STATE_UNAVAILABLE,
  TARGET_STATE_UNHEALTHY,
  TARGET_WEIGHT,
  type TableView,
} from '../../proto/table-layout.ts';
import type { Topology } from '../../proto/thread-messages.ts';
import { stateName } from '../health/index.ts';
import { PrometheusWriter } from './prometheus.ts';

/** How often main reads the table without a scrape (rates, history, wrap safety). */
export const METRICS_POLL_MS = 1_000;
/** Per-second history points kept per listener, group and target (5 minutes). */
export const HISTORY_POINTS = 300;
/** Health transitions kept for the status page. */
export const TRANSITIONS_KEPT = 50;

/** Fixed-size ring of numbers (oldest overwritten), for history. */
export class Ring {
  private readonly values: Float64Array;
  private head: number;
  private count: number;

  constructor(capacity: number) {
    this.values = new Float64Array(capacity);
    this.head = 0;
    this.count = 0;
  }

  push(value: number): void {
    this.values[this.head] = value;
    this.head = (this.head + 1) % this.values.length;
    if (this.count < this.values.length) this.count++;
  }

  /** Oldest first, rounded to 3 decimals for JSON. */
  toArray(): number[] {
    const out: number[] = [];
    const size = this.values.length;
    for (let i = 0; i < this.count; i++) {
      out.push(Math.round(this.values[(this.head - this.count + i + size) % size]! * 1000) / 1000);
    }
    return out;
  }
}

// === Raw cells read per slot ===
// One Int32 snapshot per slot: [target cells..., stats cells..., histogram cells...].
const TARGET_CELLS = [TARGET_REQUESTS_TOTAL, TARGET_FAILURES_TOTAL] as const;
const STATS_CELLS = [
  STATS_2XX_TOTAL,
  STATS_3XX_TOTAL,
  STATS_4XX_TOTAL,
  STATS_5XX_TOTAL,
  STATS_CONNECT_ERRORS_TOTAL,
  STATS_NEW_CONNECTIONS_TOTAL,
] as const;
const CELL_REQUESTS = 0;
const CELL_FAILURES = 1;
const CELL_STATS = TARGET_CELLS.length;
const CELL_2XX = CELL_STATS;
const CELL_CONNECT_ERRORS = CELL_STATS + 4;
const CELL_NEW_CONNECTIONS = CELL_STATS + 5;
const CELL_BUCKETS = CELL_STATS + STATS_CELLS.length;
const CELL_SUM = CELL_BUCKETS + RESPONSE_TIME_BUCKET_COUNT;
const SLOT_CELLS = CELL_SUM + 1;

/** Group counters polled and exported; append a row to expose a new GROUP_* counter. */
export const GROUP_COUNTERS: readonly { field: number; family: string; help: string }[] = [
  {
    field: GROUP_FAIL_OPEN_TOTAL,
    family: 'ferry_target_group_fail_open_requests_total',
    help: 'Requests routed over all targets because none was healthy (fail-open).',
  },
  {
    field: GROUP_NO_TARGET_TOTAL,
    family: 'ferry_target_group_no_target_requests_total',
    help: 'Requests answered 503 because no target could be picked.',
  },
  {
    field: GROUP_STICKY_HITS_TOTAL,
    family: 'ferry_target_group_sticky_hits_total',
    help: 'Requests of a sticky group sent to the target their valid cookie named.',
  },
  {
    field: GROUP_STICKY_MISSES_TOTAL,
    family: 'ferry_target_group_sticky_misses_total',
    help: 'Requests of a sticky group without a valid cookie (absent, tampered, expired): balanced.',
  },
  {
    field: GROUP_STICKY_REPICKS_TOTAL,
    family: 'ferry_target_group_sticky_repicks_total',
    help: 'Requests whose cookie named a target that could not take them (unhealthy, draining, ejected, gone): picked anew.',
  },
  {
    field: GROUP_FORWARD_STICKY_HITS_TOTAL,
    family: 'ferry_target_group_forward_sticky_hits_total',
    help: 'Weighted forward with group stickiness: requests sent to the group their valid cookie named.',
  },
  {
    field: GROUP_FORWARD_STICKY_MISSES_TOTAL,
    family: 'ferry_target_group_forward_sticky_misses_total',
    help: 'Weighted forward with group stickiness: requests without a valid cookie, given this group by weight.',
  },
  {
    field: GROUP_FORWARD_STICKY_REPICKS_TOTAL,
    family: 'ferry_target_group_forward_sticky_repicks_total',
    help: 'Weighted forward with group stickiness: requests whose cookie named a group no longer in the action, given this group anew.',
  },
];

/** Listener counters polled (per worker row, summed); ACTIVE is a gauge read live. */
const LISTENER_CELLS = [
  LISTENER_CONNECTIONS_TOTAL,
  LISTENER_REJECTED_CONNECTIONS_TOTAL,
  LISTENER_REQUESTS_TOTAL,
  LISTENER_BYTES_IN_TOTAL,
  LISTENER_BYTES_OUT_TOTAL,
  LISTENER_FERRY_4XX_TOTAL,
  LISTENER_FERRY_5XX_TOTAL,
  LISTENER_FERRY_502_TOTAL,
  LISTENER_FERRY_503_TOTAL,
  LISTENER_FERRY_504_TOTAL,
] as const;
const L_CONNECTIONS = 0;
const L_REJECTED = 1;
const L_REQUESTS = 2;
const L_BYTES_IN = 3;
const L_BYTES_OUT = 4;
const L_4XX = 5;
const L_5XX = 6;
const L_502 = 7;
const L_503 = 8;
const L_504 = 9;

// === Series ===
export interface TargetSeries {
  readonly key: string;
  readonly targetGroup: string;
  readonly address: string;
  slot: number;
  /** Monotonic totals, index-aligned with the slot cells. */
  readonly totals: Float64Array;
  readonly requestRate: Ring;
  readonly latencyMs: Ring;
  /** Requests per second and mean response time (ms) over the last poll interval. */
  lastRate: number;
  lastLatencyMs: number | null;
  /** Totals at the last history tick (rates are per tick, whatever scrapes polled in between). */
  tickRequests: number;
  tickSum: number;
  tickCount: number;
  readonly checks: { pass: number; status: number; timeout: number; error: number };
  ejections: number;
  isSeen: boolean;
}

export interface ListenerSeries {
  readonly name: string;
  readonly index: number;
  readonly totals: Float64Array;
  readonly requestRate: Ring;
  lastRate: number;
  tickRequests: number;
}

export interface GroupSeries {
  readonly name: string;
  readonly totals: Float64Array;
  readonly requestRate: Ring;
  lastRate: number;
  isSeen: boolean;
}

/** Where the collector reads from; main supplies the live objects, tests may fake them. */
export interface CollectorSources {
  readonly view: TableView;
  readonly topology: () => Topology;
  readonly workerCount: number;
  readonly isWorkerAlive: (workerIndex: number) => boolean;
  readonly readyWorkerCount: () => number;
  readonly restartCount: () => number;
  readonly version: string;
  /** Monotonic ms (performance.now in production). */
  readonly nowMs?: () => number;
}

/** A target's current table gauges. */
export interface TargetGauges {
  readonly state: string;
  readonly weight: number;
  readonly inFlight: number;
  readonly activeConnections: number;
  readonly latencyEwmaMs: number | null;
  readonly isEjected: boolean;
}

export class MetricsCollector {
  private readonly sources: CollectorSources;
  private readonly now: () => number;
  /** Last raw cells read per slot (whoever owned it then). */
  private readonly slotLast: Map<number, Int32Array>;
  private readonly groupLast: Map<number, Int32Array>;
  /** Per worker, per listener index. */
  private readonly listenerLast: Int32Array[];
  readonly targets: Map<string, TargetSeries>;
  readonly groups: Map<string, GroupSeries>;
  readonly listeners: ListenerSeries[];
  private lastPollMs: number;
  private timer: NodeJS.Timeout | null;

  constructor(sources: CollectorSources) {
    this.sources = sources;
    this.now = sources.nowMs ?? (() => performance.now());
    this.slotLast = new Map();
    this.groupLast = new Map();
    const listenerCapacity = sources.view.listenerCapacity;
    this.listenerLast = Array.from(
      { length: sources.workerCount },
      () => new Int32Array(listenerCapacity * LISTENER_CELLS.length),
    );
    this.targets = new Map();
    this.groups = new Map();
    this.listeners = sources
      .topology()
      .listeners.slice(0, listenerCapacity)
      .map((listener, index) => ({
        name: listener.name,
        index,
        totals: new Float64Array(LISTENER_CELLS.length),
        requestRate: new Ring(HISTORY_POINTS),
        lastRate: 0,
        tickRequests: 0,
      }));
    this.lastPollMs = this.now();
    this.timer = null;
  }

  /** Poll every METRICS_POLL_MS until stop(). */
  start(): void {
    this.timer = setInterval(() => this.poll(), METRICS_POLL_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  // === Events from health (src/health emits them; main wires them here) ===
  onCheck(targetGroup: string, address: string, outcome: 'pass' | 'status' | 'timeout' | 'error'): void {
    const series = this.targets.get(seriesKey(targetGroup, address));
    if (series !== undefined) series.checks[outcome]++;
  }

  onEjection(targetGroup: string, address: string, isEjected: boolean): void {
    const series = this.targets.get(seriesKey(targetGroup, address));
    if (series !== undefined && isEjected) series.ejections++;
  }

  // === Poll ===
  /**
   * Read every counter once and accumulate. Called by the timer and before
   * each scrape; `isHistoryTick` is false for scrapes so the history stays at
   * one point per second.
   */
  poll(isHistoryTick = true): void {
    const { view } = this.sources;
    const topology = this.sources.topology();
    const nowMs = this.now();
    const elapsedS = Math.max((nowMs - this.lastPollMs) / 1000, 1e-3);
    for (const series of this.targets.values()) series.isSeen = false;
    for (const series of this.groups.values()) series.isSeen = false;
    const raw = new Int32Array(SLOT_CELLS);
    for (const group of topology.groups) {
      let groupRate = 0;
      const groupSeries = this.groupSeries(group.name);
      groupSeries.isSeen = true;
      this.pollGroup(group.groupIndex, groupSeries);
      for (const member of group.members) {
        const key = seriesKey(group.name, member.id);
        let series = this.targets.get(key);
        if (series === undefined) {
          series = newTargetSeries(key, group.name, member.id, member.slot);
          this.targets.set(key, series);
        }
        series.slot = member.slot;
        series.isSeen = true;
        readSlot(view, member.slot, raw);
        let last = this.slotLast.get(member.slot);
        if (last === undefined) {
          // Never read: a fresh table holds zeros, so everything counted so far is this target's.
          last = new Int32Array(SLOT_CELLS);
          this.slotLast.set(member.slot, last);
        }
        for (let cell = 0; cell < SLOT_CELLS; cell++) {
          series.totals[cell]! += (raw[cell]! - last[cell]!) >>> 0;
        }
        last.set(raw);
        if (isHistoryTick) {
          let countAfter = 0;
          for (let i = 0; i < RESPONSE_TIME_BUCKET_COUNT; i++) countAfter += series.totals[CELL_BUCKETS + i]!;
          const requests = series.totals[CELL_REQUESTS]!;
          const sum = series.totals[CELL_SUM]!;
          const rate = (requests - series.tickRequests) / elapsedS;
          const answered = countAfter - series.tickCount;
          series.lastRate = rate;
          series.lastLatencyMs = answered > 0 ? ((sum - series.tickSum) * 0.1) / answered : null;
          series.tickRequests = requests;
          series.tickSum = sum;
          series.tickCount = countAfter;
          series.requestRate.push(rate);
          series.latencyMs.push(series.lastLatencyMs ?? 0);
          groupRate += rate;
        }
      }
      if (isHistoryTick) {
        groupSeries.lastRate = groupRate;
        groupSeries.requestRate.push(groupRate);
      }
    }
    // Targets gone from the topology (released) and groups gone from config stop being exported.
    for (const [key, series] of this.targets) if (!series.isSeen) this.targets.delete(key);
    for (const [name, series] of this.groups) if (!series.isSeen) this.groups.delete(name);
    this.pollListeners(elapsedS, isHistoryTick);
    if (isHistoryTick) this.lastPollMs = nowMs;
  }

  private groupSeries(name: string): GroupSeries {
    let series = this.groups.get(name);
    if (series === undefined) {
      series = {
        name,
        totals: new Float64Array(GROUP_COUNTERS.length),
        requestRate: new Ring(HISTORY_POINTS),
        lastRate: 0,
        isSeen: false,
      };
      this.groups.set(name, series);
    }
    return series;
  }

  private pollGroup(groupIndex: number, series: GroupSeries): void {
    const { view } = this.sources;
    let last = this.groupLast.get(groupIndex);
    if (last === undefined) {
      last = new Int32Array(GROUP_COUNTERS.length);
      this.groupLast.set(groupIndex, last);
    }
    for (let i = 0; i < GROUP_COUNTERS.length; i++) {
      const value = loadGroup(view, groupIndex, GROUP_COUNTERS[i]!.field);
      series.totals[i]! += (value - last[i]!) >>> 0;
      last[i] = value;
    }
  }

  private pollListeners(elapsedS: number, isHistoryTick: boolean): void {
    const { view } = this.sources;
    for (const series of this.listeners) {
      for (let worker = 0; worker < this.listenerLast.length; worker++) {
        const last = this.listenerLast[worker]!;
        const base = series.index * LISTENER_CELLS.length;
        for (let cell = 0; cell < LISTENER_CELLS.length; cell++) {
          const value = loadListener(view, worker, series.index, LISTENER_CELLS[cell]!);
          series.totals[cell]! += (value - last[base + cell]!) >>> 0;
          last[base + cell] = value;
        }
      }
      if (isHistoryTick) {
        series.lastRate = (series.totals[L_REQUESTS]! - series.tickRequests) / elapsedS;
        series.tickRequests = series.totals[L_REQUESTS]!;
        series.requestRate.push(series.lastRate);
      }
    }
  }

  // === Live gauges ===
  /** Downstream connections open on a listener now, over the live workers. */
  activeConnections(listenerIndex: number): number {
    let total = 0;
    for (let worker = 0; worker < this.sources.workerCount; worker++) {
      if (this.sources.isWorkerAlive(worker))
        total += loadListener(this.sources.view, worker, listenerIndex, LISTENER_ACTIVE_CONNECTIONS);
    }
    return total;
  }

  targetGauges(slot: number): TargetGauges {
    const { view } = this.sources;
    const ewmaUs = loadTarget(view, slot, TARGET_LATENCY_EWMA_US);
    return {
      state: stateName(loadTarget(view, slot, TARGET_STATE)),
      weight: loadTarget(view, slot, TARGET_WEIGHT),
      inFlight: loadTarget(view, slot, TARGET_IN_FLIGHT),
      activeConnections: loadTarget(view, slot, TARGET_ACTIVE_CONNECTIONS),
      latencyEwmaMs: ewmaUs > 0 ? ewmaUs / 1000 : null,
      isEjected: loadTarget(view, slot, TARGET_EJECTED) === 1,
    };
  }

  /** Healthy (routable: healthy or checks off, not ejected) and unhealthy (failing or ejected) members of a group. */
  hostCounts(groupIndex: number): { healthy: number; unhealthy: number } {
    const group = this.sources.topology().groups.find((candidate) => candidate.groupIndex === groupIndex);
    let healthy = 0;
    let unhealthy = 0;
    for (const member of group?.members ?? []) {
      const state = loadTarget(this.sources.view, member.slot, TARGET_STATE);
      const isEjected = loadTarget(this.sources.view, member.slot, TARGET_EJECTED) === 1;
      if ((state === TARGET_STATE_HEALTHY || state === TARGET_STATE_UNAVAILABLE) && !isEjected) healthy++;
      else if (state === TARGET_STATE_UNHEALTHY || isEjected) unhealthy++;
    }
    return { healthy, unhealthy };
  }

  /** Group index that takes this group's traffic (itself unless failed over). */
  routeTo(groupIndex: number): number {
    return loadGroup(this.sources.view, groupIndex, GROUP_ROUTE_TO);
  }

  // === Totals for the status document ===
  static targetTotals(series: TargetSeries) {
    const t = series.totals;
    return {
      requestsTotal: t[CELL_REQUESTS]!,
      gatewayFailuresTotal: t[CELL_FAILURES]!,
      responses: {
        '2xx': t[CELL_2XX]!,
        '3xx': t[CELL_2XX + 1]!,
        '4xx': t[CELL_2XX + 2]!,
        '5xx': t[CELL_2XX + 3]!,
      },
      connectionErrorsTotal: t[CELL_CONNECT_ERRORS]!,
      newConnectionsTotal: t[CELL_NEW_CONNECTIONS]!,
    };
  }

  static listenerTotals(series: ListenerSeries) {
    const t = series.totals;
    return {
      newConnectionsTotal: t[L_CONNECTIONS]!,
      rejectedConnectionsTotal: t[L_REJECTED]!,
      requestsTotal: t[L_REQUESTS]!,
      bytesInTotal: t[L_BYTES_IN]!,
      bytesOutTotal: t[L_BYTES_OUT]!,
      generatedResponses: {
        '4xx': t[L_4XX]!,
        '5xx': t[L_5XX]!,
        '502': t[L_502]!,
        '503': t[L_503]!,
        '504': t[L_504]!,
      },
    };
  }

  // === /metrics ===
  /** The Prometheus text of every family (polls first, so a scrape is current). */
  render(): string {
    this.poll(false);
    const w = new PrometheusWriter();
    const topology = this.sources.topology();
    w.family('ferry_info', 'gauge', 'Ferry build and shared-table layout version.').sample(
      'ferry_info',
      { version: this.sources.version, layout_version: String(LAYOUT_VERSION) },
      1,
    );
    w.family('ferry_workers', 'gauge', 'Worker threads configured.').sample(
      'ferry_workers',
      {},
      this.sources.workerCount,
    );
    w.family('ferry_workers_ready', 'gauge', 'Worker threads listening now.').sample(
      'ferry_workers_ready',
      {},
      this.sources.readyWorkerCount(),
    );
    w.family('ferry_worker_restarts_total', 'counter', 'Workers restarted after they died.').sample(
      'ferry_worker_restarts_total',
      {},
      this.sources.restartCount(),
    );
    this.renderListeners(w);
    this.renderGroups(w, topology);
    this.renderTargets(w);
    return w.toString();
  }

  private renderListeners(w: PrometheusWriter): void {
    const families: [
      string,
      'counter' | 'gauge',
      string,
      (s: ListenerSeries) => [Record<string, string>, number][],
    ][] = [
      [
        'ferry_listener_requests_total',
        'counter',
        'Request heads received, including ones Ferry answered itself (ELB RequestCount).',
        (s) => [[{}, s.totals[L_REQUESTS]!]],
      ],
      [
        'ferry_listener_new_connections_total',
        'counter',
        'Downstream connections accepted (ELB NewConnectionCount).',
        (s) => [[{}, s.totals[L_CONNECTIONS]!]],
      ],
      [
        'ferry_listener_active_connections',
        'gauge',
        'Downstream connections open now (ELB ActiveConnectionCount).',
        (s) => [[{}, this.activeConnections(s.index)]],
      ],
      [
        'ferry_listener_rejected_connections_total',
        'counter',
        'Downstream connections closed unserved: draining, or no target for a TCP connection (ELB RejectedConnectionCount).',
        (s) => [[{}, s.totals[L_REJECTED]!]],
      ],
      [
        'ferry_listener_processed_bytes_total',
        'counter',
        'Bytes received from and sent to clients (ELB ProcessedBytes).',
        (s) => [
          [{ direction: 'in' }, s.totals[L_BYTES_IN]!],
          [{ direction: 'out' }, s.totals[L_BYTES_OUT]!],
        ],
      ],
      [
        'ferry_listener_generated_responses_total',
        'counter',
        'Responses Ferry generated itself, by status class (ELB HTTPCode_ELB_4XX_Count, HTTPCode_ELB_5XX_Count).',
        (s) => [
          [{ code_class: '4xx' }, s.totals[L_4XX]!],
          [{ code_class: '5xx' }, s.totals[L_5XX]!],
        ],
      ],
      [
        'ferry_listener_generated_gateway_responses_total',
        'counter',
        'Responses Ferry generated with 502 (target refused, reset or answered badly), 503 (no target) or 504 (timeout) (ELB HTTPCode_ELB_502/503/504_Count).',
        (s) => [
          [{ code: '502' }, s.totals[L_502]!],
          [{ code: '503' }, s.totals[L_503]!],
          [{ code: '504' }, s.totals[L_504]!],
        ],
      ],
    ];
    for (const [name, type, help, samples] of families) {
      w.family(name, type, help);
      for (const series of this.listeners) {
        for (const [labels, value] of samples(series))
          w.sample(name, { listener: series.name, ...labels }, value);
      }
    }
  }

  private renderGroups(w: PrometheusWriter, topology: Topology): void {
    const counts = topology.groups.map((group) => ({ group, ...this.hostCounts(group.groupIndex) }));
    w.family(
      'ferry_target_group_healthy_host_count',
      'gauge',
      'Targets that take traffic: healthy, or health checks off, and not ejected (ELB HealthyHostCount).',
    );
    for (const { group, healthy } of counts) {
      w.sample('ferry_target_group_healthy_host_count', { target_group: group.name }, healthy);
    }
    w.family(
      'ferry_target_group_unhealthy_host_count',
      'gauge',
      'Targets failing health checks or ejected by outlier detection (ELB UnHealthyHostCount).',
    );
    for (const { group, unhealthy } of counts) {
      w.sample('ferry_target_group_unhealthy_host_count', { target_group: group.name }, unhealthy);
    }
    w.family(
      'ferry_target_group_failover_active',
      'gauge',
      "1 while the group's traffic goes to another group (hot failover), else 0.",
    );
    for (const group of topology.groups) {
      w.sample(
        'ferry_target_group_failover_active',
        { target_group: group.name },
        this.routeTo(group.groupIndex) === group.groupIndex ? 0 : 1,
      );
    }
    for (let i = 0; i < GROUP_COUNTERS.length; i++) {
      const counter = GROUP_COUNTERS[i]!;
      w.family(counter.family, 'counter', counter.help);
      for (const series of this.groups.values()) {
        w.sample(counter.family, { target_group: series.name }, series.totals[i]!);
      }
    }
  }

  private renderTargets(w: PrometheusWriter): void {
    const all = [...this.targets.values()];
    const labelsOf = (s: TargetSeries) => ({ target_group: s.targetGroup, target: s.address });
    const counter = (name: string, help: string, cell: number) => {
      w.family(name, 'counter', help);
      for (const s of all) w.sample(name, labelsOf(s), s.totals[cell]!);
    };
    counter(
      'ferry_target_requests_total',
      'Exchanges with the target: requests (HTTP) or connections (TCP), answered or failed (ELB RequestCountPerTarget).',
      CELL_REQUESTS,
    );
    w.family(
      'ferry_target_responses_total',
      'counter',
      'Final responses from the target by status class (ELB HTTPCode_Target_2XX..5XX_Count).',
    );
    for (const s of all) {
      for (let k = 0; k < 4; k++) {
        w.sample(
          'ferry_target_responses_total',
          { ...labelsOf(s), code_class: `${k + 2}xx` },
          s.totals[CELL_2XX + k]!,
        );
      }
    }
    w.family(
      'ferry_target_response_time_seconds',
      'histogram',
      'Time from sending a request to the target until its response head (ELB TargetResponseTime).',
    );
    const boundsS = RESPONSE_TIME_BUCKET_BOUNDS_US.map((us) => us / 1e6);
    for (const s of all) {
      w.histogram(
        'ferry_target_response_time_seconds',
        labelsOf(s),
        boundsS,
        s.totals.subarray(CELL_BUCKETS, CELL_BUCKETS + RESPONSE_TIME_BUCKET_COUNT),
        Math.round(s.totals[CELL_SUM]! * 100) / 1e6,
      );
    }
    counter(
      'ferry_target_connection_errors_total',
      'Connections to the target that were not established: refused, reset or timed out (ELB TargetConnectionErrorCount).',
      CELL_CONNECT_ERRORS,
    );
    counter(
      'ferry_target_gateway_failures_total',
      'Exchanges the target failed without an answer: refused, reset, timeout or bad framing (Ferry answered 502/504).',
      CELL_FAILURES,
    );
    counter(
      'ferry_target_new_connections_total',
      'Upstream connections opened to the target.',
      CELL_NEW_CONNECTIONS,
    );
    const gauges = all.map((s) => ({ s, g: this.targetGauges(s.slot) }));
    const gauge = (name: string, help: string, value: (g: TargetGauges) => number) => {
      w.family(name, 'gauge', help);
      for (const { s, g } of gauges) w.sample(name, labelsOf(s), value(g));
    };
    gauge(
      'ferry_target_active_connections',
      'Upstream connections open to the target, all workers.',
      (g) => g.activeConnections,
    );
    gauge(
      'ferry_target_in_flight_requests',
      'Requests sent to the target and not finished, all workers.',
      (g) => g.inFlight,
    );
    gauge(
      'ferry_target_latency_ewma_seconds',
      'The response-time estimate the latency-aware algorithms use (0 until measured).',
      (g) => (g.latencyEwmaMs ?? 0) / 1000,
    );
    gauge(
      'ferry_target_weight',
      'Effective weight (slow start scales it; 0 takes no new traffic).',
      (g) => g.weight,
    );
    gauge('ferry_target_ejected', '1 while outlier detection ejects the target.', (g) =>
      g.isEjected ? 1 : 0,
    );
    w.family(
      'ferry_target_state',
      'gauge',
      'The target health state (ELB target states): 1 for the current state.',
    );
    for (const { s, g } of gauges) w.sample('ferry_target_state', { ...labelsOf(s), state: g.state }, 1);
    w.family(
      'ferry_target_health_checks_total',
      'counter',
      'Active health checks by outcome: pass, status (answer outside the matcher), timeout, error.',
    );
    for (const s of all) {
      for (const outcome of ['pass', 'status', 'timeout', 'error'] as const) {
        w.sample('ferry_target_health_checks_total', { ...labelsOf(s), outcome }, s.checks[outcome]);
      }
    }
    w.family('ferry_target_ejections_total', 'counter', 'Times outlier detection ejected the target.');
    for (const s of all) w.sample('ferry_target_ejections_total', labelsOf(s), s.ejections);
  }
}

function seriesKey(targetGroup: string, address: string): string {
  return `${targetGroup}\u0000${address}`;
}

function newTargetSeries(key: string, targetGroup: string, address: string, slot: number): TargetSeries {
  return {
    key,
    targetGroup,
    address,
    slot,
    totals: new Float64Array(SLOT_CELLS),
    requestRate: new Ring(HISTORY_POINTS),
    latencyMs: new Ring(HISTORY_POINTS),
    lastRate: 0,
    lastLatencyMs: null,
    tickRequests: 0,
    tickSum: 0,
    tickCount: 0,
    checks: { pass: 0, status: 0, timeout: 0, error: 0 },
    ejections: 0,
    isSeen: false,
  };
}

function readSlot(view: TableView, slot: number, raw: Int32Array): void {
  for (let i = 0; i < TARGET_CELLS.length; i++) raw[i] = loadTarget(view, slot, TARGET_CELLS[i]!);
  for (let i = 0; i < STATS_CELLS.length; i++) raw[CELL_STATS + i] = loadStats(view, slot, STATS_CELLS[i]!);
  for (let i = 0; i < RESPONSE_TIME_BUCKET_COUNT; i++)
    raw[CELL_BUCKETS + i] = loadHistogram(view, slot, HISTOGRAM_BUCKETS + i);
  raw[CELL_SUM] = loadHistogram(view, slot, HISTOGRAM_SUM_100US);
}
