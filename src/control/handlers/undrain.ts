/**
 * @module src/control/handlers/undrain
 *
 * `undrain`: undo a drain that has not stopped anything yet. Thread: main.
 * During the drain delay Ferry still serves; undrain makes /readyz answer
 * 200 again and the pending `drain` reply reports `isCancelled`. Once
 * listeners have closed (the delay is over) it is refused with
 * FERRY_ERR_CONTROL_CONFLICT: only a restart brings them back.
 */
import { z } from 'zod';
import type { UndrainResult } from '../../../proto/control/messages.ts';
import { defineHandler } from '../context.ts';
import { ControlError } from '../errors.ts';

export const undrainHandler = defineHandler({
  op: 'undrain',
  isMutating: true,
  args: z.strictObject({}),
  run(_args, context): UndrainResult {
    const outcome = context.drain.undrain('control');
    if (outcome === 'already-stopping') {
      throw new ControlError(
        'FERRY_ERR_CONTROL_CONFLICT',
        'too late to undrain: the listeners are closed (the drain delay is over); restart Ferry to serve again',
      );
    }
    return { outcome };
  },
});
