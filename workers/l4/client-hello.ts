/**
 * @module workers/l4/client-hello
 *
 * Reads the SNI host name out of a TLS ClientHello without terminating TLS,
 * for SNI passthrough on TCP listeners (NLB's TLS-passthrough-by-SNI, HAProxy
 * `req.ssl_sni`). Thread: worker. Place in the flow: accept -> **peek** ->
 * route (sni rules) -> pick -> connect -> relay (the peeked bytes first,
 * untouched).
 *
 * A pure function over the bytes received so far: the caller keeps feeding
 * it until it answers something other than PEEK_NEED_MORE, bounded by
 * CLIENT_HELLO_BYTES_MAX bytes and the peek deadline (workers/l4/sni-peek.ts).
 * Handles a ClientHello split over several TCP segments (any split) and over
 * several TLS records (RFC 8446 §5.1 allows fragmenting handshake messages);
 * a fragmented hello is copied into a scratch buffer allocated once per
 * worker, the common one-record hello is read in place.
 *
 * Never throws on any input (fuzzed: test/unit/workers/l4/client-hello.test.ts);
 * every length is checked against what is left before it is used.
 *
 *   record:    16 03 0x | len(2)                          (len <= 16384)
 *   handshake: 01 | len(3) | version(2) random(32) sid(1+n) suites(2+n)
 *              compression(1+n) [extensions(2+n)]
 *   extension: type(2) len(2) ...; server_name (0): list(2) { type(1)=0 len(2) name }
 */

/** More bytes are needed to decide. */
export const PEEK_NEED_MORE = 0;
/** A ClientHello with a server_name: `out.serverName` holds it, lower-cased. */
export const PEEK_SNI = 1;
/** A well-formed ClientHello without a server_name. */
export const PEEK_NO_SNI = 2;
/** The first byte is not a TLS handshake record: not TLS (plain TCP, HTTP, PROXY...). */
export const PEEK_NOT_TLS = 3;
/** TLS framing that does not hold a valid ClientHello. */
export const PEEK_MALFORMED = 4;
/** The ClientHello is longer than CLIENT_HELLO_BYTES_MAX. */
export const PEEK_TOO_LARGE = 5;

/**
 * Most bytes of TLS records read to find the ClientHello: one full record
 * (16 KiB + header), far above real hellos (about 0.5 KiB; 1.8 KiB with a
 * post-quantum key share) and small enough that a slow client holds little.
 */
export const CLIENT_HELLO_BYTES_MAX = 16_384 + 5;
/** Longest DNS name (RFC 1035). */
const SERVER_NAME_LENGTH_MAX = 255;
const RECORD_HEADER_BYTES = 5;
const RECORD_TYPE_HANDSHAKE = 0x16;
const RECORD_PAYLOAD_BYTES_MAX = 16_384;
const HANDSHAKE_CLIENT_HELLO = 1;
const EXTENSION_SERVER_NAME = 0;
const SERVER_NAME_TYPE_HOST = 0;

/** Where the SNI lands; one per connection, reused. */
export interface ClientHelloOut {
  serverName: string;
}

/** Scratch for a hello fragmented over several records, allocated once per worker (H1). */
const scratch = Buffer.allocUnsafe(CLIENT_HELLO_BYTES_MAX);

/**
 * Decide what `bytes[0..length)` (everything received so far) is. Returns a
 * PEEK_* code; on PEEK_SNI sets `out.serverName`. Thread: worker. Never
 * throws; allocates only the name string.
 */
export function peekClientHello(bytes: Uint8Array, length: number, out: ClientHelloOut): number {
  if (length <= 0) return PEEK_NEED_MORE;
  if (bytes[0] !== RECORD_TYPE_HANDSHAKE) return PEEK_NOT_TLS;
  if (length >= 2 && bytes[1] !== 3) return PEEK_NOT_TLS;
  // Gather the handshake message from as many records as it spans.
  let offset = 0;
  let gathered = 0;
  let hello: Uint8Array | null = null;
  let helloLength = -1;
  while (true) {
    if (offset + RECORD_HEADER_BYTES > length)
      return length >= CLIENT_HELLO_BYTES_MAX ? PEEK_TOO_LARGE : PEEK_NEED_MORE;
    if (bytes[offset] !== RECORD_TYPE_HANDSHAKE || bytes[offset + 1] !== 3) return PEEK_MALFORMED;
    const recordLength = (bytes[offset + 3]! << 8) | bytes[offset + 4]!;
    if (recordLength === 0 || recordLength > RECORD_PAYLOAD_BYTES_MAX) return PEEK_MALFORMED;
    const start = offset + RECORD_HEADER_BYTES;
    const available = Math.min(recordLength, length - start);
    if (offset === 0 && available === recordLength && recordLength >= 4) {
      // The common case: the whole hello header is in the first record, read in place.
      helloLength = (bytes[start + 1]! << 16) | (bytes[start + 2]! << 8) | bytes[start + 3]!;
      if (helloLength + 4 <= recordLength) {
        if (bytes[start] !== HANDSHAKE_CLIENT_HELLO) return PEEK_MALFORMED;
        return readClientHello(bytes, start + 4, start + 4 + helloLength, out);
      }
    }
    if (gathered + available > scratch.length) return PEEK_TOO_LARGE;
    scratch.set(bytes.subarray(start, start + available), gathered);
    gathered += available;
    if (gathered >= 4 && hello === null) {
      if (scratch[0] !== HANDSHAKE_CLIENT_HELLO) return PEEK_MALFORMED;
      helloLength = (scratch[1]! << 16) | (scratch[2]! << 8) | scratch[3]!;
      if (helloLength + 4 > CLIENT_HELLO_BYTES_MAX) return PEEK_TOO_LARGE;
      hello = scratch;
    }
    if (hello !== null && gathered >= helloLength + 4) return readClientHello(hello, 4, 4 + helloLength, out);
    if (available < recordLength) return length >= CLIENT_HELLO_BYTES_MAX ? PEEK_TOO_LARGE : PEEK_NEED_MORE;
    offset = start + recordLength;
  }
}

