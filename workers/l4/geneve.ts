/**
 * @module workers/l4/geneve
 *
 * GENEVE (RFC 8926) as Gateway Load Balancer speaks it: decode a packet from
 * the traffic side or an appliance (outer GENEVE header, options, the inner
 * IPv4 or IPv6 packet's addresses, protocol and ports), write one to an
 * appliance with GWLB's options, and the symmetric flow hash that keeps both
 * directions of a flow on one appliance. Thread: worker. Place in the flow:
 * datagram -> **decode** -> flow table -> pick -> **encode** -> appliance.
 *
 *   GENEVE:  Ver(2)=0 OptLen(6, 4-byte words) O C Rsvd(6) | Protocol(16) | VNI(24) Rsvd(8) | options
 *   option:  Class(16) | Type(8; high bit = critical) | R(3) Length(5, 4-byte words) | data
 *   GWLB:    class 0x0108: type 1 endpoint id (8 bytes), type 2 attachment id (8), type 3 flow cookie (4)
 *
 * Decoding is a pure function over one datagram, never throws on any input
 * (fuzzed: test/unit/workers/l4/geneve.test.ts), and refuses what GWLB
 * refuses: another version, OAM packets, an unknown critical option, options
 * or an inner packet that overrun the datagram, an inner protocol other than
 * IPv4 or IPv6.
 */
import { hashString, mixHash } from '../../src/shared/hash.ts';

/** Decoded: `out` holds the packet. */
export const GENEVE_OK = 0;
/** Not GENEVE version 0, or too short for its header. */
export const GENEVE_BAD_HEADER = 1;
/** Options overrun the header, or an option is unknown and critical. */
export const GENEVE_BAD_OPTION = 2;
/** The inner packet is not a well-formed IPv4 or IPv6 header. */
export const GENEVE_BAD_INNER = 3;
/** An OAM packet (O bit): control traffic Ferry does not forward. */
export const GENEVE_OAM = 4;

export const GENEVE_PORT = 6081;
const GENEVE_HEADER_BYTES = 8;
const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_IPV6 = 0x86dd;
/** GWLB's option class and types (AWS). */
export const GWLB_OPTION_CLASS = 0x0108;
export const GWLB_OPTION_ENDPOINT_ID = 1;
export const GWLB_OPTION_ATTACHMENT_ID = 2;
export const GWLB_OPTION_FLOW_COOKIE = 3;
/** The three GWLB options: 4-byte header + 8, + 8, + 4. */
const GWLB_OPTIONS_BYTES = 12 + 12 + 8;
const PROTOCOL_TCP = 6;
const PROTOCOL_UDP = 17;

/** What a datagram held; one per listener, reused (H1). */
export class GenevePacket {
  vni: number;
  /** Ethertype of the inner packet (0x0800 or 0x86dd). */
  protocolType: number;
  /** Where the inner packet starts in the datagram. */
  innerOffset: number;
  /** GWLB flow cookie option, or -1 when absent. */
  flowCookie: number;
  /** 4 (IPv4) or 6 (IPv6). */
  ipVersion: number;
  /** IANA protocol of the inner packet (6 TCP, 17 UDP, ...). */
  protocol: number;
  /** Inner addresses as 4 words each (IPv4: word 3 only, others 0) and ports (0 when not TCP/UDP or a later fragment). */
  readonly source: Int32Array;
  readonly destination: Int32Array;
  sourcePort: number;
  destinationPort: number;

  constructor() {
    this.vni = 0;
    this.protocolType = 0;
    this.innerOffset = 0;
    this.flowCookie = -1;
    this.ipVersion = 0;
    this.protocol = 0;
    this.source = new Int32Array(4);
    this.destination = new Int32Array(4);
    this.sourcePort = 0;
    this.destinationPort = 0;
  }
}

/**
 * Decode one GENEVE datagram `bytes[0..length)` into `out`. Returns
 * GENEVE_OK or the reason it is dropped. Thread: worker. Never throws, never
 * allocates.
 */
