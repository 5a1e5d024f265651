/**
 * @module workers/http/http1-tokens
 *
 * Internal to workers/http: the byte classes of RFC 9110/9112 and the one
 * field-line loop shared by the request and the response head parsers.
 * Thread: worker. Place in the flow: l7 **forward** (request head) and
 * **relay** (response head); nothing outside workers/http imports it.
 *
 * Why it exists: both parsers must apply exactly the same field-line rules.
 * Two proxies (or two code paths) that disagree on where a header ends or
 * which length applies is how request smuggling starts, so the loop lives
 * once, here, and the parsers only add their start line and body decision.
 *
 * Two passes: parseFieldLines validates bytes and records offsets and
 * framing facts (no strings), so a NEED_MORE or refused head allocates
 * nothing; once the head is complete, the parser decodes it with one latin1
 * call and decodeFieldLines cuts names and values out of it as substrings.
 * Names in KNOWN_FIELD_NAMES are interned constants.
 */
import { HTTP_HEAD_BYTES_MAX, HTTP_HEADER_COUNT_MAX } from '../../src/shared/limits.ts';
import type { MessageHead } from './http1-types.ts';
import {
  BODY_NONE,
  NEED_MORE,
  PARSE_ERR_BAD,
  PARSE_ERR_TOO_LARGE,
  PARSE_ERR_VERSION,
} from './http1-types.ts';

// === Bytes ===

export const HTAB = 0x09;
export const LF = 0x0a;
export const CR = 0x0d;
export const SP = 0x20;
export const COMMA = 0x2c;
export const COLON = 0x3a;
export const SEMICOLON = 0x3b;
export const DEL = 0x7f;

/** tchar (RFC 9110 §5.6.2): 1 where the byte may appear in a token (method, field name, coding). */
export const TOKEN_BYTES = new Uint8Array(256);
for (const ch of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") {
  TOKEN_BYTES[ch.charCodeAt(0)] = 1;
}

/**
 * Bytes allowed in a Host value or an authority-form target: uri-host [":" port]
 * (RFC 3986 reg-name = unreserved / pct-encoded / sub-delims, IP-literal brackets),
 * minus `,`, which some recipients read as a list separator (`Host: a,b`).
 * A whitelist, so whitespace, `@` (userinfo), `/`, `\`, `?` and `#` are all refused.
 */
export const HOST_BYTES = new Uint8Array(256);
for (const ch of "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~%!$&'()*+;=:[]") {
  HOST_BYTES[ch.charCodeAt(0)] = 1;
}

/** 0..15 for a hex digit, 255 otherwise. */
export const HEX_VALUES = new Uint8Array(256).fill(255);
for (let digit = 0; digit < 16; digit++) {
  HEX_VALUES[digit.toString(16).charCodeAt(0)] = digit;
  HEX_VALUES[digit.toString(16).toUpperCase().charCodeAt(0)] = digit;
}

/**
 * Buffer's one-byte decoder without toString's argument checks. Undocumented
 * (present since Node 0.x), so its presence is checked once at load and
 * toString('latin1') stands in if a future Node drops it.
 */
interface Latin1Buffer extends Buffer {
  latin1Slice(start: number, end: number): string;
}
const hasLatin1Slice = typeof (Buffer.prototype as Partial<Latin1Buffer>).latin1Slice === 'function';

/** Decodes buf[start, end) as latin1. Allocates the string (none when empty). Never throws for in-range input. */
export function latin1(buf: Buffer, start: number, end: number): string {
  if (start === end) return '';
  return hasLatin1Slice ? (buf as Latin1Buffer).latin1Slice(start, end) : buf.toString('latin1', start, end);
}

/** True when buf[start, end) equals `lower` ignoring ASCII case; `lower` holds only [a-z0-9-]. */
export function equalsLower(buf: Buffer, start: number, end: number, lower: string): boolean {
  if (end - start !== lower.length) return false;
  for (let i = 0; i < lower.length; i++) {
    // `| 0x20` lower-cases A-Z; digits and '-' already have the bit set, and
    // no other token byte lands on [a-z0-9-] (only A-Z do).
    if ((buf[start + i]! | 0x20) !== lower.charCodeAt(i)) return false;
  }
  return true;
}

