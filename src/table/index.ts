/**
 * @module src/table
 *
 * The main thread's writer of the shared table: allocates it, assigns a slot
 * to every target, publishes weights, health states and failover pointers,
 * and derives the Topology the workers receive. Thread: main. Place in the
 * flow: config -> **table** <- health/failover.
 *
 * A slot is keyed by (target group, address), so a reload that keeps a
 * target keeps its slot, counters and latency history. Multi-field updates
 * run inside the seqlock (HEADER_GENERATION odd while writing); workers
 * rebuild their balancers when it settles on a new even value.
 */
import {
  addHeader,
  GROUP_FAIL_OPEN,
  GROUP_ROUTE_TO,
  HEADER_GENERATION,
  initTable,
  loadHeader,
  loadTarget,
  storeGroup,
  storeTarget,
  TARGET_EJECTED,
  TARGET_GENERATION,
  TARGET_GROUP_INDEX,
  TARGET_STATE,
  TARGET_STATE_EMPTY,
  TARGET_STATE_HEALTHY,
  TARGET_STATE_UNAVAILABLE,
  TARGET_WEIGHT,
  type TableCapacity,
  type TableView,
  tableBytes,
} from '../../proto/table-layout.ts';
import type {
  Topology,
  TopologyGroup,
  TopologyHashKey,
  TopologyListener,
} from '../../proto/thread-messages.ts';
import { assert } from '../shared/assert.ts';
import { ProxyError } from '../shared/errors.ts';

/** What the table needs to know about a target group (a projection of the config snapshot). */
export interface TableTargetGroup {
  readonly name: string;
  readonly algorithm: string;
  readonly hashKey: TopologyHashKey;
  readonly failOpen: boolean;
  readonly isHealthCheckEnabled: boolean;
  readonly connectTimeoutMs: number;
  readonly responseTimeoutMs: number;
  readonly targets: readonly {
    readonly address: string;
    readonly host: string;
    readonly port: number;
    readonly weight: number;
  }[];
}

export interface TableListener {
  readonly name: string;
  readonly protocol: 'HTTP' | 'TCP';
  readonly host: string;
  readonly port: number;
  /** Target group of the default forward action, or null for none. */
  readonly defaultTargetGroup: string | null;
  readonly addTargetHeader: boolean;
}

export interface TablePlan {
  readonly targetGroups: readonly TableTargetGroup[];
  readonly listeners: readonly TableListener[];
}

export class TableWriter {
  readonly buffer: SharedArrayBuffer;
  readonly view: TableView;
  /** Slot per `group/address`. */
  private readonly slotByKey: Map<string, number>;
  private topology: Topology;

  constructor(capacity: TableCapacity) {
    this.buffer = new SharedArrayBuffer(tableBytes(capacity));
    this.view = initTable(this.buffer, capacity, Math.floor(Date.now() / 1000));
    this.slotByKey = new Map();
    this.topology = { generation: 0, groups: [], listeners: [] };
  }

  current(): Topology {
    return this.topology;
  }

