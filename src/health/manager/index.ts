/**
 * @module src/health/manager
 *
 * The health manager: owns every target's lifecycle on the main thread and
 * publishes it through the shared table, so each worker sees a change on its
 * very next pick. Thread: main. Place in the flow: config -> table <-
 * **health** (this) <- control port / reload.
 *
 *   apply(plan) ----> table.publish -> registry (initial | unavailable | unused | draining)
 *   scheduler ------> checker (tcp/http) -> thresholds.judge -> states.moveTo (table + log + 'transition')
 *   tick (100 ms) --> outliers: ejection / re-admission -> TARGET_EJECTED
 *                 --> slow-start-ramp: factor -> table.setSlowStart (weights)
 *                 --> drains: end (idle or deadline) -> table.release -> topology to workers
 *   deregister ----> table.drain (DRAINING at once) -> drains.begin
 *   report() ------> report.ts: the one read model (admin, control port, status page)
 *
 * This file is the façade: it wires the parts (one file each, one reason to
 * change) and keeps the public API. Every "is it due yet" runs on the
 * injected `clock` (default REAL_CLOCK), so tests advance time instead of
 * sleeping; timestamps the workers compare with theirs stay real (see
 * src/shared/clock.ts).
 *
 * Every state change is one log line (info; warn for `unhealthy`) with the
 * target, old -> new state and reason, and one 'transition' event.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { DiscoveryStatus, ExplainResult } from '../../../proto/control/messages.ts';
import {
  loadTarget,
  TARGET_STATE,
  TARGET_STATE_DRAINING,
  TARGET_STATE_INITIAL,
  TARGET_STATE_UNAVAILABLE,
  TARGET_STATE_UNHEALTHY,
  TARGET_STATE_UNUSED,
} from '../../../proto/table-layout.ts';
import type { Topology } from '../../../proto/thread-messages.ts';
import { assert } from '../../shared/assert.ts';
import { type Clock, type ClockTimer, REAL_CLOCK } from '../../shared/clock.ts';
import type { TablePlan, TableTarget, TableWriter } from '../../table/index.ts';
import type { CheckResult } from '../checker.ts';
import { HEALTH_CHECK_HISTORY_MAX, HEALTH_TICK_MS } from '../limits.ts';
import { failureReason } from '../reasons.ts';
import { judge } from '../thresholds.ts';
import type { HealthContext } from './context.ts';
import { DrainTracker } from './drains.ts';
import type { DeregisterOutcome, HealthEvents } from './events.ts';
import { type ExplainInputs, explainTarget } from './explain.ts';
import { OutlierEjector } from './outliers.ts';
import type { GroupPolicy } from './policy.ts';
import { isCheckedState, refOf, type TargetRecord, TargetRegistry } from './registry.ts';
import { buildReport, type TargetStatus, type TargetsReport, targetStatus } from './report.ts';
import { CheckScheduler } from './scheduler.ts';
import { SlowStartRamp } from './slow-start-ramp.ts';
import { TargetStates } from './states.ts';

export type {
  DeregisterOutcome,
  EjectionEvent,
  HealthEvents,
  ReleaseEvent,
  TargetRef,
  TransitionEvent,
} from './events.ts';
export type { ExplainInputs } from './explain.ts';
export { type GroupPolicy, policiesFromConfig } from './policy.ts';
export type { CheckOutcomeTotals, EjectionRecord, LastCheck, TransitionRecord } from './registry.ts';
export { findTargetStatus, type GroupStatus, type TargetStatus, type TargetsReport } from './report.ts';

export interface HealthManagerOptions {
  readonly table: TableWriter;
  readonly log: Logger;
  /** Sends a topology to the workers (after apply and whenever a drained target leaves). */
  readonly publishTopology: (topology: Topology) => void;
  /** Decision time and timers (check schedule, tick, ejections, slow start, drain deadlines). Default REAL_CLOCK. */
  readonly clock?: Clock;
  /** Uniform [0, 1) source for jitter; tests may fix it. Default Math.random. */
  readonly random?: () => number;
  /** DNS discovery status by group (src/discovery), for the read model; default none. */
  readonly discoveryStatus?: () => ReadonlyMap<string, DiscoveryStatus>;
}

