/**
 * @module src/health/manager/drains
 *
 * Deregistration on the clock: a draining target's start and deadline
 * (deregistrationDelay, decision time), the per-tick look at whether its drain
 * is over (../drain.ts: idle and seen by every worker, or past the deadline),
 * and the release that frees its slot and sends the workers the topology
 * without it. Thread: main.
 *
 * Two clocks meet here: the deadline is decision time (the injected clock),
 * while the workers' heartbeats are table time (src/shared/clock.ts
 * `clockMs`, always real), so a fake clock never makes a live worker look
 * stale.
 */

import {
  HEADER_CLOCK_ORIGIN_S,
  loadHeader,
  loadTarget,
  TARGET_IN_FLIGHT,
  TARGET_STATE_DRAINING,
} from '../../../proto/table-layout.ts';
import type { Topology } from '../../../proto/thread-messages.ts';
import { clockMs } from '../../shared/clock.ts';
import { type DrainEnd, drainEnd } from '../drain.ts';
import type { HealthContext } from './context.ts';
import { refOf, type TargetRecord } from './registry.ts';

export class DrainTracker {
  private readonly context: HealthContext;
  private readonly publishTopology: (topology: Topology) => void;
  private readonly onForget: (record: TargetRecord) => void;

  /** `onForget` drops the record from every part (timers, registry) once its slot is freed. */
  constructor(
    context: HealthContext,
    publishTopology: (topology: Topology) => void,
    onForget: (record: TargetRecord) => void,
  ) {
    this.context = context;
    this.publishTopology = publishTopology;
    this.onForget = onForget;
  }

  /** Start the clock on a drain the table has just marked (DRAINING with its generation). */
  begin(record: TargetRecord, deregistrationDelayMs: number): void {
    const nowMs = this.context.clock.nowMs();
    record.drain.sinceMs = nowMs;
    record.drain.deadlineMs = nowMs + Math.max(0, deregistrationDelayMs);
  }

  /** Forget the drain of a target registered again. */
  cancel(record: TargetRecord): void {
    record.drain.sinceMs = 0;
    record.drain.deadlineMs = 0;
  }

  /** Release every draining target whose drain is over at `nowMs`. */
  releaseDone(nowMs: number): void {
    const { table, registry } = this.context;
    const nowTableMs = clockMs(loadHeader(table.view, HEADER_CLOCK_ORIGIN_S));
    const done: [TargetRecord, DrainEnd][] = [];
    for (const record of registry.all()) {
      if (record.state !== TARGET_STATE_DRAINING) continue;
      const end = drainEnd(
        table.view,
        record.target.slot,
        record.target.drainGeneration,
        nowTableMs,
        nowMs,
        record.drain.deadlineMs,
      );
      if (end !== null) done.push([record, end]);
    }
    for (const [record, end] of done) this.release(record, end, nowMs);
  }

  private release(record: TargetRecord, end: DrainEnd, nowMs: number): void {
    const { table, log, events } = this.context;
    const { groupName, address, slot } = record.target;
    const inFlight = loadTarget(table.view, slot, TARGET_IN_FLIGHT);
    const topology = table.release(groupName, address);
    this.onForget(record);
    const drainedMs = nowMs - record.drain.sinceMs;
    log.info(
      { targetGroup: groupName, target: address, end, drainedMs, inFlight },
      end === 'idle'
        ? `target ${address} in ${groupName}: deregistered (drained: nothing in flight)`
        : `target ${address} in ${groupName}: deregistered (deregistrationDelay passed with ${inFlight} in flight)`,
    );
    events.emit('released', { ...refOf(record), end, drainedMs, inFlight, atMs: nowMs });
    this.publishTopology(topology);
  }
}
