/**
 * @module src/health/manager/outliers
 *
 * Outlier ejection and re-admission on the clock: each control tick reads the
 * workers' consecutive-failure counters from the table, ejects targets past
 * their group's threshold (within the group's cap), re-admits those whose
 * ejection time is up, and decays the multiplier of targets that stay clean.
 * Thread: main. The decisions themselves are the pure functions of
 * ../outlier.ts; this part owns the per-target state, the table writes
 * (TARGET_EJECTED), the log lines and the 'ejection' events.
 */
import {
  loadTarget,
  TARGET_CONSECUTIVE_5XX,
  TARGET_CONSECUTIVE_GATEWAY_FAILURES,
  TARGET_STATE_DRAINING,
} from '../../../proto/table-layout.ts';
import { HEALTH_EJECTION_HISTORY_MAX } from '../limits.ts';
import { ejectionCap, ejectionDurationMs, ejectionTrigger } from '../outlier.ts';
import type { HealthContext } from './context.ts';
import { isRoutableState, refOf, type TargetRecord } from './registry.ts';

export class OutlierEjector {
  private readonly context: HealthContext;

  constructor(context: HealthContext) {
    this.context = context;
  }

  /** One pass over a group at `nowMs`: re-admit, decay, then eject up to the cap. */
  detect(groupName: string, nowMs: number): void {
    const { context } = this;
    const members = context.registry.group(groupName);
    const policy = context.policies.get(groupName);
    const detection = policy?.outlierDetection;
    const view = context.table.view;
    let registered = 0;
    let ejected = 0;
    for (const record of members) {
      if (record.state === TARGET_STATE_DRAINING) continue;
      registered++;
      const outlier = record.outlier;
      if (outlier.isEjected && (detection?.enabled !== true || nowMs >= outlier.ejectedUntilMs)) {
        this.readmit(record, nowMs);
      } else if (outlier.isEjected) {
        ejected++;
      } else if (detection !== undefined && outlier.multiplier > 0) {
        this.decayMultiplier(record, detection.baseEjectionMs, nowMs);
      }
    }
    if (detection === undefined || !detection.enabled || policy?.isInUse !== true) return;
    const cap = ejectionCap(registered, detection.maxEjectionPercent);
    for (const record of members) {
      if (ejected >= cap) return;
      const outlier = record.outlier;
      if (outlier.isEjected || !isRoutableState(record.state)) continue;
      const { slot, groupName: group, address } = record.target;
      const count5xx = loadTarget(view, slot, TARGET_CONSECUTIVE_5XX);
      const countGateway = loadTarget(view, slot, TARGET_CONSECUTIVE_GATEWAY_FAILURES);
      const trigger = ejectionTrigger(detection, count5xx, countGateway);
      if (trigger === null) continue;
      outlier.multiplier++;
      outlier.ejectionsTotal++;
      outlier.isEjected = true;
      outlier.lastTrigger = trigger;
      outlier.ejectedUntilMs =
        nowMs + ejectionDurationMs(detection.baseEjectionMs, detection.maxEjectionMs, outlier.multiplier);
      context.table.setEjected(slot, true);
      ejected++;
      const count = trigger === 'consecutive5xx' ? count5xx : countGateway;
      if (outlier.history.length === HEALTH_EJECTION_HISTORY_MAX) outlier.history.shift();
      outlier.history.push({
        atMs: nowMs,
        trigger,
        count,
        multiplier: outlier.multiplier,
        durationMs: outlier.ejectedUntilMs - nowMs,
      });
      context.log.warn(
        {
          targetGroup: group,
          target: address,
          trigger,
          count,
          ejections: outlier.multiplier,
          ejectedMs: outlier.ejectedUntilMs - nowMs,
        },
        `target ${address} in ${group}: ejected by outlier detection (${count} ${trigger === 'consecutive5xx' ? 'consecutive 5xx' : 'consecutive gateway failures'})`,
      );
      context.events.emit('ejection', {
        ...refOf(record),
        isEjected: true,
        trigger,
        count,
        ejections: outlier.multiplier,
        untilMs: outlier.ejectedUntilMs,
      });
    }
  }

  /** Lift an ejection without an event (the target starts draining; its table row is cleared). */
  clear(record: TargetRecord): void {
    if (!record.outlier.isEjected) return;
    this.context.table.setEjected(record.target.slot, false);
    record.outlier.isEjected = false;
  }

  /**
   * The multiplier drops by one for each baseEjectionTime a re-admitted
   * target spends without a failure counted against it (both consecutive
   * counters at 0); a failure restarts that clock, so a target that keeps
   * failing after re-admission is ejected for longer each time.
   */
  private decayMultiplier(record: TargetRecord, baseEjectionMs: number, nowMs: number): void {
    const view = this.context.table.view;
    const slot = record.target.slot;
    const isFailing =
      loadTarget(view, slot, TARGET_CONSECUTIVE_5XX) > 0 ||
      loadTarget(view, slot, TARGET_CONSECUTIVE_GATEWAY_FAILURES) > 0;
    if (isFailing) {
      record.outlier.multiplierSinceMs = nowMs;
    } else if (nowMs - record.outlier.multiplierSinceMs >= baseEjectionMs) {
      record.outlier.multiplier--;
      record.outlier.multiplierSinceMs = nowMs;
    }
  }

  private readmit(record: TargetRecord, nowMs: number): void {
    const { groupName, address, slot } = record.target;
    record.outlier.isEjected = false;
    record.outlier.multiplierSinceMs = nowMs;
    this.context.table.setEjected(slot, false);
    this.context.log.info(
      { targetGroup: groupName, target: address, ejections: record.outlier.multiplier },
      `target ${address} in ${groupName}: ejection over, back in rotation`,
    );
    this.context.events.emit('ejection', {
      ...refOf(record),
      isEjected: false,
      trigger: null,
      count: 0,
      ejections: record.outlier.multiplier,
      untilMs: null,
    });
  }
}
