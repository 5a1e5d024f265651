/**
 * @module src/health
 *
 * Target health on the main thread: active checks (TCP, HTTP, HTTPS) with
 * ELB thresholds, states and reason codes; passive outlier detection from the
 * workers' counters; slow start; deregistration with draining. Thread: main.
 * Place in the flow: config -> table <- **health** <- control port / reload.
 * Nothing outside src/health/ imports its other files.
 */
export {
  type CheckOutcome,
  type CheckResult,
  type CheckTarget,
  classifyError,
  type FailureCause,
  type HealthChecker,
  matchesStatus,
} from './checker.ts';
export { type DrainEnd, haveWorkersObserved } from './drain.ts';
export { createHttpChecker, type HttpCheckOptions } from './http-checker.ts';
export {
  HEALTH_CHECK_HISTORY_MAX,
  HEALTH_CHECKS_IN_FLIGHT_MAX,
  HEALTH_EJECTION_HISTORY_MAX,
  HEALTH_FIRST_ROUND_WAIT_MS,
  HEALTH_TICK_MS,
} from './limits.ts';
export {
  type CheckOutcomeTotals,
  type DeregisterOutcome,
  type EjectionEvent,
  type EjectionRecord,
  type ExplainInputs,
  findTargetStatus,
  type GroupPolicy,
  type GroupStatus,
  type HealthEvents,
  HealthManager,
  type HealthManagerOptions,
  type LastCheck,
  policiesFromConfig,
  type ReleaseEvent,
  type TargetRef,
  type TargetStatus,
  type TargetsReport,
  type TransitionEvent,
  type TransitionRecord,
} from './manager/index.ts';
export { type EjectionTrigger, ejectionCap, ejectionDurationMs, ejectionTrigger } from './outlier.ts';
export {
  failureReason,
  type HealthReason,
  REASON_DEREGISTRATION_IN_PROGRESS,
  REASON_FAILED_HEALTH_CHECKS,
  REASON_HEALTH_CHECK_DISABLED,
  REASON_INITIAL_HEALTH_CHECKING,
  REASON_NOT_IN_USE,
  REASON_REGISTRATION_IN_PROGRESS,
  REASON_RESPONSE_CODE_MISMATCH,
  REASON_TIMEOUT,
  type ReasonCode,
  STATE_NAMES,
  stateName,
  type TargetStateName,
} from './reasons.ts';
export { slowStartPermille } from './slow-start.ts';
export { createTcpChecker, type TcpCheckOptions } from './tcp-checker.ts';
export { type Judgement, judge, type Streak, type Thresholds } from './thresholds.ts';
