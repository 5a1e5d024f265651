import { describe, expect, it } from 'vitest';
import { countPicks, makeBalancer, makeGroup, makeTable } from '../../../conformance/balancer.case.ts';

describe('Random', () => {
  describe('when all members are eligible', () => {
    it('spreads picks evenly whatever the weights', () => {
      const group = makeGroup([{ weight: 1 }, { weight: 10 }, { weight: 100 }, { weight: 1 }]);
      const counts = countPicks(makeBalancer('random', group), group.view, 40_000);
      for (const slot of [0, 1, 2, 3]) expect(Math.abs(counts.get(slot)! / 10_000 - 1)).toBeLessThan(0.05);
    });
  });

  describe('when most members are ineligible', () => {
    it('still finds the one eligible member on every pick', () => {
      const specs = Array.from({ length: 100 }, (_, index) => ({ state: index === 77 ? 2 : 3 }));
      const group = makeGroup(specs, makeTable(128));
      const counts = countPicks(makeBalancer('random', group), group.view, 500);
      expect([...counts.entries()]).toEqual([[77, 500]]);
    });
  });
});
