/**
 * Smoke run of bench/micro/pick.bench.ts (STYLE §11): proves the bench still
 * runs and its output is sane, so it cannot rot. Numbers are not checked
 * here (a loaded CI box says nothing about speed); shape and invariants are.
 */
import { describe, expect, it } from 'vitest';
import { formatPickBench, runPickBench } from '../../../bench/micro/pick.bench.ts';
import { ALGORITHMS } from '../../../workers/balance/index.ts';

describe('runPickBench', () => {
  describe('when run in smoke mode', () => {
    const result = runPickBench({ isSmoke: true });

    it('measures every algorithm at every smoke target count', () => {
      expect(result.rows.map((row) => `${row.algorithm}@${row.targetCount}`)).toEqual(
        [8, 64].flatMap((targetCount) => ALGORITHMS.map((algorithm) => `${algorithm}@${targetCount}`)),
      );
      for (const row of result.rows) {
        expect(row.nsPerPick).toBeGreaterThan(0);
        expect(row.spreadMaxMin).toBeGreaterThanOrEqual(1);
        expect(row.rebuildMs).toBeGreaterThanOrEqual(0);
        // A forced GC is available (--expose-gc or the V8 flag), so bytes/pick is a number.
        expect(row.bytesPerPick).toBeGreaterThanOrEqual(0);
      }
    });

    it('gives an even spread for round robin and the least-loaded scans', () => {
      for (const row of result.rows) {
        if (row.algorithm === 'round_robin' || row.algorithm === 'least_connections') {
          expect(row.spreadMaxMin).toBeLessThan(1.1);
        }
      }
    });

    it('prints a checksum that is stable across runs', () => {
      const again = runPickBench({ isSmoke: true, targetCounts: [8] });
      const firstRun = result.rows.filter((row) => row.targetCount === 8).map((row) => row.checksum);
      expect(again.rows.map((row) => row.checksum)).toEqual(firstRun);
      expect(formatPickBench(result)).toContain(`checksum ${result.checksum}`);
    });
  });
});