export class HealthManager extends EventEmitter<HealthEvents> {
  private readonly context: HealthContext;
  private readonly publishTopology: (topology: Topology) => void;
  private readonly scheduler: CheckScheduler;
  private readonly states: TargetStates;
  private readonly slowStart: SlowStartRamp;
  private readonly outliers: OutlierEjector;
  private readonly drains: DrainTracker;
  private isRunning: boolean;
  private isStopped: boolean;
  private tickTimer: ClockTimer | null;

  constructor(options: HealthManagerOptions) {
    super();
    this.context = {
      table: options.table,
      log: options.log,
      clock: options.clock ?? REAL_CLOCK,
      registry: new TargetRegistry(),
      events: this,
      policies: new Map(),
      discoveryStatus: options.discoveryStatus ?? (() => new Map()),
    };
    this.publishTopology = options.publishTopology;
    this.scheduler = new CheckScheduler(this.context, {
      random: options.random ?? Math.random,
      onResult: (record, result, startedMs) => this.applyResult(record, result, startedMs),
    });
    this.slowStart = new SlowStartRamp(this.context);
    this.states = new TargetStates(this.context, this.slowStart);
    this.outliers = new OutlierEjector(this.context);
    this.drains = new DrainTracker(this.context, this.publishTopology, (record) => this.forget(record));
    this.isRunning = false;
    this.isStopped = false;
    this.tickTimer = null;
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
    const { context } = this;
    const { registry, table } = context;
    const isGroupServing = new Map<string, boolean>();
    for (const policy of policies)
      isGroupServing.set(policy.name, registry.hasSettledRoutable(policy.name, null));
    const topology = table.publish(plan);
    const previous = context.policies;
    context.policies = new Map(policies.map((policy) => [policy.name, policy]));
    this.scheduler.configure();
    const present = new Set<string>();
    for (const target of table.targets()) {
      present.add(target.key);
      const record = registry.get(target.key);
      if (record === undefined) {
        this.register(target, isGroupServing.get(target.groupName) !== true);
        continue;
      }
      assert(record.target === target, `health record of ${target.key} lost its table entry`);
      if (target.isDraining && record.state !== TARGET_STATE_DRAINING) {
        // A target whose whole group was removed drains on the group's last deregistrationDelay.
        const policy = context.policies.get(target.groupName) ?? previous.get(target.groupName);
        this.beginDrain(record, policy?.deregistrationDelayMs ?? 0);
      } else if (!target.isDraining && record.state === TARGET_STATE_DRAINING) {
        this.reRegister(record);
      } else if (!target.isDraining) {
        this.reconcile(record);
      }
    }
    for (const record of [...registry.all()]) if (!present.has(record.target.key)) this.forget(record);
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
    this.tickTimer = this.context.clock.setInterval(() => this.tick(), HEALTH_TICK_MS);
    return this.scheduler.start();
  }

  /** Stop checks, timers and the tick; abort checks in flight. The table keeps its last states. */
  async stop(): Promise<void> {
    if (this.isStopped) return;
    this.isStopped = true;
    this.isRunning = false;
    if (this.tickTimer !== null) this.context.clock.clearTimer(this.tickTimer);
    this.tickTimer = null;
    this.scheduler.stop();
  }

  /**
   * Deregister a target (control port, or anything that removes one without a
   * config reload): it takes no new requests or connections at once, its
   * in-flight requests finish, and its slot is freed as soon as nothing is
   * in flight, or after the group's deregistrationDelay at the latest.
   */
  deregister(targetGroup: string, address: string): DeregisterOutcome {
    const { table, registry, policies } = this.context;
    const outcome = table.drain(targetGroup, address);
    if (outcome !== 'draining') return outcome;
    const record = registry.get(table.target(targetGroup, address)?.key ?? '');
    if (record !== undefined) this.beginDrain(record, policies.get(targetGroup)?.deregistrationDelayMs ?? 0);
    return outcome;
  }

  // === Queries ===

  /** Health checks running right now (at most HEALTH_CHECKS_IN_FLIGHT_MAX), and those waiting their turn. */
  checkLoad(): { readonly running: number; readonly queued: number } {
    return this.scheduler.load();
  }

  /** One target's health, or undefined when it is not registered (or has finished draining). */
  target(targetGroup: string, address: string): TargetStatus | undefined {
    const { table, registry, clock } = this.context;
    const record = registry.get(table.target(targetGroup, address)?.key ?? '');
    return record === undefined ? undefined : targetStatus(this.context, record, clock.nowMs());
  }

