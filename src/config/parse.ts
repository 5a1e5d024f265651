/**
 * @module src/config/parse
 *
 * From YAML text (or a file) to an immutable ConfigSnapshot, or to the full
 * list of what is wrong with it. Thread: main (config time: start, reload,
 * `ferry validate`). Place in the flow:
 *
 *   file -> YAML (syntax errors with line:col) -> plain JS
 *        -> configSchema (each field) + checkConfigRules (across fields)
 *        -> every error, with its path and line, sorted as in the file
 *        |  or
 *        -> ConfigSnapshot: defaulted, normalised, deep-frozen
 *
 * Why a snapshot: the main thread publishes one snapshot at a time into the
 * shared table; freezing it means nothing can change config behind the
 * table's back, and a reload is "parse a new snapshot, diff, publish".
 */
import { readFileSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { dirname, resolve } from 'node:path';
import { isMap, isPair, isScalar, isSeq, LineCounter, type Node, parseDocument } from 'yaml';
import { type core, z } from 'zod';
import { MAX_CONNECTIONS_AUTO_MIN, MAX_CONNECTIONS_FD_RESERVE, MAX_WORKERS } from '../shared/limits.ts';
import { redactSecrets } from '../shared/redact.ts';
import {
  type ConfigError,
  ConfigLoadError,
  type ConfigPath,
  closestName,
  describeValue,
  formatConfigPath,
} from './config-error.ts';
import { checkControlRules } from './control-rules.ts';
import { NAME_PATTERN, NAME_RULE } from './fields.ts';
import { checkConfigRules } from './rules.ts';
import { configSchema, type ParsedConfig } from './schema.ts';
import { checkTlsRules } from './tls-rules.ts';

/** Largest config file accepted: far above any real config, small enough that a wrong file fails fast. */
export const CONFIG_BYTES_MAX = 1024 * 1024;
/** YAML aliases expanded at most (stops "billion laughs" documents). */
const YAML_ALIAS_COUNT_MAX = 100;

// === Snapshot types (all derived from the schema) ===
type DeepReadonly<T> = T extends readonly (infer Item)[]
  ? readonly DeepReadonly<Item>[]
  : T extends object
    ? { readonly [Key in keyof T]: DeepReadonly<T[Key]> }
    : T;

/** Fields that depend on the file and the machine, added after validation. */
/**
 * `limits.maxConnections: auto` (issue 10): from the soft open-file limit in
 * /proc/self/limits (Linux), leaving MAX_CONNECTIONS_FD_RESERVE descriptors
 * and one per upstream connection; 0 (no cap) where the limit cannot be read
 * or is unlimited.
 */
export function autoMaxConnections(limitsText: string | null = readProcLimits()): number {
  const match = limitsText === null ? null : /^Max open files\s+(\d+|unlimited)/m.exec(limitsText);
  if (match === null || match[1] === 'unlimited') return 0;
  const softLimit = Number(match[1]);
  return Math.max(MAX_CONNECTIONS_AUTO_MIN, Math.floor((softLimit - MAX_CONNECTIONS_FD_RESERVE) / 2));
}

function readProcLimits(): string | null {
  try {
    return readFileSync('/proc/self/limits', 'utf8');
  } catch {
    return null;
  }
}

interface SnapshotSource {
  /** The file path, or a label such as `<embedded default>`. */
  sourceName: string;
  /** Absolute folder that relative paths in the config (future cert files) resolve against. */
  configDir: string;
  /** Worker threads to run: `workers`, with `auto` resolved to the machine's parallelism (at most MAX_WORKERS). */
  workerCount: number;
  /** `limits.maxConnections`, with `auto` resolved from this process's open-file limit; 0 = no cap (limit unknown). */
  maxConnectionsTotal: number;
}

/** A validated config: every default filled in, durations in ms, addresses split; deep-frozen. */
export type ConfigSnapshot = DeepReadonly<SnapshotSource & ParsedConfig>;
export type AdminConfig = ConfigSnapshot['admin'];
export type LimitsConfig = ConfigSnapshot['limits'];
export type ListenerConfig = ConfigSnapshot['listeners'][number];
export type TargetGroupConfig = ConfigSnapshot['targetGroups'][number];
export type TargetConfig = TargetGroupConfig['targets'][number];
export type HealthCheckConfig = TargetGroupConfig['healthCheck'];
export type OutlierDetectionConfig = TargetGroupConfig['outlierDetection'];
export type UpstreamTimeoutsConfig = TargetGroupConfig['timeouts'];

/** The outcome of parsing a config: a snapshot, or every error found. */
export type ConfigResult =
  | { readonly ok: true; readonly snapshot: ConfigSnapshot }
  | { readonly ok: false; readonly errors: readonly ConfigError[] };

/** What parsing may take from outside the text; tests inject both. */
export interface ParseOptions {
  /** Folder for relative paths; default: the folder of `sourceName` resolved against the working directory. */
  readonly configDir?: string;
  /** What `workers: auto` resolves to before the MAX_WORKERS cap; default os.availableParallelism(). */
  readonly availableParallelism?: number;
  /** Environment read for FERRY_ZONE (overrides `zone`); default process.env. */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/** The environment variable that overrides the config's `zone` (set from the pod's topology label). */
export const FERRY_ZONE_ENV = 'FERRY_ZONE';

// === Parsing ===
/**
 * Parse and validate config text. Thread: main. Never throws (a broken
 * invariant aside); allocates the snapshot. `sourceName` labels the result
 * and, unless `options.configDir` is given, locates relative paths.
 */
export function parseConfig(text: string, sourceName: string, options: ParseOptions = {}): ConfigResult {
  if (Buffer.byteLength(text, 'utf8') > CONFIG_BYTES_MAX) {
    return fail([invalid('', `the config is larger than ${CONFIG_BYTES_MAX} bytes`)]);
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false });
  const yamlProblems = [...doc.errors, ...doc.warnings];
  if (yamlProblems.length > 0) {
    return fail(
      yamlProblems.map((problem) => {
        const { line, col } = lineCounter.linePos(problem.pos[0]);
        return {
          ...invalid('', `YAML syntax: ${yamlMessage(problem.code, problem.message)}`),
          line,
          column: col,
        };
      }),
    );
  }
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: YAML_ALIAS_COUNT_MAX });
  } catch (error) {
    // Unresolved or too many aliases: yaml reports these only when building the value.
    return fail([invalid('', `YAML: ${(error as Error).message}`)]);
  }
  if (raw === null || raw === undefined) {
    return fail([invalid('', 'the config is empty; it needs at least `listeners`')]);
  }

  const parsed = configSchema.safeParse(raw, { reportInput: true, error: genericIssueMessage });
  const errors = parsed.success ? [] : parsed.error.issues.flatMap(toConfigErrors);
  errors.push(...checkConfigRules(raw));
  errors.push(...checkTlsRules(raw, options.configDir ?? dirname(resolve(sourceName))));
  errors.push(...checkControlRules(raw));
  const zoneOverride = (options.env ?? process.env)[FERRY_ZONE_ENV];
  if (zoneOverride !== undefined && zoneOverride !== '' && !NAME_PATTERN.test(zoneOverride)) {
    errors.push(
      invalid(FERRY_ZONE_ENV, `expected a zone name (${NAME_RULE}), got ${describeValue(zoneOverride)}`),
    );
  }
  if (!parsed.success || errors.length > 0)
    return fail(locateAndSort(dedupe(errors), doc.contents, lineCounter));

  const workerCount =
    parsed.data.workers === 'auto'
      ? Math.max(1, Math.min(options.availableParallelism ?? availableParallelism(), MAX_WORKERS))
      : parsed.data.workers;
  const maxConnectionsTotal =
    parsed.data.limits.maxConnections === 'auto' ? autoMaxConnections() : parsed.data.limits.maxConnections;
  const snapshot: ConfigSnapshot = deepFreeze({
    sourceName,
    configDir: options.configDir ?? dirname(resolve(sourceName)),
    workerCount,
    maxConnectionsTotal,
    ...parsed.data,
    zone: zoneOverride !== undefined && zoneOverride !== '' ? zoneOverride : parsed.data.zone,
  });
  documents.set(snapshot, deepFreeze(raw));
  return { ok: true, snapshot };
}

