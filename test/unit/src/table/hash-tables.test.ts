import { afterEach, describe, expect, it } from 'vitest';
import {
  initTable,
  storeTarget,
  TARGET_STATE,
  TARGET_STATE_HEALTHY,
  TARGET_WEIGHT,
  tableBytes,
} from '../../../../proto/table-layout.ts';
import type { Topology } from '../../../../proto/thread-messages.ts';
import { buildMaglevTable, MAGLEV_TABLE_SIZE } from '../../../../src/shared/maglev.ts';
import { HashTableBuilder } from '../../../../src/table/hash-tables.ts';
import { MaglevHash } from '../../../../workers/balance/maglev-hash.ts';
import { ELIGIBLE_ROUTABLE } from '../../../../workers/balance/types.ts';

function makeTable(weights: number[]) {
  const capacity = { groupCapacity: 2, targetCapacity: 8, workerCapacity: 1 };
  const view = initTable(new SharedArrayBuffer(tableBytes(capacity)), capacity, 0);
  weights.forEach((weight, slot) => {
    storeTarget(view, slot, TARGET_STATE, TARGET_STATE_HEALTHY);
    storeTarget(view, slot, TARGET_WEIGHT, weight);
  });
  return view;
}

function topologyOf(algorithm: string, count: number): Topology {
  const members = Array.from({ length: count }, (_, slot) => ({
    slot,
    id: `10.0.0.${slot + 1}:80`,
    host: `10.0.0.${slot + 1}`,
    port: 80,
  }));
  return {
    generation: 2,
    listeners: [],
    groups: [
      {
        groupIndex: 0,
        name: 'g',
        algorithm,
        hashKey: { kind: 'source_ip', name: '' },
        members,
        connectTimeoutMs: 1000,
        responseTimeoutMs: 1000,
        hashTable: null,
        upstreamTls: null,
      },
    ],
  };
}

let builder: HashTableBuilder | null = null;
afterEach(async () => {
  await builder?.close();
  builder = null;
});

describe('HashTableBuilder', () => {
  it('attaches the same Maglev table a worker would build, for the weights in the table', async () => {
    const view = makeTable([1, 3, 2]);
    builder = new HashTableBuilder(view);
    const filled = await builder.fill(topologyOf('hash', 3));
    const hashTable = filled.groups[0]!.hashTable!;
    expect(hashTable.weights).toEqual([1, 3, 2]);
    const expected = buildMaglevTable(
      ['10.0.0.1:80', '10.0.0.2:80', '10.0.0.3:80'],
      [1, 3, 2],
      MAGLEV_TABLE_SIZE,
    );
    expect(new Int32Array(hashTable.buffer)).toEqual(expected);
  });

  it('leaves groups of other algorithms untouched', async () => {
    builder = new HashTableBuilder(makeTable([1, 1]));
    const topology = topologyOf('round_robin', 2);
    expect(await builder.fill(topology)).toBe(topology);
  });
});

describe('MaglevHash.rebuild', () => {
  const slots = Int32Array.from([0, 1, 2]);
  const ids = ['10.0.0.1:80', '10.0.0.2:80', '10.0.0.3:80'];

  describe('when given a prebuilt table for the current weights', () => {
    it('uses it instead of building its own', () => {
      const view = makeTable([1, 1, 1]);
      const balancer = new MaglevHash(0, Math.random);
      // A sentinel table that sends every key to member 2: only a balancer using it picks slot 2 for all keys.
      const sentinel = new Int32Array(MAGLEV_TABLE_SIZE).fill(2);
      balancer.rebuild(view, slots, ids, { memberTable: sentinel, weights: [1, 1, 1] });
      for (let key = 0; key < 50; key++)
        expect(balancer.pick(view, key * 7919, 0, ELIGIBLE_ROUTABLE)).toBe(2);
    });
  });

  describe('when the prebuilt table was built for other weights', () => {
    it('builds its own', () => {
      const view = makeTable([1, 1, 1]);
      const balancer = new MaglevHash(0, Math.random);
      const sentinel = new Int32Array(MAGLEV_TABLE_SIZE).fill(2);
      balancer.rebuild(view, slots, ids, { memberTable: sentinel, weights: [1, 5, 1] });
      const picked = new Set<number>();
      for (let key = 0; key < 200; key++) picked.add(balancer.pick(view, key * 7919, 0, ELIGIBLE_ROUTABLE));
      expect(picked).toEqual(new Set([0, 1, 2]));
    });
  });
});
