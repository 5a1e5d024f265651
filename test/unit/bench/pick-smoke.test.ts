/**
 * Smoke run of bench/micro/pick.bench.ts (STYLE §11): proves the bench still
 * runs and its output is sane, so it cannot rot. Numbers are not checked
 * here (a loaded CI box says nothing about speed); shape and invariants are.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
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
      }
    });

    // The README promises allocation-free picks. Measured in a child Node with --single-threaded:
    // V8 then compiles on the main thread, so pick is optimised by the end of the warm-up every run,
    // and no background compile or GC lands inside a measuring window (in this process, with
    // vitest's threads, single windows read 0-200 B/pick of noise; the full bench reads 0).
    it('allocates 0 bytes per pick for every algorithm, as the README promises', () => {
      const bench = pathToFileURL(
        fileURLToPath(new URL('../../../bench/micro/pick.bench.ts', import.meta.url)),
      );
      const script =
        `import { runPickBench } from ${JSON.stringify(bench.href)};\n` +
        'const rows = runPickBench({ isSmoke: true }).rows;\n' +
        'console.log(JSON.stringify(rows.map((row) => [row.algorithm + "@" + row.targetCount, row.bytesPerPick])));';
      const output = execFileSync(
        process.execPath,
        ['--expose-gc', '--single-threaded', '--input-type=module', '--eval', script],
        { encoding: 'utf8', timeout: 120_000 },
      );
      const bytesPerPick = Object.fromEntries(JSON.parse(output) as [string, number][]);
      expect(bytesPerPick).toEqual(Object.fromEntries(Object.keys(bytesPerPick).map((row) => [row, 0])));
      expect(Object.keys(bytesPerPick)).toHaveLength(2 * ALGORITHMS.length);
    }, 120_000);

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
