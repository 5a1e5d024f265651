/**
 * @module src/health/manager/slow-start-ramp
 *
 * Slow start on the clock: begins a ramp when a target becomes routable
 * (under ELB's conditions, see ../slow-start.ts), advances its weight factor
 * on each control tick, and ends it early when the target stops being
 * routable. Thread: main. The factor itself is the pure `slowStartPermille`.
 */
import { PERMILLE_FULL } from '../../table/index.ts';
import { SLOW_START_FIRST_PERMILLE } from '../limits.ts';
import { slowStartPermille } from '../slow-start.ts';
import type { HealthContext } from './context.ts';
import type { TargetRecord } from './registry.ts';

export class SlowStartRamp {
  private readonly context: HealthContext;

  constructor(context: HealthContext) {
    this.context = context;
  }

  /** A target just became routable at `nowMs`: ramp it, if its group has slow start and ELB's conditions hold. */
  begin(record: TargetRecord, nowMs: number): void {
    const ramp = record.slowStart;
    const isExempt = ramp.isExempt;
    ramp.isExempt = false;
    const policy = this.context.policies.get(record.target.groupName);
    if (policy === undefined || policy.slowStartMs <= 0 || isExempt) return;
    if (!this.context.registry.hasSettledRoutable(record.target.groupName, record)) return;
    ramp.sinceMs = nowMs;
    ramp.untilMs = nowMs + policy.slowStartMs;
    this.context.table.setSlowStart(record.target.slot, SLOW_START_FIRST_PERMILLE);
  }

  /** Move a ramping target's factor to where `nowMs` puts it; the ramp ends at PERMILLE_FULL. */
  advance(record: TargetRecord, nowMs: number): void {
    const ramp = record.slowStart;
    if (ramp.sinceMs === null) return;
    const permille = slowStartPermille(nowMs - ramp.sinceMs, ramp.untilMs - ramp.sinceMs);
    this.context.table.setSlowStart(record.target.slot, permille);
    if (permille >= PERMILLE_FULL) ramp.sinceMs = null;
  }

  /** End a ramp before its time; `isRestoring` writes the full weight back (not for a draining target, whose weight is 0). */
  stop(record: TargetRecord, isRestoring: boolean): void {
    if (record.slowStart.sinceMs === null) return;
    record.slowStart.sinceMs = null;
    if (isRestoring) this.context.table.setSlowStart(record.target.slot, PERMILLE_FULL);
  }
}
