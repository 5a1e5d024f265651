import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hashString, mixHash } from '../../../../src/shared/hash.ts';

/** MurmurHash3 x86_32 over bytes, written from the reference description (a byte-wise oracle). */
function murmur3Bytes(bytes: Uint8Array, seed: number): number {
  let h = seed >>> 0;
  const blockEnd = bytes.length - (bytes.length % 4);
  for (let i = 0; i < blockEnd; i += 4) {
    let k = bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24);
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  let k = 0;
  const tail = bytes.length % 4;
  if (tail >= 3) k ^= bytes[blockEnd + 2]! << 16;
  if (tail >= 2) k ^= bytes[blockEnd + 1]! << 8;
  if (tail >= 1) {
    k ^= bytes[blockEnd]!;
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
  }
  h ^= bytes.length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h | 0;
}

describe('hashString', () => {
  it('matches published MurmurHash3 x86_32 vectors on the UTF-16LE bytes', () => {
    // Published vectors: "" seed 0 -> 0, "" seed 1 -> 0x514e28b7.
    expect(hashString('', 0)).toBe(0);
    expect(hashString('', 1) >>> 0).toBe(0x514e28b7);
    // "a" as UTF-16LE is the bytes 61 00.
    expect(hashString('a')).toBe(murmur3Bytes(Uint8Array.from([0x61, 0x00]), 0));
  });

  it('equals MurmurHash3 of Buffer.from(text, "utf16le") for any string and seed', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 64 }), fc.integer(), (text, seed) => {
        expect(hashString(text, seed)).toBe(murmur3Bytes(Buffer.from(text, 'utf16le'), seed));
      }),
      { seed: 1, numRuns: 500 },
    );
  });

  it('returns a signed int32', () => {
    fc.assert(
      fc.property(fc.string(), (text) => {
        const hash = hashString(text);
        expect(hash).toBe(hash | 0);
      }),
      { seed: 2 },
    );
  });

  describe('when hashing addresses modulo a prime', () => {
    it('spreads them within 10% of even', () => {
      const buckets = new Array<number>(101).fill(0);
      for (let index = 0; index < 101_000; index++) {
        const address = `10.${(index >> 16) & 255}.${(index >> 8) & 255}.${index & 255}:8080`;
        buckets[(hashString(address) >>> 0) % 101]!++;
      }
      expect(Math.min(...buckets)).toBeGreaterThan(900);
      expect(Math.max(...buckets)).toBeLessThan(1100);
    });
  });
});

describe('mixHash', () => {
  it('derives a different hash for each salt and the same one every time', () => {
    const seen = new Set<number>();
    for (let salt = 0; salt < 8; salt++) {
      expect(mixHash(12_345, salt)).toBe(mixHash(12_345, salt));
      seen.add(mixHash(12_345, salt));
    }
    expect(seen.size).toBe(8);
  });

  it('returns a signed int32', () => {
    fc.assert(
      fc.property(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), fc.nat(16), (hash, salt) => {
        const mixed = mixHash(hash, salt);
        expect(mixed).toBe(mixed | 0);
      }),
      { seed: 3 },
    );
  });
});
