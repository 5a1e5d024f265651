/**
 * @module src/telemetry/render-metrics
 *
 * Renders `/metrics`: every Ferry family in the Prometheus text format, from
 * the collector's totals and the table's live gauges. Thread: main. Place in
 * the flow: collector.ts (totals, polled just before) -> **render-metrics**
 * -> prometheus.ts (the text format) -> admin.
 *
 * Why apart from the collector: collection changes when the table does,
 * rendering when a family's name, help or labels do; the family set is a
 * contract with dashboards (docs/observability.md maps each family to its
 * ELB CloudWatch name) and test/unit/src/telemetry/telemetry-output.test.ts
 * holds its exact bytes. Counter values are found by key in counters.ts's
 * layouts (SLOT_CELL, GROUP_CELL, LISTENER_CELL), never by a number here.
 *
 * Families render in a fixed order: process, listeners, target groups,
 * targets; within a family, series in the collector's order. Rendering reads
 * only; the caller polls first so a scrape is current.
 */

import type { DiscoveryStatus } from '../../proto/control/messages.ts';
import {
  LAYOUT_VERSION,
  RESPONSE_TIME_BUCKET_BOUNDS_US,
  RESPONSE_TIME_BUCKET_COUNT,
} from '../../proto/table-layout.ts';
import type { TargetsReport } from '../health/index.ts';
import type { MetricsCollector } from './collector.ts';
import { GROUP_CELL, GROUP_COUNTERS, type GroupCounterKey, LISTENER_CELL, SLOT_CELL } from './counters.ts';
import type { TargetGauges } from './gauges.ts';
import { type Labels, type MetricType, PrometheusWriter } from './prometheus.ts';
import type { ListenerSeries, TargetSeries } from './series.ts';

// === Family tables ===
/** A family whose samples are totals at snapshot positions, each with its extra labels. */
interface CellFamily<Key extends string> {
  readonly name: string;
  readonly type: MetricType;
  readonly help: string;
  readonly samples: readonly (readonly [labels: Labels, key: Key])[];
}

type ListenerKey = keyof typeof LISTENER_CELL;
type SlotKey = keyof typeof SLOT_CELL;

