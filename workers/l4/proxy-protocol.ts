/**
 * @module workers/l4/proxy-protocol
 *
 * The PROXY protocol (HAProxy's spec, versions 1 and 2): read the header a
 * trusted sender (a load balancer in front of Ferry) puts before the
 * client's bytes, and write a v2 header before the bytes Ferry relays to a
 * target whose group asks for it (NLB's `proxy_protocol_v2.enabled`).
 * Thread: worker. Place in the flow: accept -> **proxy-in** -> peek -> route
 * -> pick -> connect -> **proxy-out** -> relay.
 *
 * Reading is a pure function over the bytes received so far, like the
 * ClientHello peek: the caller feeds it until it stops answering
 * PROXY_NEED_MORE, bounded by PROXY_HEADER_BYTES_MAX and a deadline. It never
 * throws on any input (fuzzed: test/unit/workers/l4/proxy-protocol.test.ts).
 *
 *   v1: "PROXY TCP4 1.2.3.4 5.6.7.8 1111 2222\r\n"   (at most 107 bytes; "PROXY UNKNOWN ...\r\n")
 *   v2: sig(12) ver|cmd(1) fam|proto(1) len(2) | addresses (12 IPv4, 36 IPv6, 216 unix) | TLVs
 */
import type { TopologyLayer4 } from '../../proto/thread-messages.ts';
import { formatIp, IP_NONE, IP_V4, IP_V6, parseIp, unmappedAddress } from '../../src/shared/ip.ts';
import { CidrTable, matchCidr } from '../route/index.ts';

/** More bytes are needed. */
export const PROXY_NEED_MORE = 0;
/** A header was read: `out` holds it; the client's bytes start at `out.headerBytes`. */
export const PROXY_OK = 1;
/** The bytes are not a PROXY header of an accepted version. */
export const PROXY_MALFORMED = 2;

/** Accept v1 headers. */
export const PROXY_ACCEPT_V1 = 1;
/** Accept v2 headers. */
export const PROXY_ACCEPT_V2 = 2;

/** Longest v1 header, CRLF included (the spec's 107). */
const V1_BYTES_MAX = 107;
/** Longest v2 header read: addresses plus TLVs up to 2 KiB (the spec allows 64 KiB; senders use a few dozen bytes). */
export const PROXY_HEADER_BYTES_MAX = 16 + 2048;

const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V1_PREFIX = Buffer.from('PROXY ', 'latin1');
const V2_HEADER_BYTES = 16;
const V2_VERSION_COMMAND_PROXY = 0x21;
const V2_VERSION_COMMAND_LOCAL = 0x20;
const V2_FAMILY_INET = 0x1;
const V2_FAMILY_INET6 = 0x2;
const V2_TRANSPORT_STREAM = 0x1;
const V2_TRANSPORT_DGRAM = 0x2;
/** TLV types (spec §2.2.7). */
export const PP2_TYPE_ALPN = 0x01;
export const PP2_TYPE_AUTHORITY = 0x02;

/** What a header said; one per connection. */
export class ProxyHeader {
  /** 1 or 2. */
  version: number;
  /** Bytes the header took; the client's own bytes follow. */
  headerBytes: number;
  /** False for v2 LOCAL and v1 UNKNOWN: the connection is the sender's own (health checks); keep the socket's addresses. */
  hasAddresses: boolean;
  sourceAddress: string;
  sourcePort: number;
  destinationAddress: string;
  destinationPort: number;

  constructor() {
    this.version = 0;
    this.headerBytes = 0;
    this.hasAddresses = false;
    this.sourceAddress = '';
    this.sourcePort = 0;
    this.destinationAddress = '';
    this.destinationPort = 0;
  }
}

/** Scratch for address words (H1). */
const words = new Int32Array(4);

/**
 * Who may send a listener a PROXY header, and which versions: decided once,
 * at bind (H2), for TCP flows (tcp-flow.ts) and HTTP/HTTPS connections
 * (workers/listen/proxy-preamble.ts) alike.
 */