// === Interned names ===

/**
 * A fixed set of lower-case strings looked up case-insensitively straight from
 * bytes, so common header names and Connection tokens cost no allocation.
 * The lookup is O(1) before the one verifying compare: the bucket comes from
 * the length and the first and last bytes, so the name bytes are read once
 * more at most (bench/micro/http1-parse.bench.ts: a length-bucket scan with
 * String#charCodeAt compares cost ~14% of a head parse).
 */
class LowerCaseInterner {
  readonly strings: readonly string[];
  /** Lower-case bytes of every string, back to back, string i at byteOffsets[i]. */
  private readonly bytes: Uint8Array;
  private readonly byteOffsets: Int32Array;
  private readonly byteLengths: Int32Array;
  /** First string index per bucket, then the next in the same bucket; -1 ends a chain. */
  private readonly bucketHeads = new Int16Array(INTERNER_BUCKET_COUNT).fill(-1);
  private readonly bucketNexts: Int16Array;

  constructor(strings: readonly string[]) {
    this.strings = strings;
    this.byteOffsets = new Int32Array(strings.length);
    this.byteLengths = new Int32Array(strings.length);
    this.bucketNexts = new Int16Array(strings.length).fill(-1);
    const encoded = Buffer.from(strings.join(''), 'latin1');
    this.bytes = new Uint8Array(encoded.buffer, encoded.byteOffset, encoded.length);
    let offset = 0;
    strings.forEach((s, index) => {
      this.byteOffsets[index] = offset;
      this.byteLengths[index] = s.length;
      offset += s.length;
      if (s.length === 0) return;
      const bucket = bucketOf(s.length, s.charCodeAt(0), s.charCodeAt(s.length - 1));
      this.bucketNexts[index] = this.bucketHeads[bucket]!;
      this.bucketHeads[bucket] = index;
    });
  }

  /** Index of the string equal to buf[start, end) ignoring ASCII case, or -1. Allocates nothing. */
  find(buf: Buffer, start: number, end: number): number {
    const length = end - start;
    if (length === 0) return -1;
    const bucket = bucketOf(length, buf[start]! | 0x20, buf[end - 1]! | 0x20);
    const byteLengths = this.byteLengths;
    const bytes = this.bytes;
    // Bounded by the strings in one bucket (chains are 1-2 long for these sets).
    for (let index = this.bucketHeads[bucket]!; index !== -1; index = this.bucketNexts[index]!) {
      if (byteLengths[index] !== length) continue;
      const offset = this.byteOffsets[index]! - start;
      let q = start;
      // `| 0x20` lower-cases A-Z; digits and '-' already have the bit set, and
      // no other token byte lands on [a-z0-9-] (only A-Z do).
      while (q < end && (buf[q]! | 0x20) === bytes[offset + q]) q++;
      if (q === end) return index;
    }
    return -1;
  }
}

const INTERNER_BUCKET_COUNT = 512;

/** Bucket of a name from its length and lower-cased first and last bytes. */
function bucketOf(length: number, firstLower: number, lastLower: number): number {
  return (length * 61 + firstLower * 7 + lastLower * 3) & (INTERNER_BUCKET_COUNT - 1);
}

/** What the field-line loop must do with a field besides storing it. */
export const FIELD_ROLE_OTHER = 0;
export const FIELD_ROLE_CONTENT_LENGTH = 1;
export const FIELD_ROLE_TRANSFER_ENCODING = 2;
export const FIELD_ROLE_CONNECTION = 3;
export const FIELD_ROLE_UPGRADE = 4;
export const FIELD_ROLE_HOST = 5;
export const FIELD_ROLE_EXPECT = 6;

