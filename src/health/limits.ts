/**
 * @module src/health/limits
 *
 * Bounds of the health machinery, units in the names (TigerStyle). Thread:
 * main. Kept here rather than in src/shared/limits.ts because only the main
 * thread's health manager uses them; workers never see these numbers.
 */

/** Health checks running at once, over all targets; more due checks wait their turn (no burst of N probes). */
export const HEALTH_CHECKS_IN_FLIGHT_MAX = 128;
/**
 * Period of the control tick: outlier detection polls the workers' counters,
 * slow-start weights advance, drains end. Short so an ejection follows the
 * failures that caused it closely; one tick reads 2 Int32 per target.
 */
export const HEALTH_TICK_MS = 100;
/** Bytes of a health-check response body read (then the connection is closed). */
export const HEALTH_CHECK_BODY_BYTES_MAX = 64 * 1024;
/** State transitions kept per target for the admin API. */
export const HEALTH_TRANSITIONS_KEPT = 10;
/** Recent health checks kept per target for `explain` (newest last): about one screen. */
export const HEALTH_CHECK_HISTORY_MAX = 10;
/** Outlier ejections kept per target for `explain` (newest last). */
export const HEALTH_EJECTION_HISTORY_MAX = 5;
/** Each next check is due after interval × (1 ± this), so targets checked together drift apart. */
export const HEALTH_CHECK_JITTER_FRACTION = 0.1;
/**
 * A worker whose heartbeat is older than this is treated as gone when a
 * drain waits for every worker to have seen it (a dead worker's requests are
 * reconciled by the supervisor, and its replacement boots with the new state).
 */
export const WORKER_HEARTBEAT_STALE_MS = 2_000;
/** Slow start begins at this share of the target's weight (ELB: 10%), in per-mille. */
export const SLOW_START_FIRST_PERMILLE = 100;
/** Slow start moves its weight in steps of this many per-mille, so a ramp is at most 19 table writes. */
export const SLOW_START_STEP_PERMILLE = 50;
/** User-Agent of HTTP/HTTPS health checks (ELB sends ELB-HealthChecker/2.0). */
export const HEALTH_CHECK_USER_AGENT = 'Ferry-HealthChecker/1.0';
/**
 * Longest start-up waits for the first round of checks before the listeners
 * open anyway (a target that hangs would otherwise hold the start for its
 * whole timeout, up to 2 minutes); targets still being checked stay `initial`.
 */
export const HEALTH_FIRST_ROUND_WAIT_MS = 5_000;
