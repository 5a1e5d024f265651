/**
 * @module workers/http/parse-request-head
 *
 * Ferry's strict HTTP/1.1 request-head parser (RFC 9112 §2-§3, §6; RFC 9110
 * §7.2, §10.1.1). Thread: worker. Place in the flow: l7 **forward**, on the
 * bytes a downstream socket delivered, before route and pick.
 *
 * Why it exists: node:http plus undici ran at a quarter of NGINX's rate
 * (issue 2), so the hot path frames HTTP/1.1 itself. This parser reads only
 * what routing and framing need, refuses anything ambiguous instead of
 * guessing (a proxy that guesses differently from its upstream is how
 * requests get smuggled), and allocates only the strings it keeps.
 *
 * Stateless across calls: the caller keeps appending bytes and calls again
 * from the same `start` until the result is not NEED_MORE. Partial heads over
 * 1 KiB are only searched for their end (memmem) before being validated, so
 * re-parsing a trickled head stays cheap (see isLongPartialHead).
 *
 * Request line: method SP request-target SP HTTP-version CRLF, single spaces,
 * at most one empty line before it. The method is a token; known methods are
 * interned constants. The target has no whitespace, control byte or DEL and
 * takes one of the four forms: origin (`/…`), absolute (`scheme:…`),
 * authority (`host:port`, CONNECT only) or asterisk (`*`, OPTIONS only). An
 * absolute-form head leaves the parser rewritten: its authority as Host, its
 * target origin-form (takeAbsoluteFormAuthority, RFC 9112 §3.2.2).
 */
import { HTTP_HEADER_COUNT_MAX } from '../../src/shared/limits.ts';
import {
  COLON,
  CR,
  DEL,
  decodeFieldLines,
  FieldFacts,
  HOST_BYTES,
  headIncomplete,
  headLimit,
  isLongPartialHead,
  LF,
  latin1,
  parseFieldLines,
  parseVersion,
  refuseHead,
  resetMessageHead,
  SP,
  TOKEN_BYTES,
  VERSION_INCOMPLETE,
} from './http1-tokens.ts';
import { BODY_CHUNKED, BODY_LENGTH, BODY_NONE, PARSE_ERR_VERSION, type RequestHead } from './http1-types.ts';
import { takeAbsoluteFormAuthority } from './request-target.ts';

/** Methods returned as constants (case-sensitive, RFC 9110 §9.1); others are decoded. */
const KNOWN_METHODS: readonly string[] = [
  'GET',
  'POST',
  'PUT',
  'HEAD',
  'DELETE',
  'OPTIONS',
  'PATCH',
  'CONNECT',
  'TRACE',
];
const ASTERISK = 0x2a;
const SLASH = 0x2f;

/** Scratch for the field-line loop; one per worker, reused by every call. */
const facts = new FieldFacts();

/**
 * Makes a reusable RequestHead (one per downstream connection): every field
 * initialised, header arrays preallocated to HTTP_HEADER_COUNT_MAX entries.
 * Allocates; call once per connection, not per request.
 */
export function createRequestHead(): RequestHead {
  return {
    versionMinor: 1,
    headerNames: new Array<string>(HTTP_HEADER_COUNT_MAX).fill(''),
    headerValues: new Array<string>(HTTP_HEADER_COUNT_MAX).fill(''),
    headerCount: 0,
    bodyKind: BODY_NONE,
    contentLength: -1,
    isKeepAlive: false,
    connectionTokens: '',
    upgrade: '',
    errorReason: '',
    method: '',
    target: '',
    host: '',
    isExpectContinue: false,
  };
}