/** Names with a role come first, in FIELD_ROLE_* order; the rest are just common (no allocation). */
const KNOWN_FIELD_NAMES = new LowerCaseInterner([
  '',
  'content-length',
  'transfer-encoding',
  'connection',
  'upgrade',
  'host',
  'expect',
  'accept',
  'accept-charset',
  'accept-encoding',
  'accept-language',
  'accept-ranges',
  'access-control-allow-origin',
  'age',
  'alt-svc',
  'authorization',
  'cache-control',
  'content-encoding',
  'content-range',
  'content-type',
  'cookie',
  'date',
  'etag',
  'expires',
  'forwarded',
  'if-modified-since',
  'if-none-match',
  'keep-alive',
  'last-modified',
  'location',
  'origin',
  'pragma',
  'proxy-authorization',
  'proxy-connection',
  'range',
  'referer',
  'sec-websocket-accept',
  'sec-websocket-extensions',
  'sec-websocket-key',
  'sec-websocket-protocol',
  'sec-websocket-version',
  'server',
  'set-cookie',
  'strict-transport-security',
  'te',
  'traceparent',
  'tracestate',
  'trailer',
  'user-agent',
  'vary',
  'via',
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-port',
  'x-forwarded-proto',
  'x-real-ip',
  'x-request-id',
]);
const FIELD_ROLE_COUNT = 7;

const CONNECTION_CLOSE = 0;
const CONNECTION_KEEP_ALIVE = 1;
const CONNECTION_UPGRADE = 2;
const KNOWN_CONNECTION_TOKENS = new LowerCaseInterner([
  'close',
  'keep-alive',
  'upgrade',
  'te',
  'http2-settings',
  'proxy-connection',
]);

// === Field lines ===

/**
 * Framing facts the field-line loop found, for the parser that called it.
 * One per parser module, reset by every call (H6: every field set here).
 */
export class FieldFacts {
  /**
   * Per field line i: name start, name end, value start, value end (absolute
   * buf indexes, value OWS-trimmed) at [4i, 4i+4). Strings are decoded from
   * these only once the head is complete (decodeFieldLines).
   */
  readonly fieldOffsets = new Int32Array(HTTP_HEADER_COUNT_MAX * 4);
  /** Per field line: index in KNOWN_FIELD_NAMES, or -1 for a name outside it. */
  readonly fieldNameIds = new Int32Array(HTTP_HEADER_COUNT_MAX);
  hasContentLength = false;
  hasTransferEncoding = false;
  /** Header index of the Host field (the last one seen), -1 if none. */
  hostIndex = -1;
  hostCount = 0;
  /** Header index of the first Upgrade field, -1 if none; upgradeCount counts them. */
  upgradeIndex = -1;
  upgradeCount = 0;
  isConnectionClose = false;
  isConnectionKeepAlive = false;
  isConnectionUpgrade = false;
  isExpectContinue = false;

  reset(): void {
    this.hasContentLength = false;
    this.hasTransferEncoding = false;
    this.hostIndex = -1;
    this.hostCount = 0;
    this.upgradeIndex = -1;
    this.upgradeCount = 0;
    this.isConnectionClose = false;
    this.isConnectionKeepAlive = false;
    this.isConnectionUpgrade = false;
    this.isExpectContinue = false;
  }
}

/** Sets every MessageHead field to its empty value (start of each parse). */
export function resetMessageHead(out: MessageHead): void {
  out.versionMinor = 1;
  out.headerCount = 0;
  out.bodyKind = BODY_NONE;
  out.contentLength = -1;
  out.isKeepAlive = false;
  out.connectionTokens = '';
  out.upgrade = '';
  out.errorReason = '';
}

/** Refuses a head as malformed. */
export function refuseHead(out: MessageHead, reason: string): number {
  out.errorReason = reason;
  return PARSE_ERR_BAD;
}

/** Result when bytes ran out at `limit`: wait for more, or too large if the window is already full. */
export function headIncomplete(start: number, end: number, out: MessageHead): number {
  if (end - start >= HTTP_HEAD_BYTES_MAX) {
    out.errorReason = 'head larger than HTTP_HEAD_BYTES_MAX';
    return PARSE_ERR_TOO_LARGE;
  }
  return NEED_MORE;
}

