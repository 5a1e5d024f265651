/**
 * @module src/health/manager/explain
 *
 * `explain`: why one target is, or is not, taking traffic, built from the one
 * read model (report.ts) and nothing else of health's. Thread: main. The
 * control port's `explain` op (src/control/handlers/explain.ts) and the admin
 * route `GET /targets/{group}/{target}/explain` (src/admin) both serve this
 * document, so ferryctl's screen and the JSON say the same thing.
 *
 * What an SRE paged at night asks first, in order: is it in rotation (one
 * boolean), why (stable codes, most important first, and one sentence), then
 * the evidence: the last checks, the ejections with their backoff, the slow
 * start ramp, the drain deadline, who routes to it, and what share of its
 * group's traffic it had. The caller adds the two facts health does not own
 * (routes come from the config, traffic from telemetry's history).
 */
import type { ExplainCode, ExplainResult } from '../../../proto/control/messages.ts';
import type { GroupStatus, TargetStatus } from './report.ts';

/**
 * What the caller knows that health does not: the listener actions whose
 * traffic lands on the target's group now (after failover), and its recent
 * share of the group's requests.
 */
export interface ExplainInputs {
  readonly routes: ExplainResult['routes'];
  readonly traffic: ExplainResult['traffic'];
}

const ROUTABLE_STATES: ReadonlySet<string> = new Set(['healthy', 'unavailable']);

/** The explanation of `target` (a member of `group`, both from one report taken at `nowMs`). Allocates; never throws. */
export function explainTarget(
  target: TargetStatus,
  group: GroupStatus,
  inputs: ExplainInputs,
  nowMs: number,
): ExplainResult {
  const because: ExplainCode[] = [];
  const failedOverTo = group.routeTo === group.name ? null : group.routeTo;
  const isRoutableState = ROUTABLE_STATES.has(target.state);
  const isGroupFailingOpen =
    group.failOpen &&
    group.targets.every((member) => !ROUTABLE_STATES.has(member.state) || member.outlier.isEjected);
  switch (target.state) {
    case 'healthy':
      because.push('healthy');
      break;
    case 'unavailable':
      because.push('health_checks_disabled');
      break;
    case 'initial':
      because.push(target.checksTotal === 0 ? 'registration_in_progress' : 'initial_health_checking');
      break;
    case 'unhealthy':
      because.push('failed_health_checks');
      break;
    case 'draining':
      because.push('draining');
      break;
    case 'unused':
      because.push('not_in_use');
      break;
  }
  if (target.outlier.isEjected) because.unshift('outlier_ejected');
  if (target.weight.effective === 0 && target.state !== 'draining') because.unshift('weight_zero');
  if (failedOverTo !== null) because.unshift('group_failed_over');
  if (target.slowStart !== null) because.push('slow_start');
  const canFailOpen = isGroupFailingOpen && target.state !== 'draining' && target.state !== 'unused';
  if (canFailOpen) because.push('fail_open');
  // `routes` already holds only actions whose traffic lands on this group now (failover applied).
  const isInRotation =
    inputs.routes.length > 0 &&
    ((isRoutableState && !target.outlier.isEjected) || canFailOpen) &&
    target.weight.effective > 0;
  return {
    atMs: nowMs,
    targetGroup: target.targetGroup,
    address: target.address,
    slot: target.slot,
    algorithm: group.algorithm,
    isInRotation,
    because,
    summary: summaryOf(target, group, because, isInRotation, nowMs),
    state: target.state,
    reason: target.reason?.code ?? null,
    description: target.reason?.description ?? null,
    stateSinceMs: target.stateSinceMs,
    healthCheck: {
      ...group.healthCheck,
      consecutiveSuccesses: target.consecutiveSuccesses,
      consecutiveFailures: target.consecutiveFailures,
      outcomesTotal: { ...target.checkOutcomesTotal },
    },
    recentChecks: target.recentChecks
      .map((check) => ({
        atMs: check.atMs,
        durationMs: check.durationMs,
        statusCode: check.statusCode,
        outcome: check.outcome,
        reason: check.reason?.code ?? null,
        description: check.reason?.description ?? null,
      }))
      .reverse(),
    outlier: {
      isEjected: target.outlier.isEjected,
      ejectedUntilMs: target.outlier.ejectedUntilMs,
      multiplier: target.outlier.multiplier,
      ejectionsTotal: target.outlier.ejectionsTotal,
      consecutive5xx: target.outlier.consecutive5xx,
      consecutiveGatewayFailures: target.outlier.consecutiveGatewayFailures,
      ejections: target.outlier.history.map((ejection) => ({ ...ejection })).reverse(),
    },
    weight: { ...target.weight },
    slowStart: target.slowStart === null ? null : { ...target.slowStart },
    drain: target.drain === null ? null : { ...target.drain, inFlight: target.inFlight },
    load: {
      inFlight: target.inFlight,
      activeConnections: target.activeConnections,
      latencyEwmaUs: target.latencyEwmaUs,
    },
    failedOverTo,
    routes: inputs.routes,
    traffic: inputs.traffic,
    transitions: target.transitions
      .map((transition) => ({
        atMs: transition.atMs,
        from: transition.from,
        to: transition.to,
        reason: transition.reason,
      }))
      .reverse(),
  };
}

