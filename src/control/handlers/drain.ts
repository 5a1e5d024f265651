/**
 * @module src/control/handlers/drain
 *
 * `drain [--grace-ms N]`: stop accepting new connections on every listener,
 * let in-flight requests finish (at most the grace period, default the
 * config's shutdownGracePeriod), and report. Thread: main. The first half of
 * a shutdown, for a Kubernetes preStop hook: /readyz turns 503 at once, the
 * workers close their listeners and exit when idle, and Ferry stays up
 * (control port and admin endpoint answer) until it gets SIGTERM.
 */
import { z } from 'zod';
import type { DrainResult } from '../../../proto/control/messages.ts';
import {
  HEADER_DRAINING,
  loadTarget,
  loadWorker,
  storeHeader,
  TARGET_IN_FLIGHT,
  WORKER_ACTIVE_CONNECTIONS,
} from '../../../proto/table-layout.ts';
import { type ControlContext, defineHandler } from '../context.ts';
import { ControlError } from '../errors.ts';

/** Longest grace period a drain accepts (as `shutdownGracePeriod`). */
const DRAIN_GRACE_MS_MAX = 3_600_000;

export const drainHandler = defineHandler({
  op: 'drain',
  isMutating: true,
  args: z.strictObject({ graceMs: z.int().min(0).max(DRAIN_GRACE_MS_MAX).optional() }),
  async run(args, context): Promise<DrainResult> {
    if (context.isDrained)
      throw new ControlError('FERRY_ERR_CONTROL_CONFLICT', 'Ferry is already drained or draining');
    context.isDrained = true;
    const graceMs = args.graceMs ?? context.config().shutdownGracePeriodMs;
    const startedMs = Date.now();
    const connectionsAtStart = openConnections(context);
    const inFlightAtStart = requestsInFlight(context);
    context.log.warn(
      { graceMs, connections: connectionsAtStart, inFlight: inFlightAtStart },
      'drain (control port): no new connections; in-flight requests may finish',
    );
    storeHeader(context.table.view, HEADER_DRAINING, 1);
    let inFlightAtEnd = 0;
    let isComplete = true;
    // Sampled just before the supervisor force-stops what is left (its timer is set after this one).
    const deadline = setTimeout(() => {
      isComplete = false;
      inFlightAtEnd = requestsInFlight(context);
    }, graceMs);
    await context.supervisor.drain(graceMs);
    clearTimeout(deadline);
    const result = {
      durationMs: Date.now() - startedMs,
      connectionsAtStart,
      inFlightAtStart,
      inFlightAtEnd,
      isComplete,
    };
    context.log.warn(
      result,
      isComplete ? 'drained: every worker finished' : 'drained: grace period over, workers stopped',
    );
    return result;
  },
});

function openConnections(context: ControlContext): number {
  let total = 0;
  for (let worker = 0; worker < context.table.view.workerCapacity; worker++) {
    if (context.supervisor.workerAt(worker) !== null)
      total += loadWorker(context.table.view, worker, WORKER_ACTIVE_CONNECTIONS);
  }
  return total;
}

function requestsInFlight(context: ControlContext): number {
  let total = 0;
  for (const target of context.table.targets())
    total += Math.max(0, loadTarget(context.table.view, target.slot, TARGET_IN_FLIGHT));
  return total;
}
