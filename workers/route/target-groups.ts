/**
 * @module workers/route/target-groups
 *
 * The worker's view of its target groups: one Balancer per group, the slot ->
 * target address map, and the **pick** phase (failover redirect, balancer,
 * fail-open). Thread: worker. Place in the flow: route -> **pick** -> connect.
 *
 * Topology (who is in which group) arrives by message when config is applied;
 * live state (health, weights, failover) is read from the shared table on
 * every pick. When main moves HEADER_GENERATION (even = stable), the next
 * pick rebuilds the balancers from the table's current weights and records
 * the generation it observed in this worker's row, which is how main knows
 * that every worker has seen a change.
 */

import {
  addGroup,
  GROUP_FAIL_OPEN,
  GROUP_FAIL_OPEN_TOTAL,
  GROUP_NO_TARGET_TOTAL,
  GROUP_ROUTE_TO,
  HEADER_GENERATION,
  loadGroup,
  loadHeader,
  NO_SLOT,
  notifyWorker,
  storeWorker,
  type TableView,
  WORKER_OBSERVED_GENERATION,
  waitHeaderAsync,
} from '../../proto/table-layout.ts';
import type { Topology, TopologyGroup, TopologyTarget } from '../../proto/thread-messages.ts';
import { GENERATION_WAIT_MS } from '../../src/shared/limits.ts';
import { createRandom } from '../../src/shared/random.ts';
import {
  type Balancer,
  createGroupBalancer,
  ELIGIBLE_ANY,
  ELIGIBLE_ROUTABLE,
  type PrebuiltLookup,
} from '../balance/index.ts';
import { PICK_BALANCED, PICK_FAIL_OPEN, PICK_NONE, PICK_STANDBY, type PickOutcome } from './pick.ts';

interface GroupRuntime {
  readonly group: TopologyGroup;
  readonly balancer: Balancer;
  readonly memberSlots: Int32Array;
  readonly memberIds: readonly string[];
  /** Main's prebuilt lookup table (hash groups), or null. */
  readonly prebuilt: PrebuiltLookup | null;
}

export class TargetGroups {
  private readonly view: TableView;
  private readonly workerIndex: number;
  private readonly random: () => number;
  private groups: GroupRuntime[];
  private targetsBySlot: Map<number, TopologyTarget>;
  private observedGeneration: number;
  /** True between watchGeneration and unwatchGeneration. */
  private isWatching: boolean;

  constructor(view: TableView, workerIndex: number, topology: Topology) {
    this.view = view;
    this.workerIndex = workerIndex;
    this.random = createRandom((Date.now() ^ (workerIndex * 0x9e3779b9)) >>> 0);
    this.groups = [];
    this.targetsBySlot = new Map();
    this.observedGeneration = -1;
    this.isWatching = false;
    this.apply(topology);
  }

  /** Replace the topology (config applied). Allocates; control-plane message time only. */
  apply(topology: Topology): void {
    const groups: GroupRuntime[] = [];
    const targetsBySlot = new Map<number, TopologyTarget>();
    for (const group of topology.groups) {
      const memberSlots = Int32Array.from(group.members, (member) => member.slot);
      const memberIds = group.members.map((member) => member.id);
      for (const member of group.members) targetsBySlot.set(member.slot, member);
      // Zones wrap the algorithm (workers/balance/zone-aware.ts) when the group asks for them.
      const balancer = createGroupBalancer(group, this.random);
      const prebuilt =
        group.hashTable === null
          ? null
          : { memberTable: new Int32Array(group.hashTable.buffer), weights: group.hashTable.weights };
      groups[group.groupIndex] = { group, balancer, memberSlots, memberIds, prebuilt };
    }
    this.groups = groups;
    this.targetsBySlot = targetsBySlot;
    this.observedGeneration = -1;
    this.refresh();
  }

  /** Target at a slot in the current topology, or undefined if the slot is not assigned. */
  targetAt(slot: number): TopologyTarget | undefined {
    return this.targetsBySlot.get(slot);
  }

  group(groupIndex: number): TopologyGroup | undefined {
    return this.groups[groupIndex]?.group;
  }

  /** Slots currently assigned in this worker's topology (for pool clean-up). */
  slots(): IterableIterator<number> {
    return this.targetsBySlot.keys();
  }

