/**
 * @module src/control/handlers/set-attributes
 *
 * `set-attributes G key=value…`: change target-group attributes live (ELB
 * ModifyTargetGroupAttributes): algorithm, hash.key, deregistrationDelay,
 * slowStart, failOpen, failover.*, healthCheck.*, stickiness.* — any
 * target-group key except its name and targets. Thread: main.
 *
 * Keys are the config's own, dotted for nested ones; each value is read as
 * YAML reads it (`30s`, `true`, `5`), with `on`/`off` meaning true/false and
 * `default` removing the key (back to its default). `stickiness=on|off`
 * means `stickiness.enabled`. The edited config is validated like the file,
 * so an unknown key or a value out of range is refused with the same message
 * `ferry validate` prints, and nothing changes.
 */
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import type { SetAttributesResult } from '../../../proto/control/messages.ts';
import { type DocObject, editedSnapshot, groupIn, isDocObject } from '../config-edit.ts';
import { defineHandler } from '../context.ts';
import { ControlError } from '../errors.ts';
import { CONTROL_LIST_ITEMS_MAX } from '../limits.ts';
import { groupNameArg } from './args.ts';

/** A dotted key of config words: `algorithm`, `hash.key`, `healthCheck.interval`. */
const KEY_PATTERN = /^[A-Za-z][A-Za-z0-9]*(\.[A-Za-z][A-Za-z0-9]*){0,3}$/;
const KEY_LENGTH_MAX = 100;
const VALUE_LENGTH_MAX = 1_000;
/** Keys other operations own. */
const RESERVED_KEYS = new Map([
  ['name', 'a target group cannot be renamed at run time'],
  ['targets', 'use register, deregister and set-weight for targets'],
]);

/** Marks a key to remove (value `default`). */
const REMOVE = Symbol('remove');

export const setAttributesHandler = defineHandler({
  op: 'set-attributes',
  isMutating: true,
  args: z.strictObject({
    targetGroup: groupNameArg,
    attributes: z
      .record(z.string().min(1).max(KEY_LENGTH_MAX), z.string().max(VALUE_LENGTH_MAX))
      .refine((attributes) => {
        const count = Object.keys(attributes).length;
        return count >= 1 && count <= CONTROL_LIST_ITEMS_MAX;
      }, `expected 1..${CONTROL_LIST_ITEMS_MAX} attributes`),
  }),
  run(args, context): SetAttributesResult {
    const changes = Object.entries(args.attributes).map(([key, text]) => attributeChange(key, text));
    const changed: { key: string; from: unknown; to: unknown }[] = [];
    const next = editedSnapshot(context.config(), `set-attributes of ${args.targetGroup}`, (doc) => {
      const { group } = groupIn(doc, args.targetGroup);
      for (const { path, value } of changes) {
        const from = valueAt(group, path);
        setAt(group, path, value);
        changed.push({ key: path.join('.'), from: from ?? null, to: value === REMOVE ? null : value });
      }
    });
    context.reload(next);
    return { targetGroup: args.targetGroup, changed };
  },
});

/** One `key=value` as a path into the group mapping and the value to put there. Throws BAD_ARGS. */
function attributeChange(key: string, text: string): { path: string[]; value: unknown } {
  if (!KEY_PATTERN.test(key)) {
    throw new ControlError(
      'FERRY_ERR_CONTROL_BAD_ARGS',
      `set-attributes: ${JSON.stringify(key)} is not a target-group key (letters and digits, dotted for nested keys: hash.key)`,
    );
  }
  const path = key.split('.');
  const reserved = RESERVED_KEYS.get(path[0]!);
  if (reserved !== undefined)
    throw new ControlError('FERRY_ERR_CONTROL_BAD_ARGS', `set-attributes: ${key}: ${reserved}`);
  const value = attributeValue(text);
  if (path.length === 1 && path[0] === 'stickiness' && typeof value === 'boolean') {
    return { path: ['stickiness', 'enabled'], value };
  }
  return { path, value };
}

/** A value as YAML reads it; `on`/`off` are booleans, `default` removes the key. Never throws. */
function attributeValue(text: string): unknown {
  const trimmed = text.trim();
  if (trimmed === 'default') return REMOVE;
  if (trimmed === 'on') return true;
  if (trimmed === 'off') return false;
  try {
    return parseYaml(trimmed) ?? trimmed;
  } catch {
    return trimmed;
  }
}

function valueAt(root: DocObject, path: readonly string[]): unknown {
  let node: unknown = root;
  for (const segment of path) {
    if (!isDocObject(node)) return undefined;
    node = node[segment];
  }
  return node;
}

function setAt(root: DocObject, path: readonly string[], value: unknown): void {
  let node = root;
  for (const segment of path.slice(0, -1)) {
    const child = node[segment];
    if (isDocObject(child)) node = child;
    else {
      if (value === REMOVE) return;
      const created: DocObject = {};
      node[segment] = created;
      node = created;
    }
  }
  const last = path[path.length - 1]!;
  if (value === REMOVE) delete node[last];
  else node[last] = value;
}
