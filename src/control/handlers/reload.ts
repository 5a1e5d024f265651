/**
 * @module src/control/handlers/reload
 *
 * `reload`: re-read the config file Ferry started from and apply it whole,
 * or reject it whole with every error and keep running on the old one.
 * Thread: main. The work is reloadConfigFile (../reload-file.ts), the same
 * path SIGHUP and the file watcher take; this handler only turns a
 * rejection into the control port's error reply. Targets added are
 * registered (and checked), targets removed drain, and run-time changes the
 * file does not hold are undone: the file is the source of truth.
 */
import { z } from 'zod';
import type { ReloadResult } from '../../../proto/control/messages.ts';
import { configRejection } from '../config-edit.ts';
import { defineHandler } from '../context.ts';
import { ControlError } from '../errors.ts';
import { reloadConfigFile } from '../reload-file.ts';

export const reloadHandler = defineHandler({
  op: 'reload',
  isMutating: true,
  args: z.strictObject({}),
  async run(_args, context): Promise<ReloadResult> {
    const outcome = await reloadConfigFile(context, 'control', context.reloads);
    if (outcome.ok) return outcome.result;
    if (outcome.isNotAFile) {
      throw new ControlError(
        'FERRY_ERR_CONTROL_CONFLICT',
        `Ferry runs on ${outcome.source}, not a file, so there is nothing to re-read; restart it with --config`,
      );
    }
    throw configRejection(outcome.errors, `reload of ${outcome.source}`);
  },
});
