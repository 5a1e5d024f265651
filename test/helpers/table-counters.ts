/**
 * Reads a running test Ferry's shared-table counters through the layout's own
 * accessors (never a raw index), and waits, bounded, for them to settle.
 */
import {
  loadTarget,
  loadWorker,
  TARGET_ACTIVE_CONNECTIONS,
  TARGET_IN_FLIGHT,
  WORKER_ACTIVE_CONNECTIONS,
} from '../../proto/table-layout.ts';
import type { TestFerry } from './ferry.ts';

export interface TargetCounters {
  readonly id: string;
  readonly slot: number;
  readonly inFlight: number;
  readonly activeConnections: number;
}

/** In-flight requests and live upstream connections of every target in every group. */
export function targetCounters(ferry: TestFerry): TargetCounters[] {
  const view = ferry.table.view;
  return ferry.topology().groups.flatMap((group) =>
    group.members.map((member) => ({
      id: member.id,
      slot: member.slot,
      inFlight: loadTarget(view, member.slot, TARGET_IN_FLIGHT),
      activeConnections: loadTarget(view, member.slot, TARGET_ACTIVE_CONNECTIONS),
    })),
  );
}

/** Live downstream connections per worker. */
export function workerConnections(ferry: TestFerry, workerCount: number): number[] {
  return Array.from({ length: workerCount }, (_, i) =>
    loadWorker(ferry.table.view, i, WORKER_ACTIVE_CONNECTIONS),
  );
}

/**
 * Poll `read` (every `intervalMs`) until `isSettled` holds for its result, or
 * `timeoutMs` passes; returns the last reading either way, so the caller's
 * expect() shows what the counters were stuck at.
 */
export async function waitForSettled<T>(
  read: () => T | Promise<T>,
  isSettled: (value: T) => boolean,
  timeoutMs = 5_000,
  intervalMs = 20,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let value = await read();
  while (!isSettled(value) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
    value = await read();
  }
  return value;
}
