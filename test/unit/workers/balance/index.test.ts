import { describe, expect, it } from 'vitest';
import { ALGORITHMS, createBalancer, isAlgorithmName } from '../../../../workers/balance/index.ts';

describe('createBalancer', () => {
  it('makes a balancer for every algorithm name, reporting that name', () => {
    for (const algorithm of ALGORITHMS) {
      expect(createBalancer(algorithm, 0, Math.random).algorithm).toBe(algorithm);
    }
  });

  it('throws on a name that config validation should have rejected', () => {
    expect(() => createBalancer('fastest' as never, 0, Math.random)).toThrow(/unknown algorithm/);
  });
});

describe('isAlgorithmName', () => {
  it('accepts config names and rejects others', () => {
    expect(isAlgorithmName('peak_ewma')).toBe(true);
    expect(isAlgorithmName('least_conn')).toBe(false);
  });
});
