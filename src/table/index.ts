/**
 * @module src/table
 *
 * The main thread's writer of the shared table: allocates it, assigns a slot
 * to every target, publishes weights, health states, ejections and failover
 * pointers, and derives the Topology the workers receive. Thread: main. Place
 * in the flow: config -> **table** <- health/failover.
 *
 * A slot is keyed by (target group, address), so a reload that keeps a
 * target keeps its slot, counters and latency history. Multi-field updates
 * run inside the seqlock (HEADER_GENERATION odd while writing); workers
 * rebuild their balancers when it settles on a new even value.
 *
 * Target lifecycle as the table sees it (src/health decides when):
 *
 *   publish (new) --> INITIAL (checks on) | UNAVAILABLE (checks off) | UNUSED (no listener)
 *   setState ------> HEALTHY / UNHEALTHY / ... (one store; workers see it on the next pick)
 *   drain / publish without it --> DRAINING, weight 0, slot and topology kept
 *   release -------> EMPTY, slot free, gone from the topology
 *
 * A draining target keeps its slot (and stays in the topology) until
 * src/health releases it, so in-flight requests keep counting into a row no
 * new target can be given, and a worker's pooled sockets to it are closed
 * only when it leaves the topology.
 */
import { randomBytes } from 'node:crypto';
import {
  addHeader,
  GROUP_FAIL_OPEN,
  GROUP_ROUTE_TO,
  HEADER_GENERATION,
  initTable,
  loadHeader,
  loadTarget,
  notifyHeader,
  storeGroup,
  storeTarget,
  TARGET_CONSECUTIVE_5XX,
  TARGET_CONSECUTIVE_GATEWAY_FAILURES,
  TARGET_EJECTED,
  TARGET_GENERATION,
  TARGET_GROUP_INDEX,
  TARGET_LATENCY_EWMA_US,
  TARGET_LATENCY_UPDATED_MS,
  TARGET_PEAK_EWMA_US,
  TARGET_STATE,
  TARGET_STATE_DRAINING,
  TARGET_STATE_EMPTY,
  TARGET_STATE_INITIAL,
  TARGET_STATE_UNAVAILABLE,
  TARGET_STATE_UNUSED,
  TARGET_WEIGHT,
  type TableCapacity,
  type TableView,
  tableBytes,
  WEIGHT_MAX,
} from '../../proto/table-layout.ts';
import type {
  Topology,
  TopologyGroup,
  TopologyListener,
  TopologyTarget,
} from '../../proto/thread-messages.ts';
import { assert } from '../shared/assert.ts';
import { ProxyError } from '../shared/errors.ts';
import type { TablePlan, TableTargetGroup, TargetSource } from './plan.ts';

export type { IdentityFiles } from './tls-plan.ts';

import { effectiveWeights, PERMILLE_FULL } from './weights.ts';

export {
  type DiscoveredTargets,
  planFromConfig,
  type TableListener,
  type TablePlan,
  type TableTargetGroup,
  type TableTargetPlan,
  type TargetSource,
} from './plan.ts';
export { effectiveWeights, PERMILLE_FULL, SLOW_START_SCALE_MAX, type WeightInput } from './weights.ts';

/** A registered (or draining) target as the writer knows it. Read-only outside this module. */
export interface TableTarget {
  /** `group/address`: the identity a slot is kept by. */
  readonly key: string;
  readonly groupName: string;
  /** As configured (`host:port`); the name in logs, the admin API and the control port. */
  readonly address: string;
  readonly host: string;
  readonly port: number;
  readonly slot: number;
  /** Weight from config or setWeight, before slow-start scaling. */
  readonly configuredWeight: number;
  /** Slow-start factor in per-mille (PERMILLE_FULL when not ramping). */
  readonly slowStartPermille: number;
  readonly isDraining: boolean;
  /** HEADER_GENERATION published with the DRAINING mark; a worker that observed it picks the target no more. 0 when not draining. */
  readonly drainGeneration: number;
  /** The target's zone, or null. */
  readonly zone: string | null;
  /** Where the target came from (config file, control port, DNS). */
  readonly source: TargetSource;
  /** The DNS name that discovered it; null unless source is dns. */
  readonly discoveredBy: string | null;
}

