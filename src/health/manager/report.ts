/**
 * @module src/health/manager/report
 *
 * The one read model of targets: every group and target with its health,
 * load and weights, built from the health records, the policies and the
 * shared table in one place. Thread: main. Every view of targets starts from
 * it: `GET /targets` (src/admin) serialises it, the control port's `targets`
 * (src/control/handlers/targets.ts) picks its rows from it, and
 * `/status.json` (src/telemetry/status.ts) looks targets up in it; none of
 * them reads the table or the config for target facts of its own.
 */
import type { DiscoveryStatus } from '../../../proto/control/messages.ts';
import {
  GROUP_CROSS_ZONE_TOTAL,
  GROUP_FAIL_OPEN_TOTAL,
  GROUP_NO_TARGET_TOTAL,
  GROUP_ZONE_SPILL_TOTAL,
  loadGroup,
  loadTarget,
  TARGET_ACTIVE_CONNECTIONS,
  TARGET_CONSECUTIVE_5XX,
  TARGET_CONSECUTIVE_GATEWAY_FAILURES,
  TARGET_IN_FLIGHT,
  TARGET_LATENCY_EWMA_US,
  TARGET_STATE_DRAINING,
  TARGET_WEIGHT,
} from '../../../proto/table-layout.ts';
import { redactSecrets } from '../../shared/redact.ts';
import type { EjectionTrigger } from '../outlier.ts';
import { type HealthReason, stateName, type TargetStateName } from '../reasons.ts';
import type { HealthContext } from './context.ts';
import type { GroupPolicy } from './policy.ts';
import type {
  CheckOutcomeTotals,
  EjectionRecord,
  LastCheck,
  TargetRecord,
  TransitionRecord,
} from './registry.ts';

/** A target's health and load, as every view of targets shows it. */
export interface TargetStatus {
  readonly targetGroup: string;
  readonly address: string;
  readonly slot: number;
  readonly state: TargetStateName;
  readonly reason: HealthReason | null;
  readonly stateSinceMs: number;
  readonly timeInStateMs: number;
  readonly lastCheck: LastCheck | null;
  readonly consecutiveSuccesses: number;
  readonly consecutiveFailures: number;
  /** Checks since the target last (re-)entered checking: ELB's threshold counting starts again there. */
  readonly checksTotal: number;
  /** Checks by outcome since registration, never reset: `ferry_target_health_checks_total` exports these. */
  readonly checkOutcomesTotal: Readonly<CheckOutcomeTotals>;
  /** The last HEALTH_CHECK_HISTORY_MAX checks, oldest first. */
  readonly recentChecks: readonly LastCheck[];
  readonly transitions: readonly TransitionRecord[];
  readonly weight: { readonly configured: number; readonly effective: number };
  readonly slowStart: { readonly sinceMs: number; readonly untilMs: number; readonly percent: number } | null;
  readonly outlier: {
    readonly isEjected: boolean;
    readonly ejectedUntilMs: number | null;
    readonly ejectionsTotal: number;
    readonly multiplier: number;
    readonly lastTrigger: EjectionTrigger | null;
    /** The last HEALTH_EJECTION_HISTORY_MAX ejections, oldest first. */
    readonly history: readonly EjectionRecord[];
    readonly consecutive5xx: number;
    readonly consecutiveGatewayFailures: number;
  };
  readonly drain: { readonly sinceMs: number; readonly deadlineMs: number } | null;
  readonly inFlight: number;
  readonly activeConnections: number;
  /** The workers' latency estimate (TARGET_LATENCY_EWMA_US); null before the first measured request. */
  readonly latencyEwmaUs: number | null;
  /** Where the target came from: the config file, the control port, or DNS discovery. */
  readonly source: 'config' | 'control' | 'dns';
  /** The DNS name that discovered it; null unless source is dns. */
  readonly discoveredBy: string | null;
  /** The target's zone, or null. */
  readonly zone: string | null;
  /** True when `zone` is Ferry's own zone. */
  readonly isLocalZone: boolean;
}

export interface GroupStatus {
  readonly name: string;
  /** Balancing algorithm as configured ('' for a removed group whose targets still drain). */
  readonly algorithm: string;
  /** The group whose targets take this group's traffic: itself, or its failover target. */
  readonly routeTo: string;
  readonly isInUse: boolean;
  readonly healthCheck: {
    readonly enabled: boolean;
    readonly protocol: string;
    readonly port: number | 'traffic-port';
    readonly path: string;
    readonly intervalMs: number;
    readonly timeoutMs: number;
    readonly healthyThreshold: number;
    readonly unhealthyThreshold: number;
    readonly matcher: string;
  };
  readonly failOpen: boolean;
  /** Requests routed over all targets because none was healthy (wraps at 2^31). */
  readonly failOpenRequestsTotal: number;
  /** Requests answered 503 because no target could be picked (wraps at 2^31). */
  readonly noTargetRequestsTotal: number;
  /** Zone preference (null when none) and its counters (GROUP_CROSS_ZONE_TOTAL, GROUP_ZONE_SPILL_TOTAL; wrap at 2^31). */
  readonly zones: {
    readonly mode: 'local_only' | 'spill';
    readonly localZone: string;
    readonly crossZoneTotal: number;
    readonly spillTotal: number;
  } | null;
  /** DNS discovery of the group; null when it has none. */
  readonly discovery: DiscoveryStatus | null;
  readonly targets: readonly TargetStatus[];
}

/** Every group and target, in config order; draining targets of removed groups come last. */
export interface TargetsReport {
  readonly atMs: number;
  readonly targetGroups: readonly GroupStatus[];
}