/**
 * Parses one request head from buf[start, end) into `out`.
 *
 * Returns the bytes consumed through the final CRLFCRLF (> 0, including one
 * tolerated leading CRLF); NEED_MORE (0) while the head is incomplete and
 * within HTTP_HEAD_BYTES_MAX; PARSE_ERR_TOO_LARGE (431), PARSE_ERR_VERSION
 * (505) or PARSE_ERR_BAD (400) with `out.errorReason` set. `out` is only
 * meaningful after a result > 0. Body framing: BODY_CHUNKED, BODY_LENGTH
 * (also for `Content-Length: 0`) or BODY_NONE; requests never run until close.
 *
 * Thread: worker. Never throws for any input; allocates only the kept
 * strings (target, unknown method and header names, header values).
 */
export function parseRequestHead(buf: Buffer, start: number, end: number, out: RequestHead): number {
  resetMessageHead(out);
  out.method = '';
  out.target = '';
  out.host = '';
  out.isExpectContinue = false;
  const limit = headLimit(start, end);
  let p = start;
  if (isLongPartialHead(buf, start, end)) return headIncomplete(start, end, out);

  // RFC 9112 §2.2: a server SHOULD ignore at least one empty line before the
  // request line; Ferry ignores at most one, so a stream of empty lines is
  // refused at once instead of at the head size limit.
  if (p >= limit) return headIncomplete(start, end, out);
  if (buf[p] === CR) {
    if (p + 1 >= limit) return headIncomplete(start, end, out);
    if (buf[p + 1] !== LF) return refuseHead(out, 'bare CR in head');
    p += 2;
    if (p >= limit) return headIncomplete(start, end, out);
    if (buf[p] === CR || buf[p] === LF)
      return refuseHead(out, 'more than one empty line before request line');
  }

  // --- method SP ---
  const methodStart = p;
  while (p < limit && TOKEN_BYTES[buf[p]!] === 1) p++;
  if (p >= limit) return headIncomplete(start, end, out);
  if (buf[p] === LF) return refuseHead(out, 'bare LF in head');
  if (p === methodStart || buf[p] !== SP) return refuseHead(out, 'invalid method');
  const methodEnd = p++;

  // --- request-target SP ---
  const targetStart = p;
  while (p < limit) {
    const c = buf[p]!;
    if (c <= SP || c === DEL) break;
    p++;
  }
  if (p >= limit) return headIncomplete(start, end, out);
  if (p === targetStart || buf[p] !== SP) return refuseHead(out, 'invalid request target');
  const targetEnd = p++;

  // --- HTTP-version CRLF ---
  const version = parseVersion(buf, p, limit);
  if (version === VERSION_INCOMPLETE) return headIncomplete(start, end, out);
  if (version === PARSE_ERR_VERSION) {
    out.errorReason = 'unsupported HTTP version';
    return PARSE_ERR_VERSION;
  }
  if (version < 0) return refuseHead(out, 'invalid HTTP version');
  p += 8;
  if (p >= limit) return headIncomplete(start, end, out);
  if (buf[p] !== CR) return refuseHead(out, buf[p] === LF ? 'bare LF in head' : 'invalid request line');
  if (p + 1 >= limit) return headIncomplete(start, end, out);
  if (buf[p + 1] !== LF) return refuseHead(out, 'bare CR in head');
  p += 2;
  out.versionMinor = version;

  // Interned before the target check so CONNECT/OPTIONS compare by identity.
  out.method = findKnownMethod(buf, methodStart, methodEnd);
  const targetReason = checkTargetForm(buf, targetStart, targetEnd, out.method);
  if (targetReason !== '') return refuseHead(out, targetReason);

  // --- field lines ---
  const headEnd = parseFieldLines(buf, p, start, end, out, facts);
  if (headEnd <= 0) return headEnd;

  // --- request-only rules (RFC 9112 §3.2, §6.1; RFC 9110 §7.2, §10.1.1) ---
  if (facts.hostCount > 1) return refuseHead(out, 'duplicate host');
  if (facts.hostCount === 1) {
    const o = facts.hostIndex * 4;
    if (!isValidHost(buf, facts.fieldOffsets[o + 2]!, facts.fieldOffsets[o + 3]!)) {
      return refuseHead(out, 'invalid host');
    }
  } else if (version === 1) {
    return refuseHead(out, 'missing host');
  }

  // --- strings, from one decode of the whole head ---
  const head = latin1(buf, start, headEnd);
  decodeFieldLines(head, start, out, facts);
  if (facts.hostCount === 1) out.host = out.headerValues[facts.hostIndex]!;
  if (out.method === '') out.method = head.substring(methodStart - start, methodEnd - start);
  out.target = head.substring(targetStart - start, targetEnd - start);
  if (isAbsoluteForm(buf[targetStart]!, targetEnd - targetStart, out.method)) {
    const reason = takeAbsoluteFormAuthority(out, facts.hostCount === 1 ? facts.hostIndex : -1);
    if (reason !== '') return refuseHead(out, reason);
  }
  out.isExpectContinue = facts.isExpectContinue && version === 1;
  if (facts.hasTransferEncoding) {
    out.bodyKind = BODY_CHUNKED;
  } else if (facts.hasContentLength) {
    out.bodyKind = BODY_LENGTH;
  } else {
    out.bodyKind = BODY_NONE;
  }
  return headEnd - start;
}

