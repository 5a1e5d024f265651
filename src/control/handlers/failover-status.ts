/**
 * @module src/control/handlers/failover-status
 *
 * `failover-status [G]`: for every group with a standby (or a failover in
 * effect): where its traffic goes, why (primary, manual, auto), since when,
 * whether primary and standby have routable targets, and the last switch
 * with its command-to-observed time. Thread: main.
 */
import { z } from 'zod';
import type { FailoverStatusResult } from '../../../proto/control/messages.ts';
import { defineHandler } from '../context.ts';
import { groupNameArg } from './args.ts';

export const failoverStatusHandler = defineHandler({
  op: 'failover-status',
  isMutating: false,
  args: z.strictObject({ targetGroup: groupNameArg.optional() }),
  run: (args, context): FailoverStatusResult => context.failover.status(args.targetGroup),
});
