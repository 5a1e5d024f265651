import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NO_SLOT, TARGET_IN_FLIGHT } from '../../../../proto/table-layout.ts';
import { createRandom } from '../../../../src/shared/random.ts';
import {
  buildAliasTable,
  drawIndex,
  drawOtherIndex,
  isEligible,
  MemberSampler,
  pickFirstEligible,
  pickLeastLoaded,
} from '../../../../workers/balance/member-scan.ts';
import { ELIGIBLE_ANY, ELIGIBLE_ROUTABLE } from '../../../../workers/balance/types.ts';
import { ALL_TARGET_STATES, isEligibleOracle, makeGroup } from '../../../conformance/balancer.case.ts';

describe('isEligible', () => {
  it('agrees with the layout rule for every state, ejection, weight and eligibility', () => {
    const specs = ALL_TARGET_STATES.flatMap((state) =>
      [0, 1].flatMap((weight) => [false, true].map((ejected) => ({ state, weight, ejected }))),
    );
    const group = makeGroup(specs);
    for (const slot of group.slots) {
      for (const eligibility of [ELIGIBLE_ROUTABLE, ELIGIBLE_ANY]) {
        expect(isEligible(group.view, slot, eligibility)).toBe(
          isEligibleOracle(group.view, slot, eligibility),
        );
      }
    }
  });
});

describe('drawOtherIndex', () => {
  it('draws an index in range and distinct from the first (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 2_000 }), fc.nat(), fc.nat(), (count, firstSeed, seed) => {
        const firstIndex = firstSeed % count;
        const random = createRandom(seed);
        for (let draw = 0; draw < 20; draw++) {
          const other = drawOtherIndex(random, count, firstIndex);
          expect(other).not.toBe(firstIndex);
          expect(other >= 0 && other < count).toBe(true);
        }
      }),
      { seed: 13, numRuns: 300 },
    );
  });

  it('draws every other index about equally often', () => {
    const random = createRandom(3);
    const counts = [0, 0, 0, 0, 0];
    for (let draw = 0; draw < 40_000; draw++) counts[drawOtherIndex(random, 5, 2)]!++;
    expect(counts[2]).toBe(0);
    for (const index of [0, 1, 3, 4]) expect(Math.abs(counts[index]! / 10_000 - 1)).toBeLessThan(0.05);
  });
});

describe('drawIndex', () => {
  it('stays in range even when the random source breaks its contract', () => {
    expect(drawIndex(() => 1, 4)).toBe(0);
    expect(drawIndex(() => -0.5, 4)).toBe(0);
    expect(drawIndex(() => Number.NaN, 4)).toBe(0);
  });
});

describe('MemberSampler', () => {
  describe('when weights differ', () => {
    it('draws two distinct indices, the second also by weight (property)', () => {
      fc.assert(
        fc.property(
          fc.array(fc.integer({ min: 0, max: 50 }), { minLength: 2, maxLength: 30 }),
          fc.nat(),
          (weights, seed) => {
            const sampler = new MemberSampler();
            sampler.rebuild(Float64Array.from(weights));
            const random = createRandom(seed);
            for (let draw = 0; draw < 20; draw++) {
              const first = sampler.drawIndex(random);
              const second = sampler.drawOtherIndex(random, first);
              expect(second).not.toBe(first);
              expect(second >= 0 && second < weights.length).toBe(true);
              if (weights.some((weight) => weight > 0)) expect(weights[first]).toBeGreaterThan(0);
            }
          },
        ),
        { seed: 17, numRuns: 200 },
      );
    });
  });
});

describe('buildAliasTable', () => {
  it('encodes exactly each weight share (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 1_000 }), { minLength: 1, maxLength: 40 }),
        (weights) => {
          const keepShare = new Float64Array(weights.length);
          const alias = new Int32Array(weights.length);
          const total = weights.reduce((sum, weight) => sum + weight, 0);
          const isBuilt = buildAliasTable(Float64Array.from(weights), keepShare, alias);
          expect(isBuilt).toBe(total > 0);
          if (!isBuilt) return;
          const probability = new Array<number>(weights.length).fill(0);
          for (let column = 0; column < weights.length; column++) {
            probability[column]! += keepShare[column]! / weights.length;
            probability[alias[column]!]! += (1 - keepShare[column]!) / weights.length;
          }
          weights.forEach((weight, index) => expect(probability[index]).toBeCloseTo(weight / total, 9));
        },
      ),
      { seed: 19, numRuns: 300 },
    );
  });
});

describe('pickLeastLoaded', () => {
  it('returns the exact minimum of (load + 1) / weight among eligible members', () => {
    const group = makeGroup([
      { inFlight: 0, state: 3 },
      { inFlight: 5, weight: 2 },
      { inFlight: 2, weight: 1 },
    ]);
    // (5 + 1) / 2 = 3 ties (2 + 1) / 1 = 3: the scan from index 1 meets slot 1 first.
    expect(pickLeastLoaded(group.view, group.slots, 3, 1, TARGET_IN_FLIGHT, ELIGIBLE_ROUTABLE)).toBe(1);
    expect(pickLeastLoaded(group.view, group.slots, 3, 2, TARGET_IN_FLIGHT, ELIGIBLE_ROUTABLE)).toBe(2);
    expect(pickLeastLoaded(group.view, group.slots, 3, 0, TARGET_IN_FLIGHT, ELIGIBLE_ANY)).toBe(0);
  });
});

describe('pickFirstEligible', () => {
  it('wraps from the start index and returns NO_SLOT after one full lap', () => {
    const group = makeGroup([{}, { state: 3 }, { state: 3 }]);
    expect(pickFirstEligible(group.view, group.slots, 3, 1, ELIGIBLE_ROUTABLE)).toBe(0);
    const down = makeGroup([{ state: 3 }, { state: 3 }]);
    expect(pickFirstEligible(down.view, down.slots, 2, 1, ELIGIBLE_ROUTABLE)).toBe(NO_SLOT);
  });
});
