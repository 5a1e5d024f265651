/**
 * @module src/control/handlers/drain
 *
 * `drain [--grace-ms N] [--delay-ms N]`: the first half of a shutdown, for a
 * Kubernetes preStop hook. Thread: main. /readyz turns 503 at once; Ferry
 * keeps serving for the drain delay (config `drainDelay`), then every
 * listener closes and in-flight requests finish (at most the grace period,
 * default `shutdownGracePeriod`), and the reply reports it. Ferry stays up
 * (control port and admin endpoint answer) until it gets SIGTERM. `undrain`
 * (handlers/undrain.ts) undoes it during the delay. The state machine is
 * src/supervisor/drain.ts, shared with SIGTERM.
 */
import { z } from 'zod';
import type { DrainResult } from '../../../proto/control/messages.ts';
import { defineHandler } from '../context.ts';
import { ControlError } from '../errors.ts';

/** Longest grace period or delay a drain accepts (as `shutdownGracePeriod`). */
const DRAIN_MS_MAX = 3_600_000;

export const drainHandler = defineHandler({
  op: 'drain',
  isMutating: true,
  args: z.strictObject({
    graceMs: z.int().min(0).max(DRAIN_MS_MAX).optional(),
    delayMs: z.int().min(0).max(DRAIN_MS_MAX).optional(),
  }),
  async run(args, context): Promise<DrainResult> {
    if (!context.drain.isServing())
      throw new ControlError('FERRY_ERR_CONTROL_CONFLICT', 'Ferry is already drained or draining');
    return context.drain.begin({
      delayMs: args.delayMs ?? context.config().drainDelayMs,
      graceMs: args.graceMs ?? context.config().shutdownGracePeriodMs,
      trigger: 'control',
    });
  },
});
