/**
 * @module src/shared/random
 *
 * A small, fast, seedable random source for the data plane (P2C draws, random
 * and weighted-random picks, tie-breaking scans) and for deterministic tests
 * and benches. Thread: both; each worker makes its own. No I/O.
 *
 * Algorithm: mulberry32 (Tommy Ettinger), one 32-bit state word, period 2^32,
 * good enough equidistribution for load balancing; not for cryptography.
 * The state lives in a one-cell Uint32Array rather than a closure variable so
 * writing it never boxes a number (a 32-bit value above the Smi range written
 * into a context slot can allocate a HeapNumber). Math.random was rejected as
 * the only source because tests and benches need to replay a seed; it remains
 * a fine RandomSource in production.
 */

/**
 * Returns a function yielding uniform numbers in [0, 1) from `seed`; the same
 * seed yields the same sequence in every thread. Thread: any. Allocates once
 * (here); each call allocates nothing when inlined and never throws.
 */
export function createRandom(seed: number): () => number {
  const state = new Uint32Array(1);
  state[0] = seed;
  return function nextRandom(): number {
    const s = (state[0]! + 0x6d2b79f5) | 0;
    state[0] = s;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
