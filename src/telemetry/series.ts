/**
 * @module src/telemetry/series
 *
 * What the collector keeps per target, target group and listener: monotonic
 * totals (index-aligned with a counters.ts snapshot), the history record
 * (history.ts), and for targets the health-event counts. Thread: main. Place
 * in the flow: collector.ts writes them on each poll -> render-metrics.ts and
 * status.ts read them.
 *
 * A target's series is keyed by (target group, address), not by slot: the
 * slot it reads is whatever the topology says now, so a reused slot's counts
 * go to its new owner from the first poll that sees it.
 */
import { GROUP_CELL_COUNT, LISTENER_CELL_COUNT, SLOT_CELL_COUNT } from './counters.ts';
import {
  type GroupHistory,
  newGroupHistory,
  newRateHistory,
  newTargetHistory,
  type RateHistory,
  type TargetHistory,
} from './history.ts';

/** Health-check outcomes counted per target (src/health `CheckOutcome`). */
export type CheckOutcomeCounts = { pass: number; status: number; timeout: number; error: number };

export interface TargetSeries extends TargetHistory {
  readonly key: string;
  readonly targetGroup: string;
  readonly address: string;
  slot: number;
  /** Monotonic totals at SLOT_CELL positions. */
  readonly totals: Float64Array;
  readonly checks: CheckOutcomeCounts;
  ejections: number;
  /** Still in the topology at the last poll; a series not seen is dropped. */
  isSeen: boolean;
}

export interface ListenerSeries extends RateHistory {
  readonly name: string;
  /** Position in Topology.listeners, which is the LISTENER row index. */
  readonly index: number;
  /** Monotonic totals at LISTENER_CELL positions, summed over workers. */
  readonly totals: Float64Array;
}

export interface GroupSeries extends GroupHistory {
  readonly name: string;
  /** Monotonic totals at GROUP_CELL positions. */
  readonly totals: Float64Array;
  isSeen: boolean;
}

/** The map key of a target's series. */
export function seriesKey(targetGroup: string, address: string): string {
  return `${targetGroup}\u0000${address}`;
}

export function newTargetSeries(targetGroup: string, address: string, slot: number): TargetSeries {
  return {
    key: seriesKey(targetGroup, address),
    targetGroup,
    address,
    slot,
    totals: new Float64Array(SLOT_CELL_COUNT),
    ...newTargetHistory(),
    checks: { pass: 0, status: 0, timeout: 0, error: 0 },
    ejections: 0,
    isSeen: false,
  };
}

export function newListenerSeries(name: string, index: number): ListenerSeries {
  return { name, index, totals: new Float64Array(LISTENER_CELL_COUNT), ...newRateHistory() };
}

export function newGroupSeries(name: string): GroupSeries {
  return { name, totals: new Float64Array(GROUP_CELL_COUNT), ...newGroupHistory(), isSeen: false };
}
