/**
 * @module test/conformance/balancer.case
 *
 * One conformance suite every balancer runs (hono's router cases): the same
 * tables, the same expectations, with explicit skips and the reason where an
 * algorithm legitimately differs. `balancer.test.ts` calls
 * `describeBalancerConformance` once per name in ALGORITHMS, so a new
 * algorithm is covered the moment it is registered.
 *
 * The fixtures at the top (shared tables, members, a closed-loop driver) are
 * also imported by the unit tests in test/unit/workers/balance/.
 *
 * Eligibility is re-stated here from the layout's words (an oracle written
 * independently of workers/balance/member-scan.ts), so a bug there cannot
 * make its own test pass.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  addTarget,
  initTable,
  loadTarget,
  NO_SLOT,
  storeTarget,
  TARGET_ACTIVE_CONNECTIONS,
  TARGET_EJECTED,
  TARGET_IN_FLIGHT,
  TARGET_LATENCY_EWMA_US,
  TARGET_LATENCY_UPDATED_MS,
  TARGET_PEAK_EWMA_US,
  TARGET_STATE,
  TARGET_STATE_DRAINING,
  TARGET_STATE_EMPTY,
  TARGET_STATE_HEALTHY,
  TARGET_STATE_INITIAL,
  TARGET_STATE_UNAVAILABLE,
  TARGET_STATE_UNHEALTHY,
  TARGET_STATE_UNUSED,
  TARGET_WEIGHT,
  type TableView,
  tableBytes,
  WEIGHT_MAX,
} from '../../proto/table-layout.ts';
import { createRandom } from '../../src/shared/random.ts';
import {
  type AlgorithmName,
  type Balancer,
  createBalancer,
  ELIGIBLE_ANY,
  ELIGIBLE_ROUTABLE,
  type RandomSource,
} from '../../workers/balance/index.ts';

// === Fixtures ===

/** What a test sets on one target; anything left out is a healthy, idle, weight-1 target. */
export interface TargetSpec {
  readonly state?: number;
  readonly weight?: number;
  readonly ejected?: boolean;
  readonly activeConnections?: number;
  readonly inFlight?: number;
  readonly latencyEwmaUs?: number;
  readonly peakEwmaUs?: number;
  readonly latencyUpdatedMs?: number;
}

/** A group of members in a table: its slots and their ids, as a worker would hand them to rebuild. */
export interface GroupFixture {
  readonly view: TableView;
  readonly slots: Int32Array;
  readonly ids: string[];
}

/** A fresh shared table, as main makes it (`new SharedArrayBuffer(tableBytes(...))` + `initTable`). */
export function makeTable(targetCapacity = 64, groupCapacity = 4, workerCapacity = 2): TableView {
  const capacity = { groupCapacity, targetCapacity, workerCapacity };
  return initTable(new SharedArrayBuffer(tableBytes(capacity)), capacity, 1_700_000_000);
}

/** Write every field of `spec` (defaults included) to `slot`. */
export function storeTargetSpec(view: TableView, slot: number, spec: TargetSpec): void {
  storeTarget(view, slot, TARGET_STATE, spec.state ?? TARGET_STATE_HEALTHY);
  storeTarget(view, slot, TARGET_WEIGHT, spec.weight ?? 1);
  storeTarget(view, slot, TARGET_EJECTED, spec.ejected === true ? 1 : 0);
  storeTarget(view, slot, TARGET_ACTIVE_CONNECTIONS, spec.activeConnections ?? 0);
  storeTarget(view, slot, TARGET_IN_FLIGHT, spec.inFlight ?? 0);
  storeTarget(view, slot, TARGET_LATENCY_EWMA_US, spec.latencyEwmaUs ?? 0);
  storeTarget(view, slot, TARGET_PEAK_EWMA_US, spec.peakEwmaUs ?? 0);
  storeTarget(view, slot, TARGET_LATENCY_UPDATED_MS, spec.latencyUpdatedMs ?? 0);
}

/** The stable id a target at `slot` gets in fixtures (`host:port`). */
export function targetId(slot: number): string {
  return `10.0.${slot >> 8}.${slot & 255}:8080`;
}

/** Members at slots firstSlot, firstSlot+1, ... with the given specs. */
export function makeGroup(specs: readonly TargetSpec[], view = makeTable(), firstSlot = 0): GroupFixture {
  const slots = new Int32Array(specs.length);
  const ids: string[] = [];
  specs.forEach((spec, index) => {
    const slot = firstSlot + index;
    storeTargetSpec(view, slot, spec);
    slots[index] = slot;
    ids.push(targetId(slot));
  });
  return { view, slots, ids };
}

