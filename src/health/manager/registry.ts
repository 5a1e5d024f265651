/**
 * @module src/health/manager/registry
 *
 * The health records: one per registered or draining target, holding only
 * what health alone knows (state as last decided, reason, streak, checks,
 * timers, ejection, slow start, drain). Thread: main.
 *
 * Identity (group, address, host, port, slot), weights and the drain
 * generation are not copied here: each record points at the TableWriter's own
 * live, read-only `TableTarget`, so there is one registry of targets (the
 * table's) and this is a side table of health state keyed by it. A record
 * lives from the table's publish of its target until `release` frees the slot.
 */

import {
  TARGET_STATE_HEALTHY,
  TARGET_STATE_INITIAL,
  TARGET_STATE_UNAVAILABLE,
  TARGET_STATE_UNHEALTHY,
} from '../../../proto/table-layout.ts';
import type { ClockTimer } from '../../shared/clock.ts';
import type { TableTarget } from '../../table/index.ts';
import type { CheckOutcome } from '../checker.ts';
import type { EjectionTrigger } from '../outlier.ts';
import type { HealthReason, TargetStateName } from '../reasons.ts';
import type { Streak } from '../thresholds.ts';
import type { TargetRef } from './events.ts';

/** Last check of a target, as the read model shows it. */
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

/** Checks by outcome since the record was made (never reset while it lives: what `/metrics` counts). */
export interface CheckOutcomeTotals {
  pass: number;
  status: number;
  timeout: number;
  error: number;
}

/** One outlier ejection, as `explain` shows it. */
export interface EjectionRecord {
  /** Epoch ms of the ejection. */
  readonly atMs: number;
  readonly trigger: EjectionTrigger;
  /** Consecutive failures the workers had counted. */
  readonly count: number;
  /** The multiplier it was ejected with (1 = baseEjectionTime; the backoff). */
  readonly multiplier: number;
  /** How long it was ejected for (baseEjectionTime × multiplier, capped). */
  readonly durationMs: number;
}

export interface TransitionRecord {
  readonly atMs: number;
  readonly from: TargetStateName | null;
  readonly to: TargetStateName;
  readonly reason: string | null;
}

/** The check scheduler's part of a record (scheduler.ts). */
export interface CheckSchedule {
  timer: ClockTimer | null;
  /** Bumped whenever checks stop or restart, so a result from before is dropped. */
  epoch: number;
  isQueued: boolean;
}

/** Outlier ejection's part of a record (outliers.ts). */
export interface OutlierState {
  isEjected: boolean;
  ejectedUntilMs: number;
  /** Times ejected, decaying by one per baseEjectionTime without failures. */
  multiplier: number;
  ejectionsTotal: number;
  lastTrigger: EjectionTrigger | null;
  /** The last HEALTH_EJECTION_HISTORY_MAX ejections, oldest first. */
  readonly history: EjectionRecord[];
  /** Epoch ms from which the multiplier decays by one per baseEjectionTime. */
  multiplierSinceMs: number;
}

/** Slow start's part of a record (slow-start-ramp.ts). */
export interface SlowStartState {
  /** Registered together with the group's first targets: no slow start on its first healthy transition (ELB). */
  isExempt: boolean;
  /** Epoch ms the ramp began; null when not ramping. */
  sinceMs: number | null;
  untilMs: number;
}

/** The drain's part of a record (drains.ts); meaningful while the state is DRAINING. */
export interface DrainState {
  sinceMs: number;
  deadlineMs: number;
}

export interface TargetRecord {
  /** The table's own entry: identity, slot, weights, drain generation (live, read-only). */
  readonly target: TableTarget;
  /** TARGET_STATE_* as health last decided it (the table holds the same value, except DRAINING, which the table writes itself). */
  state: number;
  reason: HealthReason | null;
  stateSinceMs: number;
  readonly transitions: TransitionRecord[];
  streak: Streak;
  checksTotal: number;
  lastCheck: LastCheck | null;
  /** The last HEALTH_CHECK_HISTORY_MAX checks, oldest first. */
  readonly recentChecks: LastCheck[];
  readonly checkOutcomesTotal: CheckOutcomeTotals;
  readonly schedule: CheckSchedule;
  readonly outlier: OutlierState;
  readonly slowStart: SlowStartState;
  readonly drain: DrainState;
}

