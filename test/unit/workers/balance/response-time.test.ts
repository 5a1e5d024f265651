import { describe, expect, it } from 'vitest';
import { addTarget, TARGET_IN_FLIGHT, type TableView } from '../../../../proto/table-layout.ts';
import { IDLE_HALF_LIFE_MS, recordLatency } from '../../../../src/shared/ewma.ts';
import { createRandom } from '../../../../src/shared/random.ts';
import { type Balancer, ELIGIBLE_ROUTABLE } from '../../../../workers/balance/index.ts';
import { countPicks, makeBalancer, makeGroup } from '../../../conformance/balancer.case.ts';

/**
 * Simulated traffic in 1 ms ticks: `perMs` requests arrive each ms, each is
 * picked, held in flight for its target's current latency, then recorded
 * with recordLatency at its completion time (the injected clock).
 */
class TrafficSimulation {
  nowMs = 1_000;
  readonly latencyMsBySlot: number[];
  private readonly view: TableView;
  private readonly balancer: Balancer;
  private readonly completions: { atMs: number; slot: number; latencyMs: number }[] = [];

  constructor(view: TableView, balancer: Balancer, latencyMsBySlot: number[]) {
    this.view = view;
    this.balancer = balancer;
    this.latencyMsBySlot = latencyMsBySlot;
  }

  run(durationMs: number, perMs: number): number[] {
    const counts = this.latencyMsBySlot.map(() => 0);
    const random = createRandom(3);
    for (let tick = 0; tick < durationMs; tick++) {
      this.nowMs++;
      for (let index = this.completions.length - 1; index >= 0; index--) {
        const completion = this.completions[index]!;
        if (completion.atMs > this.nowMs) continue;
        addTarget(this.view, completion.slot, TARGET_IN_FLIGHT, -1);
        recordLatency(this.view, completion.slot, completion.latencyMs * 1_000, this.nowMs, false);
        this.completions.splice(index, 1);
      }
      for (let request = 0; request < perMs; request++) {
        const slot = this.balancer.pick(this.view, (random() * 2 ** 32) | 0, this.nowMs, ELIGIBLE_ROUTABLE);
        counts[slot]!++;
        addTarget(this.view, slot, TARGET_IN_FLIGHT, 1);
        const latencyMs = this.latencyMsBySlot[slot]!;
        this.completions.push({ atMs: this.nowMs + latencyMs, slot, latencyMs });
      }
    }
    return counts;
  }
}

describe('ResponseTime', () => {
  describe('when one target answers in 5 ms and the other in 50 ms', () => {
    it('sends the fast one at least 3x the traffic', () => {
      const group = makeGroup([{}, {}]);
      const simulation = new TrafficSimulation(group.view, makeBalancer('response_time', group), [5, 50]);
      const [fast, slow] = simulation.run(10_000, 2);
      expect(fast! / slow!).toBeGreaterThanOrEqual(3);
    });

    it('moves traffic away when the fast one turns slow', () => {
      const group = makeGroup([{}, {}]);
      const simulation = new TrafficSimulation(group.view, makeBalancer('response_time', group), [5, 50]);
      simulation.run(10_000, 2);
      simulation.latencyMsBySlot[0] = 200;
      simulation.run(30_000, 2);
      const [formerlyFast, other] = simulation.run(5_000, 2);
      expect(other! / formerlyFast!).toBeGreaterThanOrEqual(3);
    });
  });

  describe('when nothing is in flight', () => {
    it('picks the lowest latency average every time', () => {
      const group = makeGroup([{ latencyEwmaUs: 9_000 }, { latencyEwmaUs: 4_000 }, { latencyEwmaUs: 6_000 }]);
      const counts = countPicks(makeBalancer('response_time', group), group.view, 100);
      expect([...counts.entries()]).toEqual([[1, 100]]);
    });

    it('divides by weight', () => {
      const group = makeGroup([{ latencyEwmaUs: 4_000 }, { latencyEwmaUs: 6_000, weight: 2 }]);
      const balancer = makeBalancer('response_time', group);
      expect(balancer.pick(group.view, 0, 1_000, ELIGIBLE_ROUTABLE)).toBe(1);
    });
  });

  describe('when a target is unmeasured', () => {
    it('probes it first', () => {
      const group = makeGroup([{ latencyEwmaUs: 1_000 }, { latencyEwmaUs: 0 }]);
      const balancer = makeBalancer('response_time', group);
      expect(balancer.pick(group.view, 0, 1_000, ELIGIBLE_ROUTABLE)).toBe(1);
    });

    it('sends one probe at a time, not a herd', () => {
      const group = makeGroup([{ latencyEwmaUs: 1_000 }, { latencyEwmaUs: 0, inFlight: 1 }]);
      const balancer = makeBalancer('response_time', group);
      expect(balancer.pick(group.view, 0, 1_000, ELIGIBLE_ROUTABLE)).toBe(0);
    });
  });

  describe('when a slow target has been idle', () => {
    it('decays its average so it gets re-tried', () => {
      const group = makeGroup([
        { latencyEwmaUs: 10_000, latencyUpdatedMs: 1_000 },
        { latencyEwmaUs: 50_000, latencyUpdatedMs: 1_000 },
      ]);
      const balancer = makeBalancer('response_time', group);
      expect(balancer.pick(group.view, 0, 1_000 + IDLE_HALF_LIFE_MS - 1, ELIGIBLE_ROUTABLE)).toBe(0);
      // Target 0 keeps being refreshed; target 1 sits idle for 3 half-lives: 50 ms -> 6.25 ms.
      recordLatency(group.view, 0, 10_000, 1_000 + 3 * IDLE_HALF_LIFE_MS, false);
      expect(balancer.pick(group.view, 0, 1_000 + 3 * IDLE_HALF_LIFE_MS, ELIGIBLE_ROUTABLE)).toBe(1);
    });
  });
});