export class ProxyTrust {
  /** Versions read from trusted sources (mask of PROXY_ACCEPT_*); 0 = off. */
  readonly acceptMask: number;
  private readonly trusted: CidrTable | null;

  constructor(proxyProtocol: TopologyLayer4['proxyProtocol']) {
    this.acceptMask = proxyProtocol === null ? 0 : proxyProtocol.acceptMask;
    this.trusted = proxyProtocol === null ? null : new CidrTable(proxyProtocol.trustedSources);
  }

  /** Whether a peer (IPv4-mapped or not) may send a header. Allocates only to unmap an IPv4-mapped address. */
  isTrusted(remoteAddress: string | undefined): boolean {
    if (this.trusted === null || remoteAddress === undefined) return false;
    const family = parseIp(unmappedAddress(remoteAddress), words);
    return family !== IP_NONE && matchCidr(this.trusted, family, words);
  }
}

/**
 * Read a PROXY header from `bytes[0..length)`, accepting the versions in
 * `acceptMask` (PROXY_ACCEPT_*). Returns PROXY_NEED_MORE, PROXY_OK (fills
 * `out`) or PROXY_MALFORMED. Thread: worker. Never throws; allocates only the
 * address strings.
 */
export function readProxyHeader(
  bytes: Uint8Array,
  length: number,
  acceptMask: number,
  out: ProxyHeader,
): number {
  if (length <= 0) return PROXY_NEED_MORE;
  // The first byte decides the version: '\r' starts v2, 'P' starts v1.
  if (bytes[0] === V2_SIGNATURE[0]) {
    if ((acceptMask & PROXY_ACCEPT_V2) === 0) return PROXY_MALFORMED;
    return readV2(bytes, length, out);
  }
  if (bytes[0] === V1_PREFIX[0]) {
    if ((acceptMask & PROXY_ACCEPT_V1) === 0) return PROXY_MALFORMED;
    return readV1(bytes, length, out);
  }
  return PROXY_MALFORMED;
}

function readV2(bytes: Uint8Array, length: number, out: ProxyHeader): number {
  const signatureBytes = Math.min(length, V2_SIGNATURE.length);
  for (let i = 0; i < signatureBytes; i++) if (bytes[i] !== V2_SIGNATURE[i]) return PROXY_MALFORMED;
  if (length < V2_HEADER_BYTES) return PROXY_NEED_MORE;
  const versionCommand = bytes[12]!;
  if (versionCommand !== V2_VERSION_COMMAND_PROXY && versionCommand !== V2_VERSION_COMMAND_LOCAL)
    return PROXY_MALFORMED;
  const familyTransport = bytes[13]!;
  const bodyBytes = (bytes[14]! << 8) | bytes[15]!;
  const total = V2_HEADER_BYTES + bodyBytes;
  if (total > PROXY_HEADER_BYTES_MAX) return PROXY_MALFORMED;
  if (length < total) return PROXY_NEED_MORE;
  out.version = 2;
  out.headerBytes = total;
  out.hasAddresses = false;
  if (versionCommand === V2_VERSION_COMMAND_LOCAL) return PROXY_OK;
  const family = familyTransport >> 4;
  const transport = familyTransport & 0xf;
  if (transport !== V2_TRANSPORT_STREAM && transport !== V2_TRANSPORT_DGRAM && familyTransport !== 0)
    return PROXY_MALFORMED;
  if (family === V2_FAMILY_INET) {
    if (bodyBytes < 12) return PROXY_MALFORMED;
    words[0] = (bytes[16]! << 24) | (bytes[17]! << 16) | (bytes[18]! << 8) | bytes[19]!;
    out.sourceAddress = formatIp(IP_V4, words);
    words[0] = (bytes[20]! << 24) | (bytes[21]! << 16) | (bytes[22]! << 8) | bytes[23]!;
    out.destinationAddress = formatIp(IP_V4, words);
    out.sourcePort = (bytes[24]! << 8) | bytes[25]!;
    out.destinationPort = (bytes[26]! << 8) | bytes[27]!;
    out.hasAddresses = true;
    return PROXY_OK;
  }
  if (family === V2_FAMILY_INET6) {
    if (bodyBytes < 36) return PROXY_MALFORMED;
    out.sourceAddress = readIpv6(bytes, 16);
    out.destinationAddress = readIpv6(bytes, 32);
    out.sourcePort = (bytes[48]! << 8) | bytes[49]!;
    out.destinationPort = (bytes[50]! << 8) | bytes[51]!;
    out.hasAddresses = true;
    return PROXY_OK;
  }
  // AF_UNSPEC or AF_UNIX: no address Ferry can use; the spec says keep the socket's own.
  return PROXY_OK;
}