/** How `drain` went; the control port maps these to its answers. */
export type DrainOutcome = 'draining' | 'already-draining' | 'not-found';

interface SlotEntry {
  key: string;
  groupName: string;
  address: string;
  host: string;
  port: number;
  slot: number;
  configuredWeight: number;
  slowStartPermille: number;
  isDraining: boolean;
  drainGeneration: number;
  zone: string | null;
  source: TargetSource;
  discoveredBy: string | null;
}

export function targetKey(groupName: string, address: string): string {
  return `${groupName}/${address}`;
}

export class TableWriter {
  readonly buffer: SharedArrayBuffer;
  readonly view: TableView;
  /** Registered and draining targets, by `group/address`. */
  private readonly entries: Map<string, SlotEntry>;
  /** The entry holding each slot (allocation must not hand these out even if their state reads EMPTY). */
  private readonly entryBySlot: Map<number, SlotEntry>;
  /** Entries per group name, for per-group weight writes. */
  private readonly entriesByGroup: Map<string, Set<SlotEntry>>;
  private plan: TablePlan;
  private topology: Topology;
  private readonly stickinessKey: string;
  /** Failed-over groups: group name -> the group that takes its traffic (absent = itself). Kept across publish. */
  private readonly routes: Map<string, string>;

  constructor(capacity: TableCapacity) {
    this.buffer = new SharedArrayBuffer(tableBytes(capacity));
    this.view = initTable(this.buffer, capacity, Math.floor(Date.now() / 1000));
    this.entries = new Map();
    this.entryBySlot = new Map();
    this.entriesByGroup = new Map();
    this.plan = { targetGroups: [], listeners: [] };
    // Authenticates stickiness cookies; made once, so every worker (and a restarted one) agrees (workers/route/sticky.ts).
    this.stickinessKey = randomBytes(32).toString('base64');
    this.topology = { generation: 0, groups: [], listeners: [], stickinessKey: this.stickinessKey };
    this.routes = new Map();
  }

  current(): Topology {
    return this.topology;
  }

  /** The plan last published. */
  currentPlan(): TablePlan {
    return this.plan;
  }

  /** Every registered and draining target (a fresh array of live read-only views). */
  targets(): TableTarget[] {
    return [...this.entries.values()];
  }

  /** The target of `group/address`, registered or draining. */
  target(groupName: string, address: string): TableTarget | undefined {
    return this.entries.get(targetKey(groupName, address));
  }

  /** The group whose targets take `groupName`'s traffic: itself, or the group it failed over to. */
  routeOf(groupName: string): string {
    return this.routes.get(groupName) ?? groupName;
  }

  /**
   * Failover and failback: send `groupName`'s traffic to `toGroupName`'s
   * targets (`toGroupName === groupName` is failback). One store of
   * GROUP_ROUTE_TO, inside the seqlock so the generation moves; workers read
   * the pointer on every pick. Returns the generation that carries the store:
   * once every live worker's WORKER_OBSERVED_GENERATION has reached it, no
   * pick can still be using the old route. The route survives `publish`
   * while both groups stay in the plan. Precondition: both are in the plan.
   */
  routeTo(groupName: string, toGroupName: string): number {
    const fromIndex = this.plan.targetGroups.findIndex((group) => group.name === groupName);
    const toIndex = this.plan.targetGroups.findIndex((group) => group.name === toGroupName);
    assert(fromIndex >= 0 && toIndex >= 0, `routeTo: ${groupName} -> ${toGroupName} is not in the plan`);
    if (fromIndex === toIndex) this.routes.delete(groupName);
    else this.routes.set(groupName, toGroupName);
    this.beginWrite();
    storeGroup(this.view, fromIndex, GROUP_ROUTE_TO, toIndex);
    return this.endWrite();
  }