function seconds(ms: number): string {
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 1000)} s`;
}

/** One sentence: in or out, and the first reason with its numbers. */
function summaryOf(
  target: TargetStatus,
  group: GroupStatus,
  because: readonly ExplainCode[],
  isInRotation: boolean,
  nowMs: number,
): string {
  const head = isInRotation ? 'in rotation' : 'out of rotation';
  const first = because[0];
  const check = group.healthCheck;
  let why: string;
  switch (first) {
    case 'group_failed_over':
      why = `its group ${group.name} failed over to ${group.routeTo}`;
      break;
    case 'weight_zero':
      why = 'its weight is 0';
      break;
    case 'outlier_ejected':
      why = `ejected by outlier detection (${target.outlier.lastTrigger ?? 'failures'}) for another ${seconds(Math.max(0, (target.outlier.ejectedUntilMs ?? nowMs) - nowMs))}, ejection ${target.outlier.multiplier}`;
      break;
    case 'failed_health_checks':
      why = `${target.reason?.code ?? 'unhealthy'}: ${target.reason?.description ?? ''}; ${target.consecutiveFailures} failed in a row, needs ${check.healthyThreshold - target.consecutiveSuccesses} more passes in a row to return`;
      break;
    case 'registration_in_progress':
      why = 'registered, waiting for its first health check';
      break;
    case 'initial_health_checking':
      // A new target is healthy on its first pass (thresholds.ts); until then each failure counts toward unhealthy.
      why = `initial health checks: no pass yet, ${target.consecutiveFailures} of ${check.unhealthyThreshold} failures before unhealthy`;
      break;
    case 'draining':
      why = `deregistered, draining ${target.inFlight} in flight; released by ${new Date(target.drain?.deadlineMs ?? nowMs).toISOString()} at the latest (in ${seconds(Math.max(0, (target.drain?.deadlineMs ?? nowMs) - nowMs))})`;
      break;
    case 'not_in_use':
      why = `no listener forwards to ${group.name}`;
      break;
    case 'health_checks_disabled':
      why = 'health checks are off for its group; routed without checking';
      break;
    default:
      why =
        check.enabled && target.state === 'healthy'
          ? `healthy; ${target.consecutiveSuccesses === 1 ? 'last check' : `last ${target.consecutiveSuccesses} checks`} passed`
          : 'healthy';
  }
  const extras: string[] = [];
  if (target.slowStart !== null) {
    extras.push(
      `slow start at ${target.slowStart.percent}% of its weight until ${new Date(target.slowStart.untilMs).toISOString()}`,
    );
  }
  if (because.includes('fail_open')) extras.push(`${group.name} has no healthy target and fails open`);
  return `${head}: ${why}${extras.length === 0 ? '' : `; ${extras.join('; ')}`}.`;
}
