import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { storeTarget, TARGET_STATE, TARGET_STATE_UNHEALTHY } from '../../../../proto/table-layout.ts';
import { hashString } from '../../../../src/shared/hash.ts';
import { buildMaglevTable, MAGLEV_TABLE_SIZE } from '../../../../src/shared/maglev.ts';
import { createRandom } from '../../../../src/shared/random.ts';
import { type Balancer, ELIGIBLE_ROUTABLE } from '../../../../workers/balance/index.ts';
import { MaglevHash } from '../../../../workers/balance/maglev-hash.ts';
import {
  type GroupFixture,
  makeBalancer,
  makeGroup,
  makeTable,
  randomInt32,
  targetId,
} from '../../../conformance/balancer.case.ts';

const KEYS = Array.from({ length: 1_000 }, (_, index) => hashString(`client-${index}`));

/** The target id each key reaches (ids, not slots, so different slot layouts compare). */
function idsForKeys(balancer: Balancer, group: GroupFixture, keys: readonly number[]): string[] {
  return keys.map((key) => {
    const slot = balancer.pick(group.view, key, 0, ELIGIBLE_ROUTABLE);
    return group.ids[group.slots.indexOf(slot)]!;
  });
}

function movedShare(before: readonly string[], after: readonly string[]): number {
  return before.filter((id, index) => id !== after[index]).length / before.length;
}

describe('MaglevHash', () => {
  describe('when the same members are seen twice', () => {
    // Through two real worker threads, and across a restart and a live add, end to end:
    // test/integration/balancing.test.ts ('hash'). Here, the balancer on its own.
    it('maps 1,000 keys identically from another instance (another seed) and after a fresh rebuild', () => {
      const group = makeGroup([{}, {}, {}, {}, {}]);
      const workerA = makeBalancer('hash', group, 1);
      const workerB = makeBalancer('hash', group, 2);
      const first = idsForKeys(workerA, group, KEYS);
      expect(idsForKeys(workerB, group, KEYS)).toEqual(first);
      workerA.rebuild(group.view, group.slots, group.ids);
      expect(idsForKeys(workerA, group, KEYS)).toEqual(first);
    });

    it('maps keys by target id, whatever slots the targets sit in (a restart)', () => {
      const before = makeGroup([{}, {}, {}, {}]);
      const restarted = makeTable();
      // Same four ids, now at slots 20..23 in reverse order.
      const slots = Int32Array.from([20, 21, 22, 23]);
      const ids = [...before.ids].reverse();
      const after: GroupFixture = { view: makeGroup([{}, {}, {}, {}], restarted, 20).view, slots, ids };
      const beforeIds = idsForKeys(makeBalancer('hash', before), before, KEYS);
      expect(idsForKeys(makeBalancer('hash', after), after, KEYS)).toEqual(beforeIds);
    });
  });

  describe('when a fifth target joins four', () => {
    it('remaps 20% +/- 5% of keys, nearly all of them to the new target', () => {
      const view = makeTable();
      const four = makeGroup([{}, {}, {}, {}], view);
      const five = makeGroup([{}, {}, {}, {}, {}], view);
      const keys = Array.from({ length: 10_000 }, (_, index) => hashString(`session-${index}`));
      const before = idsForKeys(makeBalancer('hash', four), four, keys);
      const after = idsForKeys(makeBalancer('hash', five), five, keys);
      const moved = movedShare(before, after);
      expect(moved).toBeGreaterThan(0.15);
      expect(moved).toBeLessThan(0.25);
      // Maglev is not minimally disruptive: a few keys shuffle between old targets.
      const movedTo = after.filter((id, index) => id !== before[index]);
      const toNewTarget = movedTo.filter((id) => id === targetId(4)).length;
      expect(toNewTarget / movedTo.length).toBeGreaterThan(0.9);
    });
  });

  describe('when a target becomes ineligible', () => {
    it("moves that target's keys and leaves every other key where it was", () => {
      const group = makeGroup([{}, {}, {}, {}, {}]);
      const balancer = makeBalancer('hash', group);
      const before = idsForKeys(balancer, group, KEYS);
      storeTarget(group.view, 2, TARGET_STATE, TARGET_STATE_UNHEALTHY);
      const during = idsForKeys(balancer, group, KEYS);
      const downId = targetId(2);
      expect(during).not.toContain(downId);
      before.forEach((id, index) => {
        if (id !== downId) expect(during[index]).toBe(id);
      });
      // Its keys spread over the others, not onto one neighbour.
      const movedTo = new Set(during.filter((_, index) => before[index] === downId));
      expect(movedTo.size).toBeGreaterThanOrEqual(3);
      storeTarget(group.view, 2, TARGET_STATE, 2);
      expect(idsForKeys(balancer, group, KEYS)).toEqual(before);
    });
  });

  describe('when weights differ', () => {
    it('gives each target keys in proportion to its weight', () => {
      const group = makeGroup([{ weight: 1 }, { weight: 2 }, { weight: 3 }, { weight: 4 }]);
      const balancer = makeBalancer('hash', group);
      const random = createRandom(5);
      const counts = [0, 0, 0, 0];
      for (let index = 0; index < 40_000; index++) {
        counts[balancer.pick(group.view, randomInt32(random), 0, ELIGIBLE_ROUTABLE)]!++;
      }
      counts.forEach((count, slot) => {
        expect(Math.abs(count / 4_000 / (slot + 1) - 1)).toBeLessThan(0.05);
      });
    });
  });

  describe('when built with a smaller prime table', () => {
    it('works the same way (for small groups and tests)', () => {
      const group = makeGroup([{}, {}, {}]);
      const balancer = new MaglevHash(0, Math.random, 257);
      balancer.rebuild(group.view, group.slots, group.ids);
      const ids = idsForKeys(balancer, group, KEYS);
      expect(new Set(ids).size).toBe(3);
    });
  });
});

