import { describe, expect, it } from 'vitest';
import { runHttp1ParseSmoke } from '../../../bench/micro/http1-parse.bench.ts';

describe('runHttp1ParseSmoke', () => {
  it('runs every variant of the http1-parse bench with a stable checksum', () => {
    const first = runHttp1ParseSmoke();
    const second = runHttp1ParseSmoke();
    expect(first.rows.map((row) => row.group)).toEqual(
      expect.arrayContaining(['parseRequestHead', 'parseResponseHead', 'ChunkedScanner.scan']),
    );
    for (const row of first.rows) {
      expect(Number.isFinite(row.nsPerOp) && row.nsPerOp > 0, row.variant).toBe(true);
      expect(row.checksum, row.variant).toBeGreaterThan(0);
    }
    expect(second.checksum).toBe(first.checksum);
  });
});
