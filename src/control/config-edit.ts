/**
 * @module src/control/config-edit
 *
 * Run-time changes as config edits: register, deregister, set-weight and
 * set-attributes copy the YAML document the running snapshot was parsed from,
 * change the copy, and parse it again, so a change made through the control
 * port is validated exactly like the same change written in the file (same
 * ranges, same cross-field rules, same messages), then applied through
 * Ferry's one reload path. Thread: main.
 *
 *   running snapshot -> configDocument -> copy -> edit -> YAML -> parseConfig
 *        -> errors (ControlError with every one) | next snapshot -> context.reload
 *
 * The file on disk is not written: `ferryctl reload` re-reads it and so
 * undoes run-time changes it does not contain (like HAProxy's runtime API).
 */
import { stringify } from 'yaml';
import { type ConfigError, type ConfigSnapshot, configDocument, parseConfig } from '../config/index.ts';
import { ControlError } from './errors.ts';

/** A YAML mapping as plain JS. */
export type DocObject = Record<string, unknown>;

export function isDocObject(value: unknown): value is DocObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The config errors of a rejected change as one ControlError (CAPACITY if any error is about capacity). */
export function configRejection(errors: readonly ConfigError[], what: string): ControlError {
  const isCapacity = errors.some((error) => error.code === 'FERRY_ERR_CONFIG_CAPACITY');
  const details = errors.map((error) => ({
    path: error.path,
    message:
      error.line === undefined
        ? error.message
        : `${error.message} (line ${error.line}, column ${error.column ?? 0})`,
  }));
  // The message is the headline only: every error is in `details`, which ferryctl prints one per
  // line. Repeating the first one in the headline printed it twice (issue 10).
  return new ControlError(
    isCapacity ? 'FERRY_ERR_CONFIG_CAPACITY' : 'FERRY_ERR_CONFIG_INVALID',
    `${what}: ${errors.length} error${errors.length === 1 ? '' : 's'}, nothing changed`,
    details,
  );
}

/**
 * The snapshot `current` becomes after `edit` changes a copy of its
 * document. Throws ControlError: FERRY_ERR_CONFIG_INVALID or _CAPACITY with
 * every error (line numbers dropped: they would point into the generated
 * copy), or FERRY_ERR_CONTROL_CONFLICT when the snapshot has no document.
 */
export function editedSnapshot(
  current: ConfigSnapshot,
  what: string,
  edit: (doc: DocObject) => void,
): ConfigSnapshot {
  const document = configDocument(current);
  if (!isDocObject(document)) {
    throw new ControlError(
      'FERRY_ERR_CONTROL_CONFLICT',
      'the running config was not parsed from YAML, so it cannot be edited at run time',
    );
  }
  const copy = structuredClone(document) as DocObject;
  edit(copy);
  const result = parseConfig(stringify(copy), current.sourceName, { configDir: current.configDir });
  if (!result.ok) {
    const located = result.errors.map(({ line: _line, column: _column, ...error }) => error);
    throw configRejection(located, what);
  }
  return result.snapshot;
}

/** The mapping of target group `name` in a document, with its index; throws FERRY_ERR_CONTROL_NOT_FOUND. */
export function groupIn(doc: DocObject, name: string): { index: number; group: DocObject } {
  const groups = Array.isArray(doc['targetGroups']) ? (doc['targetGroups'] as unknown[]) : [];
  const index = groups.findIndex((group) => isDocObject(group) && group['name'] === name);
  if (index < 0) {
    const known = groups.flatMap((group) =>
      isDocObject(group) && typeof group['name'] === 'string' ? [group['name']] : [],
    );
    throw new ControlError(
      'FERRY_ERR_CONTROL_NOT_FOUND',
      `no target group named ${JSON.stringify(name)} (known: ${known.join(', ') || 'none'})`,
    );
  }
  return { index, group: groups[index] as DocObject };
}

/** The `targets` list of a group mapping, created when absent. */
export function targetsOf(group: DocObject): DocObject[] {
  if (!Array.isArray(group['targets'])) group['targets'] = [];
  return group['targets'] as DocObject[];
}