/** HEALTHY or UNAVAILABLE (checks off): a state pickers may send traffic to. */
export function isRoutableState(state: number): boolean {
  return state === TARGET_STATE_HEALTHY || state === TARGET_STATE_UNAVAILABLE;
}

/** INITIAL, HEALTHY or UNHEALTHY: a state active checks move between. */
export function isCheckedState(state: number): boolean {
  return state === TARGET_STATE_INITIAL || state === TARGET_STATE_HEALTHY || state === TARGET_STATE_UNHEALTHY;
}

/** The event payload naming a record's target. */
export function refOf(record: TargetRecord): TargetRef {
  return { targetGroup: record.target.groupName, address: record.target.address, slot: record.target.slot };
}

/** Health records by the table's target key, and by group. */
export class TargetRegistry {
  private readonly byKey: Map<string, TargetRecord>;
  private readonly byGroup: Map<string, Set<TargetRecord>>;

  constructor() {
    this.byKey = new Map();
    this.byGroup = new Map();
  }

  /** A fresh record for a target the table just registered, in `state`, at `nowMs`. */
  add(target: TableTarget, state: number, isSlowStartExempt: boolean, nowMs: number): TargetRecord {
    const record: TargetRecord = {
      target,
      state,
      reason: null,
      stateSinceMs: nowMs,
      transitions: [],
      streak: { successes: 0, failures: 0 },
      checksTotal: 0,
      lastCheck: null,
      recentChecks: [],
      checkOutcomesTotal: { pass: 0, status: 0, timeout: 0, error: 0 },
      schedule: { timer: null, epoch: 0, isQueued: false },
      outlier: {
        isEjected: false,
        ejectedUntilMs: 0,
        multiplier: 0,
        ejectionsTotal: 0,
        lastTrigger: null,
        history: [],
        multiplierSinceMs: nowMs,
      },
      slowStart: { isExempt: isSlowStartExempt, sinceMs: null, untilMs: 0 },
      drain: { sinceMs: 0, deadlineMs: 0 },
    };
    this.byKey.set(target.key, record);
    let members = this.byGroup.get(target.groupName);
    if (members === undefined) {
      members = new Set();
      this.byGroup.set(target.groupName, members);
    }
    members.add(record);
    return record;
  }

  remove(record: TargetRecord): void {
    this.byKey.delete(record.target.key);
    const members = this.byGroup.get(record.target.groupName);
    members?.delete(record);
    if (members?.size === 0) this.byGroup.delete(record.target.groupName);
  }

  /** The record of the table target with this key. */
  get(key: string): TargetRecord | undefined {
    return this.byKey.get(key);
  }

  /** True while `record` is the registered one for its key (not forgotten or replaced). */
  isCurrent(record: TargetRecord): boolean {
    return this.byKey.get(record.target.key) === record;
  }

  all(): IterableIterator<TargetRecord> {
    return this.byKey.values();
  }

  /** Members of a group (empty when it has none). */
  group(groupName: string): ReadonlySet<TargetRecord> {
    return this.byGroup.get(groupName) ?? EMPTY;
  }

  /** Groups that have at least one record, including removed groups whose targets still drain. */
  groupNames(): IterableIterator<string> {
    return this.byGroup.keys();
  }

  /** True when the group has a routable target, other than `except`, that is not itself in slow start. */
  hasSettledRoutable(groupName: string, except: TargetRecord | null): boolean {
    for (const other of this.group(groupName)) {
      if (other !== except && isRoutableState(other.state) && other.slowStart.sinceMs === null) return true;
    }
    return false;
  }
}

const EMPTY: ReadonlySet<TargetRecord> = new Set();
