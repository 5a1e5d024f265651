/**
 * @module src/shared/random
 *
 * A small, fast, seedable random source for the data plane (P2C draws, random
 * and weighted-random picks, tie-breaking scans) and for deterministic tests
 * and benches. Thread: both; each worker makes its own. No I/O.
 *
 * Algorithm: mulberry32 (Tommy Ettinger), one 32-bit state word, period 2^32,
 * good enough equidistribution for load balancing; not for cryptography.
 * Math.random was rejected as the only source because tests and benches must
 * replay a seed; it remains a fine RandomSource to seed a balancer from.
 *
 * Two faces of one generator:
 *
 *   createRandom(seed)        () => [0, 1)   the RandomSource of the balancer
 *                                             contract, tests and benches
 *   createRandomState(seed)   Int32Array(1)  the hot path's form: state in a
 *   nextRandomInt32(state)    int32          typed array, result an int32
 *
 * Why the hot path does not call a RandomSource: a function returning a
 * fraction returns a double, and when V8 does not inline the call (Maglev
 * tier, megamorphic sites, inlining budget) the double is boxed, one 16-byte
 * heap allocation per call; an int32 is a Smi and is never boxed on 64-bit
 * V8. bench/micro/pick.bench.ts measured peak_ewma at ~9 bytes/pick through a
 * RandomSource and 0 through nextRandomInt32. The state lives in a typed
 * array rather than a closure variable for the same reason: a 32-bit value
 * stored into a context slot can box.
 */

/**
 * Returns a function yielding uniform numbers in [0, 1) from `seed`; the same
 * seed yields the same sequence in every thread. Thread: any. Allocates once
 * (here); each call may box its double result when not inlined, so hot paths
 * use nextRandomInt32 instead. Never throws.
 */
export function createRandom(seed: number): () => number {
  const state = createRandomState(seed);
  return function nextRandom(): number {
    return (nextRandomInt32(state) >>> 0) / 4294967296;
  };
}

/** A one-cell generator state for nextRandomInt32, seeded with `seed` (any number; int32 bits used). Allocates. */
export function createRandomState(seed: number): Int32Array {
  const state = new Int32Array(1);
  state[0] = seed | 0;
  return state;
}

/**
 * Advance `state` and return the next value as a signed int32 (all 2^32
 * values equally likely). Thread: any (one state per thread). Never throws,
 * never allocates, inlined or not.
 */
export function nextRandomInt32(state: Int32Array): number {
  const s = (state[0]! + 0x6d2b79f5) | 0;
  state[0] = s;
  let t = Math.imul(s ^ (s >>> 15), s | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return t ^ (t >>> 14);
}