/** A balancer for group 0 of `group`, rebuilt, with a seeded RandomSource. */
export function makeBalancer(
  algorithm: AlgorithmName,
  group: GroupFixture,
  seed = 1,
  groupIndex = 0,
): Balancer {
  const balancer = createBalancer(algorithm, groupIndex, createRandom(seed));
  balancer.rebuild(group.view, group.slots, group.ids);
  return balancer;
}

/** Pick `count` times with seeded key hashes; returns picks per slot (NO_SLOT counted under -1). */
export function countPicks(
  balancer: Balancer,
  view: TableView,
  count: number,
  eligibility = ELIGIBLE_ROUTABLE,
  seed = 7,
): Map<number, number> {
  const keys = createRandom(seed);
  const counts = new Map<number, number>();
  for (let index = 0; index < count; index++) {
    const slot = balancer.pick(view, randomInt32(keys), 1_000, eligibility);
    counts.set(slot, (counts.get(slot) ?? 0) + 1);
  }
  return counts;
}

/**
 * Drive a balancer like traffic does: every pick takes a connection and an
 * in-flight request on its target (as upstream/ would), and each request
 * completes `concurrency` picks later (FIFO). Returns picks per slot.
 */
export function runClosedLoop(
  balancer: Balancer,
  view: TableView,
  picks: number,
  concurrency: number,
  seed = 11,
): Map<number, number> {
  const keys = createRandom(seed);
  const outstanding: number[] = [];
  const counts = new Map<number, number>();
  for (let index = 0; index < picks; index++) {
    const slot = balancer.pick(view, randomInt32(keys), 1_000, ELIGIBLE_ROUTABLE);
    counts.set(slot, (counts.get(slot) ?? 0) + 1);
    if (slot === NO_SLOT) continue;
    addTarget(view, slot, TARGET_IN_FLIGHT, 1);
    addTarget(view, slot, TARGET_ACTIVE_CONNECTIONS, 1);
    outstanding.push(slot);
    if (outstanding.length > concurrency) {
      const done = outstanding.shift()!;
      addTarget(view, done, TARGET_IN_FLIGHT, -1);
      addTarget(view, done, TARGET_ACTIVE_CONNECTIONS, -1);
    }
  }
  return counts;
}

/** A signed int32 from a RandomSource, like a real key hash. */
export function randomInt32(random: RandomSource): number {
  return (random() * 4294967296) | 0;
}

/** The eligibility rule, restated from proto/table-layout.ts and workers/balance/types.ts. */
export function isEligibleOracle(view: TableView, slot: number, eligibility: number): boolean {
  const state = loadTarget(view, slot, TARGET_STATE);
  if (eligibility === ELIGIBLE_ANY) return state !== TARGET_STATE_EMPTY && state !== TARGET_STATE_DRAINING;
  return (
    (state === TARGET_STATE_HEALTHY || state === TARGET_STATE_UNAVAILABLE) &&
    loadTarget(view, slot, TARGET_EJECTED) === 0 &&
    loadTarget(view, slot, TARGET_WEIGHT) > 0
  );
}

/** Every target state the layout defines. */
export const ALL_TARGET_STATES = [
  TARGET_STATE_EMPTY,
  TARGET_STATE_INITIAL,
  TARGET_STATE_HEALTHY,
  TARGET_STATE_UNHEALTHY,
  TARGET_STATE_DRAINING,
  TARGET_STATE_UNUSED,
  TARGET_STATE_UNAVAILABLE,
] as const;

// === Per-algorithm differences (explicit, with reasons) ===

/** Algorithms that ignore weights by definition, with the reason. */
const UNWEIGHTED: Partial<Record<AlgorithmName, string>> = {
  random: 'random is uniform by definition (Envoy RANDOM); weighted_random is the weighted one',
};

/** Algorithms whose two candidates must be distinct (power of two choices), with the group size that triggers P2C. */
const P2C_MEMBERS_MIN: Partial<Record<AlgorithmName, number>> = {
  peak_ewma: 2,
  least_outstanding_requests: 17,
};

// === The suite ===

