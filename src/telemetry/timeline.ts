/**
 * @module src/telemetry/timeline
 *
 * The status page's timeline of events: health transitions, deregistrations
 * that finished (the target is gone, and with it the transitions the health
 * read model kept for it) and failovers and failbacks. Thread: main. Place
 * in the flow: health events + failover events -> **timeline** -> status.ts
 * -> `/status.json` `timeline` -> the page.
 *
 * Why its own record: the health read model keeps transitions per target,
 * so a released target takes its history with it, and failover switches are
 * not target transitions at all (issue 10: both were missing from the page).
 * Bounded: the newest TIMELINE_EVENTS_KEPT events.
 */
import type { FailoverSwitchEvent } from '../failover/index.ts';
import type { ReleaseEvent, TransitionEvent } from '../health/index.ts';

/** Events kept for the page (the page shows the newest few). */
export const TIMELINE_EVENTS_KEPT = 100;

/** One timeline entry as `/status.json` carries it (`at` is ISO 8601). */
export interface TimelineEntry {
  readonly atMs: number;
  /** health: a state transition; deregistered: a drained target was released; failover/failback: a group switch. */
  readonly kind: 'health' | 'deregistered' | 'failover' | 'failback';
  readonly targetGroup: string;
  /** The target's address; null for a group event (failover, failback). */
  readonly target: string | null;
  readonly from: string | null;
  readonly to: string;
  /** A reason code (health), `idle` / `deadline` (deregistered) or the trigger (failover). */
  readonly reason: string | null;
}

export class Timeline {
  private readonly entries: TimelineEntry[] = [];

  onTransition(event: TransitionEvent): void {
    this.push({
      atMs: event.atMs,
      kind: 'health',
      targetGroup: event.targetGroup,
      target: event.address,
      from: event.from,
      to: event.to,
      reason: event.reason?.code ?? null,
    });
  }

  onReleased(event: ReleaseEvent): void {
    this.push({
      atMs: event.atMs,
      kind: 'deregistered',
      targetGroup: event.targetGroup,
      target: event.address,
      from: 'draining',
      to: 'deregistered',
      reason: event.end === 'idle' ? 'drained' : `deregistrationDelay passed, ${event.inFlight} in flight`,
    });
  }

  onSwitch(event: FailoverSwitchEvent): void {
    this.push({
      atMs: event.atMs,
      kind: event.to === event.targetGroup ? 'failback' : 'failover',
      targetGroup: event.targetGroup,
      target: null,
      from: event.from,
      to: event.to,
      reason: event.trigger,
    });
  }

  /** Newest first. Allocates. */
  recent(): readonly TimelineEntry[] {
    return [...this.entries].reverse();
  }

  private push(entry: TimelineEntry): void {
    this.entries.push(entry);
    if (this.entries.length > TIMELINE_EVENTS_KEPT) this.entries.shift();
  }
}