  /**
   * Apply a plan: keep the slots of targets that stay, mark the others
   * DRAINING (they keep their slot until `release`), assign new ones, and
   * return the new Topology for the workers. A draining target the plan lists
   * again is registered again. Throws FERRY_ERR_CONFIG_CAPACITY (before
   * writing anything) when it does not fit, counting targets still draining.
   */
  publish(plan: TablePlan): Topology {
    const { view } = this;
    if (plan.targetGroups.length > view.groupCapacity) {
      throw new ProxyError(
        'FERRY_ERR_CONFIG_CAPACITY',
        `${plan.targetGroups.length} target groups exceed limits.maxTargetGroups (${view.groupCapacity})`,
      );
    }
    const wanted = new Set<string>();
    for (const group of plan.targetGroups)
      for (const t of group.targets) wanted.add(targetKey(group.name, t.address));
    let stillDraining = 0;
    for (const [key, entry] of this.entries) if (!wanted.has(key) && entry.isDraining) stillDraining++;
    const leaving = [...this.entries.values()].filter((entry) => !wanted.has(entry.key) && !entry.isDraining);
    if (wanted.size + stillDraining + leaving.length > view.targetCapacity) {
      const draining = stillDraining + leaving.length;
      throw new ProxyError(
        'FERRY_ERR_CONFIG_CAPACITY',
        `${wanted.size} targets` +
          (draining > 0 ? ` plus ${draining} still draining` : '') +
          ` exceed limits.maxTargets (${view.targetCapacity})`,
      );
    }

    // A failover whose group or standby the plan no longer has ends here (the group routes to itself).
    const planNames = new Set(plan.targetGroups.map((group) => group.name));
    for (const [from, to] of this.routes)
      if (!planNames.has(from) || !planNames.has(to)) this.routes.delete(from);
    this.beginWrite();
    for (const entry of leaving) {
      storeTarget(view, entry.slot, TARGET_STATE, TARGET_STATE_DRAINING);
      entry.isDraining = true;
    }
    plan.targetGroups.forEach((group, groupIndex) => {
      storeGroup(view, groupIndex, GROUP_ROUTE_TO, routeIndexIn(plan, this.routes, group.name, groupIndex));
      storeGroup(view, groupIndex, GROUP_FAIL_OPEN, group.failOpen ? 1 : 0);
      for (const target of group.targets) {
        const key = targetKey(group.name, target.address);
        let entry = this.entries.get(key);
        if (entry === undefined) {
          const slot = this.allocateSlot();
          entry = {
            key,
            groupName: group.name,
            address: target.address,
            host: target.host,
            port: target.port,
            slot,
            configuredWeight: target.weight,
            slowStartPermille: PERMILLE_FULL,
            isDraining: false,
            drainGeneration: 0,
            zone: null,
            source: 'config',
            discoveredBy: null,
          };
          this.addEntry(entry);
          this.resetSlot(slot);
          storeTarget(view, slot, TARGET_STATE, initialState(group));
        } else if (entry.isDraining) {
          entry.isDraining = false;
          entry.drainGeneration = 0;
          entry.slowStartPermille = PERMILLE_FULL;
          storeTarget(view, entry.slot, TARGET_STATE, initialState(group));
        }
        entry.configuredWeight = target.weight;
        entry.zone = target.zone ?? null;
        entry.source = target.source ?? 'config';
        entry.discoveredBy = target.discoveredBy ?? null;
        storeTarget(view, entry.slot, TARGET_GROUP_INDEX, groupIndex);
      }
    });
    this.plan = plan;
    this.writeAllWeights();
    const generation = this.endWrite();
    for (const entry of leaving) entry.drainGeneration = generation;
    this.topology = this.buildTopology(generation);
    return this.topology;
  }

