/**
 * @module src/config/rule-helpers
 *
 * What the cross-field rule files share for walking the raw YAML data: the
 * shape tests (mappings, lists of mappings, strings), the reporter that turns
 * a path and a message into a ConfigError, the target-group reference check,
 * and the address-overlap test. Thread: main (config time). Place in the
 * flow: YAML -> schema.ts + rules.ts, routing-rules.ts, control-rules.ts,
 * tls-rules.ts (built on these) -> ConfigSnapshot.
 *
 * Why one home: the rule files read any shape the user wrote and must skip
 * exactly what the schema already reports, so they have to agree on what
 * counts as a mapping, a name or a known group; four private copies had
 * started to differ. Everything here is pure and never throws.
 */
import { type HostPort, isWildcardHost } from './address.ts';
import { type ConfigError, type ConfigPath, closestName, formatConfigPath } from './config-error.ts';
import { NAME_PATTERN } from './fields.ts';

/** A YAML mapping as plain JS, before validation. */
export type RawObject = Readonly<Record<string, unknown>>;
/** Records one problem at `path`. */
export type Report = (path: ConfigPath, message: string) => void;

export function isObject(value: unknown): value is RawObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The entries of a list that are mappings, with their index; anything else is the schema's to report. */
export function objectsIn(value: unknown): { index: number; entry: RawObject }[] {
  if (!Array.isArray(value)) return [];
  const entries: { index: number; entry: RawObject }[] = [];
  value.forEach((entry: unknown, index) => {
    if (isObject(entry)) entries.push({ index, entry });
  });
  return entries;
}

/** `object[key]` when it is a string. */
export function stringAt(object: RawObject, key: string): string | undefined {
  const value = object[key];
  return typeof value === 'string' ? value : undefined;
}

/**
 * `object[key]` when it is a string of at least one character. tls-rules.ts
 * reads every string this way: an empty PEM path names no file to read, and
 * the schema already reports it.
 */
export function nonEmptyStringAt(object: RawObject, key: string): string | undefined {
  const value = object[key];
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

/** A Report that appends FERRY_ERR_CONFIG_INVALID errors to `errors`. */
export function invalidReporter(errors: ConfigError[]): Report {
  return (path, message) => {
    errors.push({ code: 'FERRY_ERR_CONFIG_INVALID', path: formatConfigPath(path), message });
  };
}

/** Two bound addresses collide: the same non-zero port on the same host, or either host the wildcard. */
export function isOverlapping(a: HostPort, b: HostPort): boolean {
  if (a.port !== b.port || a.port === 0) return false;
  return a.host.toLowerCase() === b.host.toLowerCase() || isWildcardHost(a.host) || isWildcardHost(b.host);
}

// === Target-group references ===

/** The names of the defined target groups, and whether a name missing from them is surely unknown. */
export interface TargetGroupNames {
  readonly names: readonly string[];
  /**
   * False when some group's name is missing or one the schema rejects: that
   * group might be the one a reference means, so references are not reported.
   */
  readonly isComplete: boolean;
}

/** Read the target-group names of `raw` (`groups` is `objectsIn(raw.targetGroups)`). */
export function targetGroupNames(
  raw: RawObject,
  groups: readonly { index: number; entry: RawObject }[],
): TargetGroupNames {
  const names = groups.flatMap(({ entry }) => stringAt(entry, 'name') ?? []);
  const isEveryGroupNamed =
    Array.isArray(raw['targetGroups']) &&
    groups.length === raw['targetGroups'].length &&
    names.length === groups.length &&
    names.every((name) => NAME_PATTERN.test(name));
  return { names, isComplete: isEveryGroupNamed || raw['targetGroups'] === undefined };
}

/**
 * Why a reference to `name` is wrong (no such group, with a suggestion or the
 * known names), or undefined when the group exists or `groups` cannot tell.
 */
export function unknownTargetGroupMessage(name: string, groups: TargetGroupNames): string | undefined {
  if (groups.names.includes(name) || !groups.isComplete) return undefined;
  const suggestion = closestName(name, groups.names);
  const known = groups.names.length === 0 ? 'none are defined' : `known: ${groups.names.join(', ')}`;
  return (
    `no target group named ${JSON.stringify(name)}` +
    (suggestion === undefined ? ` (${known})` : ` (did you mean ${JSON.stringify(suggestion)}?)`)
  );
}
