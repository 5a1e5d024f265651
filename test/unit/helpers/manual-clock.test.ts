/**
 * ManualClock (test/helpers/manual-clock.ts): the clock the health and
 * failover tests advance. Its ordering rules are what those tests rely on, so
 * they are pinned here.
 */
import { describe, expect, it } from 'vitest';
import { MANUAL_CLOCK_START_MS, ManualClock } from '../../helpers/manual-clock.ts';

describe('ManualClock', () => {
  it('starts at a fixed time and moves only when advanced', () => {
    const clock = new ManualClock();
    expect(clock.nowMs()).toBe(MANUAL_CLOCK_START_MS);
    clock.advance(250);
    expect(clock.nowMs()).toBe(MANUAL_CLOCK_START_MS + 250);
  });

  it('runs due timers in order of due time, ties in the order they were set, each at its own time', () => {
    const clock = new ManualClock(0);
    const runs: string[] = [];
    clock.setTimeout(() => runs.push(`b@${clock.nowMs()}`), 20);
    clock.setTimeout(() => runs.push(`a@${clock.nowMs()}`), 10);
    clock.setTimeout(() => runs.push(`c@${clock.nowMs()}`), 20);
    clock.setTimeout(() => runs.push(`late@${clock.nowMs()}`), 31);
    clock.advance(30);
    expect(runs).toEqual(['a@10', 'b@20', 'c@20']);
    expect(clock.nowMs()).toBe(30);
    clock.advance(1);
    expect(runs.at(-1)).toBe('late@31');
  });

  it('repeats an interval every period and stops it when cleared', () => {
    const clock = new ManualClock(0);
    const runs: number[] = [];
    const timer = clock.setInterval(() => runs.push(clock.nowMs()), 100);
    clock.advance(350);
    expect(runs).toEqual([100, 200, 300]);
    clock.clearTimer(timer);
    clock.advance(1_000);
    expect(runs).toEqual([100, 200, 300]);
    expect(clock.pendingCount()).toBe(0);
  });

  it('runs a timer set by a callback in the same advance when it falls due before the end', () => {
    const clock = new ManualClock(0);
    const runs: number[] = [];
    clock.setTimeout(() => clock.setTimeout(() => runs.push(clock.nowMs()), 5), 10);
    clock.advance(15);
    expect(runs).toEqual([15]);
  });

  it('tells how long until the next timer', () => {
    const clock = new ManualClock(0);
    expect(clock.nextDueInMs()).toBeNull();
    clock.setTimeout(() => {}, 40);
    clock.advance(15);
    expect(clock.nextDueInMs()).toBe(25);
  });

  describe('when asked to go backwards', () => {
    it('throws', () => {
      expect(() => new ManualClock(0).advance(-1)).toThrow(/negative/);
    });
  });
});