  /**
   * Deregister one target: DRAINING at once (no new requests or connections),
   * weight 0, slot kept until `release`. The generation moves, so workers
   * rebuild their balancers without it and report when they have seen it.
   */
  drain(groupName: string, address: string): DrainOutcome {
    const entry = this.entries.get(targetKey(groupName, address));
    if (entry === undefined) return 'not-found';
    if (entry.isDraining) return 'already-draining';
    this.beginWrite();
    storeTarget(this.view, entry.slot, TARGET_STATE, TARGET_STATE_DRAINING);
    entry.isDraining = true;
    this.writeGroupWeights(entry.groupName);
    entry.drainGeneration = this.endWrite();
    return 'draining';
  }

  /**
   * Free a target's slot (its drain finished or timed out): EMPTY, out of
   * the topology. Returns the new Topology, which the caller sends to the
   * workers (they then close their pooled sockets to the slot). A target
   * that is not draining is refused: release follows drain.
   */
  release(groupName: string, address: string): Topology {
    const entry = this.entries.get(targetKey(groupName, address));
    assert(entry?.isDraining === true, `release of a target that is not draining: ${address}`);
    this.beginWrite();
    storeTarget(this.view, entry.slot, TARGET_STATE, TARGET_STATE_EMPTY);
    storeTarget(this.view, entry.slot, TARGET_WEIGHT, 0);
    storeTarget(this.view, entry.slot, TARGET_EJECTED, 0);
    this.removeEntry(entry);
    const generation = this.endWrite();
    this.topology = this.buildTopology(generation);
    return this.topology;
  }

  /**
   * Set a target's health state (HEALTHY, UNHEALTHY, INITIAL, UNUSED,
   * UNAVAILABLE). One store: pickers read the state on every pick, so no
   * rebuild is needed. DRAINING and EMPTY go through drain/release.
   */
  setState(slot: number, state: number): void {
    assert(state !== TARGET_STATE_DRAINING && state !== TARGET_STATE_EMPTY, 'use drain/release');
    const entry = this.entryAt(slot);
    if (entry === undefined || entry.isDraining) return;
    storeTarget(this.view, slot, TARGET_STATE, state);
  }

  /** Eject or re-admit a target (outlier detection). Resets its consecutive-failure counters either way. */
  /**
   * Forget a target's consecutive-failure counts (issue 10): on a health
   * transition, failures counted while it was known to be down (fail-open
   * traffic, retries) say nothing about it now.
   */
  resetConsecutiveFailures(slot: number): void {
    storeTarget(this.view, slot, TARGET_CONSECUTIVE_5XX, 0);
    storeTarget(this.view, slot, TARGET_CONSECUTIVE_GATEWAY_FAILURES, 0);
  }

  setEjected(slot: number, isEjected: boolean): void {
    storeTarget(this.view, slot, TARGET_EJECTED, isEjected ? 1 : 0);
    storeTarget(this.view, slot, TARGET_CONSECUTIVE_5XX, 0);
    storeTarget(this.view, slot, TARGET_CONSECUTIVE_GATEWAY_FAILURES, 0);
  }

  /**
   * Set a target's configured weight (0..WEIGHT_MAX). Its stored weight is
   * that, scaled while its group has a member in slow start; the generation
   * moves so weighted pickers rebuild.
   */
  setWeight(slot: number, weight: number): void {
    assert(Number.isInteger(weight) && weight >= 0 && weight <= WEIGHT_MAX, `weight out of range: ${weight}`);
    const entry = this.entryAt(slot);
    this.beginWrite();
    if (entry === undefined) storeTarget(this.view, slot, TARGET_WEIGHT, weight);
    else {
      entry.configuredWeight = weight;
      this.writeGroupWeights(entry.groupName);
    }
    this.endWrite();
  }

