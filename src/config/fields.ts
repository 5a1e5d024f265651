/**
 * @module src/config/fields
 *
 * The zod field builders the config's schema files share: the "present but
 * wrong" error wrapper, integers in a range, booleans, enums, names and
 * durations. Thread: main (config time). Place in the flow: YAML ->
 * schema.ts, routing-schema.ts, control-schema.ts, tls-schema.ts,
 * observability-schema.ts (their fields are built from these) + rules ->
 * ConfigSnapshot.
 *
 * Why one home: each schema file used to carry its own copy of these, and a
 * copy that drifted would give the same kind of value two different error
 * messages, or two different `x-allowed` lines in docs/config-reference.md.
 * Builders only one schema file uses stay in that file.
 */
import { z } from 'zod';
import { describeValue } from './config-error.ts';
import { DURATION_SYNTAX_HINT, formatDurationMs, parseDuration } from './duration.ts';

/** Listener and target-group names: short, printable, safe in logs, metrics labels and URLs. */
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
/** NAME_PATTERN in words, for error messages and the reference. */
export const NAME_RULE = "1..63 letters, digits, '.', '_' or '-', starting with a letter or digit";

/** Error text for a value that is present but wrong; `undefined` lets "is required" through. */
export function unlessMissing(
  message: (input: unknown) => string,
): (issue: { input?: unknown }) => string | undefined {
  return (issue) => (issue.input === undefined ? undefined : message(issue.input));
}

/** An integer in min..max. */
export function integerIn(min: number, max: number) {
  const error = unlessMissing((input) => `expected an integer ${min}..${max}, got ${describeValue(input)}`);
  return z.int({ error }).min(min, { error }).max(max, { error });
}

export function booleanField() {
  return z.boolean({
    error: unlessMissing((input) => `expected true or false, got ${describeValue(input)}`),
  });
}

/** An enum with the allowed values in its message, and the closest one when a typo is likely (`least_conections`). */
export function enumOf<const T extends readonly [string, ...string[]]>(values: T) {
  return z.enum(values, {
    error: unlessMissing((input) => {
      const suggestion = typeof input === 'string' ? closestValue(input, values) : null;
      const hint = suggestion === null ? '' : ` (did you mean ${suggestion}?)`;
      return `expected one of ${values.join(' | ')}, got ${describeValue(input)}${hint}`;
    }),
  });
}

/**
 * The allowed value nearest to `input` by edit distance (case-blind), if the
 * value has at least 6 characters and the distance is at most a quarter of
 * them: long words get typos, short ones are choices (`tls11` is not a typo
 * of `tls12`). Null otherwise, and for a case-only difference.
 * Config time only; allocates.
 */
export function closestValue(input: string, values: readonly string[]): string | null {
  const text = input.toLowerCase();
  let best: string | null = null;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const value of values) {
    const distance = editDistance(text, value.toLowerCase());
    if (distance < bestDistance) {
      bestDistance = distance;
      best = value;
    }
  }
  if (best === null || bestDistance === 0 || best.length < 6) return null;
  return bestDistance <= Math.floor(best.length / 4) ? best : null;
}

/** Levenshtein distance; inputs are config words (short), so the O(n·m) table is fine. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost);
    }
    previous = current;
  }
  return previous[b.length]!;
}

/**
 * A name matching NAME_PATTERN. `noun` is what the messages call it (`name`,
 * `target group name`); `allowedText` is the reference's `x-allowed` line.
 */
export function nameField(noun: string, allowedText: string = NAME_RULE) {
  return z
    .string({
      error: unlessMissing((input) => `expected a ${noun} (${NAME_RULE}), got ${describeValue(input)}`),
    })
    .regex(NAME_PATTERN, {
      error: (issue) => `expected a ${noun} (${NAME_RULE}), got ${describeValue(issue.input)}`,
    })
    .meta({ 'x-allowed': allowedText });
}

/** The range of a duration field in words, e.g. `1s..5m` or `0 or 30s..15m`. */
function durationRangeText(minMs: number, maxMs: number, isZeroAllowed: boolean): string {
  const range = `${formatDurationMs(minMs)}..${formatDurationMs(maxMs)}`;
  return isZeroAllowed && minMs > 0 ? `0 or ${range}` : range;
}

/**
 * A duration text within minMs..maxMs, parsed to integer ms. With
 * `isZeroAllowed`, `0s` is also accepted below minMs (slow start "off").
 */
export function durationField(minMs: number, maxMs: number, isZeroAllowed = false) {
  const rangeText = durationRangeText(minMs, maxMs, isZeroAllowed);
  return z
    .string({
      error: unlessMissing((input) => `expected ${DURATION_SYNTAX_HINT}, got ${describeValue(input)}`),
    })
    .transform((text, ctx) => {
      const parsed = parseDuration(text);
      if (!parsed.ok) {
        // Too long for any duration: still the field's own range, as the reference prints it.
        const message = parsed.isTooLong ? `expected a duration ${rangeText}` : parsed.message;
        ctx.addIssue({
          code: 'custom',
          message: `${message}, got ${describeValue(text)}`,
          input: text,
        });
        return z.NEVER;
      }
      const isInRange = (parsed.ms >= minMs && parsed.ms <= maxMs) || (isZeroAllowed && parsed.ms === 0);
      if (!isInRange) {
        ctx.addIssue({
          code: 'custom',
          message: `expected a duration ${rangeText}, got ${describeValue(text)}`,
          input: text,
        });
        return z.NEVER;
      }
      return parsed.ms;
    })
    .meta({ 'x-type': 'duration', 'x-allowed': rangeText });
}
