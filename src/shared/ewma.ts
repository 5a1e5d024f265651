/**
 * @module src/shared/ewma
 *
 * Response-time averages kept in the shared table, for the latency-aware
 * balancers. Thread: worker (record after each upstream response head, read
 * on every pick); main reads them for stats. Place in the flow: `record`
 * writes, `pick` (response_time, peak_ewma) reads. No I/O.
 *
 * Two averages per target, both in microseconds, 0 meaning "unmeasured":
 *
 *   TARGET_LATENCY_EWMA_US  time-decayed EWMA (tau LATENCY_EWMA_TAU_MS):
 *                           next = cur + (sample - cur) * (1 - e^(-dt/tau))
 *   TARGET_PEAK_EWMA_US     peak EWMA (linkerd2-proxy / Finagle): a sample
 *                           above the cost replaces it at once; below, the
 *                           cost decays toward it with tau PEAK_EWMA_TAU_MS.
 *
 * `dt` is the time since TARGET_LATENCY_UPDATED_MS (shared by both), floored
 * at 1 ms: samples landing in the same millisecond still move the average, so
 * the effective time constant shortens for targets answering more than ~1000
 * requests/s. Weighting by time rather than by sample count keeps a rarely
 * used target's stale value from outliving the minute it was measured in.
 *
 * Failures (5xx, 429, gateway errors) are recorded as slow samples:
 * max(sample, current * 2, FAILURE_PENALTY_US), so a target answering errors
 * fast never looks like the fastest target, and a timeout counts as at least
 * as slow as it was.
 *
 * Concurrency: each field is updated with a bounded compareExchange loop
 * (EWMA_CAS_ATTEMPTS_MAX). Racing writers may lose an update or apply the
 * same `dt` twice; the averages stay within the range of recent samples,
 * which is all a balancer needs, and no writer ever spins.
 *
 * Readers treat an average not updated for a while as decaying toward 0
 * (`decayIdleUs`), halving every IDLE_HALF_LIFE_MS, so a target that was
 * slow once gets re-tried instead of being starved forever.
 */
import {
  casTarget,
  loadTarget,
  storeTarget,
  TARGET_LATENCY_EWMA_US,
  TARGET_LATENCY_UPDATED_MS,
  TARGET_PEAK_EWMA_US,
  type TableView,
} from '../../proto/table-layout.ts';
import { elapsedMs } from './clock.ts';

/**
 * Time constant of TARGET_LATENCY_EWMA_US: a step change is ~63% absorbed after this long.
 * 2 s so response_time moves traffic off a target that turned slow "within a few seconds"
 * (issue 2), while one outlier among many samples barely moves it.
 */
export const LATENCY_EWMA_TAU_MS = 2_000;
/** Time constant of TARGET_PEAK_EWMA_US's decay toward faster samples (linkerd's default decay). */
export const PEAK_EWMA_TAU_MS = 10_000;
/** Smallest sample a failure counts as: one second, or twice the current average if larger. */
export const FAILURE_PENALTY_US = 1_000_000;
/** compareExchange attempts per field before an update is dropped (bounded, never spins). */
export const EWMA_CAS_ATTEMPTS_MAX = 4;
/**
 * Reader-side idle decay: an average not updated for this long counts half.
 * ~ PEAK_EWMA_TAU_MS * ln 2, so a peak cost fades on the writer's own time
 * scale; for the shorter latency tau it only matters to targets no traffic
 * reaches (a busy target is refreshed long before 7 s).
 */
export const IDLE_HALF_LIFE_MS = 7_000;
/** Largest value an average may hold: Int32 max, ~35 minutes. */
export const LATENCY_US_MAX = 0x7fffffff;

// === Writers ===

/**
 * Fold one response-time sample into a target's two averages and stamp
 * TARGET_LATENCY_UPDATED_MS with `nowMs`. `sampleUs` is the time to response
 * head; `isFailure` marks 5xx/429/gateway errors, which count as slow.
 * Thread: worker, after each upstream response (or failure). Preconditions:
 * `slot` is a valid slot of `view`; `nowMs` is the table clock. Never throws,
 * never allocates.
 */