/**
 * The YAML document (as plain JS, deep-frozen) each snapshot was parsed
 * from. The control port edits a copy of it (register, set-weight,
 * set-attributes) and parses the copy again, so a change made at run time is
 * validated exactly like the same change written in the file.
 */
const documents = new WeakMap<ConfigSnapshot, unknown>();

/** The document a snapshot was parsed from; undefined for a snapshot not made by parseConfig. Thread: main. */
export function configDocument(snapshot: ConfigSnapshot): unknown {
  return documents.get(snapshot);
}

/** Read and parse a config file; an unreadable file is a ConfigError, not a throw. Thread: main. */
export async function parseConfigFile(path: string, options: ParseOptions = {}): Promise<ConfigResult> {
  let text: string;
  try {
    const { size } = await stat(path);
    if (size > CONFIG_BYTES_MAX)
      return fail([invalid('', `the file is larger than ${CONFIG_BYTES_MAX} bytes`)]);
    text = await readFile(path, 'utf8');
  } catch (error) {
    return fail([invalid('', `cannot read the file: ${(error as Error).message}`)]);
  }
  return parseConfig(text, path, { configDir: dirname(resolve(path)), ...options });
}

/**
 * Read, parse and validate a config file. Thread: main. Throws a
 * ConfigLoadError (code FERRY_ERR_CONFIG_INVALID or FERRY_ERR_CONFIG_CAPACITY)
 * listing every error, so a bad config never half-starts Ferry.
 */
