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
import type { TimelineEntry } from './timeline.ts';

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
  /** Telemetry's timeline (timeline.ts), newest first; absent in callers that keep none. */
  readonly timeline?: readonly TimelineEntry[];
}

/** Timeline entries shown: the newest ones. */
const TIMELINE_SHOWN = 50;

/**
 * The page's timeline: the health read model's transitions (they include the
 * first checks, before telemetry listened) merged with telemetry's own record
 * (transitions of targets since released, deregistrations, failovers), one
 * entry per event, newest first.
 */
function timelineOf(report: TargetsReport | null, recorded: readonly TimelineEntry[]) {
  const seen = new Set<string>();
  const all: TimelineEntry[] = [];
  const add = (entry: TimelineEntry) => {
    const key = `${entry.atMs}|${entry.kind}|${entry.targetGroup}|${entry.target}|${entry.to}`;
    if (seen.has(key)) return;
    seen.add(key);
    all.push(entry);
  };
  for (const entry of recorded) add(entry);
  for (const { atMs, ...transition } of transitionsOf(report)) add({ atMs, kind: 'health', ...transition });
  return newestFirst(all, TIMELINE_SHOWN);
}

/** Every target's recorded health transitions, flattened, in no particular order. */
function transitionsOf(report: TargetsReport | null) {
  return (report?.targetGroups ?? []).flatMap((group) =>
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
}

/** The newest `count` entries, newest first, with `atMs` written as an ISO `at`. */
function newestFirst<T extends { atMs: number }>(entries: T[], count: number) {
  entries.sort((a, b) => b.atMs - a.atMs);
  return entries.slice(0, count).map(({ atMs, ...rest }) => ({ at: new Date(atMs).toISOString(), ...rest }));
}

/**
 * Why a target shows no latency, or null when it shows one. The EWMA is what
 * the balancer steers by, and for a target that stopped answering it is fed
 * by timeouts and refused connects (a dead target showed 38.9k ms); the mean
 * is over the last second's answers. Neither says how fast the target answers
 * once it is out of rotation, so the page shows "—" and this reason instead.
 */
function latencyGap(state: string, isEjected: boolean, hasRecentAnswers: boolean): string | null {
  if (isEjected) return 'ejected: no recent answers to measure';
  if (state === 'unhealthy') return 'unhealthy: no recent answers to measure';
  if (state === 'draining') return 'draining: out of rotation';
  if (state === 'unused') return 'not in use';
  if (state === 'initial' && !hasRecentAnswers) return 'no answer yet';
  return null;
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
  return newestFirst(transitionsOf(report), TRANSITIONS_KEPT);
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
        const state = health?.state ?? gauges.state;
        const gap = latencyGap(state, gauges.isEjected, series.lastLatencyMs !== null);
        return {
          address: series.address,
          slot: series.slot,
          state,
          reason: health?.reason?.code ?? null,
          description: health?.reason?.description ?? null,
          stateSince: health === undefined ? null : new Date(health.stateSinceMs).toISOString(),
          weight: gauges.weight,
          ejected: gauges.isEjected,
          inFlight: gauges.inFlight,
          activeConnections: gauges.activeConnections,
          latencyEwmaMs: gap !== null || gauges.latencyEwmaMs === null ? null : round(gauges.latencyEwmaMs),
          latencyMs: gap !== null || series.lastLatencyMs === null ? null : round(series.lastLatencyMs),
          latencyGap: gap ?? (series.lastLatencyMs === null ? 'no answers in the last second' : null),
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
    // Failover to a standby takes precedence over failing open (workers pick from the standby),
    // so a failed-over group is never also shown failing open.
    const isFailedOver = routeTo !== groupIndex;
    return {
      name: groupSeries.name,
      algorithm: inputs.groupAlgorithmByName.get(groupSeries.name) ?? null,
      inUse: healthGroup?.isInUse ?? true,
      healthyCount: counts.healthy,
      unhealthyCount: counts.unhealthy,
      failOpen: {
        enabled: isFailOpenOn,
        active: isFailOpenOn && !isFailedOver && counts.healthy === 0 && targets.length > 0,
        requestsTotal: groupSeries.totals[GROUP_CELL.failOpenRequests]!,
      },
      noTargetRequestsTotal: groupSeries.totals[GROUP_CELL.noTargetRequests]!,
      failover: {
        active: isFailedOver,
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
    timeline: timelineOf(report, inputs.timeline ?? []),
  };
}
