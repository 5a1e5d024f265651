/**
 * TableWriter lifecycle (src/table/index.ts): the states a target gets on
 * registration, DRAINING with its slot kept, release, re-registration,
 * capacity counting draining targets, and slow-start weight scaling.
 */
import { describe, expect, it } from 'vitest';
import {
  HEADER_GENERATION,
  loadHeader,
  loadTarget,
  storeTarget,
  TARGET_CONSECUTIVE_5XX,
  TARGET_EJECTED,
  TARGET_STATE,
  TARGET_STATE_DRAINING,
  TARGET_STATE_EMPTY,
  TARGET_STATE_INITIAL,
  TARGET_STATE_UNAVAILABLE,
  TARGET_STATE_UNUSED,
  TARGET_WEIGHT,
} from '../../../../proto/table-layout.ts';
import { isProxyError } from '../../../../src/shared/errors.ts';
import {
  effectiveWeights,
  type TablePlan,
  type TableTargetGroup,
  TableWriter,
} from '../../../../src/table/index.ts';

function group(
  name: string,
  addresses: readonly string[],
  extra: Partial<TableTargetGroup> = {},
): TableTargetGroup {
  return {
    name,
    algorithm: 'round_robin',
    hashKey: { kind: 'source_ip', name: '' },
    failOpen: true,
    isHealthCheckEnabled: true,
    isInUse: true,
    connectTimeoutMs: 1000,
    responseTimeoutMs: 1000,
    targets: addresses.map((address) => ({
      address,
      host: '127.0.0.1',
      port: Number(address.split(':')[1]),
      weight: 1,
    })),
    ...extra,
  };
}

function plan(...groups: TableTargetGroup[]): TablePlan {
  return { targetGroups: groups, listeners: [] };
}

function writer(targetCapacity = 8): TableWriter {
  return new TableWriter({ groupCapacity: 4, targetCapacity, workerCapacity: 2 });
}

const stateOf = (table: TableWriter, slot: number) => loadTarget(table.view, slot, TARGET_STATE);
const weightOf = (table: TableWriter, slot: number) => loadTarget(table.view, slot, TARGET_WEIGHT);
const slotOf = (table: TableWriter, groupName: string, address: string) =>
  table.target(groupName, address)!.slot;

describe('TableWriter.publish', () => {
  it('registers targets initial with checks, unavailable without, unused without a listener', () => {
    const table = writer();
    table.publish(
      plan(
        group('checked', ['a:1']),
        group('unchecked', ['b:1'], { isHealthCheckEnabled: false }),
        group('idle', ['c:1'], { isInUse: false }),
      ),
    );
    expect(stateOf(table, slotOf(table, 'checked', 'a:1'))).toBe(TARGET_STATE_INITIAL);
    expect(stateOf(table, slotOf(table, 'unchecked', 'b:1'))).toBe(TARGET_STATE_UNAVAILABLE);
    expect(stateOf(table, slotOf(table, 'idle', 'c:1'))).toBe(TARGET_STATE_UNUSED);
  });

  it('gives a new target a clean slot (no ejection, no old failure counts)', () => {
    const table = writer(1);
    table.publish(plan(group('g', ['a:1'])));
    const slot = slotOf(table, 'g', 'a:1');
    storeTarget(table.view, slot, TARGET_EJECTED, 1);
    storeTarget(table.view, slot, TARGET_CONSECUTIVE_5XX, 9);
    table.publish(plan(group('g', [])));
    table.release('g', 'a:1');
    table.publish(plan(group('g', ['b:2'])));
    expect(slotOf(table, 'g', 'b:2')).toBe(slot);
    expect(loadTarget(table.view, slot, TARGET_EJECTED)).toBe(0);
    expect(loadTarget(table.view, slot, TARGET_CONSECUTIVE_5XX)).toBe(0);
  });

  describe('when a target is left out', () => {
    it('marks it draining with weight 0, keeps its slot and keeps it in the topology', () => {
      const table = writer();
      table.publish(plan(group('g', ['a:1', 'b:2'])));
      const slot = slotOf(table, 'g', 'b:2');
      const topology = table.publish(plan(group('g', ['a:1', 'c:3'])));
      expect(stateOf(table, slot)).toBe(TARGET_STATE_DRAINING);
      expect(weightOf(table, slot)).toBe(0);
      expect(table.target('g', 'b:2')?.isDraining).toBe(true);
      expect(table.target('g', 'b:2')?.drainGeneration).toBe(topology.generation);
      expect(topology.groups[0]?.members.map((member) => member.id).sort()).toEqual(['a:1', 'b:2', 'c:3']);
      expect(slotOf(table, 'g', 'c:3')).not.toBe(slot);
    });

    it('frees the slot on release and drops it from the topology', () => {
      const table = writer();
      table.publish(plan(group('g', ['a:1', 'b:2'])));
      const slot = slotOf(table, 'g', 'b:2');
      table.publish(plan(group('g', ['a:1'])));
      const topology = table.release('g', 'b:2');
      expect(stateOf(table, slot)).toBe(TARGET_STATE_EMPTY);
      expect(table.target('g', 'b:2')).toBeUndefined();
      expect(topology.groups[0]?.members.map((member) => member.id)).toEqual(['a:1']);
    });

    it('registers it again, on the same slot, when a later plan lists it', () => {
      const table = writer();
      table.publish(plan(group('g', ['a:1', 'b:2'])));
      const slot = slotOf(table, 'g', 'b:2');
      table.publish(plan(group('g', ['a:1'])));
      table.publish(plan(group('g', ['a:1', 'b:2'])));
      expect(slotOf(table, 'g', 'b:2')).toBe(slot);
      expect(stateOf(table, slot)).toBe(TARGET_STATE_INITIAL);
      expect(weightOf(table, slot)).toBe(1);
    });

    it('counts draining targets against the capacity and refuses a plan that does not fit, changing nothing', () => {
      const table = writer(2);
      table.publish(plan(group('g', ['a:1', 'b:2'])));
      const generation = loadHeader(table.view, HEADER_GENERATION);
      let caught: unknown;
      try {
        table.publish(plan(group('g', ['c:3', 'd:4'])));
      } catch (error) {
        caught = error;
      }
      expect(isProxyError(caught) && caught.code).toBe('FERRY_ERR_CONFIG_CAPACITY');
      expect((caught as Error).message).toBe('2 targets plus 2 still draining exceed limits.maxTargets (2)');
      expect(loadHeader(table.view, HEADER_GENERATION)).toBe(generation);
      expect(table.target('g', 'a:1')?.isDraining).toBe(false);
    });
  });
});

