/** accumulateWrapped: wrapping Int32 cells into exact monotonic totals. */
import { describe, expect, it } from 'vitest';
import { accumulateWrapped } from '../../../../src/telemetry/wrap-delta.ts';

describe('accumulateWrapped', () => {
  describe('when a cell wraps from positive to negative', () => {
    it('adds the distance it moved, unsigned', () => {
      const totals = new Float64Array([100, 0]);
      const last = new Int32Array([2 ** 31 - 10, 5]);
      accumulateWrapped(totals, new Int32Array([-(2 ** 31) + 15, 5]), last);
      expect([...totals]).toEqual([125, 0]);
    });
  });

  describe('when a cell moves more than 2^31 but less than 2^32', () => {
    it('still adds the exact distance (bytes counters)', () => {
      const totals = new Float64Array(1);
      const last = new Int32Array(1);
      accumulateWrapped(totals, new Int32Array([(3 * 2 ** 30) | 0]), last);
      expect(totals[0]).toBe(3 * 2 ** 30);
    });
  });

  it('remembers the cells it read for the next call', () => {
    const totals = new Float64Array(2);
    const last = new Int32Array(2);
    accumulateWrapped(totals, new Int32Array([4, 9]), last);
    accumulateWrapped(totals, new Int32Array([6, 9]), last);
    expect([...last]).toEqual([6, 9]);
    expect([...totals]).toEqual([6, 9]);
  });
});
