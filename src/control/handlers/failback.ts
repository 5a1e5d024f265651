/**
 * @module src/control/handlers/failback
 *
 * `failback G [--force]`: send G's traffic back to its own targets. Thread:
 * main. Refused while G has no routable target unless forced; replies once
 * every live worker has observed the switch.
 */
import { z } from 'zod';
import type { SwitchResult } from '../../../proto/control/messages.ts';
import { defineHandler } from '../context.ts';
import { groupNameArg } from './args.ts';

export const failbackHandler = defineHandler({
  op: 'failback',
  isMutating: true,
  args: z.strictObject({ targetGroup: groupNameArg, force: z.boolean().optional() }),
  run: (args, context): Promise<SwitchResult> =>
    context.failover.failback(args.targetGroup, args.force === undefined ? {} : { force: args.force }),
});