/**
 * Partial heads longer than this are only checked for their end (CRLFCRLF)
 * before being validated. Why: the parsers are stateless and the caller
 * re-parses from `start` as bytes arrive, so a client trickling a 16 KiB head
 * one byte per packet would cost O(n^2) byte-loop work (~16K calls x ~8 KiB,
 * ~0.1 s of CPU per connection); Buffer#indexOf (memmem) makes the same
 * re-scan cheap. The cost: a malformed head longer than this is refused when
 * its end arrives (or at HTTP_HEAD_BYTES_MAX / the header timeout), not as
 * soon as the bad byte arrives. Every complete head ends in CRLFCRLF (start
 * line CRLF, then the empty line), so no valid head is delayed.
 */
const PARTIAL_HEAD_VALIDATED_BYTES_MAX = 1024;
const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1');

/** True when buf[start, end) is too long to re-validate and holds no CRLFCRLF within the head limit. */
export function isLongPartialHead(buf: Buffer, start: number, end: number): boolean {
  if (end - start <= PARTIAL_HEAD_VALIDATED_BYTES_MAX) return false;
  const terminatorIndex = buf.indexOf(CRLFCRLF, start);
  return terminatorIndex === -1 || terminatorIndex + 4 > headLimit(start, end);
}

/** Last index (exclusive) a head starting at `start` may occupy. */
export function headLimit(start: number, end: number): number {
  return end - start > HTTP_HEAD_BYTES_MAX ? start + HTTP_HEAD_BYTES_MAX : end;
}

/** parseVersion: fewer than 8 bytes so far, and they match. */
export const VERSION_INCOMPLETE = -100;

/**
 * HTTP-version (RFC 9112 §2.3) at buf[p, p+8): 0 or 1 for HTTP/1.0 or 1.1;
 * VERSION_INCOMPLETE when fewer than 8 bytes are there yet and those match;
 * PARSE_ERR_VERSION for a well-formed other version (HTTP/2.0, HTTP/1.2);
 * PARSE_ERR_BAD for anything else. Allocates nothing, never throws.
 */
export function parseVersion(buf: Buffer, p: number, limit: number): number {
  const available = limit - p;
  // "HTTP/" DIGIT "." DIGIT, checked as far as bytes have arrived.
  if (available > 0 && buf[p] !== 0x48) return PARSE_ERR_BAD;
  if (available > 1 && buf[p + 1] !== 0x54) return PARSE_ERR_BAD;
  if (available > 2 && buf[p + 2] !== 0x54) return PARSE_ERR_BAD;
  if (available > 3 && buf[p + 3] !== 0x50) return PARSE_ERR_BAD;
  if (available > 4 && buf[p + 4] !== 0x2f) return PARSE_ERR_BAD;
  if (available > 5 && (buf[p + 5]! - 0x30) >>> 0 > 9) return PARSE_ERR_BAD;
  if (available > 6 && buf[p + 6] !== 0x2e) return PARSE_ERR_BAD;
  if (available > 7 && (buf[p + 7]! - 0x30) >>> 0 > 9) return PARSE_ERR_BAD;
  if (available < 8) return VERSION_INCOMPLETE;
  const major = buf[p + 5]! - 0x30;
  const minor = buf[p + 7]! - 0x30;
  if (major !== 1 || minor > 1) return PARSE_ERR_VERSION;
  return minor;
}

/**
 * Parses field lines from buf[p] through the empty line that ends the head,
 * recording each line's offsets and the framing facts into `facts` and
 * `out.headerCount`, keep-alive and Connection tokens into `out`; call
 * decodeFieldLines after a result > 0 to get the name and value strings. `start`/`end` are the parser's whole window
 * (for the HTTP_HEAD_BYTES_MAX bound); `out.versionMinor` must already be set.
 *
 * Returns the index just past the final CRLF (> 0), NEED_MORE, or a
 * PARSE_ERR_* code with `out.errorReason` set. Never throws; allocates
 * nothing but unknown Connection tokens. Rules (RFC 9112 §2.2, §5; RFC 9110 §5, §8.6, §7.6.1):
 * lines end in CRLF (bare CR or LF refused), no obs-fold, name is a non-empty
 * token directly followed by ':', values have no control bytes but HTAB,
 * one Content-Length of 1..15 digits (lists refused), one Transfer-Encoding
 * line of tokens ending in a single `chunked`, never both, and no
 * Transfer-Encoding in an HTTP/1.0 message.
 */