export async function loadConfigFile(path: string, options: ParseOptions = {}): Promise<ConfigSnapshot> {
  const result = await parseConfigFile(path, options);
  if (!result.ok) throw new ConfigLoadError(path, result.errors);
  return result.snapshot;
}

/** Resolve a path written in the config (e.g. a future certificate file) against the config's folder. */
export function resolveConfigPath(snapshot: ConfigSnapshot, path: string): string {
  return resolve(snapshot.configDir, path);
}

// === Errors: from zod issues to ConfigErrors ===
/**
 * Every error of a failed parse leaves through here, with credentials
 * redacted from its message (issue 10): describeValue already does that for
 * quoted values; this also covers yaml's and Node's own texts.
 */
function fail(errors: readonly ConfigError[]): ConfigResult {
  return { ok: false, errors: errors.map((error) => ({ ...error, message: redactSecrets(error.message) })) };
}

function invalid(path: string, message: string): ConfigError {
  return { code: 'FERRY_ERR_CONFIG_INVALID', path, message };
}

/** The input JSON Schema, walked to list the keys allowed where an unknown key was found. */
let inputJsonSchema: core.JSONSchema.BaseSchema | undefined;

function allowedKeysAt(path: ConfigPath): string[] {
  inputJsonSchema ??= z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' });
  let node: core.JSONSchema.BaseSchema | undefined = inputJsonSchema;
  for (const segment of path) {
    if (node === undefined) return [];
    if (typeof segment === 'number') node = asSchema(node.items);
    else node = asSchema(node.properties?.[segment]);
  }
  return Object.keys(node?.properties ?? {});
}

function asSchema(value: unknown): core.JSONSchema.BaseSchema | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as core.JSONSchema.BaseSchema)
    : undefined;
}

const EXPECTED_WORDS: Readonly<Record<string, string>> = {
  object: 'a mapping',
  array: 'a list',
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'true or false',
};

/**
 * Messages for the issues no schema field words itself (a missing key, a
 * mapping where a list belongs), in the same plain style. Field messages set
 * in schema.ts take precedence; returning undefined keeps zod's own.
 */
