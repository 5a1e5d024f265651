/**
 * @module src/config/matcher
 *
 * Health-check success codes (`healthCheck.matcher`, ELB's Matcher.HttpCode):
 * `"200"`, a list `"200,204"`, a range `"200-299"`, or a mix `"200,300-399"`.
 * Thread: main (config time). Place in the flow: YAML -> **schema leaf** ->
 * ConfigSnapshot -> src/health (which tests a status against the ranges).
 */

/** One inclusive range of HTTP status codes; a single code has `from === to`. */
export interface StatusRange {
  readonly from: number;
  readonly to: number;
}

/** A parsed matcher. */
export interface Matcher {
  /** As written in config, e.g. `200-299`. */
  readonly text: string;
  readonly ranges: readonly StatusRange[];
}

export type MatcherParse =
  | { readonly ok: true; readonly value: Matcher }
  | { readonly ok: false; readonly message: string };

/** Status codes a matcher may name. */
export const MATCHER_STATUS_MIN = 100;
export const MATCHER_STATUS_MAX = 599;
/** Comma-separated items a matcher may list. */
export const MATCHER_ITEMS_MAX = 32;

const MATCHER_ITEM = /^(\d{3})(?:-(\d{3}))?$/;

/** Parse a matcher. Thread: any. Never throws. */
export function parseMatcher(text: string): MatcherParse {
  const fail = (detail: string): MatcherParse => ({
    ok: false,
    message: `expected status codes such as "200", "200,204" or "200-299"${detail}`,
  });
  const items = text.split(',');
  if (items.length > MATCHER_ITEMS_MAX) return fail(` (at most ${MATCHER_ITEMS_MAX} items)`);
  const ranges: StatusRange[] = [];
  for (const item of items) {
    const match = MATCHER_ITEM.exec(item.trim());
    if (match === null) return fail(`, got ${JSON.stringify(text)}`);
    const from = Number(match[1]);
    const to = match[2] === undefined ? from : Number(match[2]);
    if (from < MATCHER_STATUS_MIN || to > MATCHER_STATUS_MAX) {
      return fail(` (codes ${MATCHER_STATUS_MIN}..${MATCHER_STATUS_MAX}), got ${JSON.stringify(text)}`);
    }
    if (from > to) return fail(` (a range goes low-high), got ${JSON.stringify(item.trim())}`);
    ranges.push({ from, to });
  }
  return { ok: true, value: { text, ranges } };
}