/** A known method as a constant, or '' (the caller decodes it later). Allocates nothing. */
function findKnownMethod(buf: Buffer, methodStart: number, methodEnd: number): string {
  const length = methodEnd - methodStart;
  for (let k = 0; k < KNOWN_METHODS.length; k++) {
    const method = KNOWN_METHODS[k]!;
    if (method.length !== length) continue;
    let i = 0;
    while (i < length && buf[methodStart + i] === method.charCodeAt(i)) i++;
    if (i === length) return method;
  }
  return '';
}

/** '' when the target's form fits the method (RFC 9112 §3.2), else the refusal reason. */
function checkTargetForm(buf: Buffer, targetStart: number, targetEnd: number, method: string): string {
  const first = buf[targetStart]!;
  if (method === 'CONNECT') {
    // authority-form = uri-host ":" port
    let colonIndex = -1;
    for (let q = targetStart; q < targetEnd; q++) {
      const c = buf[q]!;
      if (HOST_BYTES[c] !== 1) return 'CONNECT target is not host:port';
      if (c === COLON) colonIndex = q;
    }
    if (colonIndex <= targetStart || colonIndex === targetEnd - 1) return 'CONNECT target is not host:port';
    for (let q = colonIndex + 1; q < targetEnd; q++) {
      if ((buf[q]! - 0x30) >>> 0 > 9) return 'CONNECT target is not host:port';
    }
    return '';
  }
  if (first === SLASH) return '';
  if (first === ASTERISK && targetEnd - targetStart === 1) {
    return method === 'OPTIONS' ? '' : 'asterisk-form target outside OPTIONS';
  }
  // absolute-form: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":"
  if (((first | 0x20) - 0x61) >>> 0 > 25) return 'invalid request target';
  for (let q = targetStart + 1; q < targetEnd; q++) {
    const c = buf[q]!;
    if (c === COLON) return '';
    const isSchemeByte =
      ((c | 0x20) - 0x61) >>> 0 < 26 || (c - 0x30) >>> 0 < 10 || c === 0x2b || c === 0x2d || c === 0x2e;
    if (!isSchemeByte) return 'invalid request target';
  }
  return 'invalid request target';
}

/** Whether a target checkTargetForm accepted is absolute-form (not origin, asterisk or authority). */
function isAbsoluteForm(first: number, targetLength: number, method: string): boolean {
  if (first === SLASH || method === 'CONNECT') return false;
  return !(first === ASTERISK && targetLength === 1);
}

/** Host = uri-host [":" port] bytes only (HOST_BYTES); empty is allowed (RFC 9112 §3.2). */
function isValidHost(buf: Buffer, valueStart: number, valueEnd: number): boolean {
  for (let q = valueStart; q < valueEnd; q++) {
    if (HOST_BYTES[buf[q]!] !== 1) return false;
  }
  return true;
}
