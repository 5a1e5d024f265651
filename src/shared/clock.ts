/**
 * @module src/shared/clock
 *
 * The one clock. Thread: both. Table fields in `_MS` count from the table's
 * HEADER_CLOCK_ORIGIN_S so every thread agrees on "now" (each worker's
 * performance.timeOrigin differs). Values are Int32 and wrap after ~24 days:
 * compare with `elapsedMs(now, then)`, never `<`.
 */

/** Milliseconds since `originS` (seconds since the Unix epoch), wrapped to Int32. */
export function clockMs(originS: number): number {
  return (Date.now() - originS * 1000) | 0;
}

/** Wrap-safe difference `now - then` in ms for two clockMs readings. */
export function elapsedMs(nowMs: number, thenMs: number): number {
  return (nowMs - thenMs) | 0;
}

/** Whole seconds since the Unix epoch: wall time, for what clients compare with theirs (cookie expiry). */
export function unixS(): number {
  return Math.floor(Date.now() / 1000);
}

/** High-resolution monotonic microseconds for measuring one exchange (not shared between threads). */
export function monoUs(): number {
  return performance.now() * 1000;
}