/** Listener families in order; `activeConnections` is the live gauge (gauges.ts), every other key a total. */
const LISTENER_FAMILIES: readonly CellFamily<ListenerKey | 'activeConnections' | 'activeUdpFlows'>[] = [
  {
    name: 'ferry_listener_requests_total',
    type: 'counter',
    help: 'Request heads received, including ones Ferry answered itself (ELB RequestCount).',
    samples: [[{}, 'requests']],
  },
  {
    name: 'ferry_listener_new_connections_total',
    type: 'counter',
    help: 'Downstream connections accepted (ELB NewConnectionCount).',
    samples: [[{}, 'newConnections']],
  },
  {
    name: 'ferry_listener_active_connections',
    type: 'gauge',
    help: 'Downstream connections open now (ELB ActiveConnectionCount).',
    samples: [[{}, 'activeConnections']],
  },
  {
    name: 'ferry_listener_rejected_connections_total',
    type: 'counter',
    help: 'Downstream connections closed unserved: draining, or no target for a TCP connection (ELB RejectedConnectionCount).',
    samples: [[{}, 'rejectedConnections']],
  },
  {
    name: 'ferry_listener_client_timeouts_total',
    type: 'counter',
    help: 'Connections cut for a client deadline: request head, request body, slow reader, TLS handshake (counted against the client, never a target).',
    samples: [[{}, 'clientTimeouts']],
  },
  {
    name: 'ferry_listener_limit_refused_connections_total',
    type: 'counter',
    help: 'Connections refused at accept because maxConnections (listener or global) was reached.',
    samples: [[{}, 'limitRefused']],
  },
  {
    name: 'ferry_listener_processed_bytes_total',
    type: 'counter',
    help: 'Bytes received from and sent to clients (ELB ProcessedBytes).',
    samples: [
      [{ direction: 'in' }, 'bytesIn'],
      [{ direction: 'out' }, 'bytesOut'],
    ],
  },
  {
    name: 'ferry_listener_generated_responses_total',
    type: 'counter',
    help: 'Responses Ferry generated itself, by status class (ELB HTTPCode_ELB_4XX_Count, HTTPCode_ELB_5XX_Count).',
    samples: [
      [{ code_class: '4xx' }, 'generated4xx'],
      [{ code_class: '5xx' }, 'generated5xx'],
    ],
  },
  {
    name: 'ferry_listener_generated_gateway_responses_total',
    type: 'counter',
    help: 'Responses Ferry generated with 502 (target refused, reset or answered badly), 503 (no target) or 504 (timeout) (ELB HTTPCode_ELB_502/503/504_Count).',
    samples: [
      [{ code: '502' }, 'generated502'],
      [{ code: '503' }, 'generated503'],
      [{ code: '504' }, 'generated504'],
    ],
  },
  {
    name: 'ferry_listener_refused_connections_total',
    type: 'counter',
    help: 'Connections closed at accept, by reason: the client address is not allowed (source), or its PROXY protocol header was untrusted, malformed, missing or late (proxy_protocol).',
    samples: [
      [{ reason: 'source' }, 'sourceRefused'],
      [{ reason: 'proxy_protocol' }, 'proxyRefused'],
    ],
  },
  {
    name: 'ferry_listener_sni_peek_failures_total',
    type: 'counter',
    help: 'TCP connections on a listener with sni rules whose ClientHello could not be read (malformed, oversized or late); they took the default action.',
    samples: [[{}, 'sniPeekFailed']],
  },
  {
    name: 'ferry_listener_udp_flows',
    type: 'gauge',
    help: 'UDP and GENEVE flows tracked now (bounded per worker by limits.maxUdpFlows).',
    samples: [[{}, 'activeUdpFlows']],
  },
  {
    name: 'ferry_listener_dropped_datagrams_total',
    type: 'counter',
    help: 'UDP and GENEVE datagrams dropped: flow table full, no target, queue full, or (GENEVE) malformed, OAM or unknown critical option.',
    samples: [[{}, 'udpDropped']],
  },
];

/**
 * The family of each group counter. Typed by GROUP_COUNTERS' keys, so a row
 * added there does not compile until it has a family here; families render
 * in GROUP_COUNTERS order.
 */
const GROUP_FAMILIES: {
  readonly [Key in GroupCounterKey]: { readonly name: string; readonly help: string };
} = {
  failOpenRequests: {
    name: 'ferry_target_group_fail_open_requests_total',
    help: 'Requests routed over all targets because none was healthy (fail-open).',
  },
  noTargetRequests: {
    name: 'ferry_target_group_no_target_requests_total',
    help: 'Requests answered 503 because no target could be picked.',
  },
  stickyHits: {
    name: 'ferry_target_group_sticky_hits_total',
    help: 'Requests of a sticky group sent to the target their valid cookie named.',
  },
  stickyMisses: {
    name: 'ferry_target_group_sticky_misses_total',
    help: 'Requests of a sticky group without a valid cookie (absent, tampered, expired): balanced.',
  },
  stickyRepicks: {
    name: 'ferry_target_group_sticky_repicks_total',
    help: 'Requests whose cookie named a target that could not take them (unhealthy, draining, ejected, gone): picked anew.',
  },
  forwardStickyHits: {
    name: 'ferry_target_group_forward_sticky_hits_total',
    help: 'Weighted forward with group stickiness: requests sent to the group their valid cookie named.',
  },
  forwardStickyMisses: {
    name: 'ferry_target_group_forward_sticky_misses_total',
    help: 'Weighted forward with group stickiness: requests without a valid cookie, given this group by weight.',
  },
  forwardStickyRepicks: {
    name: 'ferry_target_group_forward_sticky_repicks_total',
    help: 'Weighted forward with group stickiness: requests whose cookie named a group no longer in the action, given this group anew.',
  },
  crossZoneRequests: {
    name: 'ferry_target_group_cross_zone_requests_total',
    help: 'crossZone disabled: requests sent to another zone because no target of Ferry’s own zone was routable.',
  },
  zoneSpillRequests: {
    name: 'ferry_target_group_zone_spill_requests_total',
    help: 'zoneAware: requests spilled to another zone because the local zone’s routable share x overprovisioning fell below 100 %.',
  },
};

