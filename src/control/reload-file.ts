/**
 * @module src/control/reload-file
 *
 * Ferry's one path from "the config file may have changed" to a running
 * config: read the file Ferry started from, validate it, diff it against the
 * running config, and apply it whole through the reload path, or reject it
 * whole, log every error with its path, and keep serving the old config.
 * Thread: main. Three triggers share it, so they log, count and behave
 * alike: the control port's `reload` (handlers/reload.ts), SIGHUP and the
 * config file watcher (src/lifecycle).
 *
 *   trigger -> parseConfigFile -> errors? -> log + rejection, nothing changed
 *                                  \-> diff -> context.reload(next) (throws = nothing changed) -> log
 */
import type { Logger } from 'pino';
import type { ReloadResult } from '../../proto/control/messages.ts';
import { type ConfigError, type ConfigSnapshot, parseConfigFile } from '../config/index.ts';
import { isProxyError } from '../shared/errors.ts';
import { diffTargetGroups, isEmptyDiff } from './config-diff.ts';

/** What asked for the reload; the `trigger` field of its log lines. */
export type ReloadTrigger = 'control' | 'SIGHUP' | 'file-watch';

/** What the reload path needs: the running config, the apply step and a logger (ControlContext fits). */
export interface ReloadTarget {
  readonly config: () => ConfigSnapshot;
  /** Apply atomically or throw ProxyError having changed nothing (FerryHandle.reload). */
  readonly reload: (next: ConfigSnapshot) => void;
  readonly log: Logger;
}

export type ReloadOutcome =
  | { readonly ok: true; readonly result: ReloadResult }
  /** `errors` have paths (config errors); `isNotAFile` when Ferry runs on the embedded default. */
  | {
      readonly ok: false;
      readonly source: string;
      readonly errors: readonly ConfigError[];
      readonly isNotAFile: boolean;
    };

/** Reload counts since start, by outcome (one set for every trigger). */
export interface ReloadCounters {
  appliedTotal: number;
  rejectedTotal: number;
}

/**
 * Re-read and apply the config file. Thread: main. Never throws for a bad
 * file (the outcome says why); it logs one line either way.
 */
export async function reloadConfigFile(
  target: ReloadTarget,
  trigger: ReloadTrigger,
  counters?: ReloadCounters,
): Promise<ReloadOutcome> {
  const before = target.config();
  const source = before.sourceName;
  if (source.startsWith('<')) {
    target.log.warn({ trigger, config: source }, 'config reload skipped: Ferry runs on no file');
    return { ok: false, source, errors: [], isNotAFile: true };
  }
  const parsed = await parseConfigFile(source, { configDir: before.configDir });
  let errors: readonly ConfigError[] = parsed.ok ? [] : parsed.errors;
  if (parsed.ok) {
    const diff = diffTargetGroups(before, parsed.snapshot);
    try {
      target.reload(parsed.snapshot);
      const { sourceName: _a, ...beforeRest } = before;
      const { sourceName: _b, ...afterRest } = parsed.snapshot;
      const isChanged = !isEmptyDiff(diff) || JSON.stringify(beforeRest) !== JSON.stringify(afterRest);
      if (counters !== undefined) counters.appliedTotal++;
      target.log.info({ trigger, config: source, isChanged, ...diff }, 'config file reloaded');
      return { ok: true, result: { source, isChanged, diff } };
    } catch (error) {
      if (!isProxyError(error)) throw error;
      errors = [
        {
          code:
            error.code === 'FERRY_ERR_CONFIG_CAPACITY'
              ? 'FERRY_ERR_CONFIG_CAPACITY'
              : 'FERRY_ERR_CONFIG_INVALID',
          path: '',
          message: error.message,
        },
      ];
    }
  }
  if (counters !== undefined) counters.rejectedTotal++;
  target.log.error(
    {
      trigger,
      config: source,
      errors: errors.map((error) => ({
        path: error.path,
        message: error.message,
        ...(error.line === undefined ? {} : { line: error.line, column: error.column ?? 0 }),
      })),
    },
    `config file rejected (${errors.length} error${errors.length === 1 ? '' : 's'}): still serving the previous config`,
  );
  return { ok: false, source, errors, isNotAFile: false };
}
