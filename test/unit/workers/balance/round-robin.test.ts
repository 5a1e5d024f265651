import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  GROUP_RR_CURSOR,
  storeGroup,
  storeTarget,
  TARGET_STATE,
  TARGET_STATE_UNHEALTHY,
} from '../../../../proto/table-layout.ts';
import { ELIGIBLE_ROUTABLE } from '../../../../workers/balance/index.ts';
import { buildSmoothSequence, RR_SEQUENCE_LENGTH_MAX } from '../../../../workers/balance/round-robin.ts';
import { countPicks, makeBalancer, makeGroup, makeTable } from '../../../conformance/balancer.case.ts';

/** nginx's loop, step by step over all members: the reference the fast build must equal. */
function naiveSmoothSequence(weights: readonly number[]): number[] {
  const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
  const divisor = weights.filter((weight) => weight > 0).reduce((a, b) => gcd(a, b), 0);
  if (divisor === 0) return [];
  const reduced = weights.map((weight) => (weight > 0 ? weight / divisor : 0));
  const total = reduced.reduce((a, b) => a + b, 0);
  const current = reduced.map(() => 0);
  const sequence: number[] = [];
  for (let step = 0; step < total; step++) {
    let best = -1;
    reduced.forEach((weight, index) => {
      if (weight === 0) return;
      current[index]! += weight;
      if (best === -1 || current[index]! > current[best]!) best = index;
    });
    current[best]! -= total;
    sequence.push(best);
  }
  return sequence;
}

describe('RoundRobin', () => {
  describe('when weights are 5, 1, 1', () => {
    it('picks a a b a c a a in every cycle', () => {
      const group = makeGroup([{ weight: 5 }, { weight: 1 }, { weight: 1 }]);
      const balancer = makeBalancer('round_robin', group);
      const names = 'abc';
      const picks: string[] = [];
      for (let index = 0; index < 21; index++)
        picks.push(names[balancer.pick(group.view, 0, 0, ELIGIBLE_ROUTABLE)]!);
      expect(picks.join('')).toBe('aabacaa'.repeat(3));
    });

    it('picks the same cycle for weights 10, 2, 2 (divided by their gcd)', () => {
      const group = makeGroup([{ weight: 10 }, { weight: 2 }, { weight: 2 }]);
      const balancer = makeBalancer('round_robin', group);
      const picks = Array.from({ length: 7 }, () => balancer.pick(group.view, 0, 0, ELIGIBLE_ROUTABLE));
      expect(picks).toEqual([0, 0, 1, 0, 2, 0, 0]);
    });
  });

  describe('when two workers share one table', () => {
    it('rotates globally: 300 alternating picks over 3 equal targets give exactly 100 each', () => {
      const group = makeGroup([{}, {}, {}]);
      const workerA = makeBalancer('round_robin', group, 1);
      const workerB = makeBalancer('round_robin', group, 2);
      const counts = [0, 0, 0];
      for (let index = 0; index < 300; index++) {
        const worker = index % 2 === 0 ? workerA : workerB;
        counts[worker.pick(group.view, 0, 0, ELIGIBLE_ROUTABLE)]!++;
      }
      expect(counts).toEqual([100, 100, 100]);
    });

    it('keeps the 5, 1, 1 cycle whichever worker picks', () => {
      const group = makeGroup([{ weight: 5 }, { weight: 1 }, { weight: 1 }]);
      const workers = [makeBalancer('round_robin', group, 1), makeBalancer('round_robin', group, 2)];
      const picks = [0, 1, 1, 0, 1, 0, 0].map((worker) =>
        workers[worker]!.pick(group.view, 0, 0, ELIGIBLE_ROUTABLE),
      );
      expect(picks).toEqual([0, 0, 1, 0, 2, 0, 0]);
    });
  });

  describe('when a member is not eligible', () => {
    it('spreads its turns over the others instead of doubling its successor', () => {
      const group = makeGroup([{}, {}, {}]);
      const balancer = makeBalancer('round_robin', group);
      storeTarget(group.view, 1, TARGET_STATE, TARGET_STATE_UNHEALTHY);
      const counts = countPicks(balancer, group.view, 3_000);
      expect(counts.get(0)).toBe(1_500);
      expect(counts.get(2)).toBe(1_500);
    });

    it('finds the last eligible member even when the heavy one is down', () => {
      const group = makeGroup([{ weight: 1_000 }, { weight: 1 }]);
      const balancer = makeBalancer('round_robin', group);
      storeTarget(group.view, 0, TARGET_STATE, TARGET_STATE_UNHEALTHY);
      expect([...countPicks(balancer, group.view, 100).keys()]).toEqual([1]);
    });
  });

  describe('when the shared cursor wraps past Int32', () => {
    it('keeps the rotation unbroken across the wrap', () => {
      const view = makeTable();
      const group = makeGroup([{}, {}, {}], view);
      const balancer = makeBalancer('round_robin', group);
      storeGroup(view, 0, GROUP_RR_CURSOR, 0x7fff_fffe);
      const picks = Array.from({ length: 6 }, () => balancer.pick(view, 0, 0, ELIGIBLE_ROUTABLE));
      // Cursor 2^31 - 2 is 0 mod 3, and read unsigned it keeps counting past 2^31: slots 0 1 2 0 1 2.
      expect(picks).toEqual([0, 1, 2, 0, 1, 2]);
    });
  });
});

describe('buildSmoothSequence', () => {
  it("equals nginx's step-by-step sequence for any small weights", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 40 }), { minLength: 1, maxLength: 12 }), (weights) => {
        const sequence = buildSmoothSequence(Int32Array.from(weights), RR_SEQUENCE_LENGTH_MAX);
        expect(Array.from(sequence)).toEqual(naiveSmoothSequence(weights));
      }),
      { seed: 5, numRuns: 300 },
    );
  });

  it('returns an empty cycle when no weight is positive', () => {
    expect(buildSmoothSequence(Int32Array.from([0, 0]), RR_SEQUENCE_LENGTH_MAX).length).toBe(0);
  });

  describe('when weights sum above the length cap', () => {
    it('scales them, keeping every positive weight in the cycle and the ratios close', () => {
      const weights = Int32Array.from({ length: 200 }, (_, index) => (index === 0 ? 997 : 991));
      const sequence = buildSmoothSequence(weights, 10_000);
      expect(sequence.length).toBeLessThanOrEqual(10_000 + weights.length);
      const counts = new Array<number>(weights.length).fill(0);
      for (const member of sequence) counts[member]!++;
      expect(Math.min(...counts)).toBeGreaterThan(0);
      expect(Math.max(...counts) / Math.min(...counts)).toBeLessThan(1.05);
    });

    it('keeps every member in a bounded cycle when nearly every member has its own weight', () => {
      const weights = Int32Array.from({ length: 1_024 }, (_, index) => 1 + ((index * 7_919) % 1_000));
      const sequence = buildSmoothSequence(weights, RR_SEQUENCE_LENGTH_MAX);
      expect(sequence.length).toBeLessThanOrEqual(RR_SEQUENCE_LENGTH_MAX + weights.length);
      const counts = new Array<number>(weights.length).fill(0);
      for (const member of sequence) counts[member]!++;
      expect(Math.min(...counts)).toBeGreaterThan(0);
      // Heavier stays heavier after scaling: weight 1000 vs weight 1.
      expect(counts[weights.indexOf(1_000)]!).toBeGreaterThan(counts[weights.indexOf(1)]! * 10);
    });
  });
});
