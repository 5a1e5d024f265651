/**
 * @module src/failover/manager
 *
 * Hot failover: sends a target group's traffic to its standby group and back,
 * by command (the control port's `failover` / `failback`) or by itself when
 * the group has had no routable target for `failover.after`. Thread: main.
 * Place in the flow: config -> table <- health / **failover** <- control port.
 *
 *   failover(G) --> checks --> table.routeTo(G, S): one GROUP_ROUTE_TO store,
 *                              generation even -> odd -> even
 *               --> waitForWorkers(generation) --> log + count + 'switch' --> result
 *
 *   tick (100 ms) --> G has no routable target for `after`, standby routable --> auto failover
 *                 --> G (auto-failed-over) routable again, autoFailback on   --> auto failback
 *
 * Workers read the pointer on every pick, so no message reaches them and a
 * request already sent to the primary finishes there. Switches run one at a
 * time (a queue), so a command never interleaves with an automatic switch.
 *
 * Rules that keep one hop enough (workers follow GROUP_ROUTE_TO once): the
 * standby must route to itself, and a group that takes another group's
 * traffic cannot fail over itself until that other group fails back.
 *
 * A manual switch is never undone automatically: `autoFailback` applies only
 * to switches the manager made itself (mode `auto`).
 *
 * The tick and every "for `after`" decision run on the injected clock
 * (default REAL_CLOCK), so tests advance time instead of sleeping; the wait
 * for the workers' acknowledgement is real time, since it waits on real
 * threads.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type {
  FailoverGroupStatus,
  FailoverStatusResult,
  FailoverSwitchRecord,
  SwitchResult,
} from '../../proto/control/messages.ts';
import { isTargetRoutable } from '../../proto/table-layout.ts';
import { type Clock, type ClockTimer, monoUs, REAL_CLOCK } from '../shared/clock.ts';
import { ProxyError } from '../shared/errors.ts';
import type { TableWriter } from '../table/index.ts';
import { FAILOVER_OBSERVE_WAIT_MS, FAILOVER_TICK_MS } from './limits.ts';
import { waitForWorkers } from './observe.ts';
import type { FailoverPolicy } from './policy.ts';
import { checkFailback, checkFailover, type RouteView, requireGroup } from './preconditions.ts';

/** A switch as logged and emitted. */
export interface FailoverSwitchEvent extends FailoverSwitchRecord {
  readonly targetGroup: string;
  readonly generation: number;
  /** False when some live worker had not acknowledged within the wait. */
  readonly isObserved: boolean;
}

export type FailoverEvents = { switch: [FailoverSwitchEvent] };

export interface FailoverManagerOptions {
  readonly table: TableWriter;
  readonly log: Logger;
  /** True while worker `index` runs (the supervisor's view); dead workers are not waited for. */
  readonly isWorkerLive: (workerIndex: number) => boolean;
  /** Decision time and the tick's timer (`failover.after`, switch times). Default REAL_CLOCK. */
  readonly clock?: Clock;
  /** Longest wait for workers to observe a switch. Default FAILOVER_OBSERVE_WAIT_MS. */
  readonly observeWaitMs?: number;
}

type Mode = FailoverGroupStatus['mode'];
type Trigger = FailoverSwitchRecord['trigger'];

interface GroupState {
  mode: Mode;
  sinceMs: number;
  unroutableSinceMs: number | null;
  switchesTotal: number;
  lastSwitch: FailoverSwitchRecord | null;
  /** The "standby cannot take it either" warning was logged for this outage. */
  isStuckLogged: boolean;
}

export class FailoverManager extends EventEmitter<FailoverEvents> {
  private readonly table: TableWriter;
  private readonly log: Logger;
  private readonly isWorkerLive: (workerIndex: number) => boolean;
  private readonly clock: Clock;
  private readonly observeWaitMs: number;
  private groupNames: readonly string[];
  private policies: Map<string, FailoverPolicy>;
  private readonly states: Map<string, GroupState>;
  private queue: Promise<unknown>;
  private switchesQueued: number;
  private timer: ClockTimer | null;
  /** The checks' view of the table (preconditions.ts). */
  private readonly routes: RouteView;
  switchesTotal: number;
  autoFailoversTotal: number;
  autoFailbacksTotal: number;

