/**
 * @module src/control/handlers/failover
 *
 * `failover G [--to STANDBY] [--force]`: send G's traffic to its standby
 * target group. Thread: main. The switch is the failover manager's
 * (src/failover): one atomic store every worker reads on its next pick,
 * requests in flight to G finish there, and the reply is sent only once
 * every live worker has observed the switch.
 */
import { z } from 'zod';
import type { SwitchResult } from '../../../proto/control/messages.ts';
import { defineHandler } from '../context.ts';
import { groupNameArg } from './args.ts';

export const failoverHandler = defineHandler({
  op: 'failover',
  isMutating: true,
  args: z.strictObject({
    targetGroup: groupNameArg,
    to: groupNameArg.optional(),
    force: z.boolean().optional(),
  }),
  run: (args, context): Promise<SwitchResult> =>
    context.failover.failover(args.targetGroup, {
      ...(args.to === undefined ? {} : { to: args.to }),
      ...(args.force === undefined ? {} : { force: args.force }),
    }),
});