describe('TableWriter.drain', () => {
  it('marks a registered target draining and moves the generation', () => {
    const table = writer();
    table.publish(plan(group('g', ['a:1', 'b:2'])));
    const before = loadHeader(table.view, HEADER_GENERATION);
    expect(table.drain('g', 'a:1')).toBe('draining');
    expect(stateOf(table, slotOf(table, 'g', 'a:1'))).toBe(TARGET_STATE_DRAINING);
    expect(loadHeader(table.view, HEADER_GENERATION)).toBe(before + 2);
    expect(table.target('g', 'a:1')?.drainGeneration).toBe(before + 2);
  });

  it('says when the target is unknown or already draining', () => {
    const table = writer();
    table.publish(plan(group('g', ['a:1'])));
    expect(table.drain('g', 'nope:1')).toBe('not-found');
    expect(table.drain('other', 'a:1')).toBe('not-found');
    table.drain('g', 'a:1');
    expect(table.drain('g', 'a:1')).toBe('already-draining');
  });
});

describe('TableWriter weights', () => {
  it('scales the whole group while a member ramps, and returns to configured weights after', () => {
    const table = writer();
    table.publish(plan(group('g', ['a:1', 'b:2'])));
    const [a, b] = [slotOf(table, 'g', 'a:1'), slotOf(table, 'g', 'b:2')];
    expect(table.setSlowStart(b, 100)).toBe(true);
    expect([weightOf(table, a), weightOf(table, b)]).toEqual([100, 10]);
    table.setSlowStart(b, 550);
    expect([weightOf(table, a), weightOf(table, b)]).toEqual([100, 55]);
    table.setSlowStart(b, 1000);
    expect([weightOf(table, a), weightOf(table, b)]).toEqual([1, 1]);
  });

  it('writes nothing when a factor change does not change any stored weight', () => {
    const table = writer();
    table.publish(plan(group('g', ['a:1', 'b:2'])));
    const b = slotOf(table, 'g', 'b:2');
    table.setSlowStart(b, 100);
    const generation = loadHeader(table.view, HEADER_GENERATION);
    expect(table.setSlowStart(b, 100)).toBe(false);
    expect(loadHeader(table.view, HEADER_GENERATION)).toBe(generation);
  });

  it('keeps setWeight in configured units while the group is scaled', () => {
    const table = writer();
    table.publish(plan(group('g', ['a:1', 'b:2'])));
    const [a, b] = [slotOf(table, 'g', 'a:1'), slotOf(table, 'g', 'b:2')];
    table.setSlowStart(b, 100);
    table.setWeight(a, 2);
    expect([weightOf(table, a), weightOf(table, b)]).toEqual([200, 10]);
  });
});

describe('effectiveWeights', () => {
  it('leaves a group without a ramping member as configured', () => {
    expect(
      effectiveWeights([
        { configuredWeight: 5, slowStartPermille: 1000, isDraining: false },
        { configuredWeight: 0, slowStartPermille: 1000, isDraining: false },
      ]),
    ).toEqual([5, 0]);
  });

  it('never exceeds WEIGHT_MAX and never gives a ramping member 0', () => {
    expect(
      effectiveWeights([
        { configuredWeight: 1000, slowStartPermille: 1000, isDraining: false },
        { configuredWeight: 1, slowStartPermille: 100, isDraining: false },
      ]),
    ).toEqual([1000, 1]);
  });

  it('gives draining members 0', () => {
    expect(
      effectiveWeights([
        { configuredWeight: 3, slowStartPermille: 1000, isDraining: true },
        { configuredWeight: 3, slowStartPermille: 1000, isDraining: false },
      ]),
    ).toEqual([0, 3]);
  });
});
