/**
 * A `Clock` (src/shared/clock.ts) that moves only when a test says so: the
 * main-thread managers schedule on it, and `advance(ms)` runs every timer that
 * falls due, in order of due time (ties in the order they were set), with
 * `nowMs()` reading each timer's own due time while it runs. A timer set by a
 * callback during `advance` runs in the same call if it falls due before the
 * end. Nothing here sleeps; real I/O the managers start (a check's TCP
 * connect) still completes on the real event loop.
 */
import type { Clock, ClockTimer } from '../../src/shared/clock.ts';

interface ManualTimer {
  readonly id: number;
  dueMs: number;
  readonly periodMs: number | null;
  readonly callback: () => void;
}

/** 2026-01-01T00:00:00Z: a fixed start, so times in reports are the same on every run. */
export const MANUAL_CLOCK_START_MS = Date.UTC(2026, 0, 1);

export class ManualClock implements Clock {
  private currentMs: number;
  private nextId: number;
  private readonly timers: Map<number, ManualTimer>;

  constructor(startMs = MANUAL_CLOCK_START_MS) {
    this.currentMs = startMs;
    this.nextId = 1;
    this.timers = new Map();
  }

  nowMs(): number {
    return this.currentMs;
  }

  setTimeout(callback: () => void, delayMs: number): ClockTimer {
    return this.add(callback, Math.max(0, delayMs), null);
  }

  setInterval(callback: () => void, periodMs: number): ClockTimer {
    return this.add(callback, Math.max(1, periodMs), Math.max(1, periodMs));
  }

  clearTimer(timer: ClockTimer): void {
    this.timers.delete(timer as unknown as number);
  }

  /** Timers set and not yet run or cleared (intervals count once). */
  pendingCount(): number {
    return this.timers.size;
  }

  /** Milliseconds until the next timer is due, or null when none is set. */
  nextDueInMs(): number | null {
    const next = this.nextDue(Number.POSITIVE_INFINITY);
    return next === undefined ? null : next.dueMs - this.currentMs;
  }

  /** Move time forward by `ms`, running every timer due on the way. */
  advance(ms: number): void {
    if (ms < 0) throw new Error(`ManualClock.advance: negative step ${ms}`);
    const endMs = this.currentMs + ms;
    for (let next = this.nextDue(endMs); next !== undefined; next = this.nextDue(endMs)) {
      this.currentMs = Math.max(this.currentMs, next.dueMs);
      if (next.periodMs === null) this.timers.delete(next.id);
      else next.dueMs += next.periodMs;
      next.callback();
    }
    this.currentMs = endMs;
  }

  private add(callback: () => void, delayMs: number, periodMs: number | null): ClockTimer {
    const id = this.nextId++;
    this.timers.set(id, { id, dueMs: this.currentMs + delayMs, periodMs, callback });
    return id as unknown as ClockTimer;
  }

  /** The earliest timer due at or before `endMs` (lowest id first among equals). */
  private nextDue(endMs: number): ManualTimer | undefined {
    let best: ManualTimer | undefined;
    for (const timer of this.timers.values()) {
      if (timer.dueMs > endMs) continue;
      if (
        best === undefined ||
        timer.dueMs < best.dueMs ||
        (timer.dueMs === best.dueMs && timer.id < best.id)
      )
        best = timer;
    }
    return best;
  }
}