  constructor(options: FailoverManagerOptions) {
    super();
    this.table = options.table;
    this.log = options.log;
    this.isWorkerLive = options.isWorkerLive;
    this.clock = options.clock ?? REAL_CLOCK;
    this.observeWaitMs = options.observeWaitMs ?? FAILOVER_OBSERVE_WAIT_MS;
    this.groupNames = [];
    this.policies = new Map();
    this.states = new Map();
    this.queue = Promise.resolve();
    this.switchesQueued = 0;
    this.timer = null;
    const manager = this;
    this.routes = {
      get groupNames() {
        return manager.groupNames;
      },
      routeOf: (groupName) => this.table.routeOf(groupName),
      isRoutable: (groupName) => this.isRoutable(groupName),
    };
    this.switchesTotal = 0;
    this.autoFailoversTotal = 0;
    this.autoFailbacksTotal = 0;
  }

  // === Lifecycle ===

  /**
   * Take the groups and policies of a config just published to the table
   * (start and every reload). A failover whose standby the config removed
   * has already ended in the table; it is recorded here as a `reload` switch.
   */
  apply(groupNames: readonly string[], policies: readonly FailoverPolicy[]): void {
    this.groupNames = [...groupNames];
    this.policies = new Map(policies.map((policy) => [policy.targetGroup, policy]));
    const nowMs = this.clock.nowMs();
    for (const name of this.states.keys()) if (!groupNames.includes(name)) this.states.delete(name);
    for (const name of groupNames) {
      const state = this.stateOf(name);
      const routeTo = this.table.routeOf(name);
      if (routeTo === name && state.mode !== 'primary') {
        const from = state.lastSwitch?.to ?? name;
        state.mode = 'primary';
        state.sinceMs = nowMs;
        this.note(name, { atMs: nowMs, from, to: name, trigger: 'reload', observedUs: 0 }, 0, true);
      } else if (routeTo !== name && state.mode === 'auto' && !this.policies.has(name)) {
        state.mode = 'manual'; // its policy is gone: only a command switches it back
      }
    }
  }

  /** Start the automatic-failover tick. Idempotent. */
  start(): void {
    if (this.timer !== null) return;
    this.timer = this.clock.setInterval(() => this.tick(), FAILOVER_TICK_MS);
  }

  /** Stop the tick; switches already queued finish. */
  stop(): void {
    if (this.timer !== null) this.clock.clearTimer(this.timer);
    this.timer = null;
  }

  // === Commands ===

  /**
   * Route `targetGroup`'s traffic to `to` (default: its standby). Resolves
   * once every live worker has observed the switch. Throws ProxyError:
   * FERRY_ERR_CONTROL_NOT_FOUND (unknown group), FERRY_ERR_CONTROL_CONFLICT
   * (no standby, one hop broken), FERRY_ERR_CONTROL_STANDBY_UNAVAILABLE (the
   * standby has no routable target and `force` is off), or
   * FERRY_ERR_CONTROL_NOT_OBSERVED (switched, not acknowledged in time).
   */
  failover(
    targetGroup: string,
    options: { readonly to?: string; readonly force?: boolean } = {},
  ): Promise<SwitchResult> {
    return this.enqueue(async () => {
      const standby = options.to ?? this.policies.get(targetGroup)?.standby;
      const to = checkFailover(this.routes, targetGroup, standby, options.force === true);
      return this.switchTo(targetGroup, to, 'command');
    });
  }

  /**
   * Route `targetGroup`'s traffic back to its own targets. Resolves once
   * every live worker has observed it. Throws as `failover`, with
   * FERRY_ERR_CONTROL_STANDBY_UNAVAILABLE when the group's own targets have
   * no routable one and `force` is off.
   */
  failback(targetGroup: string, options: { readonly force?: boolean } = {}): Promise<SwitchResult> {
    return this.enqueue(async () => {
      checkFailback(this.routes, targetGroup, options.force === true);
      return this.switchTo(targetGroup, targetGroup, 'command');
    });
  }

