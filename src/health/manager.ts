/**
 * @module src/health/manager
 *
 * The health manager: owns every target's lifecycle on the main thread and
 * publishes it through the shared table, so each worker sees a change on its
 * very next pick. Thread: main. Place in the flow: config -> table <-
 * **health** (this) <- control port / reload.
 *
 *   apply(plan) ----> table.publish -> records (initial | unavailable | unused | draining)
 *   check timers ---> checker (tcp/http) -> thresholds.judge -> table.setState + log + 'transition'
 *   tick (100 ms) --> outlier ejection / re-admission -> TARGET_EJECTED
 *                 --> slow-start factor -> table.setSlowStart (weights)
 *                 --> drain end (idle or deadline) -> table.release -> topology to workers
 *   deregister ----> table.drain (DRAINING at once) -> drain tracking
 *
 * Checks are async I/O on this thread's event loop, at most
 * HEALTH_CHECKS_IN_FLIGHT_MAX at once, each bounded by its own timeout, and
 * spread in time: a target's next check is due interval × (1 ± 10%) after
 * the start of its last one (the first follow-up after 0.5..1 interval), so
 * targets started together drift apart instead of being probed in bursts.
 *
 * Every state change is one log line (info; warn for `unhealthy`) with the
 * target, old -> new state and reason, and one 'transition' event.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import {
  GROUP_FAIL_OPEN_TOTAL,
  GROUP_NO_TARGET_TOTAL,
  HEADER_CLOCK_ORIGIN_S,
  loadGroup,
  loadHeader,
  loadTarget,
  TARGET_ACTIVE_CONNECTIONS,
  TARGET_CONSECUTIVE_5XX,
  TARGET_CONSECUTIVE_GATEWAY_FAILURES,
  TARGET_IN_FLIGHT,
  TARGET_STATE,
  TARGET_STATE_DRAINING,
  TARGET_STATE_HEALTHY,
  TARGET_STATE_INITIAL,
  TARGET_STATE_UNAVAILABLE,
  TARGET_STATE_UNHEALTHY,
  TARGET_STATE_UNUSED,
  TARGET_WEIGHT,
} from '../../proto/table-layout.ts';
import type { Topology } from '../../proto/thread-messages.ts';
import type { ConfigSnapshot, HealthCheckConfig, OutlierDetectionConfig } from '../config/index.ts';
import { clockMs } from '../shared/clock.ts';
import {
  type DrainOutcome,
  PERMILLE_FULL,
  type TablePlan,
  type TableTarget,
  type TableWriter,
} from '../table/index.ts';
import type { CheckOutcome, CheckResult, HealthChecker } from './checker.ts';
import { type DrainEnd, drainEnd } from './drain.ts';
import { createHttpChecker } from './http-checker.ts';
import {
  HEALTH_CHECK_JITTER_FRACTION,
  HEALTH_CHECKS_IN_FLIGHT_MAX,
  HEALTH_TICK_MS,
  HEALTH_TRANSITIONS_KEPT,
  SLOW_START_FIRST_PERMILLE,
} from './limits.ts';
import { type EjectionTrigger, ejectionCap, ejectionDurationMs, ejectionTrigger } from './outlier.ts';
import {
  DEREGISTRATION_IN_PROGRESS,
  failureReason,
  HEALTH_CHECK_DISABLED,
  type HealthReason,
  INITIAL_HEALTH_CHECKING,
  NOT_IN_USE,
  REGISTRATION_IN_PROGRESS,
  stateName,
  type TargetStateName,
} from './reasons.ts';
import { slowStartPermille } from './slow-start.ts';
import { createTcpChecker } from './tcp-checker.ts';
import { judge, type Streak } from './thresholds.ts';

/** The health attributes of one target group (a projection of the config snapshot). */
export interface GroupPolicy {
  readonly name: string;
  /** False when no listener forwards to the group: its targets are `unused` and not checked. */
  readonly isInUse: boolean;
  readonly healthCheck: HealthCheckConfig;
  readonly outlierDetection: OutlierDetectionConfig;
  readonly deregistrationDelayMs: number;
  readonly slowStartMs: number;
  readonly failOpen: boolean;
}

/** Policies of every group of a snapshot. */
export function policiesFromConfig(snapshot: ConfigSnapshot): GroupPolicy[] {
  const inUse = new Set(snapshot.listeners.flatMap((listener) => listener.forwardTargetGroups));
  // A standby takes its primary's traffic after a failover, so its targets are checked like a group in use.
  for (const group of snapshot.targetGroups) if (group.failover !== null) inUse.add(group.failover.standby);
  return snapshot.targetGroups.map((group) => ({
    name: group.name,
    isInUse: inUse.has(group.name),
    healthCheck: group.healthCheck,
    outlierDetection: group.outlierDetection,
    deregistrationDelayMs: group.deregistrationDelayMs,
    slowStartMs: group.slowStartMs,
    failOpen: group.failOpen,
  }));
}

