/**
 * @module src/health/reasons
 *
 * The words of target health, copied from AWS ELB's DescribeTargetHealth:
 * state names and reason codes, with a description in ELB's style. Thread:
 * main. The admin API, logs and (later) the control port print these; their
 * text is a user contract, so tests pin them.
 */
import {
  TARGET_STATE_DRAINING,
  TARGET_STATE_EMPTY,
  TARGET_STATE_HEALTHY,
  TARGET_STATE_INITIAL,
  TARGET_STATE_UNAVAILABLE,
  TARGET_STATE_UNHEALTHY,
  TARGET_STATE_UNUSED,
} from '../../proto/table-layout.ts';
import type { CheckResult, FailureCause } from './checker.ts';

export const STATE_NAMES = [
  'empty',
  'initial',
  'healthy',
  'unhealthy',
  'draining',
  'unused',
  'unavailable',
] as const;
/** ELB's state name of a target. */
export type TargetStateName = (typeof STATE_NAMES)[number];

/** The name of a TARGET_STATE_* value. */
export function stateName(state: number): TargetStateName {
  return STATE_NAMES[state] ?? 'empty';
}

// The table constants and the names above must agree; checked at load.
for (const [state, name] of [
  [TARGET_STATE_EMPTY, 'empty'],
  [TARGET_STATE_INITIAL, 'initial'],
  [TARGET_STATE_HEALTHY, 'healthy'],
  [TARGET_STATE_UNHEALTHY, 'unhealthy'],
  [TARGET_STATE_DRAINING, 'draining'],
  [TARGET_STATE_UNUSED, 'unused'],
  [TARGET_STATE_UNAVAILABLE, 'unavailable'],
] as const) {
  if (STATE_NAMES[state] !== name) throw new Error(`health/reasons: state ${state} is not ${name}`);
}

export const REASON_REGISTRATION_IN_PROGRESS = 'Elb.RegistrationInProgress';
export const REASON_INITIAL_HEALTH_CHECKING = 'Elb.InitialHealthChecking';
export const REASON_RESPONSE_CODE_MISMATCH = 'Target.ResponseCodeMismatch';
export const REASON_TIMEOUT = 'Target.Timeout';
export const REASON_FAILED_HEALTH_CHECKS = 'Target.FailedHealthChecks';
export const REASON_DEREGISTRATION_IN_PROGRESS = 'Target.DeregistrationInProgress';
export const REASON_NOT_IN_USE = 'Target.NotInUse';
export const REASON_HEALTH_CHECK_DISABLED = 'Target.HealthCheckDisabled';

export type ReasonCode =
  | typeof REASON_REGISTRATION_IN_PROGRESS
  | typeof REASON_INITIAL_HEALTH_CHECKING
  | typeof REASON_RESPONSE_CODE_MISMATCH
  | typeof REASON_TIMEOUT
  | typeof REASON_FAILED_HEALTH_CHECKS
  | typeof REASON_DEREGISTRATION_IN_PROGRESS
  | typeof REASON_NOT_IN_USE
  | typeof REASON_HEALTH_CHECK_DISABLED;

/** Why a target is in its state. A healthy target has none (ELB leaves Reason empty). */
export interface HealthReason {
  readonly code: ReasonCode;
  readonly description: string;
  /** Target.ResponseCodeMismatch: the status the target answered. */
  readonly statusCode: number | null;
  /** Target.FailedHealthChecks: what went wrong on the wire. */
  readonly cause: FailureCause | null;
}

const CAUSE_TEXT: Readonly<Record<FailureCause, string>> = {
  refused: 'connection refused',
  reset: 'connection reset',
  tls: 'TLS handshake failed',
  malformed: 'malformed response',
  unreachable: 'host unreachable',
  dns: 'host name did not resolve',
  local: 'Ferry could not open a connection (local resources exhausted)',
  other: 'connection failed',
};

function reason(
  code: ReasonCode,
  description: string,
  statusCode: number | null = null,
  cause: FailureCause | null = null,
): HealthReason {
  return { code, description, statusCode, cause };
}

export const REGISTRATION_IN_PROGRESS = reason(
  REASON_REGISTRATION_IN_PROGRESS,
  'Target registration is in progress',
);
export const INITIAL_HEALTH_CHECKING = reason(
  REASON_INITIAL_HEALTH_CHECKING,
  'Initial health checks in progress',
);
export const DEREGISTRATION_IN_PROGRESS = reason(
  REASON_DEREGISTRATION_IN_PROGRESS,
  'Target deregistration is in progress',
);
export const NOT_IN_USE = reason(
  REASON_NOT_IN_USE,
  'Target group is not configured to receive traffic from any listener',
);
export const HEALTH_CHECK_DISABLED = reason(
  REASON_HEALTH_CHECK_DISABLED,
  'Health checks are disabled for this target group',
);

/** The reason a failed check gives (null for a pass). */
export function failureReason(result: CheckResult): HealthReason | null {
  switch (result.outcome) {
    case 'pass':
      return null;
    case 'status':
      return reason(
        REASON_RESPONSE_CODE_MISMATCH,
        `Health checks failed with these codes: [${result.statusCode}]`,
        result.statusCode,
      );
    case 'timeout':
      return reason(REASON_TIMEOUT, `Request timed out after ${result.durationMs} ms`);
    case 'error': {
      const cause = result.cause ?? 'other';
      const detail = result.detail === '' ? '' : ` (${result.detail})`;
      return reason(
        REASON_FAILED_HEALTH_CHECKS,
        `Health checks failed: ${CAUSE_TEXT[cause]}${detail}`,
        null,
        cause,
      );
    }
  }
}
