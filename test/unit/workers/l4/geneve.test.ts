/**
 * The GENEVE codec (workers/l4/geneve.ts): what Ferry writes to appliances
 * decodes back to the same VNI, cookie and inner packet; the symmetric hash
 * and key agree for both directions of a flow (fast-check); and the decoder
 * never throws on arbitrary or mutated datagrams, and never points past them.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeGeneve,
  directionOf,
  encodeGeneveGwlb,
  FLOW_STICKINESS_FIVE_TUPLE,
  FLOW_STICKINESS_THREE_TUPLE,
  FLOW_STICKINESS_TWO_TUPLE,
  GENEVE_BAD_HEADER,
  GENEVE_BAD_INNER,
  GENEVE_BAD_OPTION,
  GENEVE_OAM,
  GENEVE_OK,
  GenevePacket,
  symmetricFlowHash,
  symmetricFlowKey,
} from '../../../../workers/l4/geneve.ts';

function ipv4(
  source: number[],
  sourcePort: number,
  destination: number[],
  destinationPort: number,
  protocol: number,
) {
  const packet = Buffer.alloc(28);
  packet[0] = 0x45;
  packet.writeUInt16BE(28, 2);
  packet[9] = protocol;
  Buffer.from(source).copy(packet, 12);
  Buffer.from(destination).copy(packet, 16);
  packet.writeUInt16BE(sourcePort, 20);
  packet.writeUInt16BE(destinationPort, 22);
  return packet;
}

function ipv6(source: Buffer, sourcePort: number, destination: Buffer, destinationPort: number) {
  const packet = Buffer.alloc(48);
  packet[0] = 0x60;
  packet.writeUInt16BE(8, 4);
  packet[6] = 17;
  source.copy(packet, 8);
  destination.copy(packet, 24);
  packet.writeUInt16BE(sourcePort, 40);
  packet.writeUInt16BE(destinationPort, 42);
  return packet;
}

const CODES = [GENEVE_OK, GENEVE_BAD_HEADER, GENEVE_BAD_OPTION, GENEVE_BAD_INNER, GENEVE_OAM];
const octet = fc.integer({ min: 0, max: 255 });
const v4 = fc.array(octet, { minLength: 4, maxLength: 4 });
const port = fc.integer({ min: 0, max: 65_535 });

describe('encodeGeneveGwlb and decodeGeneve', () => {
  it('round-trips the VNI, the flow cookie and the inner IPv4 packet', () => {
    const inner = ipv4([10, 0, 0, 1], 1234, [10, 0, 0, 2], 443, 6);
    const bytes = encodeGeneveGwlb(0xfedcba, 0x0800, 1, 2, 3, 4, 0x8000_0003, inner);
    const packet = new GenevePacket();
    expect(decodeGeneve(bytes, bytes.length, packet)).toBe(GENEVE_OK);
    expect(packet.vni).toBe(0xfedcba);
    expect(packet.flowCookie).toBe(0x8000_0003);
    expect(bytes.subarray(packet.innerOffset).equals(inner)).toBe(true);
    expect([packet.protocol, packet.sourcePort, packet.destinationPort]).toEqual([6, 1234, 443]);
  });

  it('decodes an inner IPv6 packet', () => {
    const inner = ipv6(Buffer.alloc(16, 1), 53, Buffer.alloc(16, 2), 5353);
    const bytes = encodeGeneveGwlb(1, 0x86dd, 0, 0, 0, 0, 7, inner);
    const packet = new GenevePacket();
    expect(decodeGeneve(bytes, bytes.length, packet)).toBe(GENEVE_OK);
    expect([packet.ipVersion, packet.protocol, packet.sourcePort, packet.destinationPort]).toEqual([
      6, 17, 53, 5353,
    ]);
  });

  it('refuses another version, OAM, an unknown critical option and an unknown inner protocol', () => {
    const inner = ipv4([1, 1, 1, 1], 1, [2, 2, 2, 2], 2, 17);
    const good = encodeGeneveGwlb(1, 0x0800, 0, 0, 0, 0, 1, inner);
    const packet = new GenevePacket();
    const version = Buffer.from(good);
    version[0] = version[0]! | 0x40;
    expect(decodeGeneve(version, version.length, packet)).toBe(GENEVE_BAD_HEADER);
    const oam = Buffer.from(good);
    oam[1] = 0x80;
    expect(decodeGeneve(oam, oam.length, packet)).toBe(GENEVE_OAM);
    const critical = Buffer.from(good);
    critical[8 + 2] = 0x81; // the first option, now critical and unknown (class 0x0108 type 0x81)
    expect(decodeGeneve(critical, critical.length, packet)).toBe(GENEVE_BAD_OPTION);
    const ethernet = Buffer.from(good);
    ethernet.writeUInt16BE(0x6558, 2);
    expect(decodeGeneve(ethernet, ethernet.length, packet)).toBe(GENEVE_BAD_INNER);
  });
});

describe('symmetricFlowHash', () => {
  it('is the same for both directions of a flow, with every stickiness', () => {
    fc.assert(
      fc.property(v4, port, v4, port, fc.constantFrom(6, 17), (a, aPort, b, bPort, protocol) => {
        const forward = new GenevePacket();
        const reverse = new GenevePacket();
        const f = encodeGeneveGwlb(1, 0x0800, 0, 0, 0, 0, 1, ipv4(a, aPort, b, bPort, protocol));
        const r = encodeGeneveGwlb(1, 0x0800, 0, 0, 0, 0, 1, ipv4(b, bPort, a, aPort, protocol));
        expect(decodeGeneve(f, f.length, forward)).toBe(GENEVE_OK);
        expect(decodeGeneve(r, r.length, reverse)).toBe(GENEVE_OK);
        for (const stickiness of [
          FLOW_STICKINESS_FIVE_TUPLE,
          FLOW_STICKINESS_THREE_TUPLE,
          FLOW_STICKINESS_TWO_TUPLE,
        ]) {
          expect(symmetricFlowHash(forward, stickiness)).toBe(symmetricFlowHash(reverse, stickiness));
          expect(symmetricFlowKey(forward, stickiness)).toBe(symmetricFlowKey(reverse, stickiness));
          // Two distinct endpoints: the two directions are told apart (the flow cookie's direction bit).
          const isSameAddress = a.join('.') === b.join('.');
          const isSameEndpoint =
            isSameAddress && (stickiness !== FLOW_STICKINESS_FIVE_TUPLE || aPort === bPort);
          if (!isSameEndpoint)
            expect(directionOf(forward, stickiness)).not.toBe(directionOf(reverse, stickiness));
        }
      }),
      { numRuns: 1_000 },
    );
  });

  it('separates flows that differ only in ports under five_tuple, not under three_tuple', () => {
    const one = new GenevePacket();
    const two = new GenevePacket();
    const a = encodeGeneveGwlb(1, 0x0800, 0, 0, 0, 0, 1, ipv4([10, 0, 0, 1], 1000, [10, 0, 0, 2], 80, 6));
    const b = encodeGeneveGwlb(1, 0x0800, 0, 0, 0, 0, 1, ipv4([10, 0, 0, 1], 1001, [10, 0, 0, 2], 80, 6));
    decodeGeneve(a, a.length, one);
    decodeGeneve(b, b.length, two);
    expect(symmetricFlowKey(one, FLOW_STICKINESS_FIVE_TUPLE)).not.toBe(
      symmetricFlowKey(two, FLOW_STICKINESS_FIVE_TUPLE),
    );
    expect(symmetricFlowKey(one, FLOW_STICKINESS_THREE_TUPLE)).toBe(
      symmetricFlowKey(two, FLOW_STICKINESS_THREE_TUPLE),
    );
  });
});

describe('decodeGeneve when fuzzed', () => {
  it('never throws and never points past the datagram, for arbitrary bytes', () => {
    const packet = new GenevePacket();
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        const code = decodeGeneve(bytes, bytes.length, packet);
        expect(CODES).toContain(code);
        if (code === GENEVE_OK) expect(packet.innerOffset).toBeLessThanOrEqual(bytes.length);
      }),
      { numRuns: 3_000 },
    );
  });

  it('never throws on real packets with bytes flipped or cut', () => {
    const samples = [
      encodeGeneveGwlb(9, 0x0800, 1, 2, 3, 4, 5, ipv4([10, 1, 1, 1], 1, [10, 2, 2, 2], 2, 6)),
      encodeGeneveGwlb(9, 0x86dd, 1, 2, 3, 4, 5, ipv6(Buffer.alloc(16, 3), 1, Buffer.alloc(16, 4), 2)),
    ];
    const packet = new GenevePacket();
    fc.assert(
      fc.property(
        fc.nat(samples.length - 1),
        fc.array(fc.record({ at: fc.nat(), value: octet }), { maxLength: 6 }),
        fc.nat(),
        (which, flips, cut) => {
          const bytes = Buffer.from(samples[which]!);
          for (const flip of flips) bytes[flip.at % bytes.length] = flip.value;
          const length = cut % (bytes.length + 1);
          const code = decodeGeneve(bytes, length, packet);
          expect(CODES).toContain(code);
          if (code === GENEVE_OK) expect(packet.innerOffset).toBeLessThanOrEqual(length);
        },
      ),
      { numRuns: 3_000 },
    );
  });
});