  // === Queries ===

  /** Every group with a standby or a failover in effect (or just `targetGroup`). Throws FERRY_ERR_CONTROL_NOT_FOUND for an unknown group. */
  status(targetGroup?: string): FailoverStatusResult {
    if (targetGroup !== undefined) requireGroup(this.routes, targetGroup);
    const routable = this.routableGroups();
    const groups: FailoverGroupStatus[] = [];
    for (const name of this.groupNames) {
      const policy = this.policies.get(name);
      const routeTo = this.table.routeOf(name);
      const isListed =
        targetGroup === undefined ? policy !== undefined || routeTo !== name : name === targetGroup;
      if (!isListed) continue;
      const state = this.stateOf(name);
      groups.push({
        targetGroup: name,
        standby: policy?.standby ?? null,
        routeTo,
        mode: state.mode,
        sinceMs: state.sinceMs,
        afterMs: policy?.afterMs ?? null,
        autoFailback: policy?.autoFailback ?? false,
        isPrimaryRoutable: routable.has(name),
        isStandbyRoutable: policy === undefined ? null : routable.has(policy.standby),
        unroutableSinceMs: state.unroutableSinceMs,
        switchesTotal: state.switchesTotal,
        lastSwitch: state.lastSwitch,
      });
    }
    return {
      groups,
      switchesTotal: this.switchesTotal,
      autoFailoversTotal: this.autoFailoversTotal,
      autoFailbacksTotal: this.autoFailbacksTotal,
    };
  }

  /** True when the group has a registered, non-draining target that may take new traffic. */
  isRoutable(groupName: string): boolean {
    return this.routableGroups().has(groupName);
  }

  // === Automatic failover ===

  private tick(): void {
    if (this.policies.size === 0) return;
    const nowMs = this.clock.nowMs();
    const routable = this.routableGroups();
    for (const policy of this.policies.values()) {
      const name = policy.targetGroup;
      const state = this.stateOf(name);
      if (routable.has(name)) {
        state.unroutableSinceMs = null;
        state.isStuckLogged = false;
        if (state.mode === 'auto' && policy.autoFailback && this.switchesQueued === 0) {
          this.enqueue(() => this.autoSwitch(name, name, 'auto-failback'));
        }
        continue;
      }
      state.unroutableSinceMs ??= nowMs;
      const isDue = nowMs - state.unroutableSinceMs >= policy.afterMs;
      if (state.mode !== 'primary' || !isDue || this.switchesQueued > 0) continue;
      const standby = policy.standby;
      if (routable.has(standby) && this.table.routeOf(standby) === standby) {
        this.enqueue(() => this.autoSwitch(name, standby, 'auto-failover'));
      } else if (!state.isStuckLogged) {
        state.isStuckLogged = true;
        this.log.error(
          { targetGroup: name, standby },
          `target group ${name} has had no routable target for ${policy.afterMs} ms, but standby ${standby} cannot take its traffic either (no routable target, or failed over itself); staying`,
        );
      }
    }
  }

  /** An automatic switch, re-checked when its turn in the queue comes (a command may have run first). */
  private async autoSwitch(name: string, to: string, trigger: Trigger): Promise<SwitchResult | null> {
    const state = this.states.get(name);
    const policy = this.policies.get(name);
    if (state === undefined || policy === undefined) return null;
    const isStillWanted =
      trigger === 'auto-failover'
        ? state.mode === 'primary' && !this.isRoutable(name) && this.isRoutable(to)
        : state.mode === 'auto' && this.isRoutable(name);
    if (!isStillWanted) return null;
    try {
      return await this.switchTo(name, to, trigger);
    } catch (error) {
      this.log.error(
        { err: error, targetGroup: name, to, trigger },
        `automatic ${trigger} of ${name} failed`,
      );
      return null;
    }
  }

