/**
 * @module src/telemetry/wrap-delta
 *
 * Turns wrapping Int32 counter cells into monotonic JS-number totals.
 * Thread: main. Place in the flow: counters.ts snapshot -> **wrap delta** ->
 * a series' totals (collector.ts).
 *
 * Why unsigned: a `_TOTAL` cell wraps at 2^32 (Int32 overflow under
 * Atomics.add), so what it moved since the last read is `(now - last) >>> 0`.
 * The total stays exact while a cell moves less than 2^32 between two reads,
 * which the 1 s poll guarantees for every counter in the table.
 */

/**
 * Add to `totals[i]` what cell i moved from `last[i]` to `raw[i]`, then
 * remember `raw` in `last`. The three arrays are index-aligned (one snapshot
 * layout from counters.ts). Allocates nothing; never throws.
 */
export function accumulateWrapped(totals: Float64Array, raw: Int32Array, last: Int32Array): void {
  for (let cell = 0; cell < raw.length; cell++) {
    totals[cell]! += (raw[cell]! - last[cell]!) >>> 0;
  }
  last.set(raw);
}
