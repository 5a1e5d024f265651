import { describe, expect, it } from 'vitest';
import {
  loadTarget,
  storeTarget,
  TARGET_LATENCY_EWMA_US,
  TARGET_LATENCY_UPDATED_MS,
  TARGET_PEAK_EWMA_US,
} from '../../../../proto/table-layout.ts';
import {
  decayIdleUs,
  decayWeight,
  FAILURE_PENALTY_US,
  IDLE_HALF_LIFE_MS,
  LATENCY_EWMA_TAU_MS,
  LATENCY_US_MAX,
  nextAverageUs,
  recordLatency,
} from '../../../../src/shared/ewma.ts';
import { makeTable } from '../../../conformance/balancer.case.ts';

const SLOT = 3;

function averages(view: ReturnType<typeof makeTable>): {
  latencyUs: number;
  peakUs: number;
  updatedMs: number;
} {
  return {
    latencyUs: loadTarget(view, SLOT, TARGET_LATENCY_EWMA_US),
    peakUs: loadTarget(view, SLOT, TARGET_PEAK_EWMA_US),
    updatedMs: loadTarget(view, SLOT, TARGET_LATENCY_UPDATED_MS),
  };
}

describe('recordLatency', () => {
  describe('when the target is unmeasured', () => {
    it('sets both averages to the first sample and stamps the time', () => {
      const view = makeTable();
      recordLatency(view, SLOT, 5_000, 1_234, false);
      expect(averages(view)).toEqual({ latencyUs: 5_000, peakUs: 5_000, updatedMs: 1_234 });
    });
  });

  describe('when samples arrive over time', () => {
    it('moves the EWMA by 1 - e^(-dt/tau) toward each sample', () => {
      const view = makeTable();
      recordLatency(view, SLOT, 10_000, 1_000, false);
      recordLatency(view, SLOT, 20_000, 1_000 + LATENCY_EWMA_TAU_MS, false);
      const expected = Math.round(10_000 * Math.exp(-1) + 20_000 * (1 - Math.exp(-1)));
      expect(averages(view).latencyUs).toBe(expected);
    });

    it('lets a larger sample replace the peak at once', () => {
      const view = makeTable();
      recordLatency(view, SLOT, 5_000, 1_000, false);
      recordLatency(view, SLOT, 80_000, 1_001, false);
      expect(averages(view).peakUs).toBe(80_000);
      expect(averages(view).latencyUs).toBeLessThan(6_000);
    });

    it('decays the peak toward smaller samples', () => {
      const view = makeTable();
      recordLatency(view, SLOT, 80_000, 1_000, false);
      let nowMs = 1_000;
      for (let index = 0; index < 60; index++) {
        nowMs += 1_000;
        recordLatency(view, SLOT, 5_000, nowMs, false);
      }
      expect(averages(view).peakUs).toBeLessThan(10_000);
      expect(averages(view).peakUs).toBeGreaterThan(5_000);
    });

    it('still moves the average for samples in the same millisecond', () => {
      const view = makeTable();
      recordLatency(view, SLOT, 10_000, 1_000, false);
      for (let index = 0; index < 100; index++) recordLatency(view, SLOT, 20_000, 1_000, false);
      expect(averages(view).latencyUs).toBeGreaterThan(10_000);
    });

    it('never moves the stamp backwards', () => {
      const view = makeTable();
      recordLatency(view, SLOT, 10_000, 5_000, false);
      recordLatency(view, SLOT, 10_000, 4_000, false);
      expect(averages(view).updatedMs).toBe(5_000);
    });
  });

  describe('when the response is a failure', () => {
    it('counts it as at least FAILURE_PENALTY_US, jumping the peak', () => {
      const view = makeTable();
      recordLatency(view, SLOT, 2_000, 1_000, false);
      recordLatency(view, SLOT, 100, 1_010, true);
      expect(averages(view).peakUs).toBe(FAILURE_PENALTY_US);
      expect(averages(view).latencyUs).toBeGreaterThan(2_000);
    });

    it('counts it as twice the current average when that is larger', () => {
      const view = makeTable();
      storeTarget(view, SLOT, TARGET_PEAK_EWMA_US, 3_000_000);
      storeTarget(view, SLOT, TARGET_LATENCY_EWMA_US, 3_000_000);
      storeTarget(view, SLOT, TARGET_LATENCY_UPDATED_MS, 1_000);
      recordLatency(view, SLOT, 10, 1_001, true);
      expect(averages(view).peakUs).toBe(6_000_000);
    });
  });

  describe('when samples are out of range', () => {
    it('clamps them into 1..LATENCY_US_MAX', () => {
      const view = makeTable();
      recordLatency(view, SLOT, Number.NaN, 1_000, false);
      expect(averages(view).latencyUs).toBe(1);
      recordLatency(view, 4, 1e12, 1_000, true);
      expect(loadTarget(view, 4, TARGET_PEAK_EWMA_US)).toBe(LATENCY_US_MAX);
    });
  });
});

describe('nextAverageUs', () => {
  it('returns the sample for an unmeasured average', () => {
    expect(nextAverageUs(0, 700, 0.5, false)).toBe(700);
  });

  it('blends by the keep weight and never returns less than 1', () => {
    expect(nextAverageUs(1_000, 3_000, 0.5, false)).toBe(2_000);
    expect(nextAverageUs(1, 1, 0.999, false)).toBe(1);
  });
});

describe('decayWeight', () => {
  it('floors the elapsed time at 1 ms', () => {
    expect(decayWeight(0, 1_000)).toBe(decayWeight(1, 1_000));
    expect(decayWeight(-50, 1_000)).toBe(decayWeight(1, 1_000));
  });
});

describe('decayIdleUs', () => {
  it('leaves a recently updated average alone', () => {
    expect(decayIdleUs(50_000, IDLE_HALF_LIFE_MS - 1)).toBe(50_000);
    expect(decayIdleUs(50_000, -10_000)).toBe(50_000);
  });

  it('halves the average per whole half-life idle, never below 1', () => {
    expect(decayIdleUs(50_000, IDLE_HALF_LIFE_MS)).toBe(25_000);
    expect(decayIdleUs(50_000, 3 * IDLE_HALF_LIFE_MS + 5)).toBe(6_250);
    expect(decayIdleUs(50_000, 2_000_000_000)).toBe(1);
  });

  it('keeps unmeasured (0) at 0', () => {
    expect(decayIdleUs(0, 10 * IDLE_HALF_LIFE_MS)).toBe(0);
  });
});