/** Target counter families rendered before the response-time histogram. */
const TARGET_FAMILIES_BEFORE_HISTOGRAM: readonly CellFamily<SlotKey>[] = [
  {
    name: 'ferry_target_requests_total',
    type: 'counter',
    help: 'Exchanges with the target: requests (HTTP) or connections (TCP), answered or failed (ELB RequestCountPerTarget).',
    samples: [[{}, 'requests']],
  },
  {
    name: 'ferry_target_responses_total',
    type: 'counter',
    help: 'Final responses from the target by status class (ELB HTTPCode_Target_2XX..5XX_Count).',
    samples: [
      [{ code_class: '2xx' }, 'responses2xx'],
      [{ code_class: '3xx' }, 'responses3xx'],
      [{ code_class: '4xx' }, 'responses4xx'],
      [{ code_class: '5xx' }, 'responses5xx'],
    ],
  },
];

/** Target counter families rendered after the histogram. */
const TARGET_FAMILIES_AFTER_HISTOGRAM: readonly CellFamily<SlotKey>[] = [
  {
    name: 'ferry_target_connection_errors_total',
    type: 'counter',
    help: 'Connections to the target that were not established: refused, reset or timed out (ELB TargetConnectionErrorCount).',
    samples: [[{}, 'connectionErrors']],
  },
  {
    name: 'ferry_target_gateway_failures_total',
    type: 'counter',
    help: 'Exchanges the target failed without an answer: refused, reset, timeout or bad framing (Ferry answered 502/504).',
    samples: [[{}, 'gatewayFailures']],
  },
  {
    name: 'ferry_target_new_connections_total',
    type: 'counter',
    help: 'Upstream connections opened to the target.',
    samples: [[{}, 'newConnections']],
  },
];

/** Target gauge families (read live, one sample per target). */
const TARGET_GAUGE_FAMILIES: readonly {
  readonly name: string;
  readonly help: string;
  readonly value: (gauges: TargetGauges) => number;
}[] = [
  {
    name: 'ferry_target_active_connections',
    help: 'Upstream connections open to the target, all workers.',
    value: (g) => g.activeConnections,
  },
  {
    name: 'ferry_target_in_flight_requests',
    help: 'Requests sent to the target and not finished, all workers.',
    value: (g) => g.inFlight,
  },
  {
    name: 'ferry_target_latency_ewma_seconds',
    help: 'The response-time estimate the latency-aware algorithms use (0 until measured).',
    value: (g) => (g.latencyEwmaMs ?? 0) / 1000,
  },
  {
    name: 'ferry_target_weight',
    help: 'Effective weight (slow start scales it; 0 takes no new traffic).',
    value: (g) => g.weight,
  },
  {
    name: 'ferry_target_ejected',
    help: '1 while outlier detection ejects the target.',
    value: (g) => (g.isEjected ? 1 : 0),
  },
];

const CHECK_OUTCOMES = ['pass', 'status', 'timeout', 'error'] as const;

/** Histogram bucket bounds in the family's unit (seconds). */
const RESPONSE_TIME_BOUNDS_S = RESPONSE_TIME_BUCKET_BOUNDS_US.map((us) => us / 1e6);

// === Render ===
/**
 * The Prometheus text of every family. Reads the collector's totals as they
 * are (call `collector.poll(false)` first for a current scrape) and the
 * table's gauges live. Thread: main. Allocates the text; throws only on a bad
 * metric or label name (a bug).
 */
