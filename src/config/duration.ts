/**
 * @module src/config/duration
 *
 * Durations as users write them in config (`500ms`, `30s`, `5m`, `1h`, `1d`,
 * or several units in descending order such as `1m30s`), parsed into integer
 * milliseconds, and formatted back. Thread: main (config time). Place in the
 * flow: YAML -> **schema leaves** -> ConfigSnapshot `…Ms` fields.
 *
 * Why units are mandatory: a bare `30` is 30 ms to one reader and 30 s to the
 * next; Envoy, Go and Kubernetes all make the unit part of the value. The one
 * exception is `0`, which means the same in every unit.
 *
 * The longest duration is DURATION_MS_MAX (Int32), because the shared table
 * holds times as Int32 `_MS` fields. Written durations stop at a round
 * bound below it, DURATION_WRITTEN_MS_MAX (`24d`), so an error can name the
 * bound the way a user writes it, not as `24d20h31m23s647ms` (issue 10).
 * Every config field has a tighter range of its own, and its error prints
 * that range instead (fields.ts).
 */

/** Longest duration a config may hold: the largest Int32, about 24.8 days. */
export const DURATION_MS_MAX = 2_147_483_647;
/** Longest duration parseDuration accepts unless told otherwise: `24d`, the largest whole day count under DURATION_MS_MAX. */
export const DURATION_WRITTEN_MS_MAX = 24 * 86_400_000;
/** Longest duration text accepted, so a hostile config cannot make the parser loop long. */
export const DURATION_TEXT_LENGTH_MAX = 64;

/** Units from largest to smallest; a duration lists each at most once, in this order. */
const UNITS = [
  { unit: 'd', ms: 86_400_000 },
  { unit: 'h', ms: 3_600_000 },
  { unit: 'm', ms: 60_000 },
  { unit: 's', ms: 1_000 },
  { unit: 'ms', ms: 1 },
] as const;
const UNIT_INDEX: Readonly<Record<string, number>> = { d: 0, h: 1, m: 2, s: 3, ms: 4 };

/** One `<digits><unit>` group; `ms` is tried before `m` so `5ms` is not `5m` + garbage. */
const DURATION_TOKEN = /(\d{1,10})(ms|d|h|m|s)/y;

/** What a duration text parses to. */
export type DurationParse =
  | { readonly ok: true; readonly ms: number }
  /** `isTooLong`: well formed but above the bound, so a caller with a range of its own can print that instead. */
  | { readonly ok: false; readonly message: string; readonly isTooLong: boolean };

/** The hint every syntax error carries. */
export const DURATION_SYNTAX_HINT = 'a duration with a unit, such as 500ms, 30s, 5m, 1h, 1d or 1m30s';

/**
 * Parse a duration text into integer milliseconds. Thread: any. Never throws;
 * allocates only for the result. Accepts `0` and sequences of
 * `<integer><unit>` with units d, h, m, s, ms in strictly descending order,
 * up to `maxMs` (DURATION_WRITTEN_MS_MAX unless given; a caller whose value
 * never reaches the shared table, such as a certificate lifetime, may pass
 * more). `maxMs` should be a round value: the error prints it.
 */
export function parseDuration(text: string, maxMs: number = DURATION_WRITTEN_MS_MAX): DurationParse {
  if (text === '0') return { ok: true, ms: 0 };
  if (text.length === 0 || text.length > DURATION_TEXT_LENGTH_MAX) {
    return { ok: false, message: `expected ${DURATION_SYNTAX_HINT}`, isTooLong: false };
  }
  let totalMs = 0;
  let previousUnitIndex = -1;
  let offset = 0;
  while (offset < text.length) {
    DURATION_TOKEN.lastIndex = offset;
    const match = DURATION_TOKEN.exec(text);
    if (match === null) return { ok: false, message: `expected ${DURATION_SYNTAX_HINT}`, isTooLong: false };
    const unitIndex = UNIT_INDEX[match[2]!]!;
    if (unitIndex <= previousUnitIndex) {
      return {
        ok: false,
        message: `expected ${DURATION_SYNTAX_HINT} (each unit once, largest first)`,
        isTooLong: false,
      };
    }
    previousUnitIndex = unitIndex;
    totalMs += Number(match[1]) * UNITS[unitIndex]!.ms;
    if (totalMs > maxMs) {
      return { ok: false, message: `expected a duration of at most ${formatLongMs(maxMs)}`, isTooLong: true };
    }
    offset = DURATION_TOKEN.lastIndex;
  }
  return { ok: true, ms: totalMs };
}

/** formatDurationMs without its Int32 precondition, for bounds such as a 90d certificate lifetime. */
function formatLongMs(ms: number): string {
  if (ms <= DURATION_MS_MAX) return formatDurationMs(ms);
  const days = Math.floor(ms / 86_400_000);
  const restMs = ms - days * 86_400_000;
  return restMs === 0 ? `${days}d` : `${days}d${formatDurationMs(restMs)}`;
}

/**
 * Format integer milliseconds the way a user would write them: the fewest
 * groups, largest unit first (`90000` -> `1m30s`, `0` -> `0s`). Thread: any.
 * Precondition: `ms` is an integer in 0..DURATION_MS_MAX; throws a RangeError
 * otherwise.
 */
export function formatDurationMs(ms: number): string {
  if (!Number.isInteger(ms) || ms < 0 || ms > DURATION_MS_MAX) {
    throw new RangeError(`formatDurationMs: ${ms} is not an integer in 0..${DURATION_MS_MAX}`);
  }
  if (ms === 0) return '0s';
  let text = '';
  let restMs = ms;
  for (const { unit, ms: unitMs } of UNITS) {
    const count = Math.floor(restMs / unitMs);
    if (count > 0) {
      text += `${count}${unit}`;
      restMs -= count * unitMs;
    }
  }
  return text;
}