function readIpv6(bytes: Uint8Array, at: number): string {
  for (let i = 0; i < 4; i++) {
    const j = at + i * 4;
    words[i] = (bytes[j]! << 24) | (bytes[j + 1]! << 16) | (bytes[j + 2]! << 8) | bytes[j + 3]!;
  }
  // An IPv4-mapped address is written as IPv4, like every other address Ferry reports.
  if (words[0] === 0 && words[1] === 0 && words[2] === 0xffff) {
    words[0] = words[3]!;
    return formatIp(IP_V4, words);
  }
  return formatIp(IP_V6, words);
}

function readV1(bytes: Uint8Array, length: number, out: ProxyHeader): number {
  const prefixBytes = Math.min(length, V1_PREFIX.length);
  for (let i = 0; i < prefixBytes; i++) if (bytes[i] !== V1_PREFIX[i]) return PROXY_MALFORMED;
  let end = -1;
  const limit = Math.min(length, V1_BYTES_MAX);
  for (let i = 0; i < limit; i++) {
    if (bytes[i] === 0x0a) {
      end = i;
      break;
    }
    // Only printable ASCII and the final CR.
    if (bytes[i]! < 0x20 && bytes[i] !== 0x0d) return PROXY_MALFORMED;
    if (bytes[i]! > 0x7e) return PROXY_MALFORMED;
  }
  if (end === -1) return length >= V1_BYTES_MAX ? PROXY_MALFORMED : PROXY_NEED_MORE;
  if (end < 1 || bytes[end - 1] !== 0x0d) return PROXY_MALFORMED;
  const line = Buffer.from(bytes.buffer, bytes.byteOffset, end - 1).toString('latin1');
  const parts = line.split(' ');
  out.version = 1;
  out.headerBytes = end + 1;
  out.hasAddresses = false;
  if (parts[1] === 'UNKNOWN') return PROXY_OK;
  if (parts.length !== 6) return PROXY_MALFORMED;
  const family = parts[1] === 'TCP4' ? IP_V4 : parts[1] === 'TCP6' ? IP_V6 : IP_NONE;
  if (family === IP_NONE) return PROXY_MALFORMED;
  const source = parts[2]!;
  const destination = parts[3]!;
  // The family word must match the addresses: TCP4 carries dotted quads, TCP6 IPv6 text.
  const isV4 = family === IP_V4;
  if (parseIp(source, words) === IP_NONE || isV4 === source.includes(':')) return PROXY_MALFORMED;
  if (parseIp(destination, words) === IP_NONE || isV4 === destination.includes(':')) return PROXY_MALFORMED;
  const sourcePort = portOf(parts[4]!);
  const destinationPort = portOf(parts[5]!);
  if (sourcePort < 0 || destinationPort < 0) return PROXY_MALFORMED;
  out.sourceAddress = source.startsWith('::ffff:') ? source.slice(7) : source;
  out.destinationAddress = destination.startsWith('::ffff:') ? destination.slice(7) : destination;
  out.sourcePort = sourcePort;
  out.destinationPort = destinationPort;
  out.hasAddresses = true;
  return PROXY_OK;
}