  /**
   * Set a target's slow-start factor (per-mille of its weight, PERMILLE_FULL
   * when done). Writes, with one generation move, only when some stored
   * weight of its group changes; returns whether it did.
   */
  setSlowStart(slot: number, permille: number): boolean {
    const entry = this.entryAt(slot);
    if (entry === undefined) return false;
    const clamped = Math.max(0, Math.min(PERMILLE_FULL, Math.round(permille)));
    if (clamped === entry.slowStartPermille) return false;
    entry.slowStartPermille = clamped;
    const members = this.groupEntries(entry.groupName);
    const weights = effectiveWeights(members);
    const isChanged = members.some(
      (member, i) => loadTarget(this.view, member.slot, TARGET_WEIGHT) !== weights[i],
    );
    if (!isChanged) return false;
    this.beginWrite();
    for (let i = 0; i < members.length; i++)
      storeTarget(this.view, members[i]!.slot, TARGET_WEIGHT, weights[i]!);
    this.endWrite();
    return true;
  }

  /** Make main's writes visible as one step: generation odd while writing. */
  private beginWrite(): void {
    const generation = loadHeader(this.view, HEADER_GENERATION);
    assert((generation & 1) === 0, 'table write already in progress');
    addHeader(this.view, HEADER_GENERATION, 1);
  }

  private endWrite(): number {
    const generation = (addHeader(this.view, HEADER_GENERATION, 1) + 1) | 0;
    // Workers wait on the generation (workers/route/target-groups.ts watchGeneration): an idle one
    // acknowledges now instead of at its next tick, so a failover's wait for every worker is short.
    notifyHeader(this.view, HEADER_GENERATION);
    return generation;
  }

  private entryAt(slot: number): SlotEntry | undefined {
    return this.entryBySlot.get(slot);
  }

  private groupEntries(groupName: string): SlotEntry[] {
    return [...(this.entriesByGroup.get(groupName) ?? [])];
  }

  private addEntry(entry: SlotEntry): void {
    this.entries.set(entry.key, entry);
    this.entryBySlot.set(entry.slot, entry);
    let members = this.entriesByGroup.get(entry.groupName);
    if (members === undefined) {
      members = new Set();
      this.entriesByGroup.set(entry.groupName, members);
    }
    members.add(entry);
  }

  private removeEntry(entry: SlotEntry): void {
    this.entries.delete(entry.key);
    this.entryBySlot.delete(entry.slot);
    const members = this.entriesByGroup.get(entry.groupName);
    members?.delete(entry);
    if (members?.size === 0) this.entriesByGroup.delete(entry.groupName);
  }

  private writeGroupWeights(groupName: string): void {
    const members = this.groupEntries(groupName);
    const weights = effectiveWeights(members);
    for (let i = 0; i < members.length; i++)
      storeTarget(this.view, members[i]!.slot, TARGET_WEIGHT, weights[i]!);
  }

  private writeAllWeights(): void {
    for (const name of this.entriesByGroup.keys()) this.writeGroupWeights(name);
  }

  /** A slot given to a new target starts with fresh identity and history; in-flight and connection counts are left alone (late decrements of a previous occupant still land there). */
  private resetSlot(slot: number): void {
    const { view } = this;
    storeTarget(view, slot, TARGET_GENERATION, (loadTarget(view, slot, TARGET_GENERATION) + 1) | 0);
    storeTarget(view, slot, TARGET_EJECTED, 0);
    storeTarget(view, slot, TARGET_CONSECUTIVE_5XX, 0);
    storeTarget(view, slot, TARGET_CONSECUTIVE_GATEWAY_FAILURES, 0);
    storeTarget(view, slot, TARGET_LATENCY_EWMA_US, 0);
    storeTarget(view, slot, TARGET_PEAK_EWMA_US, 0);
    storeTarget(view, slot, TARGET_LATENCY_UPDATED_MS, 0);
  }

