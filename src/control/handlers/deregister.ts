/**
 * @module src/control/handlers/deregister
 *
 * `deregister G ADDRESS…`: remove targets at run time (ELB
 * DeregisterTargets). Thread: main. Each target goes DRAINING at once — no
 * new requests or connections — while its in-flight requests finish; its
 * slot is freed when nothing is in flight (or at deregistrationDelay). The
 * reply says what each still has in flight; ferryctl then follows the drain
 * with `targets` until the targets are gone.
 */
import { z } from 'zod';
import type { DeregisterResult } from '../../../proto/control/messages.ts';
import { editedSnapshot, groupIn, targetsOf } from '../config-edit.ts';
import { defineHandler } from '../context.ts';
import { ControlError } from '../errors.ts';
import { addressArg, groupNameArg, listArg } from './args.ts';

export const deregisterHandler = defineHandler({
  op: 'deregister',
  isMutating: true,
  args: z.strictObject({ targetGroup: groupNameArg, addresses: listArg(addressArg) }),
  run(args, context): DeregisterResult {
    const leaving = new Set(args.addresses);
    const next = editedSnapshot(context.config(), `deregister from ${args.targetGroup}`, (doc) => {
      const { group } = groupIn(doc, args.targetGroup);
      const targets = targetsOf(group);
      for (const address of leaving) {
        if (targets.some((target) => target['address'] === address)) continue;
        const isDraining = context.health.target(args.targetGroup, address)?.state === 'draining';
        throw new ControlError(
          isDraining ? 'FERRY_ERR_CONTROL_CONFLICT' : 'FERRY_ERR_CONTROL_NOT_FOUND',
          isDraining
            ? `${address} in ${args.targetGroup} is already draining`
            : `${address} is not registered in ${args.targetGroup}`,
        );
      }
      group['targets'] = targets.filter((target) => !leaving.has(target['address'] as string));
    });
    context.reload(next);
    const nowMs = Date.now();
    return {
      targetGroup: args.targetGroup,
      draining: args.addresses.map((address) => {
        const status = context.health.target(args.targetGroup, address);
        return {
          address,
          inFlight: status?.inFlight ?? 0,
          deadlineMs: status?.drain?.deadlineMs ?? nowMs,
        };
      }),
    };
  },
});