/** The status of `address` in `group`, or undefined when the report does not have it. */
export function findTargetStatus(
  report: TargetsReport | null,
  group: string,
  address: string,
): TargetStatus | undefined {
  return report?.targetGroups
    .find((candidate) => candidate.name === group)
    ?.targets.find((target) => target.address === address);
}

/** The whole report at `nowMs`. */
export function buildReport(context: HealthContext, nowMs: number): TargetsReport {
  const groups: GroupStatus[] = [];
  const seen = new Set<string>();
  for (const policy of context.policies.values()) {
    seen.add(policy.name);
    groups.push(groupStatus(context, policy.name, policy, nowMs));
  }
  for (const name of context.registry.groupNames()) {
    if (!seen.has(name)) groups.push(groupStatus(context, name, null, nowMs));
  }
  return { atMs: nowMs, targetGroups: groups };
}

/** One record's status at `nowMs`. */
export function targetStatus(context: HealthContext, record: TargetRecord, nowMs: number): TargetStatus {
  const view = context.table.view;
  const { target } = record;
  const { slot } = target;
  const ramp = record.slowStart;
  const latencyUs = loadTarget(view, slot, TARGET_LATENCY_EWMA_US);
  return {
    targetGroup: target.groupName,
    address: target.address,
    slot,
    state: stateName(record.state),
    reason: record.reason,
    stateSinceMs: record.stateSinceMs,
    timeInStateMs: nowMs - record.stateSinceMs,
    lastCheck: record.lastCheck,
    consecutiveSuccesses: record.streak.successes,
    consecutiveFailures: record.streak.failures,
    checksTotal: record.checksTotal,
    checkOutcomesTotal: { ...record.checkOutcomesTotal },
    recentChecks: [...record.recentChecks],
    transitions: [...record.transitions],
    weight: { configured: target.configuredWeight, effective: loadTarget(view, slot, TARGET_WEIGHT) },
    slowStart:
      ramp.sinceMs === null
        ? null
        : {
            sinceMs: ramp.sinceMs,
            untilMs: ramp.untilMs,
            percent: Math.round(target.slowStartPermille / 10),
          },
    outlier: {
      isEjected: record.outlier.isEjected,
      ejectedUntilMs: record.outlier.isEjected ? record.outlier.ejectedUntilMs : null,
      ejectionsTotal: record.outlier.ejectionsTotal,
      multiplier: record.outlier.multiplier,
      lastTrigger: record.outlier.lastTrigger,
      history: [...record.outlier.history],
      consecutive5xx: loadTarget(view, slot, TARGET_CONSECUTIVE_5XX),
      consecutiveGatewayFailures: loadTarget(view, slot, TARGET_CONSECUTIVE_GATEWAY_FAILURES),
    },
    drain:
      record.state === TARGET_STATE_DRAINING
        ? { sinceMs: record.drain.sinceMs, deadlineMs: record.drain.deadlineMs }
        : null,
    inFlight: loadTarget(view, slot, TARGET_IN_FLIGHT),
    activeConnections: loadTarget(view, slot, TARGET_ACTIVE_CONNECTIONS),
    latencyEwmaUs: latencyUs > 0 ? latencyUs : null,
    source: target.source,
    discoveredBy: target.discoveredBy,
    zone: target.zone,
    isLocalZone: target.zone !== null && target.zone === (context.table.currentPlan().localZone ?? null),
  };
}

function groupStatus(
  context: HealthContext,
  name: string,
  policy: GroupPolicy | null,
  nowMs: number,
): GroupStatus {
  const { table } = context;
  const plan = table.currentPlan();
  const groupIndex = plan.targetGroups.findIndex((group) => group.name === name);
  const zones = plan.targetGroups[groupIndex]?.zones ?? null;
  const check = policy?.healthCheck;
  const targets = [...context.registry.group(name)]
    .sort((a, b) => a.target.slot - b.target.slot)
    .map((record) => targetStatus(context, record, nowMs));
  return {
    name,
    algorithm: policy?.algorithm ?? '',
    routeTo: table.routeOf(name),
    isInUse: policy?.isInUse ?? false,
    healthCheck: {
      enabled: check?.enabled ?? false,
      protocol: check?.protocol ?? 'HTTP',
      port: check?.port ?? 'traffic-port',
      // A health-check path may carry a token (`/health?token=…`): shown redacted (issue 10).
      path: redactSecrets(check?.path ?? '/'),
      intervalMs: check?.intervalMs ?? 0,
      timeoutMs: check?.timeoutMs ?? 0,
      healthyThreshold: check?.healthyThreshold ?? 0,
      unhealthyThreshold: check?.unhealthyThreshold ?? 0,
      matcher: check?.matcher.text ?? '',
    },
    failOpen: policy?.failOpen ?? false,
    failOpenRequestsTotal: groupIndex < 0 ? 0 : loadGroup(table.view, groupIndex, GROUP_FAIL_OPEN_TOTAL),
    noTargetRequestsTotal: groupIndex < 0 ? 0 : loadGroup(table.view, groupIndex, GROUP_NO_TARGET_TOTAL),
    zones:
      zones === null || groupIndex < 0
        ? null
        : {
            mode: zones.mode,
            localZone: plan.localZone ?? '',
            crossZoneTotal: loadGroup(table.view, groupIndex, GROUP_CROSS_ZONE_TOTAL),
            spillTotal: loadGroup(table.view, groupIndex, GROUP_ZONE_SPILL_TOTAL),
          },
    discovery: context.discoveryStatus().get(name) ?? null,
    targets,
  };
}