  /** Topology of the current plan: each group's registered and draining members, by slot. */
  private buildTopology(generation: number): Topology {
    const plan = this.plan;
    const membersByGroup = new Map<string, TopologyTarget[]>();
    for (const entry of this.entries.values()) {
      const members = membersByGroup.get(entry.groupName) ?? [];
      members.push({
        slot: entry.slot,
        id: entry.address,
        host: entry.host,
        port: entry.port,
        zone: entry.zone ?? '',
        isLocalZone: entry.zone !== null && entry.zone === (plan.localZone ?? null),
      });
      membersByGroup.set(entry.groupName, members);
    }
    const groupIndexByName = new Map(plan.targetGroups.map((group, index) => [group.name, index]));
    const groups: TopologyGroup[] = plan.targetGroups.map((group, groupIndex) => {
      const members = membersByGroup.get(group.name) ?? [];
      members.sort((a, b) => a.slot - b.slot);
      return {
        groupIndex,
        name: group.name,
        algorithm: group.algorithm,
        hashKey: group.hashKey,
        members,
        connectTimeoutMs: group.connectTimeoutMs,
        responseTimeoutMs: group.responseTimeoutMs,
        ...(group.retries === undefined ? {} : { retries: group.retries }),
        standbyGroupIndex:
          group.standby === undefined || group.standby === null
            ? -1
            : (groupIndexByName.get(group.standby) ?? -1),
        hashTable: null, // filled off-thread by src/table/hash-tables.ts before the workers see it
        ...(group.stickiness === undefined ? {} : { stickiness: group.stickiness }),
        upstreamTls: group.upstreamTls ?? null,
        ...(group.isProxyProtocolOn === true ? { isProxyProtocolOn: true } : {}),
        ...(group.geneve === undefined ? {} : { geneve: group.geneve }),
        zones: group.zones ?? null,
      };
    });
    const listeners: TopologyListener[] = plan.listeners.map((listener) => ({
      name: listener.name,
      protocol: listener.protocol,
      host: listener.host,
      port: listener.port,
      defaultGroupIndex:
        listener.defaultTargetGroup === null ? -1 : (groupIndexByName.get(listener.defaultTargetGroup) ?? -1),
      isTargetHeaderOn: listener.addTargetHeader,
      ...(listener.routing === undefined ? {} : { routing: listener.routing }),
      tls: listener.tls ?? null,
      ...(listener.layer4 === undefined ? {} : { layer4: listener.layer4 }),
      timeouts: listener.timeouts,
      headersWithUnderscores: listener.headersWithUnderscores ?? 'drop',
      maxConnections: listener.maxConnections ?? 0,
      maxConnectionsTotal: listener.maxConnectionsTotal ?? 0,
    }));
    return { generation, groups, listeners, stickinessKey: this.stickinessKey };
  }

  private allocateSlot(): number {
    const { view } = this;
    for (let slot = 0; slot < view.targetCapacity; slot++) {
      if (this.entryBySlot.has(slot)) continue;
      if (loadTarget(view, slot, TARGET_STATE) !== TARGET_STATE_EMPTY) continue;
      return slot;
    }
    throw new ProxyError(
      'FERRY_ERR_CONFIG_CAPACITY',
      `no free target slot (limits.maxTargets ${view.targetCapacity})`,
    );
  }
}

/** GROUP_ROUTE_TO of a group in a plan: its failover target's index while one is set, else its own. */
function routeIndexIn(
  plan: TablePlan,
  routes: ReadonlyMap<string, string>,
  groupName: string,
  groupIndex: number,
): number {
  const to = routes.get(groupName);
  if (to === undefined) return groupIndex;
  const toIndex = plan.targetGroups.findIndex((group) => group.name === to);
  return toIndex >= 0 ? toIndex : groupIndex;
}

/** State of a newly registered target: `unused` without a listener, else `initial` with checks, `unavailable` without. */
export function initialState(group: Pick<TableTargetGroup, 'isHealthCheckEnabled' | 'isInUse'>): number {
  if (group.isInUse === false) return TARGET_STATE_UNUSED;
  return group.isHealthCheckEnabled ? TARGET_STATE_INITIAL : TARGET_STATE_UNAVAILABLE;
}

export { HashTableBuilder } from './hash-tables.ts';
