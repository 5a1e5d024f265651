import { describe, expect, it } from 'vitest';
import { TARGET_STATE_UNHEALTHY } from '../../../../proto/table-layout.ts';
import { countPicks, makeBalancer, makeGroup } from '../../../conformance/balancer.case.ts';

describe('WeightedRandom', () => {
  describe('when weights differ', () => {
    it('draws each member in proportion to its weight', () => {
      const group = makeGroup([{ weight: 1 }, { weight: 2 }, { weight: 7 }]);
      const counts = countPicks(makeBalancer('weighted_random', group), group.view, 50_000);
      expect(Math.abs(counts.get(0)! / 5_000 - 1)).toBeLessThan(0.06);
      expect(Math.abs(counts.get(1)! / 10_000 - 1)).toBeLessThan(0.05);
      expect(Math.abs(counts.get(2)! / 35_000 - 1)).toBeLessThan(0.03);
    });
  });

  describe('when a heavy member is down', () => {
    it('spreads its share over the others by their weights', () => {
      const group = makeGroup([{ weight: 1 }, { weight: 3 }, { weight: 6, state: TARGET_STATE_UNHEALTHY }]);
      const counts = countPicks(makeBalancer('weighted_random', group), group.view, 40_000);
      expect(counts.has(2)).toBe(false);
      expect(Math.abs(counts.get(1)! / counts.get(0)! / 3 - 1)).toBeLessThan(0.1);
    });
  });
});
