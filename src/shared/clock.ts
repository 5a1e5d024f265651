/**
 * @module src/shared/clock
 *
 * The one clock. Thread: both. Two kinds of time live here:
 *
 * - Table time. Table fields in `_MS` count from the table's
 *   HEADER_CLOCK_ORIGIN_S so every thread agrees on "now" (each worker's
 *   performance.timeOrigin differs). Values are Int32 and wrap after ~24
 *   days: compare with `elapsedMs(now, then)`, never `<`. Workers compute it
 *   from the real Date.now(), so `clockMs` always reads the real wall clock:
 *   a value main compares with a worker's (heartbeats, latency stamps) must
 *   come from the same source, whatever clock a manager was given.
 * - Decision time. The main thread's managers (health checks, ejection,
 *   slow start, drain deadlines, failover) decide "is it due yet" with an
 *   injected `Clock` (STYLE §14), so tests advance time instead of sleeping.
 *   `REAL_CLOCK` is the default; test/helpers/manual-clock.ts is the one
 *   tests advance.
 */

declare const clockTimerBrand: unique symbol;

/** A timer made by a `Clock`; only that clock's `clearTimer` understands it (opaque on purpose). */
export interface ClockTimer {
  readonly [clockTimerBrand]: true;
}

/**
 * Time and timers for main-thread decisions. `nowMs` is epoch milliseconds
 * (what the admin API prints as ISO 8601). Timers never keep the process
 * alive: they are housekeeping, and a manager that is stopped clears its own.
 */
export interface Clock {
  nowMs(): number;
  /** Run `callback` once, `delayMs` from now. */
  setTimeout(callback: () => void, delayMs: number): ClockTimer;
  /** Run `callback` every `periodMs`, first one period from now. */
  setInterval(callback: () => void, periodMs: number): ClockTimer;
  /** Cancel a timer of either kind; a timer already run or cleared is ignored. */
  clearTimer(timer: ClockTimer): void;
}

/** The process's own clock: Date.now and unref'd Node timers. */
export const REAL_CLOCK: Clock = {
  nowMs: () => Date.now(),
  setTimeout: (callback, delayMs) => setTimeout(callback, delayMs).unref() as unknown as ClockTimer,
  setInterval: (callback, periodMs) => setInterval(callback, periodMs).unref() as unknown as ClockTimer,
  clearTimer: (timer) => clearTimeout(timer as unknown as NodeJS.Timeout),
};

/** Milliseconds since `originS` (seconds since the Unix epoch), wrapped to Int32. Real time (see above). */
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
