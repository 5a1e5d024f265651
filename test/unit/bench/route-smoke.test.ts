/**
 * Smoke run of bench/micro/route.bench.ts (STYLE §11): the bench still runs,
 * its checksum is stable, and matching allocates nothing (H1). Speed is not
 * checked here (a loaded box says nothing about it); allocation is, since it
 * does not depend on load.
 */
import { describe, expect, it } from 'vitest';
import { formatRouteBench, runRouteBench } from '../../../bench/micro/route.bench.ts';

describe('runRouteBench', () => {
  describe('when run in smoke mode', () => {
    const result = runRouteBench({ isSmoke: true });

    it('measures every smoke rule count', () => {
      expect(result.rows.map((row) => row.ruleCount)).toEqual([0, 20]);
      for (const row of result.rows) expect(row.nsPerMatch).toBeGreaterThan(0);
    });

    it('allocates nothing per match', () => {
      for (const row of result.rows) expect(row.bytesPerMatch, `${row.ruleCount} rules`).toBeLessThan(1);
    });

    it('prints a checksum that is stable across runs', () => {
      const again = runRouteBench({ isSmoke: true });
      expect(again.checksum).toBe(result.checksum);
      expect(formatRouteBench(result)).toContain(`checksum ${result.checksum}`);
    });
  });
});
