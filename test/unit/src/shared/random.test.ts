import { describe, expect, it } from 'vitest';
import { createRandom, createRandomState, nextRandomInt32 } from '../../../../src/shared/random.ts';

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

describe('nextRandomInt32', () => {
  it('returns signed int32 values and replays from the same seed', () => {
    const first = createRandomState(9);
    const second = createRandomState(9);
    let negatives = 0;
    for (let index = 0; index < 1_000; index++) {
      const value = nextRandomInt32(first);
      expect(value).toBe(value | 0);
      expect(nextRandomInt32(second)).toBe(value);
      if (value < 0) negatives++;
    }
    expect(negatives).toBeGreaterThan(400);
    expect(negatives).toBeLessThan(600);
  });

  it('is the stream createRandom scales into [0, 1)', () => {
    const state = createRandomState(5);
    const random = createRandom(5);
    for (let index = 0; index < 10; index++) {
      expect(random()).toBe((nextRandomInt32(state) >>> 0) / 4294967296);
    }
  });
});
