/**
 * @module src/health/thresholds
 *
 * The active-check state machine: a result moves a target between
 * `initial`, `healthy` and `unhealthy` only after the threshold count of
 * consecutive results (HAProxy rise/fall, ELB HealthyThresholdCount /
 * UnhealthyThresholdCount). Thread: main. Pure: no I/O, no clock.
 *
 *   initial   --first pass------------------------------> healthy
 *   initial   --unhealthyThreshold consecutive failures--> unhealthy
 *   healthy   --unhealthyThreshold consecutive failures--> unhealthy
 *   unhealthy --healthyThreshold consecutive passes------> healthy
 *
 * Why a new target is healthy after its *first* pass and not after
 * healthyThreshold passes (ELB keeps it `initial` until then): the issue asks
 * for "no traffic until its first passing check", and Envoy does the same
 * ("during startup, only a single successful health check is required to
 * mark a host healthy"). For a sidecar that boots with its service, waiting
 * healthyThreshold × interval (5 × 30 s by default) before the first request
 * would be minutes of nothing. The threshold still guards every later
 * recovery, which is where flapping happens.
 */
import {
  TARGET_STATE_HEALTHY,
  TARGET_STATE_INITIAL,
  TARGET_STATE_UNHEALTHY,
} from '../../proto/table-layout.ts';

export interface Thresholds {
  readonly healthyThreshold: number;
  readonly unhealthyThreshold: number;
}

export interface Streak {
  /** Consecutive passing checks (0 after a failure). */
  readonly successes: number;
  /** Consecutive failing checks (0 after a pass). */
  readonly failures: number;
}

export interface Judgement {
  /** TARGET_STATE_INITIAL, _HEALTHY or _UNHEALTHY. */
  readonly state: number;
  readonly streak: Streak;
}

/**
 * The state after one more result. `state` must be INITIAL, HEALTHY or
 * UNHEALTHY (other states are not checked); anything else comes back as is.
 */
export function judge(state: number, streak: Streak, isPass: boolean, thresholds: Thresholds): Judgement {
  const next: Streak = isPass
    ? { successes: streak.successes + 1, failures: 0 }
    : { successes: 0, failures: streak.failures + 1 };
  if (isPass) {
    if (state === TARGET_STATE_INITIAL) return { state: TARGET_STATE_HEALTHY, streak: next };
    if (state === TARGET_STATE_UNHEALTHY && next.successes >= thresholds.healthyThreshold) {
      return { state: TARGET_STATE_HEALTHY, streak: next };
    }
    return { state, streak: next };
  }
  if (
    (state === TARGET_STATE_HEALTHY || state === TARGET_STATE_INITIAL) &&
    next.failures >= thresholds.unhealthyThreshold
  ) {
    return { state: TARGET_STATE_UNHEALTHY, streak: next };
  }
  return { state, streak: next };
}