/** Which target an event is about. */
export interface TargetRef {
  readonly targetGroup: string;
  readonly address: string;
  readonly slot: number;
}

export interface TransitionEvent extends TargetRef {
  /** null when the target was just registered. */
  readonly from: TargetStateName | null;
  readonly to: TargetStateName;
  readonly reason: HealthReason | null;
  /** Epoch ms. */
  readonly atMs: number;
}

export interface EjectionEvent extends TargetRef {
  readonly isEjected: boolean;
  /** What crossed its threshold (null on re-admission). */
  readonly trigger: EjectionTrigger | null;
  /** Consecutive failures the workers had counted when it was ejected. */
  readonly count: number;
  /** The ejection multiplier (times ejected, decaying). */
  readonly ejections: number;
  /** Epoch ms the ejection ends (null on re-admission). */
  readonly untilMs: number | null;
}

export interface ReleaseEvent extends TargetRef {
  /** `idle`: nothing was in flight any more; `deadline`: deregistrationDelay passed. */
  readonly end: DrainEnd;
  readonly drainedMs: number;
  /** Requests still in flight when the slot was freed (0 when `idle`). */
  readonly inFlight: number;
}

export type HealthEvents = {
  check: [TargetRef, CheckResult];
  transition: [TransitionEvent];
  ejection: [EjectionEvent];
  released: [ReleaseEvent];
  tick: [];
};

/** What `deregister` did; the control port maps these to its answers. */
export type DeregisterOutcome = DrainOutcome;

export interface HealthManagerOptions {
  readonly table: TableWriter;
  readonly log: Logger;
  /** Sends a topology to the workers (after apply and whenever a drained target leaves). */
  readonly publishTopology: (topology: Topology) => void;
  /**
   * Test-only time scale: every configured duration (interval, timeout,
   * deregistrationDelay, slowStart, ejection times) is multiplied by it, so a
   * test can run ELB's 1 s minimum interval at 100 ms. Not a config key on
   * purpose. Default 1.
   */
  readonly timeScale?: number;
  /** Uniform [0, 1) source for jitter; tests may fix it. Default Math.random. */
  readonly random?: () => number;
}

/** Last check of a target, as the admin API shows it. */
export interface LastCheck {
  /** Epoch ms the check started. */
  readonly atMs: number;
  readonly durationMs: number;
  /** HTTP status, or null for TCP checks and checks that got no answer. */
  readonly statusCode: number | null;
  readonly outcome: CheckOutcome;
  /** Why it failed; null when it passed. */
  readonly reason: HealthReason | null;
}

export interface TransitionRecord {
  readonly atMs: number;
  readonly from: TargetStateName | null;
  readonly to: TargetStateName;
  readonly reason: string | null;
}

/** A target's health as the admin API and the control port show it. */
export interface TargetStatus {
  readonly targetGroup: string;
  readonly address: string;
  readonly slot: number;
  readonly state: TargetStateName;
  readonly reason: HealthReason | null;
  readonly stateSinceMs: number;
  readonly timeInStateMs: number;
  readonly lastCheck: LastCheck | null;
  readonly consecutiveSuccesses: number;
  readonly consecutiveFailures: number;
  readonly checksTotal: number;
  readonly transitions: readonly TransitionRecord[];
  readonly weight: { readonly configured: number; readonly effective: number };
  readonly slowStart: { readonly sinceMs: number; readonly untilMs: number; readonly percent: number } | null;
  readonly outlier: {
    readonly isEjected: boolean;
    readonly ejectedUntilMs: number | null;
    readonly ejectionsTotal: number;
    readonly multiplier: number;
    readonly lastTrigger: EjectionTrigger | null;
    readonly consecutive5xx: number;
    readonly consecutiveGatewayFailures: number;
  };
  readonly drain: { readonly sinceMs: number; readonly deadlineMs: number } | null;
  readonly inFlight: number;
  readonly activeConnections: number;
}

export interface GroupStatus {
  readonly name: string;
  readonly isInUse: boolean;
  readonly healthCheck: {
    readonly enabled: boolean;
    readonly protocol: string;
    readonly port: number | 'traffic-port';
    readonly path: string;
    readonly intervalMs: number;
    readonly timeoutMs: number;
    readonly healthyThreshold: number;
    readonly unhealthyThreshold: number;
    readonly matcher: string;
  };
  readonly failOpen: boolean;
  /** Requests routed over all targets because none was healthy (wraps at 2^31). */
  readonly failOpenRequestsTotal: number;
  /** Requests answered 503 because no target could be picked (wraps at 2^31). */
  readonly noTargetRequestsTotal: number;
  readonly targets: readonly TargetStatus[];
}

/** Every group and target; `GET /targets` serves this as JSON. */
export interface TargetsReport {
  readonly atMs: number;
  readonly targetGroups: readonly GroupStatus[];
}

