/**
 * src/shared/ip: the address and CIDR parser both the config and the data
 * plane use. Property tests compare it with a naive reference built on
 * BigInt and Node's own net.isIP.
 */
import net from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  formatIp,
  IP_NONE,
  IP_V4,
  IP_V6,
  parseCidr,
  parseIp,
  unmappedAddress,
} from '../../../../src/shared/ip.ts';

/** The 32- or 128-bit value of words as parseIp fills them. */
function bigValueOf(family: number, words: Int32Array): bigint {
  if (family === IP_V4) return BigInt(words[0]! >>> 0);
  let value = 0n;
  for (let i = 0; i < 4; i++) value = (value << 32n) | BigInt(words[i]! >>> 0);
  return value;
}

/** Reference: IPv6 groups (8 x 16 bits) of a number. */
function groupsOf(value: bigint): number[] {
  return Array.from({ length: 8 }, (_, i) => Number((value >> BigInt(112 - 16 * i)) & 0xffffn));
}

const v4Arbitrary = fc.integer({ min: 0, max: 2 ** 32 - 1 });
const v6Arbitrary = fc.bigInt({ min: 0n, max: (1n << 128n) - 1n });

function dotted(value: number): string {
  return [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join('.');
}

/** Full, uncompressed, mixed-case IPv6 text. */
function fullV6(value: bigint, isUpper: boolean): string {
  const text = groupsOf(value)
    .map((group) => group.toString(16))
    .join(':');
  return isUpper ? text.toUpperCase() : text;
}

describe('parseIp', () => {
  const words = new Int32Array(4);

  describe('when given IPv4 text', () => {
    it('parses every dotted quad to its 32-bit value', () => {
      fc.assert(
        fc.property(v4Arbitrary, (value) => {
          expect(parseIp(dotted(value), words)).toBe(IP_V4);
          expect(bigValueOf(IP_V4, words)).toBe(BigInt(value));
        }),
      );
    });

    it.each([
      '',
      '1.2.3',
      '1.2.3.4.5',
      '256.0.0.1',
      '01.2.3.4',
      '1..2.3',
      '1.2.3.4 ',
      ' 1.2.3.4',
      '1.2.3.-4',
      'a.b.c.d',
      '1.2.3.4/8',
    ])('refuses %j', (text) => {
      expect(parseIp(text, words)).toBe(IP_NONE);
    });
  });

  describe('when given IPv6 text', () => {
    it('parses the full form, in either case, to its 128-bit value', () => {
      fc.assert(
        fc.property(v6Arbitrary, fc.boolean(), (value, isUpper) => {
          const family = parseIp(fullV6(value, isUpper), words);
          const isMapped = value >> 32n === 0xffffn;
          expect(family).toBe(isMapped ? IP_V4 : IP_V6);
          expect(bigValueOf(family, words)).toBe(isMapped ? value & 0xffffffffn : value);
        }),
      );
    });

    it('parses the RFC 5952 compressed form back to the same value', () => {
      fc.assert(
        fc.property(v6Arbitrary, (value) => {
          const expected = new Int32Array(4);
          parseIp(fullV6(value, false), expected);
          const text = formatIp(IP_V6, [
            Number((value >> 96n) & 0xffffffffn) | 0,
            Number((value >> 64n) & 0xffffffffn) | 0,
            Number((value >> 32n) & 0xffffffffn) | 0,
            Number(value & 0xffffffffn) | 0,
          ]);
          expect(net.isIPv6(text)).toBe(true);
          parseIp(text, words);
          expect([...words]).toEqual([...expected]);
        }),
      );
    });

    it('agrees with net.isIP on what is an address, for random short strings', () => {
      fc.assert(
        fc.property(fc.stringMatching(/^[0-9a-fA-F:.]{0,20}$/), (text) => {
          const isOurs = parseIp(text, words) !== IP_NONE;
          // net.isIP accepts leading zeros in IPv4 tails of IPv6 on some versions; compare only the rest.
          if (/(^|[:.])0\d/.test(text)) return;
          expect(isOurs).toBe(net.isIP(text) !== 0);
        }),
        { numRuns: 2_000 },
      );
    });

    it.each([
      ['::', IP_V6, 0n],
      ['::1', IP_V6, 1n],
      ['1::', IP_V6, 1n << 112n],
      ['fe80::1%eth0', IP_V6, (0xfe80n << 112n) | 1n],
      ['::ffff:10.0.0.1', IP_V4, 0x0a000001n],
      ['::FFFF:192.168.1.2', IP_V4, 0xc0a80102n],
      ['64:ff9b::1.2.3.4', IP_V6, (0x64n << 112n) | (0xff9bn << 96n) | 0x01020304n],
      ['1:2:3:4:5:6:7:8', IP_V6, 0x0001000200030004000500060007_0008n],
    ])('parses %s', (text, family, value) => {
      expect(parseIp(text, words)).toBe(family);
      expect(bigValueOf(family, words)).toBe(value);
    });

    it.each([
      ':',
      ':::',
      '1:::2',
      '1::2::3',
      '1:2:3:4:5:6:7:8:9',
      '1:2:3:4:5:6:7::8',
      '12345::',
      '1:',
      ':1',
      'g::1',
      '::1%',
      '::1.2.3',
      '1:2:3:4:5:6:7:1.2.3.4',
    ])('refuses %j', (text) => {
      expect(parseIp(text, words)).toBe(IP_NONE);
    });
  });
});

describe('parseCidr', () => {
  it('canonicalises a block and keeps its prefix', () => {
    expect(parseCidr('10.0.0.0/8')).toMatchObject({
      ok: true,
      value: { text: '10.0.0.0/8', prefixLength: 8 },
    });
    expect(parseCidr('FC00::/7')).toMatchObject({ ok: true, value: { text: 'fc00::/7', prefixLength: 7 } });
    expect(parseCidr('127.0.0.1')).toMatchObject({ ok: true, value: { text: '127.0.0.1/32' } });
    expect(parseCidr('::1')).toMatchObject({ ok: true, value: { text: '::1/128' } });
    expect(parseCidr('0.0.0.0/0')).toMatchObject({ ok: true, value: { text: '0.0.0.0/0' } });
  });

  it('reads an IPv4-mapped block as the IPv4 block it covers', () => {
    expect(parseCidr('::ffff:10.0.0.0/104')).toMatchObject({ ok: true, value: { text: '10.0.0.0/8' } });
  });

  it.each([
    ['10.0.0.1/8', 'host bits are set (did you mean 10.0.0.0/8?)'],
    ['fc00::1/7', 'host bits are set (did you mean fc00::/7?)'],
    ['10.0.0.0/33', 'expected a prefix length 0..32 after /'],
    ['::/129', 'expected a prefix length 0..128 after /'],
    ['10.0.0.0/', 'expected a prefix length 0..32 after /'],
    ['10.0.0.0/08', 'expected a prefix length 0..32 after /'],
    ['10.0.0/8', 'expected a CIDR block such as 10.0.0.0/8 or fc00::/7 (the address is not valid)'],
    ['fe80::1%eth0/64', 'a CIDR block cannot carry a %zone'],
    ['::ffff:10.0.0.0/8', 'an IPv4-mapped block (::ffff:…) needs a prefix length of at least 96'],
  ])('refuses %s: %s', (text, message) => {
    expect(parseCidr(text)).toEqual({ ok: false, message });
  });
});

describe('unmappedAddress', () => {
  it('drops the ::ffff: of an IPv4-mapped address and leaves every other address as it is', () => {
    expect(unmappedAddress('::ffff:10.1.2.3')).toBe('10.1.2.3');
    expect(unmappedAddress('10.1.2.3')).toBe('10.1.2.3');
    expect(unmappedAddress('::1')).toBe('::1');
    expect(unmappedAddress('fd00::ffff:1')).toBe('fd00::ffff:1');
    expect(unmappedAddress('')).toBe('');
  });
});