  /**
   * Apply a plan: keep the slots of targets that stay, free the others,
   * assign new ones, and return the new Topology for the workers. Throws
   * FERRY_ERR_CONFIG_CAPACITY (before writing anything) when it does not fit.
   */
  publish(plan: TablePlan): Topology {
    const { view } = this;
    const targetCount = plan.targetGroups.reduce((sum, group) => sum + group.targets.length, 0);
    if (plan.targetGroups.length > view.groupCapacity) {
      throw new ProxyError(
        'FERRY_ERR_CONFIG_CAPACITY',
        `${plan.targetGroups.length} target groups exceed limits.maxTargetGroups (${view.groupCapacity})`,
      );
    }
    if (targetCount > view.targetCapacity) {
      throw new ProxyError(
        'FERRY_ERR_CONFIG_CAPACITY',
        `${targetCount} targets exceed limits.maxTargets (${view.targetCapacity})`,
      );
    }
    const wanted = new Set<string>();
    for (const group of plan.targetGroups)
      for (const t of group.targets) wanted.add(`${group.name}/${t.address}`);

    this.beginWrite();
    for (const [key, slot] of this.slotByKey) {
      if (wanted.has(key)) continue;
      storeTarget(view, slot, TARGET_STATE, TARGET_STATE_EMPTY);
      storeTarget(view, slot, TARGET_WEIGHT, 0);
      this.slotByKey.delete(key);
    }
    const groups: TopologyGroup[] = [];
    plan.targetGroups.forEach((group, groupIndex) => {
      storeGroup(view, groupIndex, GROUP_ROUTE_TO, groupIndex);
      storeGroup(view, groupIndex, GROUP_FAIL_OPEN, group.failOpen ? 1 : 0);
      const members = group.targets.map((target) => {
        const key = `${group.name}/${target.address}`;
        let slot = this.slotByKey.get(key);
        if (slot === undefined) {
          slot = this.allocateSlot();
          this.slotByKey.set(key, slot);
          storeTarget(view, slot, TARGET_GENERATION, (loadTarget(view, slot, TARGET_GENERATION) + 1) | 0);
          storeTarget(view, slot, TARGET_EJECTED, 0);
          // Health checking (issue 3) moves states; until then a target is routable from the start:
          // HEALTHY when checks are configured, UNAVAILABLE (ELB's "health checks disabled") when not.
          storeTarget(
            view,
            slot,
            TARGET_STATE,
            group.isHealthCheckEnabled ? TARGET_STATE_HEALTHY : TARGET_STATE_UNAVAILABLE,
          );
        }
        storeTarget(view, slot, TARGET_GROUP_INDEX, groupIndex);
        storeTarget(view, slot, TARGET_WEIGHT, target.weight);
        return { slot, id: target.address, host: target.host, port: target.port };
      });
      members.sort((a, b) => a.slot - b.slot);
      groups.push({
        groupIndex,
        name: group.name,
        algorithm: group.algorithm,
        hashKey: group.hashKey,
        members,
        connectTimeoutMs: group.connectTimeoutMs,
        responseTimeoutMs: group.responseTimeoutMs,
      });
    });
    const groupIndexByName = new Map(plan.targetGroups.map((group, index) => [group.name, index]));
    const listeners: TopologyListener[] = plan.listeners.map((listener) => ({
      name: listener.name,
      protocol: listener.protocol,
      host: listener.host,
      port: listener.port,
      defaultGroupIndex:
        listener.defaultTargetGroup === null ? -1 : (groupIndexByName.get(listener.defaultTargetGroup) ?? -1),
      isTargetHeaderOn: listener.addTargetHeader,
    }));
    const generation = this.endWrite();
    this.topology = { generation, groups, listeners };
    return this.topology;
  }

  /** Set a target's weight (a single store plus a generation bump so weighted pickers rebuild). */
  setWeight(slot: number, weight: number): void {
    this.beginWrite();
    storeTarget(this.view, slot, TARGET_WEIGHT, weight);
    this.endWrite();
  }

  /** Make main's writes visible as one step: generation odd while writing. */
  private beginWrite(): void {
    const generation = loadHeader(this.view, HEADER_GENERATION);
    assert((generation & 1) === 0, 'table write already in progress');
    addHeader(this.view, HEADER_GENERATION, 1);
  }

  private endWrite(): number {
    return (addHeader(this.view, HEADER_GENERATION, 1) + 1) | 0;
  }

  private allocateSlot(): number {
    const { view } = this;
    for (let slot = 0; slot < view.targetCapacity; slot++) {
      if (loadTarget(view, slot, TARGET_STATE) !== TARGET_STATE_EMPTY) continue;
      if ([...this.slotByKey.values()].includes(slot)) continue;
      return slot;
    }
    throw new ProxyError(
      'FERRY_ERR_CONFIG_CAPACITY',
      `no free target slot (limits.maxTargets ${view.targetCapacity})`,
    );
  }
}