export function parseFieldLines(
  buf: Buffer,
  p: number,
  start: number,
  end: number,
  out: MessageHead,
  facts: FieldFacts,
): number {
  facts.reset();
  const limit = headLimit(start, end);
  const offsets = facts.fieldOffsets;
  const nameIds = facts.fieldNameIds;
  let count = 0;
  // Bounded: every pass consumes at least one line (>= 2 bytes) below `limit`.
  for (;;) {
    if (p >= limit) return headIncomplete(start, end, out);
    let c = buf[p]!;
    if (c === CR) {
      if (p + 1 >= limit) return headIncomplete(start, end, out);
      if (buf[p + 1] !== LF) return refuseHead(out, 'bare CR in head');
      p += 2;
      break;
    }
    if (count === HTTP_HEADER_COUNT_MAX) {
      out.errorReason = 'more than HTTP_HEADER_COUNT_MAX header fields';
      return PARSE_ERR_TOO_LARGE;
    }

    // --- field-name: a token directly followed by ':' ---
    const nameStart = p;
    while (TOKEN_BYTES[c] === 1) {
      if (++p >= limit) return headIncomplete(start, end, out);
      c = buf[p]!;
    }
    if (c !== COLON || p === nameStart) {
      if (p === nameStart) {
        if (c === SP || c === HTAB) return refuseHead(out, 'obs-fold or whitespace before field line');
        if (c === LF) return refuseHead(out, 'bare LF in head');
        if (c === COLON) return refuseHead(out, 'empty field name');
      } else {
        if (c === SP || c === HTAB) return refuseHead(out, 'whitespace between field name and colon');
        if (c === CR || c === LF) return refuseHead(out, 'field line without colon');
      }
      return refuseHead(out, 'field name is not a token');
    }
    const nameEnd = p;
    p++;

    // --- field-value: OWS value OWS CRLF ---
    while (p < limit && (buf[p] === SP || buf[p] === HTAB)) p++;
    const valueStart = p;
    for (;;) {
      if (p >= limit) return headIncomplete(start, end, out);
      c = buf[p]!;
      if (c < SP || c === DEL) {
        if (c === CR) break;
        if (c === LF) return refuseHead(out, 'bare LF in head');
        if (c !== HTAB) return refuseHead(out, 'control byte in field value');
      }
      p++;
    }
    if (p + 1 >= limit) return headIncomplete(start, end, out);
    if (buf[p + 1] !== LF) return refuseHead(out, 'bare CR in head');
    let valueEnd = p;
    while (valueEnd > valueStart && (buf[valueEnd - 1] === SP || buf[valueEnd - 1] === HTAB)) valueEnd--;
    p += 2;

    // --- record, then act on the framing fields ---
    const known = KNOWN_FIELD_NAMES.find(buf, nameStart, nameEnd);
    nameIds[count] = known;
    const o = count * 4;
    offsets[o] = nameStart;
    offsets[o + 1] = nameEnd;
    offsets[o + 2] = valueStart;
    offsets[o + 3] = valueEnd;
    const role = known >= 0 && known < FIELD_ROLE_COUNT ? known : FIELD_ROLE_OTHER;
    if (role !== FIELD_ROLE_OTHER) {
      const result = applyFieldRole(buf, valueStart, valueEnd, role, count, out, facts);
      if (result !== 0) return result;
    }
    count++;
  }

  out.headerCount = count;
  if (facts.hasContentLength && facts.hasTransferEncoding) {
    return refuseHead(out, 'both content-length and transfer-encoding');
  }
  if (facts.hasTransferEncoding && out.versionMinor === 0) {
    return refuseHead(out, 'transfer-encoding in an HTTP/1.0 message');
  }
  out.isKeepAlive = !facts.isConnectionClose && (out.versionMinor === 1 || facts.isConnectionKeepAlive);
  return p;
}