interface TargetRecord {
  readonly key: string;
  readonly groupName: string;
  readonly address: string;
  readonly host: string;
  readonly port: number;
  readonly slot: number;
  state: number;
  reason: HealthReason | null;
  stateSinceMs: number;
  readonly transitions: TransitionRecord[];
  streak: Streak;
  checksTotal: number;
  lastCheck: LastCheck | null;
  timer: NodeJS.Timeout | null;
  /** Bumped whenever checks stop or restart, so a result from before is dropped. */
  checkEpoch: number;
  isQueued: boolean;
  /** Registered together with the group's first targets: no slow start on its first healthy transition (ELB). */
  isSlowStartExempt: boolean;
  slowStartSinceMs: number | null;
  slowStartUntilMs: number;
  isEjected: boolean;
  ejectedUntilMs: number;
  ejectionMultiplier: number;
  ejectionsTotal: number;
  lastTrigger: EjectionTrigger | null;
  /** Epoch ms from which the multiplier decays by one per baseEjectionTime. */
  multiplierSinceMs: number;
  drainSinceMs: number;
  drainDeadlineMs: number;
  drainGeneration: number;
}

function isRoutableState(state: number): boolean {
  return state === TARGET_STATE_HEALTHY || state === TARGET_STATE_UNAVAILABLE;
}

function isCheckedState(state: number): boolean {
  return state === TARGET_STATE_INITIAL || state === TARGET_STATE_HEALTHY || state === TARGET_STATE_UNHEALTHY;
}

export class HealthManager extends EventEmitter<HealthEvents> {
  private readonly table: TableWriter;
  private readonly log: Logger;
  private readonly publishTopology: (topology: Topology) => void;
  private readonly timeScale: number;
  private readonly random: () => number;
  private readonly records: Map<string, TargetRecord>;
  private readonly recordsByGroup: Map<string, Set<TargetRecord>>;
  private policies: Map<string, GroupPolicy>;
  private groupIndexByName: Map<string, number>;
  private readonly checkers: Map<string, HealthChecker>;
  private readonly abort: AbortController;
  private readonly queue: TargetRecord[];
  private checksInFlight: number;
  private isRunning: boolean;
  private isStopped: boolean;
  private tickTimer: NodeJS.Timeout | null;
  private readonly firstRound: Set<TargetRecord>;
  private resolveFirstRound: (() => void) | null;

  constructor(options: HealthManagerOptions) {
    super();
    this.table = options.table;
    this.log = options.log;
    this.publishTopology = options.publishTopology;
    this.timeScale = options.timeScale ?? 1;
    this.random = options.random ?? Math.random;
    this.records = new Map();
    this.recordsByGroup = new Map();
    this.policies = new Map();
    this.groupIndexByName = new Map();
    this.checkers = new Map();
    this.abort = new AbortController();
    this.queue = [];
    this.checksInFlight = 0;
    this.isRunning = false;
    this.isStopped = false;
    this.tickTimer = null;
    this.firstRound = new Set();
    this.resolveFirstRound = null;
  }

  // === Lifecycle ===

  /**
   * Publish a plan and bring every target's health in line with it: new
   * targets are registered (initial, unavailable or unused), targets left
   * out start draining, draining targets listed again are registered again,
   * and groups whose checks were turned on or off, or that gained or lost
   * their listener, change state. Sends the topology to the workers and
   * returns it. Throws FERRY_ERR_CONFIG_CAPACITY (changing nothing) when the
   * plan does not fit the table.
   */
  apply(plan: TablePlan, policies: readonly GroupPolicy[]): Topology {
    const isGroupServing = new Map<string, boolean>();
    for (const policy of policies) isGroupServing.set(policy.name, this.hasRoutable(policy.name, null));
    const topology = this.table.publish(plan);
    const previous = this.policies;
    this.policies = new Map(policies.map((policy) => [policy.name, policy]));
    this.groupIndexByName = new Map(plan.targetGroups.map((group, index) => [group.name, index]));
    this.checkers.clear();
    for (const policy of policies) this.checkers.set(policy.name, this.createChecker(policy.healthCheck));
    const present = new Set<string>();
    for (const target of this.table.targets()) {
      present.add(target.key);
      const record = this.records.get(target.key);
      if (record === undefined) {
        this.register(target, isGroupServing.get(target.groupName) !== true);
      } else if (target.isDraining && record.state !== TARGET_STATE_DRAINING) {
        // A target whose whole group was removed drains on the group's last deregistrationDelay.
        const policy = this.policies.get(record.groupName) ?? previous.get(record.groupName);
        this.beginDrain(record, target, policy?.deregistrationDelayMs ?? 0);
      } else if (!target.isDraining && record.state === TARGET_STATE_DRAINING) {
        this.reRegister(record);
      } else if (!target.isDraining) {
        this.reconcile(record);
      }
    }
    for (const record of [...this.records.values()]) if (!present.has(record.key)) this.forget(record);
    this.publishTopology(topology);
    return topology;
  }

