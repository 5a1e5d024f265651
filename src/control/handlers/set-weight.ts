/**
 * @module src/control/handlers/set-weight
 *
 * `set-weight G ADDRESS W`: change one target's weight (0..1000; 0 takes no
 * new traffic). Thread: main. Applied through the reload path, so weighted
 * pickers rebuild on every worker's next pick; slow start, if running, scales
 * the new weight.
 */
import { z } from 'zod';
import type { SetWeightResult } from '../../../proto/control/messages.ts';
import { editedSnapshot, groupIn, targetsOf } from '../config-edit.ts';
import { defineHandler } from '../context.ts';
import { ControlError } from '../errors.ts';
import { addressArg, groupNameArg } from './args.ts';

export const setWeightHandler = defineHandler({
  op: 'set-weight',
  isMutating: true,
  args: z.strictObject({ targetGroup: groupNameArg, address: addressArg, weight: z.number() }),
  run(args, context): SetWeightResult {
    let previous = 1;
    const next = editedSnapshot(context.config(), `set-weight of ${args.address}`, (doc) => {
      const target = targetsOf(groupIn(doc, args.targetGroup).group).find(
        (t) => t['address'] === args.address,
      );
      if (target === undefined) {
        throw new ControlError(
          'FERRY_ERR_CONTROL_NOT_FOUND',
          `${args.address} is not registered in ${args.targetGroup}`,
        );
      }
      previous = typeof target['weight'] === 'number' ? target['weight'] : 1;
      target['weight'] = args.weight;
    });
    context.reload(next);
    const status = context.health.target(args.targetGroup, args.address);
    return {
      targetGroup: args.targetGroup,
      address: args.address,
      previous,
      weight: {
        configured: status?.weight.configured ?? args.weight,
        effective: status?.weight.effective ?? 0,
      },
    };
  },
});
