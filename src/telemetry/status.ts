/**
 * @module src/telemetry/status
 *
 * `GET /status.json`: one document with everything the status page shows
 * (listeners, target groups, each target's state with its reason, load,
 * latency, request rate and a few minutes of per-second history, fail-open
 * and failover state, recent health transitions). Thread: main. Place in the
 * flow: collector (collector.ts) + health report -> **status document** ->
 * admin -> the page (status-page.ts) or any script.
 *
 * Totals are read by key from counters.ts's layouts (SLOT_CELL, GROUP_CELL,
 * LISTENER_CELL), so the document and `/metrics` always name the same cells.
 *
 * The schema is documented in docs/observability.md; `schemaVersion` moves
 * when a field changes meaning or goes away (new fields may appear any time).
 */
import { findTargetStatus, type TargetsReport } from '../health/index.ts';
import { METRICS_POLL_MS, type MetricsCollector } from './collector.ts';
import { GROUP_CELL, LISTENER_CELL, SLOT_CELL } from './counters.ts';
import { HISTORY_POINTS } from './history.ts';
import type { ListenerSeries, TargetSeries } from './series.ts';

/** Bumped when a field of the document changes meaning or is removed. */
export const STATUS_SCHEMA_VERSION = 1;

/** Health transitions kept for the status page. */
const TRANSITIONS_KEPT = 50;

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

/** A target's counter totals as the document names them. */
function targetTotals(series: TargetSeries) {
  const t = series.totals;
  return {
    requestsTotal: t[SLOT_CELL.requests]!,
    gatewayFailuresTotal: t[SLOT_CELL.gatewayFailures]!,
    responses: {
      '2xx': t[SLOT_CELL.responses2xx]!,
      '3xx': t[SLOT_CELL.responses3xx]!,
      '4xx': t[SLOT_CELL.responses4xx]!,
      '5xx': t[SLOT_CELL.responses5xx]!,
    },
    connectionErrorsTotal: t[SLOT_CELL.connectionErrors]!,
    newConnectionsTotal: t[SLOT_CELL.newConnections]!,
  };
}

/** A listener's counter totals (summed over workers) as the document names them. */
function listenerTotals(series: ListenerSeries) {
  const t = series.totals;
  return {
    newConnectionsTotal: t[LISTENER_CELL.newConnections]!,
    rejectedConnectionsTotal: t[LISTENER_CELL.rejectedConnections]!,
    requestsTotal: t[LISTENER_CELL.requests]!,
    bytesInTotal: t[LISTENER_CELL.bytesIn]!,
    bytesOutTotal: t[LISTENER_CELL.bytesOut]!,
    generatedResponses: {
      '4xx': t[LISTENER_CELL.generated4xx]!,
      '5xx': t[LISTENER_CELL.generated5xx]!,
      '502': t[LISTENER_CELL.generated502]!,
      '503': t[LISTENER_CELL.generated503]!,
      '504': t[LISTENER_CELL.generated504]!,
    },
  };
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
    const totals = series === undefined ? null : listenerTotals(series);
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
          ...targetTotals(series),
          healthChecks: { ...series.checks },
          zone: health?.zone ?? null,
          isLocalZone: health?.isLocalZone ?? false,
          source: health?.source ?? null,
          discoveredBy: health?.discoveredBy ?? null,
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
        requestsTotal: groupSeries.totals[GROUP_CELL.failOpenRequests]!,
      },
      noTargetRequestsTotal: groupSeries.totals[GROUP_CELL.noTargetRequests]!,
      failover: {
        active: routeTo !== groupIndex,
        routeTo: routeTo === groupIndex ? null : (groupNameByIndex.get(routeTo) ?? null),
      },
      requestRate: round(groupSeries.lastRate),
      history: { requestRate: groupSeries.requestRate.toArray() },
      zones: healthGroup?.zones ?? null,
      discovery: healthGroup?.discovery ?? null,
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
