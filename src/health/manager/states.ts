/**
 * @module src/health/manager/states
 *
 * Moving a target between states: the table store, the record, the standing
 * reason of each state, the transition history, one log line and one
 * 'transition' event per change, and the hooks that follow (slow start when
 * a target becomes routable, its end when it stops being so). Thread: main.
 */
import {
  TARGET_STATE_DRAINING,
  TARGET_STATE_INITIAL,
  TARGET_STATE_UNAVAILABLE,
  TARGET_STATE_UNHEALTHY,
  TARGET_STATE_UNUSED,
} from '../../../proto/table-layout.ts';
import { HEALTH_TRANSITIONS_KEPT } from '../limits.ts';
import {
  DEREGISTRATION_IN_PROGRESS,
  HEALTH_CHECK_DISABLED,
  type HealthReason,
  INITIAL_HEALTH_CHECKING,
  NOT_IN_USE,
  REGISTRATION_IN_PROGRESS,
  stateName,
} from '../reasons.ts';
import type { HealthContext } from './context.ts';
import { isRoutableState, refOf, type TargetRecord } from './registry.ts';
import type { SlowStartRamp } from './slow-start-ramp.ts';

export class TargetStates {
  private readonly context: HealthContext;
  private readonly slowStart: SlowStartRamp;

  constructor(context: HealthContext, slowStart: SlowStartRamp) {
    this.context = context;
    this.slowStart = slowStart;
  }

  /** A record just added to the registry: its standing reason, the `registered` transition, and slow start if routable. */
  registered(record: TargetRecord): void {
    const nowMs = record.stateSinceMs;
    record.reason = standingReason(record.state, record);
    this.noteTransition(record, null, record.state, nowMs);
    if (isRoutableState(record.state)) this.slowStart.begin(record, nowMs);
  }

  /**
   * Move a record (and the table) to `state`. `reason` null means the
   * standing reason of that state. Logs and emits only when the state
   * changes; a new reason within the same state (another failure cause) is
   * recorded silently.
   */
  moveTo(record: TargetRecord, state: number, reason: HealthReason | null): void {
    const nowMs = this.context.clock.nowMs();
    const from = record.state;
    record.reason = reason ?? standingReason(state, record);
    if (from === state) return;
    if (state !== TARGET_STATE_DRAINING) this.context.table.setState(record.target.slot, state);
    // A health transition starts the outlier count over (issue 10): a target back to healthy
    // was ejected 64 ms later for gateway failures counted while it was known to be down.
    this.context.table.resetConsecutiveFailures(record.target.slot);
    record.state = state;
    record.stateSinceMs = nowMs;
    this.noteTransition(record, from, state, nowMs);
    if (isRoutableState(state) && !isRoutableState(from)) this.slowStart.begin(record, nowMs);
    if (!isRoutableState(state)) this.slowStart.stop(record, state !== TARGET_STATE_DRAINING);
  }

  private noteTransition(record: TargetRecord, from: number | null, to: number, nowMs: number): void {
    const { groupName, address } = record.target;
    const fromName = from === null ? null : stateName(from);
    const toName = stateName(to);
    const reason = record.reason;
    record.transitions.push({ atMs: nowMs, from: fromName, to: toName, reason: reason?.code ?? null });
    if (record.transitions.length > HEALTH_TRANSITIONS_KEPT) record.transitions.shift();
    const why = reason === null ? '' : ` (${reason.code}: ${reason.description})`;
    const fields = {
      targetGroup: groupName,
      target: address,
      from: fromName,
      to: toName,
      reason: reason?.code ?? null,
      description: reason?.description ?? null,
    };
    const message = `target ${address} in ${groupName}: ${fromName ?? 'registered'} -> ${toName}${why}`;
    if (to === TARGET_STATE_UNHEALTHY) this.context.log.warn(fields, message);
    else this.context.log.info(fields, message);
    this.context.events.emit('transition', {
      ...refOf(record),
      from: fromName,
      to: toName,
      reason,
      atMs: nowMs,
    });
  }
}

/** The reason a state carries without a check result. */
function standingReason(state: number, record: TargetRecord): HealthReason | null {
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
