import { describe, expect, it } from 'vitest';
import { ELIGIBLE_ROUTABLE } from '../../../../workers/balance/index.ts';
import { countPicks, makeBalancer, makeGroup } from '../../../conformance/balancer.case.ts';

describe('LeastConnections', () => {
  describe('when one target holds many connections', () => {
    it('avoids it', () => {
      const group = makeGroup([
        { activeConnections: 3 },
        { activeConnections: 50 },
        { activeConnections: 3 },
      ]);
      const counts = countPicks(makeBalancer('least_connections', group), group.view, 1_000);
      expect(counts.has(1)).toBe(false);
    });

    it('picks the single least loaded target every time', () => {
      const group = makeGroup([{ activeConnections: 4 }, { activeConnections: 9 }, { activeConnections: 2 }]);
      const counts = countPicks(makeBalancer('least_connections', group), group.view, 100);
      expect([...counts.entries()]).toEqual([[2, 100]]);
    });
  });

  describe('when targets tie', () => {
    it('spreads simultaneous picks over the tied targets', () => {
      const group = makeGroup([{}, {}, {}, {}]);
      const counts = countPicks(makeBalancer('least_connections', group), group.view, 4_000);
      for (const slot of [0, 1, 2, 3]) expect(counts.get(slot)).toBeGreaterThan(900);
    });

    it('gives a tied target after a busier one a larger share of ties (random start, not reservoir sampling)', () => {
      const group = makeGroup([{}, {}, {}, {}, { activeConnections: 1 }]);
      const counts = countPicks(makeBalancer('least_connections', group), group.view, 5_000);
      expect(counts.has(4)).toBe(false);
      for (const slot of [1, 2, 3]) expect(counts.get(slot)).toBeGreaterThan(800);
      expect(counts.get(0)).toBeGreaterThan(1_700);
    });
  });

  describe('when weights differ', () => {
    it('compares connections per unit of weight', () => {
      // (10 + 1) / 10 = 1.1 beats (2 + 1) / 1 = 3.
      const group = makeGroup([
        { activeConnections: 2, weight: 1 },
        { activeConnections: 10, weight: 10 },
      ]);
      const balancer = makeBalancer('least_connections', group);
      expect(balancer.pick(group.view, 0, 0, ELIGIBLE_ROUTABLE)).toBe(1);
    });

    it('prefers the heavier of two idle targets', () => {
      const group = makeGroup([{ weight: 1 }, { weight: 10 }]);
      const counts = countPicks(makeBalancer('least_connections', group), group.view, 50);
      expect([...counts.entries()]).toEqual([[1, 50]]);
    });
  });

  describe('when a counter is negative (a bug elsewhere)', () => {
    it('treats it as zero rather than letting it win every pick', () => {
      const group = makeGroup([{ activeConnections: -100 }, {}]);
      const counts = countPicks(makeBalancer('least_connections', group), group.view, 2_000);
      expect(counts.get(1)).toBeGreaterThan(800);
    });
  });
});