export function decodeGeneve(bytes: Uint8Array, length: number, out: GenevePacket): number {
  if (length < GENEVE_HEADER_BYTES) return GENEVE_BAD_HEADER;
  const first = bytes[0]!;
  if (first >> 6 !== 0) return GENEVE_BAD_HEADER;
  const optionsBytes = (first & 0x3f) * 4;
  const flags = bytes[1]!;
  if ((flags & 0x80) !== 0) return GENEVE_OAM;
  const innerOffset = GENEVE_HEADER_BYTES + optionsBytes;
  if (innerOffset > length) return GENEVE_BAD_OPTION;
  out.protocolType = (bytes[2]! << 8) | bytes[3]!;
  out.vni = (bytes[4]! << 16) | (bytes[5]! << 8) | bytes[6]!;
  out.innerOffset = innerOffset;
  out.flowCookie = -1;
  let at = GENEVE_HEADER_BYTES;
  while (at < innerOffset) {
    if (at + 4 > innerOffset) return GENEVE_BAD_OPTION;
    const optionClass = (bytes[at]! << 8) | bytes[at + 1]!;
    const type = bytes[at + 2]!;
    const dataBytes = (bytes[at + 3]! & 0x1f) * 4;
    const end = at + 4 + dataBytes;
    if (end > innerOffset) return GENEVE_BAD_OPTION;
    const isGwlb = optionClass === GWLB_OPTION_CLASS;
    if (isGwlb && type === GWLB_OPTION_FLOW_COOKIE && dataBytes === 4) {
      out.flowCookie =
        ((bytes[at + 4]! << 24) | (bytes[at + 5]! << 16) | (bytes[at + 6]! << 8) | bytes[at + 7]!) >>> 0;
    } else if ((type & 0x80) !== 0) {
      // A critical option Ferry does not know must not be forwarded (RFC 8926 §3.5).
      return GENEVE_BAD_OPTION;
    }
    at = end;
  }
  return decodeInner(bytes, innerOffset, length, out);
}

function decodeInner(bytes: Uint8Array, at: number, length: number, out: GenevePacket): number {
  const source = out.source;
  const destination = out.destination;
  let l4 = -1;
  let isLaterFragment = false;
  if (out.protocolType === ETHERTYPE_IPV4) {
    if (at + 20 > length) return GENEVE_BAD_INNER;
    const versionIhl = bytes[at]!;
    const headerBytes = (versionIhl & 0x0f) * 4;
    if (versionIhl >> 4 !== 4 || headerBytes < 20) return GENEVE_BAD_INNER;
    const totalBytes = (bytes[at + 2]! << 8) | bytes[at + 3]!;
    if (totalBytes < headerBytes || at + totalBytes > length) return GENEVE_BAD_INNER;
    isLaterFragment = (((bytes[at + 6]! & 0x1f) << 8) | bytes[at + 7]!) !== 0;
    out.ipVersion = 4;
    out.protocol = bytes[at + 9]!;
    source[0] = 0;
    source[1] = 0;
    source[2] = 0;
    source[3] = readWord(bytes, at + 12);
    destination[0] = 0;
    destination[1] = 0;
    destination[2] = 0;
    destination[3] = readWord(bytes, at + 16);
    l4 = at + headerBytes;
    length = at + totalBytes;
  } else if (out.protocolType === ETHERTYPE_IPV6) {
    if (at + 40 > length) return GENEVE_BAD_INNER;
    if (bytes[at]! >> 4 !== 6) return GENEVE_BAD_INNER;
    const payloadBytes = (bytes[at + 4]! << 8) | bytes[at + 5]!;
    if (at + 40 + payloadBytes > length) return GENEVE_BAD_INNER;
    out.ipVersion = 6;
    // Extension headers are not walked: a packet with one hashes on its addresses only (ports 0).
    out.protocol = bytes[at + 6]!;
    for (let i = 0; i < 4; i++) {
      source[i] = readWord(bytes, at + 8 + i * 4);
      destination[i] = readWord(bytes, at + 24 + i * 4);
    }
    l4 = at + 40;
    length = at + 40 + payloadBytes;
  } else {
    return GENEVE_BAD_INNER;
  }
  const protocol = out.protocol;
  if ((protocol === PROTOCOL_TCP || protocol === PROTOCOL_UDP) && !isLaterFragment && l4 + 4 <= length) {
    out.sourcePort = (bytes[l4]! << 8) | bytes[l4 + 1]!;
    out.destinationPort = (bytes[l4 + 2]! << 8) | bytes[l4 + 3]!;
  } else {
    out.sourcePort = 0;
    out.destinationPort = 0;
  }
  return GENEVE_OK;
}

