/**
 * The PROXY protocol reader and v2 writer (workers/l4/proxy-protocol.ts):
 * the spec's examples, round trips of every address family through the
 * writer and reader (fast-check), the TLVs, and fuzzing of arbitrary and
 * mutated bytes (never throws; only PROXY_* codes; a header never claims
 * more bytes than it was given).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  encodeProxyV2,
  PP2_TYPE_ALPN,
  PP2_TYPE_AUTHORITY,
  PROXY_ACCEPT_V1,
  PROXY_ACCEPT_V2,
  PROXY_MALFORMED,
  PROXY_NEED_MORE,
  PROXY_OK,
  ProxyHeader,
  readProxyHeader,
} from '../../../../workers/l4/proxy-protocol.ts';

const ANY = PROXY_ACCEPT_V1 | PROXY_ACCEPT_V2;

function read(bytes: Buffer, mask = ANY): { status: number; header: ProxyHeader } {
  const header = new ProxyHeader();
  return { status: readProxyHeader(bytes, bytes.length, mask, header), header };
}

/** The TLVs after the addresses of a v2 header, as type -> value. */
function tlvsOf(bytes: Buffer): Map<number, string> {
  const family = bytes[13]! >> 4;
  let at = 16 + (family === 1 ? 12 : 36);
  const end = 16 + bytes.readUInt16BE(14);
  const tlvs = new Map<number, string>();
  while (at < end) {
    const length = bytes.readUInt16BE(at + 1);
    tlvs.set(bytes[at]!, bytes.subarray(at + 3, at + 3 + length).toString());
    at += 3 + length;
  }
  return tlvs;
}

const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((parts) => parts.join('.'));
/** An address as the WHATWG URL parser writes it (RFC 5952 for IPv6). */
function canonical(address: string): string {
  return new URL(address.includes(':') ? `http://[${address}]` : `http://${address}`).hostname;
}

/** IPv6 text, without the IPv4-mapped ones (the reader reports those as IPv4, tested on their own). */
const ipv6 = fc.ipV6().filter((text) => !text.includes('.') && !canonical(text).startsWith('[::ffff:'));

