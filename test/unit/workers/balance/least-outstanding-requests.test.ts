import { describe, expect, it } from 'vitest';
import { ELIGIBLE_ROUTABLE } from '../../../../workers/balance/index.ts';
import { LOR_EXACT_MEMBERS_MAX } from '../../../../workers/balance/least-outstanding-requests.ts';
import { countPicks, makeBalancer, makeGroup, runClosedLoop } from '../../../conformance/balancer.case.ts';

describe('LeastOutstandingRequests', () => {
  describe(`when the group has at most ${LOR_EXACT_MEMBERS_MAX} members`, () => {
    it('picks exactly the target with the fewest requests in flight', () => {
      const group = makeGroup([{ inFlight: 7 }, { inFlight: 1 }, { inFlight: 3 }, { inFlight: 2 }]);
      const counts = countPicks(makeBalancer('least_outstanding_requests', group), group.view, 100);
      expect([...counts.entries()]).toEqual([[1, 100]]);
    });

    it('reads in-flight requests, not connections', () => {
      const group = makeGroup([
        { inFlight: 5, activeConnections: 0 },
        { inFlight: 0, activeConnections: 50 },
      ]);
      const balancer = makeBalancer('least_outstanding_requests', group);
      expect(balancer.pick(group.view, 0, 0, ELIGIBLE_ROUTABLE)).toBe(1);
    });
  });

  describe(`when the group has more than ${LOR_EXACT_MEMBERS_MAX} members (power of two choices)`, () => {
    it('never picks the one busy target, since its rival is always another member', () => {
      const specs = Array.from({ length: 32 }, (_, index) => ({ inFlight: index === 5 ? 100 : 0 }));
      const group = makeGroup(specs);
      const counts = countPicks(makeBalancer('least_outstanding_requests', group), group.view, 5_000);
      expect(counts.has(5)).toBe(false);
    });

    it('spreads picks rather than herding on the global minimum', () => {
      const specs = Array.from({ length: 32 }, (_, index) => ({ inFlight: index }));
      const group = makeGroup(specs);
      const counts = countPicks(makeBalancer('least_outstanding_requests', group), group.view, 5_000);
      expect(counts.size).toBeGreaterThan(16);
      // P2C picks the lower of two: the least loaded member wins every pair it is in (~2/32).
      expect(counts.get(0)).toBeGreaterThan(5_000 * (1.5 / 32));
    });

    it('keeps in-flight requests even under closed-loop traffic', () => {
      const group = makeGroup(Array.from({ length: 40 }, () => ({})));
      const counts = runClosedLoop(
        makeBalancer('least_outstanding_requests', group),
        group.view,
        20_000,
        200,
      );
      const shares = [...counts.values()];
      expect(Math.max(...shares) / Math.min(...shares)).toBeLessThan(1.3);
    });
  });
});
