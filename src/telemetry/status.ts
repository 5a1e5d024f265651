/**
 * @module src/telemetry/status
 *
 * `GET /status.json`: one document with everything the status page shows
 * (listeners, target groups, each target's state with its reason, load,
 * latency, request rate and a few minutes of per-second history, fail-open
 * and failover state, recent health transitions). Thread: main. Place in the
 * flow: collector (metrics.ts) + health report -> **status document** ->
 * admin -> the page (status-page.ts) or any script.
 *
 * The schema is documented in docs/observability.md; `schemaVersion` moves
 * when a field changes meaning or goes away (new fields may appear any time).
 */
import { findTargetStatus, type TargetsReport } from '../health/index.ts';
import { HISTORY_POINTS, METRICS_POLL_MS, MetricsCollector, TRANSITIONS_KEPT } from './metrics.ts';

/** Bumped when a field of the document changes meaning or is removed. */
export const STATUS_SCHEMA_VERSION = 1;

/** A listener as the status page names it. */
export interface StatusListener {
  readonly name: string;
  readonly protocol: string;
  readonly address: string;
  readonly targetGroup: string;
}

export interface StatusInputs {
  readonly collector: MetricsCollector;
  readonly listeners: readonly StatusListener[];
  readonly report: TargetsReport | null;
  readonly isReady: boolean;
  readonly workerCount: number;
  readonly readyWorkerCount: number;
  readonly restartCount: number;
  readonly version: string;
  readonly startedAtMs: number;
  readonly nowMs: number;
  readonly tracing: { readonly enabled: boolean; readonly endpoint: string | null };
  readonly accessLog: { readonly enabled: boolean; readonly destination: string | null };
  readonly groupIndexByName: ReadonlyMap<string, number>;
  readonly groupAlgorithmByName: ReadonlyMap<string, string>;
}

function round(value: number, digits = 3): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

/** Every target's recorded health transitions, newest first, at most TRANSITIONS_KEPT. */
function recentTransitions(report: TargetsReport | null) {
  const all = (report?.targetGroups ?? []).flatMap((group) =>
    group.targets.flatMap((target) =>
      target.transitions.map((transition) => ({
        atMs: transition.atMs,
        targetGroup: group.name,
        target: target.address,
        from: transition.from,
        to: transition.to,
        reason: transition.reason,
      })),
    ),
  );
  all.sort((a, b) => b.atMs - a.atMs);
  return all
    .slice(0, TRANSITIONS_KEPT)
    .map(({ atMs, ...rest }) => ({ at: new Date(atMs).toISOString(), ...rest }));
}

/** The `/status.json` document (plain JSON-ready data). Allocates; called per request. */
export function statusDocument(inputs: StatusInputs): Record<string, unknown> {
  const { collector, report } = inputs;
  const groupNameByIndex = new Map([...inputs.groupIndexByName].map(([name, index]) => [index, name]));
  const listeners = inputs.listeners.map((listener, index) => {
    const series = collector.listeners[index];
    const totals = series === undefined ? null : MetricsCollector.listenerTotals(series);
    return {
      name: listener.name,
      protocol: listener.protocol,
      address: listener.address,
      targetGroup: listener.targetGroup,
      activeConnections: series === undefined ? 0 : collector.activeConnections(series.index),
      requestRate: round(series?.lastRate ?? 0),
      ...totals,
      history: { requestRate: series?.requestRate.toArray() ?? [] },
    };
  });
  const targetGroups = [...collector.groups.values()].map((groupSeries) => {
    const groupIndex = inputs.groupIndexByName.get(groupSeries.name) ?? -1;
    const healthGroup = report?.targetGroups.find((candidate) => candidate.name === groupSeries.name);
    const counts = groupIndex >= 0 ? collector.hostCounts(groupIndex) : { healthy: 0, unhealthy: 0 };
    const routeTo = groupIndex >= 0 ? collector.routeTo(groupIndex) : groupIndex;
    const targets = [...collector.targets.values()]
      .filter((series) => series.targetGroup === groupSeries.name)
      .map((series) => {
        const gauges = collector.targetGauges(series.slot);
        const health = findTargetStatus(report, series.targetGroup, series.address);
        return {
          address: series.address,
          slot: series.slot,
          state: health?.state ?? gauges.state,
          reason: health?.reason?.code ?? null,
          description: health?.reason?.description ?? null,
          stateSince: health === undefined ? null : new Date(health.stateSinceMs).toISOString(),
          weight: gauges.weight,
          ejected: gauges.isEjected,
          inFlight: gauges.inFlight,
          activeConnections: gauges.activeConnections,
          latencyEwmaMs: gauges.latencyEwmaMs === null ? null : round(gauges.latencyEwmaMs),
          latencyMs: series.lastLatencyMs === null ? null : round(series.lastLatencyMs),
          requestRate: round(series.lastRate),
          ...MetricsCollector.targetTotals(series),
          healthChecks: { ...series.checks },
          history: { requestRate: series.requestRate.toArray(), latencyMs: series.latencyMs.toArray() },
        };
      });
    const isFailOpenOn = healthGroup?.failOpen ?? false;
    return {
      name: groupSeries.name,
      algorithm: inputs.groupAlgorithmByName.get(groupSeries.name) ?? null,
      inUse: healthGroup?.isInUse ?? true,
      healthyCount: counts.healthy,
      unhealthyCount: counts.unhealthy,
      failOpen: {
        enabled: isFailOpenOn,
        active: isFailOpenOn && counts.healthy === 0 && targets.length > 0,
        requestsTotal: groupSeries.totals[0] ?? 0,
      },
      noTargetRequestsTotal: groupSeries.totals[1] ?? 0,
      failover: {
        active: routeTo !== groupIndex,
        routeTo: routeTo === groupIndex ? null : (groupNameByIndex.get(routeTo) ?? null),
      },
      requestRate: round(groupSeries.lastRate),
      history: { requestRate: groupSeries.requestRate.toArray() },
      targets,
    };
  });
  return {
    schemaVersion: STATUS_SCHEMA_VERSION,
    at: new Date(inputs.nowMs).toISOString(),
    startedAt: new Date(inputs.startedAtMs).toISOString(),
    version: inputs.version,
    ready: inputs.isReady,
    workers: {
      configured: inputs.workerCount,
      ready: inputs.readyWorkerCount,
      restarts: inputs.restartCount,
    },
    tracing: inputs.tracing,
    accessLog: inputs.accessLog,
    historyStepMs: METRICS_POLL_MS,
    historyPoints: HISTORY_POINTS,
    listeners,
    targetGroups,
    transitions: recentTransitions(report),
  };
}
