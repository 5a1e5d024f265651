/**
 * The active-check state machine (src/health/thresholds.ts): a state changes
 * only after the threshold count of consecutive results; a new target is
 * healthy after its first pass.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  TARGET_STATE_HEALTHY,
  TARGET_STATE_INITIAL,
  TARGET_STATE_UNHEALTHY,
} from '../../../../proto/table-layout.ts';
import { judge, type Streak } from '../../../../src/health/index.ts';

const THRESHOLDS = { healthyThreshold: 3, unhealthyThreshold: 2 };
const FRESH: Streak = { successes: 0, failures: 0 };

/** Feed results (true = pass) from `state`; returns the state after each. */
function run(state: number, results: readonly boolean[], thresholds = THRESHOLDS): number[] {
  let streak = FRESH;
  const states: number[] = [];
  for (const isPass of results) {
    const next = judge(state, streak, isPass, thresholds);
    state = next.state;
    streak = next.streak;
    states.push(state);
  }
  return states;
}

describe('judge', () => {
  describe('when the target is initial', () => {
    it('becomes healthy on its first pass', () => {
      expect(run(TARGET_STATE_INITIAL, [true])).toEqual([TARGET_STATE_HEALTHY]);
    });

    it('stays initial below unhealthyThreshold failures, then becomes unhealthy', () => {
      expect(run(TARGET_STATE_INITIAL, [false, false])).toEqual([
        TARGET_STATE_INITIAL,
        TARGET_STATE_UNHEALTHY,
      ]);
    });
  });

  describe('when the target is healthy', () => {
    it('becomes unhealthy after exactly unhealthyThreshold consecutive failures', () => {
      expect(run(TARGET_STATE_HEALTHY, [false, false])).toEqual([
        TARGET_STATE_HEALTHY,
        TARGET_STATE_UNHEALTHY,
      ]);
    });

    it('does not count failures interrupted by a pass', () => {
      expect(run(TARGET_STATE_HEALTHY, [false, true, false, true, false])).toEqual(
        Array(5).fill(TARGET_STATE_HEALTHY),
      );
    });
  });

  describe('when the target is unhealthy', () => {
    it('becomes healthy after exactly healthyThreshold consecutive passes', () => {
      expect(run(TARGET_STATE_UNHEALTHY, [true, true, true])).toEqual([
        TARGET_STATE_UNHEALTHY,
        TARGET_STATE_UNHEALTHY,
        TARGET_STATE_HEALTHY,
      ]);
    });

    it('starts counting again after a failure', () => {
      expect(run(TARGET_STATE_UNHEALTHY, [true, true, false, true, true]).at(-1)).toBe(
        TARGET_STATE_UNHEALTHY,
      );
    });
  });

  it('keeps the streak counters consistent: one of them is always 0 (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.boolean(), { maxLength: 50 }),
        fc.integer({ min: 2, max: 10 }),
        fc.integer({ min: 2, max: 10 }),
        (results, healthyThreshold, unhealthyThreshold) => {
          let state = TARGET_STATE_INITIAL;
          let streak = FRESH;
          for (const isPass of results) {
            const before = state;
            ({ state, streak } = judge(state, streak, isPass, { healthyThreshold, unhealthyThreshold }));
            expect(streak.successes === 0 || streak.failures === 0).toBe(true);
            // A change to unhealthy needs unhealthyThreshold failures in a row; to healthy from
            // unhealthy needs healthyThreshold passes in a row.
            if (state === TARGET_STATE_UNHEALTHY && before !== TARGET_STATE_UNHEALTHY) {
              expect(streak.failures).toBe(unhealthyThreshold);
            }
            if (state === TARGET_STATE_HEALTHY && before === TARGET_STATE_UNHEALTHY) {
              expect(streak.successes).toBe(healthyThreshold);
            }
          }
        },
      ),
    );
  });
});
