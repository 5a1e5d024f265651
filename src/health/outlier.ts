/**
 * @module src/health/outlier
 *
 * Passive health checking (Envoy's outlier detection, consecutive-errors
 * kind): workers count consecutive 5xx answers and gateway failures per
 * target in the shared table (workers/record); the main thread's tick reads
 * them here and ejects a target past its threshold for
 * `baseEjectionTime × ejections` (capped), never more than
 * `maxEjectionPercent` of its group at once, but always allowing one when the
 * group has two or more targets (Envoy: "will eject at least one host
 * regardless of the value"). Thread: main. Pure: decisions only; the manager
 * reads the table and writes TARGET_EJECTED.
 *
 * Why poll and not a message from the worker: the counters already live in
 * the table, a poll costs two Atomics loads per target per tick, and workers
 * stay free of control-plane messages on the hot path. The cost is up to one
 * tick (HEALTH_TICK_MS) of extra requests after the threshold is crossed.
 */

/** What triggered an ejection. */
export type EjectionTrigger = 'consecutive5xx' | 'consecutiveGatewayFailure';

export interface OutlierThresholds {
  /** 0 turns the trigger off. */
  readonly consecutive5xx: number;
  /** 0 turns the trigger off. */
  readonly consecutiveGatewayFailure: number;
}

/** The trigger crossed by the counters read from the table, or null. */
export function ejectionTrigger(
  thresholds: OutlierThresholds,
  consecutive5xx: number,
  consecutiveGatewayFailures: number,
): EjectionTrigger | null {
  if (thresholds.consecutive5xx > 0 && consecutive5xx >= thresholds.consecutive5xx) return 'consecutive5xx';
  if (
    thresholds.consecutiveGatewayFailure > 0 &&
    consecutiveGatewayFailures >= thresholds.consecutiveGatewayFailure
  ) {
    return 'consecutiveGatewayFailure';
  }
  return null;
}

/**
 * Targets of a group that may be ejected at once: `maxEjectionPercent` of
 * its registered targets, rounded down, but at least one when there are two
 * or more (a lone target is never ejected: there is nowhere else to go).
 */
export function ejectionCap(registeredCount: number, maxEjectionPercent: number): number {
  if (registeredCount < 2) return 0;
  return Math.max(1, Math.floor((registeredCount * maxEjectionPercent) / 100));
}

/** Length of the `ejections`-th ejection (1-based): base × ejections, at most max. */
export function ejectionDurationMs(baseEjectionMs: number, maxEjectionMs: number, ejections: number): number {
  return Math.min(maxEjectionMs, baseEjectionMs * Math.max(1, ejections));
}
