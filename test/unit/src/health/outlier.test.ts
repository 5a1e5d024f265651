/**
 * Outlier detection decisions (src/health/outlier.ts) and the slow-start
 * factor (src/health/slow-start.ts): pure functions.
 */
import { describe, expect, it } from 'vitest';
import {
  ejectionCap,
  ejectionDurationMs,
  ejectionTrigger,
  slowStartPermille,
} from '../../../../src/health/index.ts';

describe('ejectionTrigger', () => {
  const thresholds = { consecutive5xx: 5, consecutiveGatewayFailure: 3 };

  it('fires at the threshold, not below', () => {
    expect(ejectionTrigger(thresholds, 4, 0)).toBeNull();
    expect(ejectionTrigger(thresholds, 5, 0)).toBe('consecutive5xx');
    expect(ejectionTrigger(thresholds, 0, 3)).toBe('consecutiveGatewayFailure');
  });

  it('ignores a trigger set to 0', () => {
    expect(ejectionTrigger({ consecutive5xx: 0, consecutiveGatewayFailure: 0 }, 100, 100)).toBeNull();
  });
});

describe('ejectionCap', () => {
  it('never ejects a lone target', () => {
    expect(ejectionCap(1, 100)).toBe(0);
    expect(ejectionCap(0, 100)).toBe(0);
  });

  it('always allows one when the group has two or more targets, even at 0%', () => {
    expect(ejectionCap(2, 0)).toBe(1);
    expect(ejectionCap(10, 5)).toBe(1);
  });

  it('rounds the percentage of registered targets down', () => {
    expect(ejectionCap(4, 50)).toBe(2);
    expect(ejectionCap(5, 50)).toBe(2);
    expect(ejectionCap(10, 100)).toBe(10);
  });
});

describe('ejectionDurationMs', () => {
  it('multiplies the base by the number of ejections, capped at the maximum', () => {
    expect([1, 2, 3, 20].map((n) => ejectionDurationMs(30_000, 300_000, n))).toEqual([
      30_000, 60_000, 90_000, 300_000,
    ]);
  });
});

describe('slowStartPermille', () => {
  it('starts at 10%, rises linearly in 5% steps, ends at 100%', () => {
    expect(slowStartPermille(0, 30_000)).toBe(100);
    expect(slowStartPermille(15_000, 30_000)).toBe(550);
    expect(slowStartPermille(29_999, 30_000)).toBe(950);
    expect(slowStartPermille(30_000, 30_000)).toBe(1000);
  });

  it('never decreases as time passes', () => {
    let last = 0;
    for (let ms = 0; ms <= 31_000; ms += 250) {
      const permille = slowStartPermille(ms, 30_000);
      expect(permille).toBeGreaterThanOrEqual(last);
      last = permille;
    }
  });

  it('is full at once when the window is 0', () => {
    expect(slowStartPermille(0, 0)).toBe(1000);
  });
});
