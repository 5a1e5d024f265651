/**
 * @module src/config/config-error
 *
 * How a bad config is reported: one ConfigError per problem, each with the
 * path a user can find in their YAML (`targetGroups[1].targets[0].address`),
 * a message that says what was expected, and the line and column when the
 * YAML has them. Thread: main (config time). Place in the flow: schema and
 * rules -> **errors** -> `ferry validate` output, or a ConfigLoadError that
 * stops `ferry` before anything starts.
 */
import type { ErrorCode } from '../../proto/error-codes.ts';
import { ProxyError } from '../shared/errors.ts';
import { redactSecrets } from '../shared/redact.ts';

/** One problem in a config. */
export interface ConfigError {
  /** FERRY_ERR_CONFIG_CAPACITY when the table limits are exceeded, FERRY_ERR_CONFIG_INVALID otherwise. */
  readonly code: 'FERRY_ERR_CONFIG_INVALID' | 'FERRY_ERR_CONFIG_CAPACITY';
  /** Where, in the config's own words: `listeners[0].defaultAction.forward.targetGroup`; `` for the whole file. */
  readonly path: string;
  /** What is wrong, starting lower-case: `expected host:port (the port is missing)`. */
  readonly message: string;
  /** 1-based line and column in the YAML source, when known. */
  readonly line?: number;
  readonly column?: number;
}

/** A path as zod and the YAML walker hold it. */
export type ConfigPath = readonly (string | number)[];

/** `['targetGroups', 1, 'targets', 0, 'address']` -> `targetGroups[1].targets[0].address`. */
export function formatConfigPath(path: ConfigPath): string {
  let text = '';
  for (const segment of path) {
    if (typeof segment === 'number') text += `[${segment}]`;
    else text += text.length === 0 ? segment : `.${segment}`;
  }
  return text;
}

/**
 * Render errors for a terminal, one per line, in the order given:
 * `  targetGroups[1].targets[0].address: expected host:port (line 12, column 9)`.
 * Capacity errors name their code so operators can search for it.
 */
export function formatConfigErrors(errors: readonly ConfigError[]): string {
  const lines: string[] = [];
  for (const error of errors) {
    const where = error.path.length === 0 ? '' : `${error.path}: `;
    const at = error.line === undefined ? '' : ` (line ${error.line}, column ${error.column ?? 1})`;
    const code = error.code === 'FERRY_ERR_CONFIG_INVALID' ? '' : ` [${error.code}]`;
    lines.push(`  ${where}${error.message}${at}${code}`);
  }
  return lines.join('\n');
}

/**
 * How a value the user wrote appears inside a message: strings quoted and
 * cut short, shapes named. Credentials in a string (URL userinfo, `?token=`)
 * are redacted before it is cut, so a cut cannot hide the `@` that marks them
 * (issue 10: these messages reach `ferry validate`, logs and ferryctl).
 */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'an empty value';
  if (typeof value === 'string') {
    const shown = redactSecrets(value);
    return JSON.stringify(shown.length > 40 ? `${shown.slice(0, 40)}…` : shown);
  }
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return String(value);
}

/**
 * Thrown by loadConfigFile when a config cannot be used. Its message is the
 * formatted list; `errors` holds them for callers that render their own.
 */
export class ConfigLoadError extends ProxyError {
  readonly errors: readonly ConfigError[];
  readonly sourceName: string;

  constructor(sourceName: string, errors: readonly ConfigError[]) {
    super(
      configErrorsCode(errors),
      `${sourceName}: ${countErrors(errors.length)}\n${formatConfigErrors(errors)}`,
    );
    this.name = 'ConfigLoadError';
    this.errors = errors;
    this.sourceName = sourceName;
  }
}

/**
 * The one code a list of config errors is refused with: FERRY_ERR_CONFIG_CAPACITY
 * when every error is a capacity error, FERRY_ERR_CONFIG_INVALID otherwise.
 * `ferry`, `ferry validate` and ConfigLoadError print the same code.
 */
export function configErrorsCode(errors: readonly ConfigError[]): ErrorCode {
  return errors.length > 0 && errors.every((error) => error.code === 'FERRY_ERR_CONFIG_CAPACITY')
    ? 'FERRY_ERR_CONFIG_CAPACITY'
    : 'FERRY_ERR_CONFIG_INVALID';
}

/** `1 error`, `3 errors`. */
export function countErrors(count: number): string {
  return count === 1 ? '1 error' : `${count} errors`;
}

/**
 * The candidate closest to a misspelt word, if it is close enough to be a
 * plausible typo (edit distance at most a third of its length, at least 1).
 * Used for "did you mean" hints on unknown keys and names.
 */
export function closestName(word: string, candidates: readonly string[]): string | undefined {
  const distanceMax = Math.max(1, Math.floor(word.length / 3));
  let best: string | undefined;
  let bestDistance = distanceMax + 1;
  for (const candidate of candidates) {
    const distance = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

/** Levenshtein distance; config words are short, so the O(n·m) table is fine. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i += 1) {
    const current = [i];
    for (let j = 1; j <= b.length; j += 1) {
      const substitution = previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min(previous[j]! + 1, current[j - 1]! + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length]!;
}