export function renderMetrics(collector: MetricsCollector, report: TargetsReport | null = null): string {
  const w = new PrometheusWriter();
  const { sources } = collector;
  w.family('ferry_info', 'gauge', 'Ferry build and shared-table layout version.').sample(
    'ferry_info',
    { version: sources.version, layout_version: String(LAYOUT_VERSION) },
    1,
  );
  w.family('ferry_workers', 'gauge', 'Worker threads configured.').sample(
    'ferry_workers',
    {},
    sources.workerCount,
  );
  w.family('ferry_workers_ready', 'gauge', 'Worker threads listening now.').sample(
    'ferry_workers_ready',
    {},
    sources.readyWorkerCount(),
  );
  w.family('ferry_worker_restarts_total', 'counter', 'Workers restarted after they died.').sample(
    'ferry_worker_restarts_total',
    {},
    sources.restartCount(),
  );
  renderListeners(w, collector);
  renderGroups(w, collector);
  renderTargets(w, collector);
  // Zones and discovery come from the health read model (absent in collector-only tests).
  if (report !== null) {
    renderZones(w, report);
    renderDiscovery(w, report);
  }
  return w.toString();
}

/** Targets per group, zone and state (the status page groups them the same way). Only groups whose targets carry zones. */
function renderZones(w: PrometheusWriter, report: TargetsReport): void {
  w.family(
    'ferry_zone_targets',
    'gauge',
    'Targets per target group, zone and state; "local" is 1 for Ferry’s own zone.',
  );
  for (const group of report.targetGroups) {
    const counts = new Map<string, { zone: string; state: string; isLocal: boolean; count: number }>();
    for (const target of group.targets) {
      // Reports from before zones (fixtures) may lack the field: treat as no zone.
      if (target.zone === null || target.zone === undefined) continue;
      const key = `${target.zone}\n${target.state}`;
      const entry = counts.get(key) ?? {
        zone: target.zone,
        state: target.state,
        isLocal: target.isLocalZone,
        count: 0,
      };
      entry.count++;
      counts.set(key, entry);
    }
    for (const entry of counts.values()) {
      w.sample(
        'ferry_zone_targets',
        { target_group: group.name, zone: entry.zone, state: entry.state, local: entry.isLocal ? '1' : '0' },
        entry.count,
      );
    }
  }
}

/** DNS discovery per group (src/discovery): resolutions, failures, changes, staleness. */
function renderDiscovery(w: PrometheusWriter, report: TargetsReport): void {
  const discovered = report.targetGroups.flatMap((group) =>
    group.discovery === null || group.discovery === undefined ? [] : [group.discovery],
  );
  const families: readonly [string, MetricType, string, (d: DiscoveryStatus) => number][] = [
    [
      'ferry_discovery_resolutions_total',
      'counter',
      'DNS resolutions finished (answered or failed).',
      (d) => d.resolutionsTotal,
    ],
    [
      'ferry_discovery_failures_total',
      'counter',
      'DNS resolutions that failed (NXDOMAIN, SERVFAIL, REFUSED, timeout, …); the last good targets were kept.',
      (d) => d.failuresTotal,
    ],
    [
      'ferry_discovery_changes_total',
      'counter',
      'DNS answers that changed the set of targets or their weights.',
      (d) => d.changesTotal,
    ],
    [
      'ferry_discovery_stale',
      'gauge',
      '1 while the last resolution failed and the group runs on the last good answer.',
      (d) => (d.state === 'stale' ? 1 : 0),
    ],
    ['ferry_discovery_targets', 'gauge', 'Targets in the last good answer.', (d) => d.targetCount],
    ['ferry_discovery_ttl_seconds', 'gauge', 'TTL of the last good answer.', (d) => d.ttlS ?? 0],
    [
      'ferry_discovery_last_success_timestamp_seconds',
      'gauge',
      'When the last good answer arrived (Unix time; 0 = never).',
      (d) => (d.lastSuccessMs ?? 0) / 1000,
    ],
  ];
  for (const [name, type, help, value] of families) {
    w.family(name, type, help);
    for (const d of discovered) w.sample(name, { target_group: d.targetGroup, name: d.name }, value(d));
  }
}

