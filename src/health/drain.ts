/**
 * @module src/health/drain
 *
 * When a draining target is done (ELB deregistration delay, HAProxy
 * "drain"): as soon as nothing is in flight to it and every live worker has
 * seen it leave, or when deregistrationDelay has passed, whichever is first.
 * Thread: main. Reads the shared table only.
 *
 * Why wait for the workers to have seen it: a worker picks a target and
 * counts the request into TARGET_IN_FLIGHT in one synchronous turn, so once
 * a worker has observed the generation that carried the DRAINING mark, no
 * pick of it can still be on its way to being counted. Without that, a
 * request picked just before the mark but counted just after it could find
 * its target's slot already freed.
 */
import {
  loadTarget,
  loadWorker,
  TARGET_IN_FLIGHT,
  type TableView,
  WORKER_HEARTBEAT_MS,
  WORKER_OBSERVED_GENERATION,
} from '../../proto/table-layout.ts';
import { elapsedMs } from '../shared/clock.ts';
import { WORKER_HEARTBEAT_STALE_MS } from './limits.ts';

/** Why a drain ended: nothing left in flight, or deregistrationDelay passed. */
export type DrainEnd = 'idle' | 'deadline';

/**
 * True when every live worker has observed `generation` or a later one. A
 * worker that never beat, or whose heartbeat is older than
 * WORKER_HEARTBEAT_STALE_MS, is not waited for.
 */
export function haveWorkersObserved(view: TableView, generation: number, nowTableMs: number): boolean {
  for (let worker = 0; worker < view.workerCapacity; worker++) {
    const heartbeatMs = loadWorker(view, worker, WORKER_HEARTBEAT_MS);
    if (heartbeatMs === 0 || elapsedMs(nowTableMs, heartbeatMs) > WORKER_HEARTBEAT_STALE_MS) continue;
    const observed = loadWorker(view, worker, WORKER_OBSERVED_GENERATION);
    if (((observed - generation) | 0) < 0) return false;
  }
  return true;
}

/** How the drain of the target in `slot` stands: done (and why) or still going (null). */
export function drainEnd(
  view: TableView,
  slot: number,
  drainGeneration: number,
  nowTableMs: number,
  nowMs: number,
  deadlineMs: number,
): DrainEnd | null {
  if (
    loadTarget(view, slot, TARGET_IN_FLIGHT) <= 0 &&
    haveWorkersObserved(view, drainGeneration, nowTableMs)
  ) {
    return 'idle';
  }
  return nowMs >= deadlineMs ? 'deadline' : null;
}