/** A decimal port 0..65535 without leading zeros (the spec's rule), or -1. */
function portOf(text: string): number {
  if (text.length === 0 || text.length > 5) return -1;
  if (text.length > 1 && text.charCodeAt(0) === 0x30) return -1;
  let value = 0;
  for (let i = 0; i < text.length; i++) {
    const digit = text.charCodeAt(i) - 0x30;
    if (digit < 0 || digit > 9) return -1;
    value = value * 10 + digit;
  }
  return value > 65_535 ? -1 : value;
}

// === Writing (proxy-out) ===

/** Scratch for the two addresses (H1). */
const sourceWords = new Int32Array(4);
const destinationWords = new Int32Array(4);

/**
 * A v2 PROXY header (command PROXY, TCP or UDP) for a flow from
 * `source:sourcePort` to `destination:destinationPort`, with TLVs for the
 * ALPN and the SNI host (PP2_TYPE_AUTHORITY) when known (''). Mixed families
 * are written as IPv6 with the IPv4 address mapped. Thread: worker. Allocates
 * the header (once per connection).
 */
export function encodeProxyV2(
  source: string,
  sourcePort: number,
  destination: string,
  destinationPort: number,
  isDatagram: boolean,
  alpn: string,
  authority: string,
): Buffer {
  let sourceFamily = parseIp(source, sourceWords);
  let destinationFamily = parseIp(destination, destinationWords);
  if (sourceFamily === IP_NONE) sourceFamily = mapV4(sourceWords, 0);
  if (destinationFamily === IP_NONE) destinationFamily = mapV4(destinationWords, 0);
  if (sourceFamily !== destinationFamily) {
    if (sourceFamily === IP_V4) sourceFamily = mapV4(sourceWords, sourceWords[0]!);
    if (destinationFamily === IP_V4) destinationFamily = mapV4(destinationWords, destinationWords[0]!);
  }
  const isV4 = sourceFamily === IP_V4;
  const addressBytes = isV4 ? 12 : 36;
  const alpnBytes = alpn.length === 0 ? 0 : 3 + Buffer.byteLength(alpn);
  const authorityBytes = authority.length === 0 ? 0 : 3 + Buffer.byteLength(authority);
  const bodyBytes = addressBytes + alpnBytes + authorityBytes;
  const header = Buffer.allocUnsafe(V2_HEADER_BYTES + bodyBytes);
  V2_SIGNATURE.copy(header, 0);
  header[12] = V2_VERSION_COMMAND_PROXY;
  header[13] =
    ((isV4 ? V2_FAMILY_INET : V2_FAMILY_INET6) << 4) |
    (isDatagram ? V2_TRANSPORT_DGRAM : V2_TRANSPORT_STREAM);
  header.writeUInt16BE(bodyBytes, 14);
  let at = V2_HEADER_BYTES;
  if (isV4) {
    header.writeInt32BE(sourceWords[0]!, at);
    header.writeInt32BE(destinationWords[0]!, at + 4);
    at += 8;
  } else {
    for (let i = 0; i < 4; i++) header.writeInt32BE(sourceWords[i]!, at + i * 4);
    for (let i = 0; i < 4; i++) header.writeInt32BE(destinationWords[i]!, at + 16 + i * 4);
    at += 32;
  }
  header.writeUInt16BE(sourcePort & 0xffff, at);
  header.writeUInt16BE(destinationPort & 0xffff, at + 2);
  at += 4;
  if (alpnBytes > 0) at = writeTlv(header, at, PP2_TYPE_ALPN, alpn);
  if (authorityBytes > 0) writeTlv(header, at, PP2_TYPE_AUTHORITY, authority);
  return header;
}

/** Make `w` the IPv4-mapped IPv6 form of `v4` (0.0.0.0 for an address that did not parse). */
function mapV4(w: Int32Array, v4: number): number {
  w[3] = v4;
  w[0] = 0;
  w[1] = 0;
  w[2] = 0xffff;
  return IP_V6;
}

function writeTlv(header: Buffer, at: number, type: number, value: string): number {
  header[at] = type;
  const valueBytes = header.write(value, at + 3, 'utf8');
  header.writeUInt16BE(valueBytes, at + 1);
  return at + 3 + valueBytes;
}
