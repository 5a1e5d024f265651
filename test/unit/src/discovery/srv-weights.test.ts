/**
 * SRV records to Ferry weights (src/discovery/srv-weights.ts, RFC 2782):
 * the lowest priority value only, weights kept or scaled into 1..WEIGHT_MAX,
 * weight 0 as the smallest share.
 */
import { describe, expect, it } from 'vitest';
import { WEIGHT_MAX } from '../../../../proto/table-layout.ts';
import { ferryWeights, lowestPriorityTier } from '../../../../src/discovery/index.ts';

describe('lowestPriorityTier', () => {
  it('keeps the records of the lowest priority value and counts the others as backups', () => {
    const records = [
      { name: 'a', port: 1, priority: 10, weight: 5 },
      { name: 'b', port: 2, priority: 0, weight: 5 },
      { name: 'c', port: 3, priority: 0, weight: 1 },
      { name: 'd', port: 4, priority: 20, weight: 1 },
    ];
    const { tier, backupCount } = lowestPriorityTier(records);
    expect(tier.map((record) => record.name)).toEqual(['b', 'c']);
    expect(backupCount).toBe(2);
  });

  it('returns nothing for no records', () => {
    expect(lowestPriorityTier([])).toEqual({ tier: [], backupCount: 0 });
  });
});

describe('ferryWeights', () => {
  it('keeps weights that fit, and makes weight 0 the smallest share (1)', () => {
    expect(ferryWeights([30, 10, 0])).toEqual([30, 10, 1]);
  });

  it('scales weights above WEIGHT_MAX in proportion, never below 1', () => {
    expect(ferryWeights([65_535, 32_768, 1])).toEqual([WEIGHT_MAX, 500, 1]);
  });

  it('gives equal weights when every weight is 0', () => {
    expect(ferryWeights([0, 0, 0])).toEqual([1, 1, 1]);
  });
});