describe('buildMaglevTable', () => {
  const ids = (count: number, offset = 0): string[] =>
    Array.from({ length: count }, (_, index) => `10.1.${(index + offset) >> 8}.${(index + offset) & 255}:80`);

  it('fills every entry with a member index', () => {
    const table = buildMaglevTable(ids(7), [1, 1, 1, 1, 1, 1, 1], MAGLEV_TABLE_SIZE);
    expect(table.length).toBe(MAGLEV_TABLE_SIZE);
    expect(table.every((member) => member >= 0 && member < 7)).toBe(true);
  });

  it('gives equal weights an equal share within one entry', () => {
    const table = buildMaglevTable(ids(5), [3, 3, 3, 3, 3], MAGLEV_TABLE_SIZE);
    const counts = [0, 0, 0, 0, 0];
    for (const member of table) counts[member]!++;
    expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
  });

  it('gives weight-0 members nothing, and all -1 when no weight is positive', () => {
    expect(buildMaglevTable(ids(3), [0, 1, 1], 257).includes(0)).toBe(false);
    expect(buildMaglevTable(ids(3), [0, 0, 0], 257).every((member) => member === -1)).toBe(true);
  });

  it('does not depend on the order members are given in', () => {
    const names = ids(6);
    const weights = [1, 2, 3, 1, 2, 3];
    const table = buildMaglevTable(names, weights, 1_009);
    const order = [5, 3, 1, 0, 2, 4];
    const shuffled = buildMaglevTable(
      order.map((index) => names[index]!),
      order.map((index) => weights[index]!),
      1_009,
    );
    expect(Array.from(shuffled, (member) => order[member])).toEqual(Array.from(table));
  });

  it('rejects a table size that is not prime', () => {
    expect(() => buildMaglevTable(ids(2), [1, 1], 65_536)).toThrow(/not a prime/);
  });

  it('remaps at most ~1/(N+1) of entries plus tolerance when one target joins N (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 24 }), fc.integer({ min: 0, max: 5_000 }), (count, offset) => {
        const before = buildMaglevTable(ids(count, offset), new Array(count).fill(1), 4_099);
        const after = buildMaglevTable(ids(count + 1, offset), new Array(count + 1).fill(1), 4_099);
        let moved = 0;
        for (let entry = 0; entry < before.length; entry++) if (before[entry] !== after[entry]) moved++;
        expect(moved / before.length).toBeLessThanOrEqual(1 / (count + 1) + 0.05);
      }),
      { seed: 11, numRuns: 60 },
    );
  });
});