function renderListeners(w: PrometheusWriter, collector: MetricsCollector): void {
  const listenerValue = (
    series: ListenerSeries,
    key: ListenerKey | 'activeConnections' | 'activeUdpFlows',
  ): number =>
    key === 'activeConnections'
      ? collector.activeConnections(series.index)
      : key === 'activeUdpFlows'
        ? collector.activeUdpFlows(series.index)
        : series.totals[LISTENER_CELL[key]]!;
  for (const family of LISTENER_FAMILIES) {
    w.family(family.name, family.type, family.help);
    for (const series of collector.listeners) {
      for (const [labels, key] of family.samples)
        w.sample(family.name, { listener: series.name, ...labels }, listenerValue(series, key));
    }
  }
}

function renderGroups(w: PrometheusWriter, collector: MetricsCollector): void {
  const topology = collector.sources.topology();
  const counts = topology.groups.map((group) => ({ group, ...collector.hostCounts(group.groupIndex) }));
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
      collector.routeTo(group.groupIndex) === group.groupIndex ? 0 : 1,
    );
  }
  for (const { key } of GROUP_COUNTERS) {
    const family = GROUP_FAMILIES[key];
    w.family(family.name, 'counter', family.help);
    for (const series of collector.groups.values()) {
      w.sample(family.name, { target_group: series.name }, series.totals[GROUP_CELL[key]]!);
    }
  }
}

function targetLabels(series: TargetSeries): Labels {
  return { target_group: series.targetGroup, target: series.address };
}

function renderTargetCells(
  w: PrometheusWriter,
  all: readonly TargetSeries[],
  families: readonly CellFamily<SlotKey>[],
): void {
  for (const family of families) {
    w.family(family.name, family.type, family.help);
    for (const series of all) {
      for (const [labels, key] of family.samples)
        w.sample(family.name, { ...targetLabels(series), ...labels }, series.totals[SLOT_CELL[key]]!);
    }
  }
}

function renderTargets(w: PrometheusWriter, collector: MetricsCollector): void {
  const all = [...collector.targets.values()];
  renderTargetCells(w, all, TARGET_FAMILIES_BEFORE_HISTOGRAM);
  w.family(
    'ferry_target_response_time_seconds',
    'histogram',
    'Time from sending a request to the target until its response head (ELB TargetResponseTime).',
  );
  const bucketsStart = SLOT_CELL.responseTimeBuckets;
  for (const series of all) {
    w.histogram(
      'ferry_target_response_time_seconds',
      targetLabels(series),
      RESPONSE_TIME_BOUNDS_S,
      series.totals.subarray(bucketsStart, bucketsStart + RESPONSE_TIME_BUCKET_COUNT),
      // The sum is in 100 µs units: x100 to µs, /1e6 to s, rounded so float noise does not show.
      Math.round(series.totals[SLOT_CELL.responseTimeSum100us]! * 100) / 1e6,
    );
  }
  renderTargetCells(w, all, TARGET_FAMILIES_AFTER_HISTOGRAM);
  const gauges = all.map((series) => ({ series, g: collector.targetGauges(series.slot) }));
  for (const family of TARGET_GAUGE_FAMILIES) {
    w.family(family.name, 'gauge', family.help);
    for (const { series, g } of gauges) w.sample(family.name, targetLabels(series), family.value(g));
  }
  w.family(
    'ferry_target_state',
    'gauge',
    'The target health state (ELB target states): 1 for the current state.',
  );
  for (const { series, g } of gauges)
    w.sample('ferry_target_state', { ...targetLabels(series), state: g.state }, 1);
  w.family(
    'ferry_target_health_checks_total',
    'counter',
    'Active health checks by outcome: pass, status (answer outside the matcher), timeout, error.',
  );
  for (const series of all) {
    for (const outcome of CHECK_OUTCOMES) {
      w.sample(
        'ferry_target_health_checks_total',
        { ...targetLabels(series), outcome },
        series.checks[outcome],
      );
    }
  }
  w.family('ferry_target_ejections_total', 'counter', 'Times outlier detection ejected the target.');
  for (const series of all) w.sample('ferry_target_ejections_total', targetLabels(series), series.ejections);
}