  // === The switch ===

  private async switchTo(name: string, to: string, trigger: Trigger): Promise<SwitchResult> {
    const state = this.stateOf(name);
    const from = this.table.routeOf(name);
    if (from === to) {
      if (trigger === 'command' && to !== name) state.mode = 'manual'; // the operator now owns it
      return { targetGroup: name, from, to, isChanged: false, generation: 0, observedUs: 0, workerCount: 0 };
    }
    const startedUs = monoUs();
    const generation = this.table.routeTo(name, to);
    state.mode = to === name ? 'primary' : trigger === 'auto-failover' ? 'auto' : 'manual';
    state.sinceMs = this.clock.nowMs();
    const outcome = await waitForWorkers(this.table.view, generation, this.isWorkerLive, this.observeWaitMs);
    const observedUs = Math.round(monoUs() - startedUs);
    this.note(name, { atMs: state.sinceMs, from, to, trigger, observedUs }, generation, outcome.isObserved);
    if (!outcome.isObserved) {
      throw new ProxyError(
        'FERRY_ERR_CONTROL_NOT_OBSERVED',
        `${name} now routes to ${to} in the shared table, but worker(s) ${outcome.behind.join(', ')} did not acknowledge within ${this.observeWaitMs} ms; they read the new route on their next pick`,
      );
    }
    return {
      targetGroup: name,
      from,
      to,
      isChanged: true,
      generation,
      observedUs,
      workerCount: outcome.workerCount,
    };
  }

  /** Count, log and emit one switch. */
  private note(name: string, record: FailoverSwitchRecord, generation: number, isObserved: boolean): void {
    const state = this.stateOf(name);
    state.switchesTotal++;
    state.lastSwitch = record;
    this.switchesTotal++;
    if (record.trigger === 'auto-failover') this.autoFailoversTotal++;
    if (record.trigger === 'auto-failback') this.autoFailbacksTotal++;
    const isFailback = record.to === name;
    const why =
      record.trigger === 'auto-failover'
        ? ` (automatic: no routable target for ${this.policies.get(name)?.afterMs ?? 0} ms)`
        : record.trigger === 'auto-failback'
          ? ' (automatic: its targets are routable again)'
          : record.trigger === 'reload'
            ? ' (reload: its standby is no longer in the config)'
            : '';
    const fields = {
      targetGroup: name,
      from: record.from,
      to: record.to,
      trigger: record.trigger,
      generation,
      observedUs: record.observedUs,
      isObserved,
    };
    const message = `target group ${name}: ${isFailback ? 'failback' : 'failover'} ${record.from} -> ${record.to}${why}; observed by every live worker in ${(record.observedUs / 1000).toFixed(2)} ms`;
    if (isFailback) this.log.info(fields, message);
    else this.log.warn(fields, message);
    this.emit('switch', { ...record, targetGroup: name, generation, isObserved });
  }

  // === Helpers ===

  private enqueue<T>(run: () => Promise<T>): Promise<T> {
    this.switchesQueued++;
    const next = this.queue.then(run, run);
    this.queue = next.then(
      () => this.switchesQueued--,
      () => this.switchesQueued--,
    );
    return next;
  }

  private stateOf(name: string): GroupState {
    let state = this.states.get(name);
    if (state === undefined) {
      state = {
        mode: this.table.routeOf(name) === name ? 'primary' : 'manual',
        sinceMs: this.clock.nowMs(),
        unroutableSinceMs: null,
        switchesTotal: 0,
        lastSwitch: null,
        isStuckLogged: false,
      };
      this.states.set(name, state);
    }
    return state;
  }

  /** Names of the groups with at least one registered, non-draining, routable target (one pass over the table). */
  private routableGroups(): Set<string> {
    const routable = new Set<string>();
    for (const target of this.table.targets()) {
      if (
        !target.isDraining &&
        !routable.has(target.groupName) &&
        isTargetRoutable(this.table.view, target.slot)
      ) {
        routable.add(target.groupName);
      }
    }
    return routable;
  }
}
