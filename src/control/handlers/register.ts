/**
 * @module src/control/handlers/register
 *
 * `register G ADDRESS[:weight]…`: add targets to a target group at run time
 * (ELB RegisterTargets). Thread: main. The targets are appended to a copy of
 * the running config and it goes through validation and the reload path, so
 * a new target starts `initial` and takes traffic after its first passing
 * checks (or at once with checks off), exactly as if it had been in the file.
 */
import { z } from 'zod';
import type { RegisterResult } from '../../../proto/control/messages.ts';
import { editedSnapshot, groupIn, targetsOf } from '../config-edit.ts';
import { defineHandler } from '../context.ts';
import { ControlError } from '../errors.ts';
import { addressArg, groupNameArg, listArg } from './args.ts';

export const registerHandler = defineHandler({
  op: 'register',
  isMutating: true,
  args: z.strictObject({
    targetGroup: groupNameArg,
    targets: listArg(z.strictObject({ address: addressArg, weight: z.number().optional() })),
  }),
  run(args, context): RegisterResult {
    const seen = new Set<string>();
    for (const target of args.targets) {
      if (seen.has(target.address)) {
        throw new ControlError('FERRY_ERR_CONTROL_BAD_ARGS', `register: ${target.address} is listed twice`);
      }
      seen.add(target.address);
    }
    const next = editedSnapshot(context.config(), `register in ${args.targetGroup}`, (doc) => {
      const targets = targetsOf(groupIn(doc, args.targetGroup).group);
      for (const target of args.targets) {
        if (targets.some((existing) => existing['address'] === target.address)) {
          throw new ControlError(
            'FERRY_ERR_CONTROL_CONFLICT',
            `${target.address} is already registered in ${args.targetGroup} (set-weight changes its weight)`,
          );
        }
        targets.push(
          target.weight === undefined
            ? { address: target.address }
            : { address: target.address, weight: target.weight },
        );
      }
    });
    context.reload(
      next,
      args.targets.map((target) => ({ targetGroup: args.targetGroup, address: target.address })),
    );
    const group = next.targetGroups.find((candidate) => candidate.name === args.targetGroup);
    return {
      targetGroup: args.targetGroup,
      registered: args.targets.map((target) => ({
        address: target.address,
        weight: group?.targets.find((t) => t.address === target.address)?.weight ?? 1,
        state: context.health.target(args.targetGroup, target.address)?.state ?? 'initial',
      })),
    };
  },
});
