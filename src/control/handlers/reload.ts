/**
 * @module src/control/handlers/reload
 *
 * `reload`: re-read the config file Ferry started from, validate it, diff
 * it against the running config, and apply it atomically through the reload
 * path — or reject it whole, with every error, and keep running on the old
 * one. Thread: main. Targets added are registered (and checked), targets
 * removed drain, and run-time changes the file does not hold are undone: the
 * file is the source of truth.
 */
import { z } from 'zod';
import type { ReloadResult } from '../../../proto/control/messages.ts';
import { parseConfigFile } from '../../config/index.ts';
import { diffTargetGroups, isEmptyDiff } from '../config-diff.ts';
import { configRejection } from '../config-edit.ts';
import { defineHandler } from '../context.ts';
import { ControlError } from '../errors.ts';

export const reloadHandler = defineHandler({
  op: 'reload',
  isMutating: true,
  args: z.strictObject({}),
  async run(_args, context): Promise<ReloadResult> {
    const source = context.config().sourceName;
    if (source.startsWith('<')) {
      throw new ControlError(
        'FERRY_ERR_CONTROL_CONFLICT',
        `Ferry runs on ${source}, not a file, so there is nothing to re-read; restart it with --config`,
      );
    }
    const parsed = await parseConfigFile(source, { configDir: context.config().configDir });
    if (!parsed.ok) throw configRejection(parsed.errors, `reload of ${source}`);
    const before = context.config();
    const diff = diffTargetGroups(before, parsed.snapshot);
    context.reload(parsed.snapshot);
    const { sourceName: _a, ...beforeRest } = before;
    const { sourceName: _b, ...afterRest } = parsed.snapshot;
    const isChanged = !isEmptyDiff(diff) || JSON.stringify(beforeRest) !== JSON.stringify(afterRest);
    context.log.info({ config: source, isChanged, ...diff }, 'config reloaded through the control port');
    return { source, isChanged, diff };
  },
});