/**
 * The workload certificate's families (issue 14), appended when the sidecar
 * has a mesh identity. Alert on `ferry_identity_renewal_consecutive_failures
 * > 0` and on the expiry coming near.
 */
export function renderIdentityMetrics(identity: {
  readonly spiffeId: string;
  readonly notAfterMs: number | null;
  readonly lastRenewalMs: number | null;
  readonly renewalsTotal: number;
  readonly renewalFailuresTotal: number;
  readonly consecutiveFailures: number;
}): string {
  const w = new PrometheusWriter();
  const labels = { spiffe_id: identity.spiffeId };
  w.family('ferry_identity_info', 'gauge', "The sidecar's SPIFFE ID.").sample(
    'ferry_identity_info',
    labels,
    1,
  );
  if (identity.notAfterMs !== null)
    w.family(
      'ferry_identity_certificate_expiry_seconds',
      'gauge',
      'NotAfter of the workload certificate in service, seconds since the Unix epoch.',
    ).sample('ferry_identity_certificate_expiry_seconds', labels, Math.floor(identity.notAfterMs / 1000));
  if (identity.lastRenewalMs !== null)
    w.family(
      'ferry_identity_last_renewal_seconds',
      'gauge',
      'When the workload certificate was last renewed, seconds since the Unix epoch.',
    ).sample('ferry_identity_last_renewal_seconds', labels, Math.floor(identity.lastRenewalMs / 1000));
  w.family(
    'ferry_identity_renewals_total',
    'counter',
    'Workload certificates obtained from the issuer.',
  ).sample('ferry_identity_renewals_total', labels, identity.renewalsTotal);
  w.family(
    'ferry_identity_renewal_failures_total',
    'counter',
    'Renewals that failed (issuer unreachable or refusing); the old certificate keeps serving.',
  ).sample('ferry_identity_renewal_failures_total', labels, identity.renewalFailuresTotal);
  w.family(
    'ferry_identity_renewal_consecutive_failures',
    'gauge',
    'Failed renewals since the last success; 0 when the last try worked.',
  ).sample('ferry_identity_renewal_consecutive_failures', labels, identity.consecutiveFailures);
  return w.toString();
}

/** What the span exporter has done since start (src/telemetry/span-export.ts). */
export interface SpanExportCounts {
  readonly exportedSpanCount: number;
  readonly failedSpanCount: number;
  readonly droppedSpanCount: number;
}

/** Config file reloads (SIGHUP, the file watcher, `ferryctl reload`) by outcome. */
export function renderReloadMetrics(reloads: {
  readonly appliedTotal: number;
  readonly rejectedTotal: number;
}): string {
  const w = new PrometheusWriter();
  w.family(
    'ferry_config_reloads_total',
    'counter',
    'Config file reloads since start, by outcome: applied, or rejected (the running config stays; the log says why).',
  )
    .sample('ferry_config_reloads_total', { outcome: 'applied' }, reloads.appliedTotal)
    .sample('ferry_config_reloads_total', { outcome: 'rejected' }, reloads.rejectedTotal);
  return w.toString();
}

/** The tracing families, present while tracing is on. */
export function renderSpanExportMetrics(counts: SpanExportCounts): string {
  const w = new PrometheusWriter();
  w.family('ferry_tracing_spans_exported_total', 'counter', 'Spans the OTLP collector accepted.').sample(
    'ferry_tracing_spans_exported_total',
    {},
    counts.exportedSpanCount,
  );
  w.family(
    'ferry_tracing_spans_failed_total',
    'counter',
    'Spans lost because their export failed (collector refused, timed out or unreachable, after retries).',
  ).sample('ferry_tracing_spans_failed_total', {}, counts.failedSpanCount);
  w.family(
    'ferry_tracing_spans_dropped_total',
    'counter',
    'Spans dropped before export: the export queue was full (OTEL_BSP_MAX_QUEUE_SIZE) or a span was too big for a batch.',
  ).sample('ferry_tracing_spans_dropped_total', {}, counts.droppedSpanCount);
  return w.toString();
}