/** Define the conformance cases for one algorithm (call inside a test file). */
export function describeBalancerConformance(algorithm: AlgorithmName): void {
  describe(`${algorithm} (conformance)`, () => {
    describe('when members are in every state', () => {
      it('never picks an unhealthy, initial, unused, draining, empty, ejected or weight-0 target', () => {
        const group = makeGroup([
          { state: TARGET_STATE_UNHEALTHY },
          { state: TARGET_STATE_HEALTHY },
          { state: TARGET_STATE_INITIAL },
          { state: TARGET_STATE_DRAINING },
          { state: TARGET_STATE_EMPTY },
          { state: TARGET_STATE_UNUSED },
          { state: TARGET_STATE_HEALTHY, ejected: true },
          { state: TARGET_STATE_HEALTHY, weight: 0 },
          { state: TARGET_STATE_UNAVAILABLE },
        ]);
        const counts = countPicks(makeBalancer(algorithm, group), group.view, 2_000);
        expect([...counts.keys()].sort()).toEqual([1, 8]);
      });

      it('reads health on every pick, without a rebuild', () => {
        const group = makeGroup([{}, {}, {}]);
        const balancer = makeBalancer(algorithm, group);
        storeTarget(group.view, 0, TARGET_STATE, TARGET_STATE_UNHEALTHY);
        storeTarget(group.view, 2, TARGET_EJECTED, 1);
        const counts = countPicks(balancer, group.view, 500);
        expect([...counts.keys()]).toEqual([1]);
      });

      it('never picks a slot outside its members', () => {
        const view = makeTable();
        makeGroup([{}, {}, {}], view, 0);
        const group = makeGroup([{}, {}], view, 10);
        const counts = countPicks(makeBalancer(algorithm, group), view, 500);
        expect([...counts.keys()].sort()).toEqual([10, 11]);
      });
    });

    describe('when no member is eligible', () => {
      it('returns NO_SLOT', () => {
        const group = makeGroup([
          { state: TARGET_STATE_UNHEALTHY },
          { state: TARGET_STATE_DRAINING },
          { state: TARGET_STATE_HEALTHY, ejected: true },
        ]);
        const counts = countPicks(makeBalancer(algorithm, group), group.view, 200);
        expect([...counts.entries()]).toEqual([[NO_SLOT, 200]]);
      });

      it('returns NO_SLOT with no members and before the first rebuild', () => {
        const view = makeTable();
        const fresh = createBalancer(algorithm, 0, createRandom(1));
        expect(fresh.pick(view, 123, 0, ELIGIBLE_ROUTABLE)).toBe(NO_SLOT);
        expect(fresh.pick(view, 123, 0, ELIGIBLE_ANY)).toBe(NO_SLOT);
        const empty = makeBalancer(algorithm, makeGroup([], view));
        expect(empty.pick(view, 123, 0, ELIGIBLE_ANY)).toBe(NO_SLOT);
      });
    });

    describe('when failing open (ELIGIBLE_ANY)', () => {
      it('picks an unhealthy, initial or ejected target, never a draining or empty one', () => {
        const group = makeGroup([
          { state: TARGET_STATE_UNHEALTHY },
          { state: TARGET_STATE_DRAINING },
          { state: TARGET_STATE_INITIAL },
          { state: TARGET_STATE_EMPTY },
          { state: TARGET_STATE_HEALTHY, ejected: true },
        ]);
        const counts = countPicks(makeBalancer(algorithm, group), group.view, 1_000, ELIGIBLE_ANY);
        expect(counts.has(NO_SLOT)).toBe(false);
        expect(counts.has(1)).toBe(false);
        expect(counts.has(3)).toBe(false);
        expect(counts.size).toBeGreaterThan(0);
      });

      it('reaches weight-0 members when nothing else is assigned', () => {
        const group = makeGroup([
          { state: TARGET_STATE_UNHEALTHY, weight: 0 },
          { state: TARGET_STATE_DRAINING },
        ]);
        const counts = countPicks(makeBalancer(algorithm, group), group.view, 100, ELIGIBLE_ANY);
        expect([...counts.entries()]).toEqual([[0, 100]]);
      });

      it('returns NO_SLOT when every member is draining or empty', () => {
        const group = makeGroup([{ state: TARGET_STATE_DRAINING }, { state: TARGET_STATE_EMPTY }]);
        const counts = countPicks(makeBalancer(algorithm, group), group.view, 100, ELIGIBLE_ANY);
        expect([...counts.entries()]).toEqual([[NO_SLOT, 100]]);
      });
    });

    describe('when weights differ', () => {
      const reason = UNWEIGHTED[algorithm];
      for (const weights of [
        [1, 3],
        [1, 2, 5],
        [...Array.from({ length: 19 }, () => 1), 5],
      ]) {
        it.skipIf(reason !== undefined)(
          `gives each member its weight's share over a long run (${weights.length} members) ${reason ?? ''}`,
          () => {
            const specs = weights.map((weight) => ({ weight, latencyEwmaUs: 10_000, peakEwmaUs: 10_000 }));
            const group = makeGroup(specs);
            const picks = 20_000;
            const counts = runClosedLoop(
              makeBalancer(algorithm, group),
              group.view,
              picks,
              8 * weights.length,
            );
            const weightTotal = weights.reduce((sum, weight) => sum + weight, 0);
            weights.forEach((weight, slot) => {
              const shareOfWeight = (counts.get(slot) ?? 0) / picks / (weight / weightTotal);
              expect(shareOfWeight, `slot ${slot}`).toBeGreaterThan(0.85);
              expect(shareOfWeight, `slot ${slot}`).toBeLessThan(1.15);
            });
          },
        );
      }
    });

    describe('when tables are random (property)', () => {
      it('picks only eligible members, never throws, and returns NO_SLOT iff none is eligible', () => {
        const targetArbitrary = fc.record({
          state: fc.constantFrom(...ALL_TARGET_STATES),
          weight: fc.oneof(
            fc.constant(0),
            fc.integer({ min: 1, max: 4 }),
            fc.integer({ min: 0, max: WEIGHT_MAX }),
          ),
          ejected: fc.boolean(),
          activeConnections: fc.integer({ min: 0, max: 1_000 }),
          inFlight: fc.integer({ min: 0, max: 1_000 }),
          latencyEwmaUs: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 2_000_000 })),
          peakEwmaUs: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 2_000_000 })),
          latencyUpdatedMs: fc.integer({ min: -2_000_000_000, max: 2_000_000_000 }),
        });
        fc.assert(
          fc.property(
            fc.array(targetArbitrary, { minLength: 0, maxLength: 40 }),
            fc.array(fc.tuple(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), fc.integer()), {
              minLength: 1,
              maxLength: 20,
            }),
            fc.constantFrom(ELIGIBLE_ROUTABLE, ELIGIBLE_ANY),
            fc.integer({ min: 0, max: 2 ** 31 - 1 }),
            (specs, requests, eligibility, seed) => {
              const group = makeGroup(specs, makeTable(48));
              const balancer = makeBalancer(algorithm, group, seed);
              const hasEligible = Array.from(group.slots).some((slot) =>
                isEligibleOracle(group.view, slot, eligibility),
              );
              for (const [keyHash, nowMs] of requests) {
                const slot = balancer.pick(group.view, keyHash, nowMs | 0, eligibility);
                if (!hasEligible) {
                  expect(slot).toBe(NO_SLOT);
                  continue;
                }
                expect(group.slots).toContain(slot);
                expect(isEligibleOracle(group.view, slot, eligibility)).toBe(true);
              }
            },
          ),
          { seed: 20_240_601, numRuns: 150 },
        );
      });

      const p2cMembersMin = P2C_MEMBERS_MIN[algorithm];
      it.skipIf(p2cMembersMin === undefined)(
        `never lets the one overloaded member win, since its rival is always another member${p2cMembersMin === undefined ? ' (not a P2C algorithm)' : ''}`,
        () => {
          // If both draws could land on the same member, the overloaded one
          // would win ~1/n^2 of picks; 8n^2 picks expect 8 such wins.
          const membersMin = p2cMembersMin ?? 2;
          fc.assert(
            fc.property(
              fc.integer({ min: membersMin, max: membersMin + 10 }),
              fc.nat(),
              fc.nat(),
              (memberCount, loadedSeed, seed) => {
                const loadedIndex = loadedSeed % memberCount;
                const specs = Array.from({ length: memberCount }, (_, index) => ({
                  inFlight: index === loadedIndex ? 1_000 : 0,
                  latencyEwmaUs: 1_000,
                  peakEwmaUs: 1_000,
                  latencyUpdatedMs: 1_000,
                }));
                const group = makeGroup(specs);
                const counts = countPicks(
                  makeBalancer(algorithm, group, seed),
                  group.view,
                  8 * memberCount ** 2,
                );
                expect(counts.has(group.slots[loadedIndex]!)).toBe(false);
              },
            ),
            { seed: 7, numRuns: 20 },
          );
        },
      );
    });
  });
}
