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
    // Distinct candidates (the busy member never wins) are a conformance case: test/conformance/balancer.case.ts.
    it('spreads picks rather than herding on the global minimum', () => {
      const specs = Array.from({ length: 32 }, (_, index) => ({ inFlight: index }));
      const group = makeGroup(specs);
      const counts = countPicks(makeBalancer('least_outstanding_requests', group), group.view, 5_000);
      expect(counts.size).toBeGreaterThan(16);
      // P2C picks the lower of two: the least loaded member wins every pair it is in (~2/32).
      expect(counts.get(0)).toBeGreaterThan(5_000 * (1.5 / 32));
    });

    it('keeps every target within 6% of the mean share under closed-loop traffic', () => {
      const group = makeGroup(Array.from({ length: 40 }, () => ({})));
      const counts = runClosedLoop(
        makeBalancer('least_outstanding_requests', group),
        group.view,
        20_000,
        200,
      );
      // P2C over in-flight keeps shares within ~4% of the mean here (seeded); uniform random, which
      // the old max/min < 1.3 let pass, strays 11-14%.
      expect(counts.size).toBe(40);
      for (const [slot, count] of counts)
        expect(Math.abs(count / 500 - 1), `slot ${slot}`).toBeLessThan(0.06);
    });
  });
});