  /**
   * Why one target is (not) in rotation (explain.ts), from the same report
   * as `report()`; undefined when the group or target is not registered.
   */
  explain(targetGroup: string, address: string, inputs: ExplainInputs): ExplainResult | undefined {
    const report = this.report();
    const group = report.targetGroups.find((candidate) => candidate.name === targetGroup);
    const target = group?.targets.find((candidate) => candidate.address === address);
    return group === undefined || target === undefined
      ? undefined
      : explainTarget(target, group, inputs, report.atMs);
  }

  /** Every group and its targets, in config order; draining targets of removed groups come last. */
  report(): TargetsReport {
    return buildReport(this.context, this.context.clock.nowMs());
  }

  // === Registration, drain, reconcile ===

  private register(target: TableTarget, isSlowStartExempt: boolean): void {
    const { registry, table, clock } = this.context;
    const state = loadTarget(table.view, target.slot, TARGET_STATE);
    const record = registry.add(target, state, isSlowStartExempt, clock.nowMs());
    this.states.registered(record);
    this.scheduler.enqueue(record);
  }

  private reRegister(record: TargetRecord): void {
    const state = loadTarget(this.context.table.view, record.target.slot, TARGET_STATE);
    record.streak = { successes: 0, failures: 0 };
    record.checksTotal = 0;
    this.drains.cancel(record);
    this.states.moveTo(record, state, null);
    this.scheduler.enqueue(record);
  }

  /** A registered target whose group's attributes may have changed. */
  private reconcile(record: TargetRecord): void {
    const policy = this.context.policies.get(record.target.groupName);
    if (policy === undefined) return;
    if (!policy.isInUse) {
      if (record.state !== TARGET_STATE_UNUSED) {
        this.scheduler.stopChecks(record);
        this.states.moveTo(record, TARGET_STATE_UNUSED, null);
      }
    } else if (!policy.healthCheck.enabled) {
      if (record.state !== TARGET_STATE_UNAVAILABLE) {
        this.scheduler.stopChecks(record);
        this.states.moveTo(record, TARGET_STATE_UNAVAILABLE, null);
      }
    } else if (!isCheckedState(record.state)) {
      record.streak = { successes: 0, failures: 0 };
      record.checksTotal = 0;
      this.states.moveTo(record, TARGET_STATE_INITIAL, null);
      this.scheduler.enqueue(record);
    }
  }

  private beginDrain(record: TargetRecord, deregistrationDelayMs: number): void {
    this.scheduler.stopChecks(record);
    this.slowStart.stop(record, false);
    this.outliers.clear(record);
    this.drains.begin(record, deregistrationDelayMs);
    // The table already holds DRAINING (publish or drain wrote it with the generation).
    this.states.moveTo(record, TARGET_STATE_DRAINING, null);
  }

  private forget(record: TargetRecord): void {
    this.scheduler.stopChecks(record);
    this.context.registry.remove(record);
  }

  // === Check results ===

  private applyResult(record: TargetRecord, result: CheckResult, startedMs: number): void {
    const policy = this.context.policies.get(record.target.groupName);
    if (policy === undefined) return;
    const isPass = result.outcome === 'pass';
    const failure = failureReason(result);
    record.checksTotal++;
    record.checkOutcomesTotal[result.outcome]++;
    record.lastCheck = {
      atMs: startedMs,
      durationMs: result.durationMs,
      statusCode: result.statusCode === 0 ? null : result.statusCode,
      outcome: result.outcome,
      reason: failure,
    };
    if (record.recentChecks.length === HEALTH_CHECK_HISTORY_MAX) record.recentChecks.shift();
    record.recentChecks.push(record.lastCheck);
    const judged =
      result.cause === 'local'
        ? { state: record.state, streak: record.streak }
        : judge(record.state, record.streak, isPass, policy.healthCheck);
    record.streak = judged.streak;
    this.emit('check', refOf(record), result);
    // A check Ferry could not run (EMFILE under a connection flood) says nothing about the target.
    if (result.cause === 'local') return;
    this.states.moveTo(record, judged.state, judged.state === TARGET_STATE_UNHEALTHY ? failure : null);
  }

  // === Control tick: outliers, slow start, drains ===

  private tick(): void {
    if (!this.isRunning) return;
    const { registry, clock } = this.context;
    const nowMs = clock.nowMs();
    for (const groupName of [...registry.groupNames()]) this.outliers.detect(groupName, nowMs);
    for (const record of registry.all()) this.slowStart.advance(record, nowMs);
    this.drains.releaseDone(nowMs);
    this.emit('tick');
  }
}