describe('readProxyHeader', () => {
  it('reads the spec example of a v1 TCP4 header and says where the client bytes start', () => {
    const { status, header } = read(Buffer.from('PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nGET /'));
    expect(status).toBe(PROXY_OK);
    expect(header).toMatchObject({
      version: 1,
      hasAddresses: true,
      sourceAddress: '192.168.0.1',
      sourcePort: 56_324,
      destinationAddress: '192.168.0.11',
      destinationPort: 443,
      headerBytes: 47,
    });
  });

  it('keeps the socket addresses for v1 UNKNOWN and v2 LOCAL', () => {
    expect(read(Buffer.from('PROXY UNKNOWN\r\n')).header.hasAddresses).toBe(false);
    const local = encodeProxyV2('1.2.3.4', 1, '5.6.7.8', 2, false, '', '');
    local[12] = 0x20;
    const { status, header } = read(local);
    expect(status).toBe(PROXY_OK);
    expect(header.hasAddresses).toBe(false);
  });

  it('refuses a version the listener does not accept', () => {
    expect(read(Buffer.from('PROXY UNKNOWN\r\n'), PROXY_ACCEPT_V2).status).toBe(PROXY_MALFORMED);
    expect(read(encodeProxyV2('1.2.3.4', 1, '5.6.7.8', 2, false, '', ''), PROXY_ACCEPT_V1).status).toBe(
      PROXY_MALFORMED,
    );
  });

  it('refuses v1 headers with a bad family, address, port or line end', () => {
    for (const line of [
      'PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n',
      'PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n',
      'PROXY TCP4 ::1 5.6.7.8 1 2\r\n',
      'PROXY TCP6 1.2.3.4 ::1 1 2\r\n',
      'PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n',
      'PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n',
      'PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n',
      `PROXY TCP4 1.2.3.4 5.6.7.8 1 ${'2'.repeat(120)}`,
    ])
      expect(read(Buffer.from(line)).status, line).toBe(PROXY_MALFORMED);
  });

  it('asks for more bytes at every cut of a v2 header', () => {
    const bytes = encodeProxyV2('2001:db8::1', 1234, '2001:db8::2', 443, false, 'h2', 'api.example.test');
    for (let length = 0; length < bytes.length; length++) {
      const header = new ProxyHeader();
      expect(readProxyHeader(bytes, length, ANY, header)).toBe(PROXY_NEED_MORE);
    }
  });

  describe('with encodeProxyV2', () => {
    it('round-trips IPv4 and IPv6 addresses and ports, stream or datagram', () => {
      fc.assert(
        fc.property(
          fc.oneof(fc.tuple(ipv4, ipv4), fc.tuple(ipv6, ipv6)),
          fc.nat(65_535),
          fc.nat(65_535),
          fc.boolean(),
          ([source, destination], sourcePort, destinationPort, isDatagram) => {
            const bytes = encodeProxyV2(source, sourcePort, destination, destinationPort, isDatagram, '', '');
            const { status, header } = read(bytes);
            expect(status).toBe(PROXY_OK);
            expect(header.headerBytes).toBe(bytes.length);
            expect(header.sourcePort).toBe(sourcePort);
            expect(header.destinationPort).toBe(destinationPort);
            // Compare canonical forms: the reader prints RFC 5952 text.
            expect(canonical(header.sourceAddress)).toBe(canonical(source));
            expect(canonical(header.destinationAddress)).toBe(canonical(destination));
          },
        ),
        { numRuns: 500 },
      );
    });

    it('writes mixed families as IPv6 with the IPv4 address mapped, read back as IPv4', () => {
      const { header } = read(encodeProxyV2('10.1.2.3', 5, '::1', 6, false, '', ''));
      expect(header.sourceAddress).toBe('10.1.2.3');
      expect(header.destinationAddress).toBe('::1');
    });

    it('carries the ALPN and the SNI host as TLVs the reader skips', () => {
      const bytes = encodeProxyV2('10.0.0.1', 1, '10.0.0.2', 2, false, 'h2', 'api.example.test');
      expect(tlvsOf(bytes)).toEqual(
        new Map([
          [PP2_TYPE_ALPN, 'h2'],
          [PP2_TYPE_AUTHORITY, 'api.example.test'],
        ]),
      );
      const appended = Buffer.concat([bytes, Buffer.from('client bytes')]);
      expect(read(appended).header.headerBytes).toBe(bytes.length);
    });
  });

  describe('when fuzzed', () => {
    it('never throws and never claims more bytes than it got, for arbitrary bytes', () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 300 }), fc.integer({ min: 0, max: 3 }), (bytes, mask) => {
          const header = new ProxyHeader();
          const status = readProxyHeader(bytes, bytes.length, mask, header);
          expect([PROXY_NEED_MORE, PROXY_OK, PROXY_MALFORMED]).toContain(status);
          if (status === PROXY_OK) expect(header.headerBytes).toBeLessThanOrEqual(bytes.length);
        }),
        { numRuns: 3_000 },
      );
    });

    it('never throws on real v1 and v2 headers with bytes flipped or cut', () => {
      const samples = [
        encodeProxyV2('192.0.2.1', 80, '192.0.2.2', 443, false, 'http/1.1', 'a.test'),
        encodeProxyV2('2001:db8::5', 80, '2001:db8::6', 443, true, '', ''),
        Buffer.from('PROXY TCP6 2001:db8::1 2001:db8::2 1 2\r\n'),
      ];
      fc.assert(
        fc.property(
          fc.nat(samples.length - 1),
          fc.array(fc.record({ at: fc.nat(), value: fc.nat(255) }), { maxLength: 6 }),
          fc.nat(),
          (which, flips, cut) => {
            const bytes = Buffer.from(samples[which]!);
            for (const flip of flips) bytes[flip.at % bytes.length] = flip.value;
            const header = new ProxyHeader();
            const length = cut % (bytes.length + 1);
            const status = readProxyHeader(bytes, length, ANY, header);
            expect([PROXY_NEED_MORE, PROXY_OK, PROXY_MALFORMED]).toContain(status);
            if (status === PROXY_OK) expect(header.headerBytes).toBeLessThanOrEqual(length);
          },
        ),
        { numRuns: 3_000 },
      );
    });
  });
});
