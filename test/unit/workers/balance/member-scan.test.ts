import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NO_SLOT, TARGET_IN_FLIGHT, TARGET_LATENCY_EWMA_US } from '../../../../proto/table-layout.ts';
import { createRandomState } from '../../../../src/shared/random.ts';
import {
  buildAliasTable,
  drawIndex,
  drawOtherIndex,
  isEligible,
  LATENCY_COST_MAX,
  loadLatencyCost,
  MemberSampler,
  pickFirstEligible,
  pickLeastLoaded,
  snapshotMembers,
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
        const randomState = createRandomState(seed);
        for (let draw = 0; draw < 20; draw++) {
          const other = drawOtherIndex(randomState, count, firstIndex);
          expect(other).not.toBe(firstIndex);
          expect(other >= 0 && other < count).toBe(true);
        }
      }),
      { seed: 13, numRuns: 300 },
    );
  });

  it('draws every other index about equally often', () => {
    const randomState = createRandomState(3);
    const counts = [0, 0, 0, 0, 0];
    for (let draw = 0; draw < 40_000; draw++) counts[drawOtherIndex(randomState, 5, 2)]!++;
    expect(counts[2]).toBe(0);
    for (const index of [0, 1, 3, 4]) expect(Math.abs(counts[index]! / 10_000 - 1)).toBeLessThan(0.05);
  });
});

describe('drawIndex', () => {
  it('draws an index in [0, count) for any count (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1 << 20 }), fc.integer(), (count, seed) => {
        const randomState = createRandomState(seed);
        for (let draw = 0; draw < 20; draw++) {
          const index = drawIndex(randomState, count);
          expect(Number.isInteger(index) && index >= 0 && index < count).toBe(true);
        }
      }),
      { seed: 23, numRuns: 200 },
    );
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
            sampler.rebuild(Int32Array.from(weights));
            const randomState = createRandomState(seed);
            for (let draw = 0; draw < 20; draw++) {
              const first = sampler.drawIndex(randomState);
              const second = sampler.drawOtherIndex(randomState, first);
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
          weights.forEach((weight, index) => {
            expect(probability[index]).toBeCloseTo(weight / total, 9);
          });
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
    const members = snapshotMembers(group.view, group.slots, group.ids);
    // (5 + 1) / 2 = 3 ties (2 + 1) / 1 = 3: the scan from index 1 meets slot 1 first.
    expect(pickLeastLoaded(group.view, members, 1, TARGET_IN_FLIGHT, ELIGIBLE_ROUTABLE)).toBe(1);
    expect(pickLeastLoaded(group.view, members, 2, TARGET_IN_FLIGHT, ELIGIBLE_ROUTABLE)).toBe(2);
    expect(pickLeastLoaded(group.view, members, 0, TARGET_IN_FLIGHT, ELIGIBLE_ANY)).toBe(0);
  });
});

describe('snapshotMembers', () => {
  it('copies slots and clamps weights at 0', () => {
    const group = makeGroup([{ weight: 3 }, { weight: -2 }]);
    const members = snapshotMembers(group.view, group.slots, group.ids);
    expect(Array.from(members.weights)).toEqual([3, 0]);
    expect(members.slots).not.toBe(group.slots);
    expect(members.count).toBe(2);
  });

  it('rejects a slot outside the table and a missing id', () => {
    const group = makeGroup([{}]);
    expect(() => snapshotMembers(group.view, Int32Array.from([999]), ['x'])).toThrow(/outside the table/);
    expect(() => snapshotMembers(group.view, group.slots, [])).toThrow(/one id per member/);
  });
});

describe('loadLatencyCost', () => {
  it('returns saturated integers: probe 0, weight 0 last, cost = latency x (in flight + 1) / weight', () => {
    const group = makeGroup([
      { latencyEwmaUs: 0 },
      { latencyEwmaUs: 9_000, inFlight: 2, latencyUpdatedMs: 1_000 },
      { latencyEwmaUs: 2_000_000_000, inFlight: 100, latencyUpdatedMs: 1_000 },
    ]);
    expect(loadLatencyCost(group.view, 0, 1, TARGET_LATENCY_EWMA_US, 1_000)).toBe(0);
    expect(loadLatencyCost(group.view, 1, 2, TARGET_LATENCY_EWMA_US, 1_000)).toBe(13_500);
    expect(loadLatencyCost(group.view, 2, 1, TARGET_LATENCY_EWMA_US, 1_000)).toBe(LATENCY_COST_MAX);
    expect(loadLatencyCost(group.view, 1, 0, TARGET_LATENCY_EWMA_US, 1_000)).toBe(LATENCY_COST_MAX);
  });
});

describe('pickFirstEligible', () => {
  it('wraps from the start index and returns NO_SLOT after one full lap', () => {
    const group = makeGroup([{}, { state: 3 }, { state: 3 }]);
    expect(
      pickFirstEligible(
        group.view,
        snapshotMembers(group.view, group.slots, group.ids),
        1,
        ELIGIBLE_ROUTABLE,
      ),
    ).toBe(0);
    const down = makeGroup([{ state: 3 }, { state: 3 }]);
    expect(
      pickFirstEligible(down.view, snapshotMembers(down.view, down.slots, down.ids), 1, ELIGIBLE_ROUTABLE),
    ).toBe(NO_SLOT);
  });
});