function readWord(bytes: Uint8Array, at: number): number {
  return (bytes[at]! << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!;
}

// === Symmetric flow hash ===
/** `flowStickiness`: which fields of the inner packet a flow is. */
export const FLOW_STICKINESS_FIVE_TUPLE = 5;
export const FLOW_STICKINESS_THREE_TUPLE = 3;
export const FLOW_STICKINESS_TWO_TUPLE = 2;

/** -1, 0 or 1: the order of the two endpoints (address words, then port), so both directions agree. */
function compareEndpoints(packet: GenevePacket, isPortCounted: boolean): number {
  const a = packet.source;
  const b = packet.destination;
  for (let i = 0; i < 4; i++) {
    if (a[i] !== b[i]) return a[i]! >>> 0 < b[i]! >>> 0 ? -1 : 1;
  }
  if (!isPortCounted || packet.sourcePort === packet.destinationPort) return 0;
  return packet.sourcePort < packet.destinationPort ? -1 : 1;
}

/**
 * The flow hash of the inner packet, the same for both directions: the two
 * endpoints are hashed lower first. five_tuple: protocol, addresses, ports;
 * three_tuple: protocol and addresses; two_tuple: addresses. Never allocates.
 */
export function symmetricFlowHash(packet: GenevePacket, stickiness: number): number {
  const isPortCounted = stickiness === FLOW_STICKINESS_FIVE_TUPLE;
  const isSourceLower = compareEndpoints(packet, isPortCounted) <= 0;
  const low = isSourceLower ? packet.source : packet.destination;
  const high = isSourceLower ? packet.destination : packet.source;
  let hash = 0x5eed;
  for (let i = 0; i < 4; i++) hash = mixHash(hash, low[i]!);
  for (let i = 0; i < 4; i++) hash = mixHash(hash, high[i]!);
  if (isPortCounted) {
    hash = mixHash(hash, isSourceLower ? packet.sourcePort : packet.destinationPort);
    hash = mixHash(hash, isSourceLower ? packet.destinationPort : packet.sourcePort);
  }
  if (stickiness !== FLOW_STICKINESS_TWO_TUPLE) hash = mixHash(hash, packet.protocol);
  return hash;
}

/**
 * The flow table key of the inner packet: the same text for both directions
 * (endpoints lower first), with the fields `stickiness` counts. Allocates
 * the key (once per datagram; see the note in geneve-listener.ts).
 */
export function symmetricFlowKey(packet: GenevePacket, stickiness: number): string {
  const isPortCounted = stickiness === FLOW_STICKINESS_FIVE_TUPLE;
  const isSourceLower = compareEndpoints(packet, isPortCounted) <= 0;
  const low = isSourceLower ? packet.source : packet.destination;
  const high = isSourceLower ? packet.destination : packet.source;
  const lowPort = isPortCounted ? (isSourceLower ? packet.sourcePort : packet.destinationPort) : 0;
  const highPort = isPortCounted ? (isSourceLower ? packet.destinationPort : packet.sourcePort) : 0;
  const protocol = stickiness === FLOW_STICKINESS_TWO_TUPLE ? 0 : packet.protocol;
  return `${protocol}|${low[0]},${low[1]},${low[2]},${low[3]}|${lowPort}|${high[0]},${high[1]},${high[2]},${high[3]}|${highPort}`;
}

/** Whether the packet's source is the lower endpoint (its direction in the flow: 0 or 1). */
export function directionOf(packet: GenevePacket, stickiness: number): number {
  return compareEndpoints(packet, stickiness === FLOW_STICKINESS_FIVE_TUPLE) <= 0 ? 0 : 1;
}

// === Encoding to appliances ===

/**
 * A GENEVE packet to an appliance: version 0, the traffic side's VNI and
 * inner protocol, GWLB's three options (endpoint id, attachment id, flow
 * cookie), then the inner packet `inner` as received. Thread: worker.
 * Allocates the datagram.
 */
export function encodeGeneveGwlb(
  vni: number,
  protocolType: number,
  endpointIdHigh: number,
  endpointIdLow: number,
  attachmentIdHigh: number,
  attachmentIdLow: number,
  flowCookie: number,
  inner: Uint8Array,
): Buffer {
  const packet = Buffer.allocUnsafe(GENEVE_HEADER_BYTES + GWLB_OPTIONS_BYTES + inner.length);
  packet[0] = GWLB_OPTIONS_BYTES / 4;
  packet[1] = 0;
  packet.writeUInt16BE(protocolType, 2);
  packet.writeUInt32BE(((vni & 0xffffff) << 8) >>> 0, 4);
  let at = GENEVE_HEADER_BYTES;
  at = writeOption(packet, at, GWLB_OPTION_ENDPOINT_ID, 2);
  packet.writeInt32BE(endpointIdHigh | 0, at);
  packet.writeInt32BE(endpointIdLow | 0, at + 4);
  at = writeOption(packet, at + 8, GWLB_OPTION_ATTACHMENT_ID, 2);
  packet.writeInt32BE(attachmentIdHigh | 0, at);
  packet.writeInt32BE(attachmentIdLow | 0, at + 4);
  at = writeOption(packet, at + 8, GWLB_OPTION_FLOW_COOKIE, 1);
  packet.writeUInt32BE(flowCookie >>> 0, at);
  packet.set(inner, at + 4);
  return packet;
}

function writeOption(packet: Buffer, at: number, type: number, words: number): number {
  packet.writeUInt16BE(GWLB_OPTION_CLASS, at);
  packet[at + 2] = type;
  packet[at + 3] = words;
  return at + 4;
}

/** Two 32-bit halves of a stable 64-bit id made from `text` (endpoint and attachment ids). */
export function idHalvesOf(text: string): readonly [number, number] {
  return [hashString(text, 0x67776c62), hashString(text, 0x656e6470)];
}
