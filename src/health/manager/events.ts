/**
 * @module src/health/manager/events
 *
 * What the health manager emits (and its callers subscribe to: telemetry,
 * tests): one event per check, state transition, ejection, release, and
 * control tick. Thread: main. Shapes only.
 */
import type { DrainOutcome } from '../../table/index.ts';
import type { CheckResult } from '../checker.ts';
import type { DrainEnd } from '../drain.ts';
import type { EjectionTrigger } from '../outlier.ts';
import type { HealthReason, TargetStateName } from '../reasons.ts';

/** Which target an event is about. */
export interface TargetRef {
  readonly targetGroup: string;
  readonly address: string;
  readonly slot: number;
}

export interface TransitionEvent extends TargetRef {
  /** null when the target was just registered. */
  readonly from: TargetStateName | null;
  readonly to: TargetStateName;
  readonly reason: HealthReason | null;
  /** Epoch ms (the manager's clock). */
  readonly atMs: number;
}

export interface EjectionEvent extends TargetRef {
  readonly isEjected: boolean;
  /** What crossed its threshold (null on re-admission). */
  readonly trigger: EjectionTrigger | null;
  /** Consecutive failures the workers had counted when it was ejected. */
  readonly count: number;
  /** The ejection multiplier (times ejected, decaying). */
  readonly ejections: number;
  /** Epoch ms the ejection ends (null on re-admission). */
  readonly untilMs: number | null;
}

export interface ReleaseEvent extends TargetRef {
  /** `idle`: nothing was in flight any more; `deadline`: deregistrationDelay passed. */
  readonly end: DrainEnd;
  readonly drainedMs: number;
  /** Requests still in flight when the slot was freed (0 when `idle`). */
  readonly inFlight: number;
  /** Epoch ms (the manager's clock), like TransitionEvent's. */
  readonly atMs: number;
}

export type HealthEvents = {
  check: [TargetRef, CheckResult];
  transition: [TransitionEvent];
  ejection: [EjectionEvent];
  released: [ReleaseEvent];
  tick: [];
};

/** What `deregister` did; the control port maps these to its answers. */
export type DeregisterOutcome = DrainOutcome;