/**
 * Fills `out.headerNames`/`headerValues` (and `upgrade`) from the offsets the
 * last parseFieldLines recorded, as substrings of `head`, the latin1 decode
 * of the whole head starting at buf index `headStart`.
 *
 * Why one decode: each Buffer#latin1Slice is a C++ call costing more than
 * the parse of a whole header line, while String#substring stays in V8
 * (bench/micro/http1-parse.bench.ts, curl-like head on the shared 2-core dev
 * box: 1264 ns with a slice per value, 960 ns with one; ~770 ns after the
 * interner change). Not worth it if heads were mostly discarded: the decode
 * covers the whole head. Caveat: V8 makes substrings of 13+ chars views
 * into `head`, so a value kept long-term (a cache key, say) pins the whole
 * head string (<= HTTP_HEAD_BYTES_MAX); flatten it first if that matters.
 * Allocates the kept strings only.
 */
export function decodeFieldLines(head: string, headStart: number, out: MessageHead, facts: FieldFacts): void {
  const names = out.headerNames;
  const values = out.headerValues;
  const offsets = facts.fieldOffsets;
  const nameIds = facts.fieldNameIds;
  const count = out.headerCount;
  for (let i = 0; i < count; i++) {
    const nameId = nameIds[i]!;
    const o = i * 4;
    if (nameId >= 0) {
      names[i] = KNOWN_FIELD_NAMES.strings[nameId]!;
    } else {
      // toLowerCase returns the same string when there is nothing to change.
      names[i] = head.substring(offsets[o]! - headStart, offsets[o + 1]! - headStart).toLowerCase();
    }
    values[i] = head.substring(offsets[o + 2]! - headStart, offsets[o + 3]! - headStart);
  }
  if (facts.isConnectionUpgrade && facts.upgradeCount > 0) out.upgrade = joinUpgrade(out, facts);
}

/** Acts on one framing field; 0 to go on, or a PARSE_ERR_* code. */
function applyFieldRole(
  buf: Buffer,
  valueStart: number,
  valueEnd: number,
  role: number,
  index: number,
  out: MessageHead,
  facts: FieldFacts,
): number {
  switch (role) {
    case FIELD_ROLE_CONTENT_LENGTH:
      return applyContentLength(buf, valueStart, valueEnd, out, facts);
    case FIELD_ROLE_TRANSFER_ENCODING:
      return applyTransferEncoding(buf, valueStart, valueEnd, out, facts);
    case FIELD_ROLE_CONNECTION:
      return applyConnection(buf, valueStart, valueEnd, out, facts);
    case FIELD_ROLE_UPGRADE:
      if (facts.upgradeCount === 0) facts.upgradeIndex = index;
      facts.upgradeCount++;
      return 0;
    case FIELD_ROLE_HOST:
      facts.hostIndex = index;
      facts.hostCount++;
      return 0;
    case FIELD_ROLE_EXPECT:
      if (equalsLower(buf, valueStart, valueEnd, '100-continue')) facts.isExpectContinue = true;
      return 0;
    default:
      return 0;
  }
}

/** Content-Length = 1*DIGIT, once, at most 15 digits (< 2^53). Lists, even `5, 5`, are refused. */
function applyContentLength(
  buf: Buffer,
  valueStart: number,
  valueEnd: number,
  out: MessageHead,
  facts: FieldFacts,
): number {
  if (facts.hasContentLength) return refuseHead(out, 'duplicate content-length');
  if (valueStart === valueEnd) return refuseHead(out, 'empty content-length');
  if (valueEnd - valueStart > 15) return refuseHead(out, 'content-length longer than 15 digits');
  let length = 0;
  for (let q = valueStart; q < valueEnd; q++) {
    const digit = buf[q]! - 0x30;
    if (digit >>> 0 > 9) {
      return refuseHead(out, buf[q] === COMMA ? 'content-length list' : 'content-length is not digits');
    }
    length = length * 10 + digit;
  }
  facts.hasContentLength = true;
  out.contentLength = length;
  return 0;
}