  /**
   * Balance: follow the group's failover pointer, ask its balancer for a
   * routable slot, else fail open if the group allows it. Writes slot,
   * target, serving group and PICK_* into `out` and returns the slot (or
   * NO_SLOT). Called only through Router.pick, which wraps it with
   * stickiness. Synchronous; allocates nothing unless the table generation
   * moved.
   */
  balance(out: PickOutcome, groupIndex: number, keyHash: number, nowMs: number): number {
    const generation = loadHeader(this.view, HEADER_GENERATION);
    if (generation !== this.observedGeneration && (generation & 1) === 0) this.refresh();
    const routeTo = loadGroup(this.view, groupIndex, GROUP_ROUTE_TO);
    const runtime = this.groups[routeTo] ?? this.groups[groupIndex];
    if (runtime === undefined) return pickedNothing(out, null);
    const servingIndex = runtime.group.groupIndex;
    out.group = runtime.group;
    let slot = runtime.balancer.pick(this.view, keyHash, nowMs, ELIGIBLE_ROUTABLE);
    if (slot !== NO_SLOT) return this.picked(out, slot, PICK_BALANCED);
    // Failover before fail-open (issue 10): a standby with a routable target serves at once,
    // instead of spreading requests over targets known to be down until `failover.after`.
    const standbyIndex = runtime.group.standbyGroupIndex ?? -1;
    const standby = standbyIndex >= 0 && routeTo === groupIndex ? this.groups[standbyIndex] : undefined;
    if (standby !== undefined && loadGroup(this.view, standbyIndex, GROUP_ROUTE_TO) === standbyIndex) {
      slot = standby.balancer.pick(this.view, keyHash, nowMs, ELIGIBLE_ROUTABLE);
      if (slot !== NO_SLOT) {
        out.group = standby.group;
        return this.picked(out, slot, PICK_STANDBY);
      }
    }
    if (loadGroup(this.view, servingIndex, GROUP_FAIL_OPEN) === 1) {
      slot = runtime.balancer.pick(this.view, keyHash, nowMs, ELIGIBLE_ANY);
      if (slot !== NO_SLOT) {
        addGroup(this.view, servingIndex, GROUP_FAIL_OPEN_TOTAL, 1);
        return this.picked(out, slot, PICK_FAIL_OPEN);
      }
    }
    addGroup(this.view, servingIndex, GROUP_NO_TARGET_TOTAL, 1);
    return pickedNothing(out, runtime.group);
  }

  /** Land a picked slot in `out` (the serving group is already there). */
  picked(out: PickOutcome, slot: number, pickKind: number): number {
    out.slot = slot;
    out.target = this.targetsBySlot.get(slot) ?? null;
    out.pickKind = pickKind;
    return slot;
  }

  /** Called from the worker tick, so an idle worker still acknowledges a generation (failover waits for it). */
  observe(): void {
    const generation = loadHeader(this.view, HEADER_GENERATION);
    if (generation !== this.observedGeneration && (generation & 1) === 0) this.refresh();
  }

  /**
   * Acknowledge each generation as soon as main publishes it, even with no
   * traffic: wait on HEADER_GENERATION with Atomics.waitAsync (main notifies
   * after every table write), observe, wait again. Without it an idle worker
   * acknowledges at its next tick, and a failover's wait for every worker
   * (src/failover) takes up to TICK_MS instead of well under a millisecond.
   * The wait never blocks the event loop and does not keep the thread alive.
   */
  watchGeneration(): void {
    if (this.isWatching) return;
    this.isWatching = true;
    this.armGenerationWait();
  }

  /** Stop watching; a pending wait ends within GENERATION_WAIT_MS and does not re-arm. */
  unwatchGeneration(): void {
    this.isWatching = false;
  }

  private armGenerationWait(): void {
    if (!this.isWatching) return;
    const generation = loadHeader(this.view, HEADER_GENERATION);
    const wait = waitHeaderAsync(this.view, HEADER_GENERATION, generation, GENERATION_WAIT_MS);
    if (wait.async) void wait.value.then(this.onGenerationWake);
    else setImmediate(this.onGenerationWake);
  }

  private readonly onGenerationWake = (): void => {
    if (!this.isWatching) return;
    this.observe();
    this.armGenerationWait();
  };

  /** Rebuild balancers from the table (weights changed or topology applied) and report the generation seen. */
  refresh(): void {
    const generation = loadHeader(this.view, HEADER_GENERATION);
    if ((generation & 1) === 1) return; // main is mid-write; the next pick retries
    for (const runtime of this.groups) {
      if (runtime !== undefined)
        runtime.balancer.rebuild(this.view, runtime.memberSlots, runtime.memberIds, runtime.prebuilt);
    }
    this.observedGeneration = generation;
    storeWorker(this.view, this.workerIndex, WORKER_OBSERVED_GENERATION, generation);
    // Main may be waiting for this acknowledgement (a failover): wake it rather than make it poll.
    notifyWorker(this.view, this.workerIndex, WORKER_OBSERVED_GENERATION);
  }
}

/** Land "no target" in `out`. Returns NO_SLOT. */
function pickedNothing(out: PickOutcome, group: TopologyGroup | null): number {
  out.slot = NO_SLOT;
  out.target = null;
  out.group = group;
  out.pickKind = PICK_NONE;
  return NO_SLOT;
}