export function recordLatency(
  view: TableView,
  slot: number,
  sampleUs: number,
  nowMs: number,
  isFailure: boolean,
): void {
  const updatedMs = loadTarget(view, slot, TARGET_LATENCY_UPDATED_MS);
  const sinceMs = elapsedMs(nowMs, updatedMs);
  const sample = clampLatencyUs(sampleUs);
  updateAverage(
    view,
    slot,
    TARGET_LATENCY_EWMA_US,
    sample,
    isFailure,
    false,
    decayWeight(sinceMs, LATENCY_EWMA_TAU_MS),
  );
  updateAverage(
    view,
    slot,
    TARGET_PEAK_EWMA_US,
    sample,
    isFailure,
    true,
    decayWeight(sinceMs, PEAK_EWMA_TAU_MS),
  );
  // Only move the stamp forward: a worker whose clock read is a little older
  // than another's must not make the target look idle for longer.
  if (sinceMs > 0 || updatedMs === 0) storeTarget(view, slot, TARGET_LATENCY_UPDATED_MS, nowMs);
}

/** One field's bounded CAS loop; `keepWeight` is e^(-dt/tau), the share the current value keeps. */
function updateAverage(
  view: TableView,
  slot: number,
  field: number,
  sampleUs: number,
  isFailure: boolean,
  isPeak: boolean,
  keepWeight: number,
): void {
  for (let attempt = 0; attempt < EWMA_CAS_ATTEMPTS_MAX; attempt++) {
    const currentUs = loadTarget(view, slot, field);
    const nextUs = nextAverageUs(
      currentUs,
      isFailure ? failureSampleUs(currentUs, sampleUs) : sampleUs,
      keepWeight,
      isPeak,
    );
    if (nextUs === currentUs || casTarget(view, slot, field, currentUs, nextUs) === currentUs) return;
  }
}

/**
 * The pure update rule, exported for tests: the next average given the
 * current one (0 = unmeasured), a sample, the share the current value keeps
 * (`e^(-dt/tau)`), and whether peaks replace the average at once. Returns an
 * integer in 1..LATENCY_US_MAX. Never throws, never allocates.
 */
export function nextAverageUs(
  currentUs: number,
  sampleUs: number,
  keepWeight: number,
  isPeak: boolean,
): number {
  if (currentUs <= 0) return sampleUs;
  if (isPeak && sampleUs > currentUs) return sampleUs;
  const nextUs = Math.round(currentUs * keepWeight + sampleUs * (1 - keepWeight));
  return nextUs < 1 ? 1 : Math.min(nextUs, LATENCY_US_MAX);
}

/** e^(-dt/tau) with dt floored at 1 ms (see the header). */
export function decayWeight(sinceMs: number, tauMs: number): number {
  return Math.exp(-Math.max(sinceMs, 1) / tauMs);
}

function failureSampleUs(currentUs: number, sampleUs: number): number {
  const penaltyUs = Math.max(sampleUs, currentUs * 2, FAILURE_PENALTY_US);
  return Math.min(penaltyUs, LATENCY_US_MAX);
}

function clampLatencyUs(sampleUs: number): number {
  // NaN fails both comparisons and lands on 1, like a zero sample.
  if (!(sampleUs >= 1)) return 1;
  return sampleUs >= LATENCY_US_MAX ? LATENCY_US_MAX : Math.round(sampleUs);
}

// === Readers ===

/**
 * An average as a picker should see it after `idleMs` without updates: the
 * stored value halved once per whole IDLE_HALF_LIFE_MS (never below 1 while
 * measured; 0 stays 0 = unmeasured). Negative idle times (a clock read older
 * than the stamp) count as 0. Integer shifts rather than Math.exp keep this
 * to a few cycles, because response_time calls it for every member on every
 * pick. Thread: worker. Never throws, never allocates.
 */
export function decayIdleUs(valueUs: number, idleMs: number): number {
  if (idleMs < IDLE_HALF_LIFE_MS || valueUs <= 0) return valueUs;
  const halvings = (idleMs / IDLE_HALF_LIFE_MS) | 0;
  if (halvings >= 31) return 1;
  const decayedUs = valueUs >>> halvings;
  return Math.max(decayedUs, 1);
}