/**
 * Transfer-Encoding: one field line, a comma list of bare tokens (no empty
 * elements, no parameters), `chunked` exactly once and last. A second line is
 * refused rather than combined: peers that read only the first line would
 * frame the body differently.
 */
function applyTransferEncoding(
  buf: Buffer,
  valueStart: number,
  valueEnd: number,
  out: MessageHead,
  facts: FieldFacts,
): number {
  if (facts.hasTransferEncoding) return refuseHead(out, 'duplicate transfer-encoding');
  let chunkedCount = 0;
  let isLastChunked = false;
  let q = valueStart;
  // Bounded by the value length: every pass consumes at least one byte.
  for (;;) {
    while (q < valueEnd && (buf[q] === SP || buf[q] === HTAB)) q++;
    const codingStart = q;
    while (q < valueEnd && TOKEN_BYTES[buf[q]!] === 1) q++;
    if (q === codingStart) return refuseHead(out, 'transfer-encoding is not a list of codings');
    isLastChunked = equalsLower(buf, codingStart, q, 'chunked');
    if (isLastChunked) chunkedCount++;
    while (q < valueEnd && (buf[q] === SP || buf[q] === HTAB)) q++;
    if (q === valueEnd) break;
    if (buf[q] !== COMMA) return refuseHead(out, 'transfer-encoding is not a list of codings');
    q++;
  }
  if (chunkedCount > 1) return refuseHead(out, 'chunked applied more than once');
  if (!isLastChunked) return refuseHead(out, 'transfer-encoding does not end in chunked');
  facts.hasTransferEncoding = true;
  return 0;
}

/** Connection: comma list of tokens (empty elements skipped); collects them lower-cased. */
function applyConnection(
  buf: Buffer,
  valueStart: number,
  valueEnd: number,
  out: MessageHead,
  facts: FieldFacts,
): number {
  let q = valueStart;
  // Bounded by the value length: every pass consumes at least one byte.
  while (q < valueEnd) {
    const c = buf[q]!;
    if (c === SP || c === HTAB || c === COMMA) {
      q++;
      continue;
    }
    const tokenStart = q;
    while (q < valueEnd && TOKEN_BYTES[buf[q]!] === 1) q++;
    if (q === tokenStart) return refuseHead(out, 'connection is not a list of tokens');
    const known = KNOWN_CONNECTION_TOKENS.find(buf, tokenStart, q);
    let token: string;
    if (known >= 0) {
      token = KNOWN_CONNECTION_TOKENS.strings[known]!;
      if (known === CONNECTION_CLOSE) facts.isConnectionClose = true;
      else if (known === CONNECTION_KEEP_ALIVE) facts.isConnectionKeepAlive = true;
      else if (known === CONNECTION_UPGRADE) facts.isConnectionUpgrade = true;
    } else {
      token = latin1(buf, tokenStart, q).toLowerCase();
    }
    out.connectionTokens = out.connectionTokens === '' ? token : `${out.connectionTokens},${token}`;
    if (q < valueEnd && buf[q] !== SP && buf[q] !== HTAB && buf[q] !== COMMA) {
      return refuseHead(out, 'connection is not a list of tokens');
    }
  }
  return 0;
}

/** Lower-cased Upgrade value; several Upgrade lines are joined as one list. Rare path. */
function joinUpgrade(out: MessageHead, facts: FieldFacts): string {
  let joined = out.headerValues[facts.upgradeIndex]!;
  if (facts.upgradeCount > 1) {
    for (let i = facts.upgradeIndex + 1; i < out.headerCount; i++) {
      if (out.headerNames[i] === 'upgrade') joined = `${joined}, ${out.headerValues[i]!}`;
    }
  }
  return joined.toLowerCase();
}
