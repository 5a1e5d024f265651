import { describe, expect, it } from 'vitest';
import { createRandom } from '../../../../src/shared/random.ts';

describe('createRandom', () => {
  it('yields the same sequence for the same seed', () => {
    const first = createRandom(42);
    const second = createRandom(42);
    for (let index = 0; index < 100; index++) expect(first()).toBe(second());
  });

  it('yields different sequences for different seeds', () => {
    const first = createRandom(1);
    const second = createRandom(2);
    const same = Array.from({ length: 20 }, () => first() === second()).filter(Boolean).length;
    expect(same).toBe(0);
  });

  it('yields numbers in [0, 1) spread evenly over ten buckets', () => {
    const random = createRandom(7);
    const buckets = new Array<number>(10).fill(0);
    for (let index = 0; index < 100_000; index++) {
      const value = random();
      expect(value >= 0 && value < 1).toBe(true);
      buckets[Math.floor(value * 10)]!++;
    }
    for (const count of buckets) expect(Math.abs(count - 10_000)).toBeLessThan(500);
  });
});