/** Read a ClientHello body in `bytes[from..to)`. */
function readClientHello(bytes: Uint8Array, from: number, to: number, out: ClientHelloOut): number {
  let at = from + 2 + 32; // legacy_version, random
  if (at + 1 > to) return PEEK_MALFORMED;
  const sessionIdLength = bytes[at]!;
  if (sessionIdLength > 32) return PEEK_MALFORMED;
  at += 1 + sessionIdLength;
  if (at + 2 > to) return PEEK_MALFORMED;
  const suitesLength = (bytes[at]! << 8) | bytes[at + 1]!;
  if (suitesLength < 2 || (suitesLength & 1) !== 0) return PEEK_MALFORMED;
  at += 2 + suitesLength;
  if (at + 1 > to) return PEEK_MALFORMED;
  const compressionLength = bytes[at]!;
  if (compressionLength < 1) return PEEK_MALFORMED;
  at += 1 + compressionLength;
  if (at > to) return PEEK_MALFORMED;
  if (at === to) return PEEK_NO_SNI; // no extensions at all (TLS 1.2 allows it)
  if (at + 2 > to) return PEEK_MALFORMED;
  const extensionsEnd = at + 2 + ((bytes[at]! << 8) | bytes[at + 1]!);
  if (extensionsEnd !== to) return PEEK_MALFORMED;
  at += 2;
  while (at < extensionsEnd) {
    if (at + 4 > extensionsEnd) return PEEK_MALFORMED;
    const type = (bytes[at]! << 8) | bytes[at + 1]!;
    const extensionLength = (bytes[at + 2]! << 8) | bytes[at + 3]!;
    at += 4;
    if (at + extensionLength > extensionsEnd) return PEEK_MALFORMED;
    if (type === EXTENSION_SERVER_NAME) return readServerName(bytes, at, at + extensionLength, out);
    at += extensionLength;
  }
  return PEEK_NO_SNI;
}

/** The server_name extension body: a list whose host_name entry is the SNI. */
function readServerName(bytes: Uint8Array, from: number, to: number, out: ClientHelloOut): number {
  if (from + 2 > to) return PEEK_MALFORMED;
  const listEnd = from + 2 + ((bytes[from]! << 8) | bytes[from + 1]!);
  if (listEnd !== to) return PEEK_MALFORMED;
  let at = from + 2;
  while (at < listEnd) {
    if (at + 3 > listEnd) return PEEK_MALFORMED;
    const nameType = bytes[at]!;
    const nameLength = (bytes[at + 1]! << 8) | bytes[at + 2]!;
    at += 3;
    if (at + nameLength > listEnd) return PEEK_MALFORMED;
    if (nameType === SERVER_NAME_TYPE_HOST) {
      if (nameLength === 0 || nameLength > SERVER_NAME_LENGTH_MAX) return PEEK_MALFORMED;
      let name = '';
      for (let i = at; i < at + nameLength; i++) {
        let code = bytes[i]!;
        // A DNS name: letters, digits, '-', '.', '_' (seen in the wild); anything else is refused.
        const isLetterOrDigit =
          (code >= 0x61 && code <= 0x7a) || (code >= 0x41 && code <= 0x5a) || (code >= 0x30 && code <= 0x39);
        if (!isLetterOrDigit && code !== 0x2d && code !== 0x2e && code !== 0x5f) return PEEK_MALFORMED;
        if (code >= 0x41 && code <= 0x5a) code += 0x20;
        name += String.fromCharCode(code);
      }
      out.serverName = name;
      return PEEK_SNI;
    }
    at += nameLength;
  }
  return PEEK_NO_SNI;
}