function genericIssueMessage(issue: core.$ZodRawIssue): string | undefined {
  if (issue.code !== 'invalid_type') return undefined;
  if (issue.input === undefined) return 'is required';
  return `expected ${EXPECTED_WORDS[issue.expected] ?? issue.expected}, got ${describeValue(issue.input)}`;
}

/**
 * One zod issue -> ConfigErrors. An issue naming several unknown keys becomes
 * one error per key, each with its own path and a "did you mean" when one of
 * the allowed keys is close.
 */
function toConfigErrors(issue: core.$ZodIssue): ConfigError[] {
  const path = issue.path.filter((segment) => typeof segment !== 'symbol') as (string | number)[];
  if (issue.code === 'unrecognized_keys') {
    const allowed = allowedKeysAt(path);
    return issue.keys.map((key) => {
      const suggestion = closestName(key, allowed);
      const hint =
        suggestion !== undefined
          ? ` (did you mean ${suggestion}?)`
          : allowed.length > 0
            ? `; allowed here: ${allowed.join(', ')}`
            : '';
      return invalid(formatConfigPath([...path, key]), `unknown key${hint}`);
    });
  }
  return [invalid(formatConfigPath(path), issue.message)];
}

function dedupe(errors: readonly ConfigError[]): ConfigError[] {
  const seen = new Set<string>();
  return errors.filter((error) => {
    const key = `${error.path}\n${error.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

// === Errors: where in the YAML ===
/** Splits `targetGroups[1].targets[0].address` back into segments. */
const PATH_SEGMENT = /([^.[\]]+)|\[(\d+)\]/g;

/**
 * Add line and column to each error from the YAML nodes, then sort the
 * errors in file order (errors without a place keep their order, last). The
 * place is the value when it exists, else its key, else the nearest enclosing
 * node (a missing key points at the mapping that lacks it).
 */
function locateAndSort(
  errors: readonly ConfigError[],
  root: Node | null,
  lineCounter: LineCounter,
): ConfigError[] {
  const located = errors.map((error) => {
    const offset = offsetOf(root, error.path, error.message.startsWith('unknown key'));
    if (offset === undefined) return error;
    const { line, col } = lineCounter.linePos(offset);
    return { ...error, line, column: col };
  });
  return located
    .map((error, index) => ({ error, index }))
    .sort((a, b) => {
      const lineA = a.error.line ?? Number.MAX_SAFE_INTEGER;
      const lineB = b.error.line ?? Number.MAX_SAFE_INTEGER;
      return lineA - lineB || (a.error.column ?? 0) - (b.error.column ?? 0) || a.index - b.index;
    })
    .map(({ error }) => error);
}

function offsetOf(root: Node | null, path: string, isKeyWanted: boolean): number | undefined {
  if (root === null) return undefined;
  let node: unknown = root;
  let offset = root.range?.[0];
  for (const match of path.matchAll(PATH_SEGMENT)) {
    const key = match[1];
    const index = match[2];
    if (key !== undefined && isMap(node)) {
      const pair = node.items.find((item) => isPair(item) && isScalar(item.key) && item.key.value === key);
      if (pair === undefined) return offset;
      const keyOffset = isScalar(pair.key) ? pair.key.range?.[0] : undefined;
      const value = pair.value as Node | null;
      node = value;
      offset = (isKeyWanted ? keyOffset : (value?.range?.[0] ?? keyOffset)) ?? offset;
    } else if (index !== undefined && isSeq(node)) {
      const item = node.items[Number(index)] as Node | undefined;
      if (item === undefined) return offset;
      node = item;
      offset = item.range?.[0] ?? offset;
    } else {
      return offset;
    }
  }
  return offset;
}

/** yaml's messages, shortened where they speak of its API rather than the user's file. */
function yamlMessage(code: string, message: string): string {
  if (code === 'DUPLICATE_KEY') return 'duplicate key (each key may appear once per mapping)';
  if (code === 'MULTIPLE_DOCS') return 'more than one YAML document (---); a config is one document';
  return message;
}

// === Freezing ===
function deepFreeze<T>(value: T): DeepReadonly<T> {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value as DeepReadonly<T>;
}