  /**
   * Start checking and the control tick. Resolves once every checked target
   * has had its first check (each bounded by its timeout), so a caller can
   * open the listeners on a settled view. Idempotent.
   */
  start(): Promise<void> {
    if (this.isRunning || this.isStopped) return Promise.resolve();
    this.isRunning = true;
    this.tickTimer = setInterval(() => this.tick(), HEALTH_TICK_MS);
    this.tickTimer.unref();
    for (const record of this.records.values()) {
      if (!this.isChecked(record)) continue;
      this.firstRound.add(record);
      this.enqueueCheck(record);
    }
    if (this.firstRound.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.resolveFirstRound = resolve;
    });
  }

  /** Stop checks, timers and the tick; abort checks in flight. The table keeps its last states. */
  async stop(): Promise<void> {
    if (this.isStopped) return;
    this.isStopped = true;
    this.isRunning = false;
    if (this.tickTimer !== null) clearInterval(this.tickTimer);
    this.tickTimer = null;
    for (const record of this.records.values()) this.stopChecks(record);
    this.queue.length = 0;
    this.abort.abort();
    this.settleFirstRound(null);
  }

  /**
   * Deregister a target (control port, or anything that removes one without a
   * config reload): it takes no new requests or connections at once, its
   * in-flight requests finish, and its slot is freed as soon as nothing is
   * in flight, or after the group's deregistrationDelay at the latest.
   */
  deregister(targetGroup: string, address: string): DeregisterOutcome {
    const outcome = this.table.drain(targetGroup, address);
    if (outcome !== 'draining') return outcome;
    const target = this.table.target(targetGroup, address);
    const record = this.records.get(target?.key ?? '');
    const delayMs = this.policies.get(targetGroup)?.deregistrationDelayMs ?? 0;
    if (target !== undefined && record !== undefined) this.beginDrain(record, target, delayMs);
    return outcome;
  }

  // === Queries ===

  /** Health checks running right now (at most HEALTH_CHECKS_IN_FLIGHT_MAX), and those waiting their turn. */
  checkLoad(): { readonly running: number; readonly queued: number } {
    return { running: this.checksInFlight, queued: this.queue.length };
  }

  /** One target's health, or undefined when it is not registered (or has finished draining). */
  target(targetGroup: string, address: string): TargetStatus | undefined {
    const target = this.table.target(targetGroup, address);
    const record = target === undefined ? undefined : this.records.get(target.key);
    return record === undefined ? undefined : this.status(record, Date.now());
  }

  /** Every group and its targets, in config order; draining targets of removed groups come last. */
  report(): TargetsReport {
    const nowMs = Date.now();
    const groups: GroupStatus[] = [];
    const seen = new Set<string>();
    for (const policy of this.policies.values()) {
      seen.add(policy.name);
      groups.push(this.groupStatus(policy.name, policy, nowMs));
    }
    for (const name of this.recordsByGroup.keys()) {
      if (!seen.has(name)) groups.push(this.groupStatus(name, null, nowMs));
    }
    return { atMs: nowMs, targetGroups: groups };
  }

  // === Registration, drain, reconcile ===

  private register(target: TableTarget, isExempt: boolean): void {
    const nowMs = Date.now();
    const record: TargetRecord = {
      key: target.key,
      groupName: target.groupName,
      address: target.address,
      host: target.host,
      port: target.port,
      slot: target.slot,
      state: loadTarget(this.table.view, target.slot, TARGET_STATE),
      reason: null,
      stateSinceMs: nowMs,
      transitions: [],
      streak: { successes: 0, failures: 0 },
      checksTotal: 0,
      lastCheck: null,
      timer: null,
      checkEpoch: 0,
      isQueued: false,
      isSlowStartExempt: isExempt,
      slowStartSinceMs: null,
      slowStartUntilMs: 0,
      isEjected: false,
      ejectedUntilMs: 0,
      ejectionMultiplier: 0,
      ejectionsTotal: 0,
      lastTrigger: null,
      multiplierSinceMs: nowMs,
      drainSinceMs: 0,
      drainDeadlineMs: 0,
      drainGeneration: 0,
    };
    record.reason = this.standingReason(record.state, record);
    this.records.set(record.key, record);
    let members = this.recordsByGroup.get(record.groupName);
    if (members === undefined) {
      members = new Set();
      this.recordsByGroup.set(record.groupName, members);
    }
    members.add(record);
    this.noteTransition(record, null, record.state, nowMs);
    if (isRoutableState(record.state)) this.onRoutable(record, nowMs);
    if (this.isChecked(record) && this.isRunning) this.enqueueCheck(record);
  }

  private reRegister(record: TargetRecord): void {
    const state = loadTarget(this.table.view, record.slot, TARGET_STATE);
    record.streak = { successes: 0, failures: 0 };
    record.checksTotal = 0;
    record.drainSinceMs = 0;
    record.drainDeadlineMs = 0;
    this.moveTo(record, state, null, Date.now());
    if (this.isChecked(record) && this.isRunning) this.enqueueCheck(record);
  }

  /** A registered target whose group's attributes may have changed. */
  private reconcile(record: TargetRecord): void {
    const policy = this.policies.get(record.groupName);
    if (policy === undefined) return;
    const nowMs = Date.now();
    if (!policy.isInUse) {
      if (record.state !== TARGET_STATE_UNUSED) {
        this.stopChecks(record);
        this.moveTo(record, TARGET_STATE_UNUSED, null, nowMs);
      }
    } else if (!policy.healthCheck.enabled) {
      if (record.state !== TARGET_STATE_UNAVAILABLE) {
        this.stopChecks(record);
        this.moveTo(record, TARGET_STATE_UNAVAILABLE, null, nowMs);
      }
    } else if (!isCheckedState(record.state)) {
      record.streak = { successes: 0, failures: 0 };
      record.checksTotal = 0;
      this.moveTo(record, TARGET_STATE_INITIAL, null, nowMs);
      if (this.isRunning) this.enqueueCheck(record);
    }
  }

  private beginDrain(record: TargetRecord, target: TableTarget, deregistrationDelayMs: number): void {
    const nowMs = Date.now();
    this.stopChecks(record);
    record.slowStartSinceMs = null;
    if (record.isEjected) {
      this.table.setEjected(record.slot, false);
      record.isEjected = false;
    }
    record.drainSinceMs = nowMs;
    record.drainDeadlineMs = nowMs + this.scaled(deregistrationDelayMs);
    record.drainGeneration = target.drainGeneration;
    // The table already holds DRAINING (publish or drain wrote it with the generation).
    this.moveTo(record, TARGET_STATE_DRAINING, null, nowMs);
  }

  private release(record: TargetRecord, end: DrainEnd, nowMs: number): void {
    const inFlight = loadTarget(this.table.view, record.slot, TARGET_IN_FLIGHT);
    const topology = this.table.release(record.groupName, record.address);
    this.forget(record);
    const drainedMs = nowMs - record.drainSinceMs;
    this.log.info(
      { targetGroup: record.groupName, target: record.address, end, drainedMs, inFlight },
      end === 'idle'
        ? `target ${record.address} in ${record.groupName}: deregistered (drained: nothing in flight)`
        : `target ${record.address} in ${record.groupName}: deregistered (deregistrationDelay passed with ${inFlight} in flight)`,
    );
    this.emit('released', { ...this.ref(record), end, drainedMs, inFlight });
    this.publishTopology(topology);
  }

  private forget(record: TargetRecord): void {
    this.stopChecks(record);
    this.records.delete(record.key);
    const members = this.recordsByGroup.get(record.groupName);
    members?.delete(record);
    if (members?.size === 0) this.recordsByGroup.delete(record.groupName);
  }

  // === States ===

  /**
   * Move a record (and the table) to `state`. `reason` null means the
   * standing reason of that state. Logs and emits only when the state changes;
   * a new reason within the same state (another failure cause) is recorded
   * silently.
   */
  private moveTo(record: TargetRecord, state: number, reason: HealthReason | null, nowMs: number): void {
    const from = record.state;
    record.reason = reason ?? this.standingReason(state, record);
    if (from === state) return;
    if (state !== TARGET_STATE_DRAINING) this.table.setState(record.slot, state);
    record.state = state;
    record.stateSinceMs = nowMs;
    this.noteTransition(record, from, state, nowMs);
    if (isRoutableState(state) && !isRoutableState(from)) this.onRoutable(record, nowMs);
    if (!isRoutableState(state) && record.slowStartSinceMs !== null) {
      record.slowStartSinceMs = null;
      if (state !== TARGET_STATE_DRAINING) this.table.setSlowStart(record.slot, PERMILLE_FULL);
    }
  }

  /** The reason a state carries without a check result. */
  private standingReason(state: number, record: TargetRecord): HealthReason | null {
    switch (state) {
      case TARGET_STATE_INITIAL:
        return record.checksTotal === 0 ? REGISTRATION_IN_PROGRESS : INITIAL_HEALTH_CHECKING;
      case TARGET_STATE_UNHEALTHY:
        return record.lastCheck?.reason ?? null;
      case TARGET_STATE_DRAINING:
        return DEREGISTRATION_IN_PROGRESS;
      case TARGET_STATE_UNUSED:
        return NOT_IN_USE;
      case TARGET_STATE_UNAVAILABLE:
        return HEALTH_CHECK_DISABLED;
      default:
        return null;
    }
  }

  private noteTransition(record: TargetRecord, from: number | null, to: number, nowMs: number): void {
    const fromName = from === null ? null : stateName(from);
    const toName = stateName(to);
    const reason = record.reason;
    record.transitions.push({ atMs: nowMs, from: fromName, to: toName, reason: reason?.code ?? null });
    if (record.transitions.length > HEALTH_TRANSITIONS_KEPT) record.transitions.shift();
    const why = reason === null ? '' : ` (${reason.code}: ${reason.description})`;
    const fields = {
      targetGroup: record.groupName,
      target: record.address,
      from: fromName,
      to: toName,
      reason: reason?.code ?? null,
      description: reason?.description ?? null,
    };
    const message = `target ${record.address} in ${record.groupName}: ${fromName ?? 'registered'} -> ${toName}${why}`;
    if (to === TARGET_STATE_UNHEALTHY) this.log.warn(fields, message);
    else this.log.info(fields, message);
    this.emit('transition', { ...this.ref(record), from: fromName, to: toName, reason, atMs: nowMs });
  }

  /** A target just became routable: slow start, if the group has it and ELB's conditions hold. */
  private onRoutable(record: TargetRecord, nowMs: number): void {
    const isExempt = record.isSlowStartExempt;
    record.isSlowStartExempt = false;
    const policy = this.policies.get(record.groupName);
    if (policy === undefined || policy.slowStartMs <= 0 || isExempt) return;
    if (!this.hasRoutable(record.groupName, record)) return;
    record.slowStartSinceMs = nowMs;
    record.slowStartUntilMs = nowMs + this.scaled(policy.slowStartMs);
    this.table.setSlowStart(record.slot, SLOW_START_FIRST_PERMILLE);
  }

  /** True when the group has a routable target, other than `except`, that is not itself in slow start. */
  private hasRoutable(groupName: string, except: TargetRecord | null): boolean {
    for (const other of this.recordsByGroup.get(groupName) ?? []) {
      if (other !== except && isRoutableState(other.state) && other.slowStartSinceMs === null) return true;
    }
    return false;
  }

  // === Active checks ===

  private isChecked(record: TargetRecord): boolean {
    const policy = this.policies.get(record.groupName);
    return policy?.isInUse === true && policy.healthCheck.enabled && isCheckedState(record.state);
  }

  private createChecker(config: HealthCheckConfig): HealthChecker {
    const timeoutMs = this.scaled(config.timeoutMs);
    if (config.protocol === 'TCP') return createTcpChecker({ port: config.port, timeoutMs });
    return createHttpChecker({
      protocol: config.protocol,
      port: config.port,
      path: config.path,
      timeoutMs,
      matcher: config.matcher,
    });
  }

  private stopChecks(record: TargetRecord): void {
    this.settleFirstRound(record);
    if (record.timer !== null) clearTimeout(record.timer);
    record.timer = null;
    record.checkEpoch++;
    if (record.isQueued) {
      const index = this.queue.indexOf(record);
      if (index >= 0) this.queue.splice(index, 1);
      record.isQueued = false;
    }
  }

  private scheduleCheck(record: TargetRecord, delayMs: number): void {
    if (record.timer !== null) clearTimeout(record.timer);
    record.timer = setTimeout(() => {
      record.timer = null;
      this.enqueueCheck(record);
    }, delayMs);
    record.timer.unref();
  }

  private enqueueCheck(record: TargetRecord): void {
    if (!this.isRunning || record.isQueued || !this.isChecked(record)) return;
    if (this.checksInFlight >= HEALTH_CHECKS_IN_FLIGHT_MAX) {
      record.isQueued = true;
      this.queue.push(record);
      return;
    }
    void this.runCheck(record);
  }

  private async runCheck(record: TargetRecord): Promise<void> {
    const checker = this.checkers.get(record.groupName);
    if (checker === undefined) return;
    const epoch = record.checkEpoch;
    const startedMs = Date.now();
    this.checksInFlight++;
    let result: CheckResult;
    try {
      result = await checker.check({ host: record.host, port: record.port }, this.abort.signal);
    } finally {
      this.checksInFlight--;
      this.startQueued();
    }
    if (!this.isRunning || this.records.get(record.key) !== record || record.checkEpoch !== epoch) return;
    this.applyResult(record, result, startedMs);
    this.settleFirstRound(record);
    if (!this.isChecked(record)) return;
    const policy = this.policies.get(record.groupName);
    const intervalMs = this.scaled(policy?.healthCheck.intervalMs ?? 30_000);
    const factor =
      record.checksTotal === 1
        ? 0.5 + 0.5 * this.random()
        : 1 - HEALTH_CHECK_JITTER_FRACTION + 2 * HEALTH_CHECK_JITTER_FRACTION * this.random();
    this.scheduleCheck(record, Math.max(0, Math.round(intervalMs * factor) - (Date.now() - startedMs)));
  }

  private startQueued(): void {
    while (this.checksInFlight < HEALTH_CHECKS_IN_FLIGHT_MAX && this.queue.length > 0) {
      const next = this.queue.shift()!;
      next.isQueued = false;
      if (this.isRunning && this.isChecked(next)) void this.runCheck(next);
    }
  }

  private applyResult(record: TargetRecord, result: CheckResult, startedMs: number): void {
    const policy = this.policies.get(record.groupName);
    if (policy === undefined) return;
    const isPass = result.outcome === 'pass';
    const failure = failureReason(result);
    record.checksTotal++;
    record.lastCheck = {
      atMs: startedMs,
      durationMs: result.durationMs,
      statusCode: result.statusCode === 0 ? null : result.statusCode,
      outcome: result.outcome,
      reason: failure,
    };
    const judged = judge(record.state, record.streak, isPass, policy.healthCheck);
    record.streak = judged.streak;
    this.emit('check', this.ref(record), result);
    this.moveTo(record, judged.state, judged.state === TARGET_STATE_UNHEALTHY ? failure : null, Date.now());
  }

  private settleFirstRound(record: TargetRecord | null): void {
    if (record !== null) this.firstRound.delete(record);
    else this.firstRound.clear();
    if (this.firstRound.size === 0 && this.resolveFirstRound !== null) {
      const resolve = this.resolveFirstRound;
      this.resolveFirstRound = null;
      resolve();
    }
  }

  // === Control tick: outliers, slow start, drains ===

  private tick(): void {
    if (!this.isRunning) return;
    const nowMs = Date.now();
    for (const [groupName, members] of this.recordsByGroup) this.detectOutliers(groupName, members, nowMs);
    const nowTableMs = clockMs(loadHeader(this.table.view, HEADER_CLOCK_ORIGIN_S));
    const done: [TargetRecord, DrainEnd][] = [];
    for (const record of this.records.values()) {
      if (record.slowStartSinceMs !== null) this.advanceSlowStart(record, nowMs);
      if (record.state !== TARGET_STATE_DRAINING) continue;
      const end = drainEnd(
        this.table.view,
        record.slot,
        record.drainGeneration,
        nowTableMs,
        nowMs,
        record.drainDeadlineMs,
      );
      if (end !== null) done.push([record, end]);
    }
    for (const [record, end] of done) this.release(record, end, nowMs);
    this.emit('tick');
  }

  private advanceSlowStart(record: TargetRecord, nowMs: number): void {
    const sinceMs = record.slowStartSinceMs!;
    const permille = slowStartPermille(nowMs - sinceMs, record.slowStartUntilMs - sinceMs);
    this.table.setSlowStart(record.slot, permille);
    if (permille >= PERMILLE_FULL) record.slowStartSinceMs = null;
  }

  private detectOutliers(groupName: string, members: ReadonlySet<TargetRecord>, nowMs: number): void {
    const policy = this.policies.get(groupName);
    const detection = policy?.outlierDetection;
    const view = this.table.view;
    let registered = 0;
    let ejected = 0;
    for (const record of members) {
      if (record.state === TARGET_STATE_DRAINING) continue;
      registered++;
      if (record.isEjected && (detection?.enabled !== true || nowMs >= record.ejectedUntilMs)) {
        this.readmit(record, nowMs);
      } else if (record.isEjected) {
        ejected++;
      } else if (detection !== undefined && record.ejectionMultiplier > 0) {
        this.decayMultiplier(record, detection.baseEjectionMs, nowMs);
      }
    }
    if (detection === undefined || !detection.enabled || policy?.isInUse !== true) return;
    const cap = ejectionCap(registered, detection.maxEjectionPercent);
    for (const record of members) {
      if (ejected >= cap) return;
      if (record.isEjected || !isRoutableState(record.state)) continue;
      const count5xx = loadTarget(view, record.slot, TARGET_CONSECUTIVE_5XX);
      const countGateway = loadTarget(view, record.slot, TARGET_CONSECUTIVE_GATEWAY_FAILURES);
      const trigger = ejectionTrigger(detection, count5xx, countGateway);
      if (trigger === null) continue;
      record.ejectionMultiplier++;
      record.ejectionsTotal++;
      record.isEjected = true;
      record.lastTrigger = trigger;
      record.ejectedUntilMs =
        nowMs +
        this.scaled(
          ejectionDurationMs(detection.baseEjectionMs, detection.maxEjectionMs, record.ejectionMultiplier),
        );
      this.table.setEjected(record.slot, true);
      ejected++;
      const count = trigger === 'consecutive5xx' ? count5xx : countGateway;
      this.log.warn(
        {
          targetGroup: groupName,
          target: record.address,
          trigger,
          count,
          ejections: record.ejectionMultiplier,
          ejectedMs: record.ejectedUntilMs - nowMs,
        },
        `target ${record.address} in ${groupName}: ejected by outlier detection (${count} ${trigger === 'consecutive5xx' ? 'consecutive 5xx' : 'consecutive gateway failures'})`,
      );
      this.emit('ejection', {
        ...this.ref(record),
        isEjected: true,
        trigger,
        count,
        ejections: record.ejectionMultiplier,
        untilMs: record.ejectedUntilMs,
      });
    }
  }

  /**
   * The multiplier drops by one for each baseEjectionTime a re-admitted
   * target spends without a failure counted against it (both consecutive
   * counters at 0); a failure restarts that clock, so a target that keeps
   * failing after re-admission is ejected for longer each time.
   */
  private decayMultiplier(record: TargetRecord, baseEjectionMs: number, nowMs: number): void {
    const view = this.table.view;
    const isFailing =
      loadTarget(view, record.slot, TARGET_CONSECUTIVE_5XX) > 0 ||
      loadTarget(view, record.slot, TARGET_CONSECUTIVE_GATEWAY_FAILURES) > 0;
    if (isFailing) {
      record.multiplierSinceMs = nowMs;
    } else if (nowMs - record.multiplierSinceMs >= this.scaled(baseEjectionMs)) {
      record.ejectionMultiplier--;
      record.multiplierSinceMs = nowMs;
    }
  }

  private readmit(record: TargetRecord, nowMs: number): void {
    record.isEjected = false;
    record.multiplierSinceMs = nowMs;
    this.table.setEjected(record.slot, false);
    this.log.info(
      { targetGroup: record.groupName, target: record.address, ejections: record.ejectionMultiplier },
      `target ${record.address} in ${record.groupName}: ejection over, back in rotation`,
    );
    this.emit('ejection', {
      ...this.ref(record),
      isEjected: false,
      trigger: null,
      count: 0,
      ejections: record.ejectionMultiplier,
      untilMs: null,
    });
  }

  // === Helpers ===

  private scaled(ms: number): number {
    return ms <= 0 ? 0 : Math.max(1, Math.round(ms * this.timeScale));
  }

  private ref(record: TargetRecord): TargetRef {
    return { targetGroup: record.groupName, address: record.address, slot: record.slot };
  }

  private status(record: TargetRecord, nowMs: number): TargetStatus {
    const view = this.table.view;
    const entry = this.table.target(record.groupName, record.address);
    const sinceMs = record.slowStartSinceMs;
    return {
      targetGroup: record.groupName,
      address: record.address,
      slot: record.slot,
      state: stateName(record.state),
      reason: record.reason,
      stateSinceMs: record.stateSinceMs,
      timeInStateMs: nowMs - record.stateSinceMs,
      lastCheck: record.lastCheck,
      consecutiveSuccesses: record.streak.successes,
      consecutiveFailures: record.streak.failures,
      checksTotal: record.checksTotal,
      transitions: [...record.transitions],
      weight: {
        configured: entry?.configuredWeight ?? 0,
        effective: loadTarget(view, record.slot, TARGET_WEIGHT),
      },
      slowStart:
        sinceMs === null
          ? null
          : {
              sinceMs,
              untilMs: record.slowStartUntilMs,
              percent: Math.round((entry?.slowStartPermille ?? PERMILLE_FULL) / 10),
            },
      outlier: {
        isEjected: record.isEjected,
        ejectedUntilMs: record.isEjected ? record.ejectedUntilMs : null,
        ejectionsTotal: record.ejectionsTotal,
        multiplier: record.ejectionMultiplier,
        lastTrigger: record.lastTrigger,
        consecutive5xx: loadTarget(view, record.slot, TARGET_CONSECUTIVE_5XX),
        consecutiveGatewayFailures: loadTarget(view, record.slot, TARGET_CONSECUTIVE_GATEWAY_FAILURES),
      },
      drain:
        record.state === TARGET_STATE_DRAINING
          ? { sinceMs: record.drainSinceMs, deadlineMs: record.drainDeadlineMs }
          : null,
      inFlight: loadTarget(view, record.slot, TARGET_IN_FLIGHT),
      activeConnections: loadTarget(view, record.slot, TARGET_ACTIVE_CONNECTIONS),
    };
  }

  private groupStatus(name: string, policy: GroupPolicy | null, nowMs: number): GroupStatus {
    const groupIndex = this.groupIndexByName.get(name);
    const view = this.table.view;
    const check = policy?.healthCheck;
    const targets = [...(this.recordsByGroup.get(name) ?? [])]
      .sort((a, b) => a.slot - b.slot)
      .map((record) => this.status(record, nowMs));
    return {
      name,
      isInUse: policy?.isInUse ?? false,
      healthCheck: {
        enabled: check?.enabled ?? false,
        protocol: check?.protocol ?? 'HTTP',
        port: check?.port ?? 'traffic-port',
        path: check?.path ?? '/',
        intervalMs: check?.intervalMs ?? 0,
        timeoutMs: check?.timeoutMs ?? 0,
        healthyThreshold: check?.healthyThreshold ?? 0,
        unhealthyThreshold: check?.unhealthyThreshold ?? 0,
        matcher: check?.matcher.text ?? '',
      },
      failOpen: policy?.failOpen ?? false,
      failOpenRequestsTotal:
        groupIndex === undefined ? 0 : loadGroup(view, groupIndex, GROUP_FAIL_OPEN_TOTAL),
      noTargetRequestsTotal:
        groupIndex === undefined ? 0 : loadGroup(view, groupIndex, GROUP_NO_TARGET_TOTAL),
      targets,
    };
  }
}
