/**
 * @module workers/http/parse-response-head
 *
 * Ferry's strict HTTP/1.1 response-head parser (RFC 9112 §4, §6; RFC 9110
 * §15). Thread: worker. Place in the flow: l7 **relay**, on the bytes a pooled
 * upstream socket delivered, before the response goes downstream.
 *
 * Why it exists: the proxy frames upstream responses itself (issue 2), and an
 * upstream whose framing is ambiguous must be refused (502) and its socket
 * never reused, because the next response on it could be anything. Same
 * field-line rules as requests (http1-tokens.ts), plus the status line and the
 * body decision that depends on the request method.
 *
 * Stateless across calls, like parseRequestHead: call again from the same
 * `start` with more bytes while the result is NEED_MORE.
 */
import { HTTP_HEADER_COUNT_MAX } from '../../src/shared/limits.ts';
import {
  CR,
  DEL,
  decodeFieldLines,
  FieldFacts,
  HTAB,
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
  VERSION_INCOMPLETE,
} from './http1-tokens.ts';
import {
  BODY_CHUNKED,
  BODY_LENGTH,
  BODY_NONE,
  BODY_UNTIL_CLOSE,
  PARSE_ERR_VERSION,
  type ResponseHead,
} from './http1-types.ts';

/** Scratch for the field-line loop; one per worker, reused by every call. */
const facts = new FieldFacts();

/**
 * Makes a reusable ResponseHead (one per upstream connection): every field
 * initialised, header arrays preallocated to HTTP_HEADER_COUNT_MAX entries.
 * Allocates; call once per connection, not per response.
 */
export function createResponseHead(): ResponseHead {
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
    statusCode: 0,
    reason: '',
  };
}

/**
 * Parses one response head from buf[start, end) into `out`; `requestMethod`
 * is the method of the request it answers (exactly as in RequestHead.method).
 *
 * Returns the bytes consumed through the final CRLFCRLF (> 0); NEED_MORE (0)
 * while incomplete and within HTTP_HEAD_BYTES_MAX; PARSE_ERR_TOO_LARGE,
 * PARSE_ERR_VERSION or PARSE_ERR_BAD (all 502 downstream; close the upstream
 * socket) with `out.errorReason` set. `out` is only meaningful after a result > 0.
 *
 * Body (RFC 9112 §6.3, in order): HEAD requests, 1xx, 204, 304 and 2xx to
 * CONNECT have BODY_NONE; then Transfer-Encoding (chunked last) BODY_CHUNKED;
 * then Content-Length BODY_LENGTH; else BODY_UNTIL_CLOSE with isKeepAlive false.
 *
 * Thread: worker. Never throws for any input; allocates only kept strings.
 */
export function parseResponseHead(
  buf: Buffer,
  start: number,
  end: number,
  out: ResponseHead,
  requestMethod: string,
): number {
  resetMessageHead(out);
  out.statusCode = 0;
  out.reason = '';
  const limit = headLimit(start, end);
  let p = start;
  if (isLongPartialHead(buf, start, end)) return headIncomplete(start, end, out);

  // --- HTTP-version SP ---
  const version = parseVersion(buf, p, limit);
  if (version === VERSION_INCOMPLETE) return headIncomplete(start, end, out);
  if (version === PARSE_ERR_VERSION) {
    out.errorReason = 'unsupported HTTP version';
    return PARSE_ERR_VERSION;
  }
  if (version < 0) return refuseHead(out, 'invalid HTTP version');
  p += 8;
  if (p >= limit) return headIncomplete(start, end, out);
  if (buf[p] !== SP) return refuseHead(out, 'invalid status line');
  p++;

  // --- status-code: 3DIGIT within 100..599 (RFC 9110 §15) ---
  let statusCode = 0;
  for (let i = 0; i < 3; i++) {
    if (p >= limit) return headIncomplete(start, end, out);
    const digit = buf[p]! - 0x30;
    if (digit >>> 0 > 9) return refuseHead(out, 'invalid status code');
    statusCode = statusCode * 10 + digit;
    p++;
  }
  if (statusCode < 100 || statusCode > 599) return refuseHead(out, 'status code outside 100..599');

  // --- [SP reason-phrase] CRLF ---
  // RFC 9112 §4 requires the SP even before an empty reason, but servers
  // commonly send "HTTP/1.1 200\r\n"; the reason carries no framing, so a
  // missing SP there is accepted.
  if (p >= limit) return headIncomplete(start, end, out);
  let reasonStart = p;
  if (buf[p] === SP) {
    p++;
    reasonStart = p;
    for (;;) {
      if (p >= limit) return headIncomplete(start, end, out);
      const c = buf[p]!;
      if (c < SP || c === DEL) {
        if (c === CR) break;
        if (c === LF) return refuseHead(out, 'bare LF in head');
        if (c !== HTAB) return refuseHead(out, 'control byte in reason phrase');
      }
      p++;
    }
  } else if (buf[p] !== CR) {
    return refuseHead(out, buf[p] === LF ? 'bare LF in head' : 'invalid status line');
  }
  const reasonEnd = p;
  if (p + 1 >= limit) return headIncomplete(start, end, out);
  if (buf[p + 1] !== LF) return refuseHead(out, 'bare CR in head');
  p += 2;
  out.versionMinor = version;

  // --- field lines ---
  const headEnd = parseFieldLines(buf, p, start, end, out, facts);
  if (headEnd <= 0) return headEnd;

  // --- body decision (RFC 9112 §6.1, §6.3) ---
  out.statusCode = statusCode;
  const head = latin1(buf, start, headEnd);
  decodeFieldLines(head, start, out, facts);
  out.reason = decodeReason(buf, reasonStart, reasonEnd, head, start);
  if (statusCode < 200 || statusCode === 204) {
    // A server MUST NOT send either field here (RFC 9112 §6.1, RFC 9110
    // §8.6). `Content-Length: 0` is common and harmless; anything else is
    // refused because the server may really be sending a body.
    if (facts.hasTransferEncoding) return refuseHead(out, 'transfer-encoding in a 1xx or 204 response');
    if (facts.hasContentLength && out.contentLength !== 0) {
      return refuseHead(out, 'non-zero content-length in a 1xx or 204 response');
    }
    out.bodyKind = BODY_NONE;
    out.contentLength = -1;
  } else if (
    requestMethod === 'HEAD' ||
    statusCode === 304 ||
    (requestMethod === 'CONNECT' && statusCode < 300)
  ) {
    out.bodyKind = BODY_NONE;
    out.contentLength = -1;
  } else if (facts.hasTransferEncoding) {
    out.bodyKind = BODY_CHUNKED;
  } else if (facts.hasContentLength) {
    out.bodyKind = BODY_LENGTH;
  } else {
    out.bodyKind = BODY_UNTIL_CLOSE;
    out.isKeepAlive = false;
  }
  return headEnd - start;
}

/** The reason phrase as a substring of the decoded head; "OK" costs no allocation. */
function decodeReason(
  buf: Buffer,
  reasonStart: number,
  reasonEnd: number,
  head: string,
  headStart: number,
): string {
  if (reasonEnd - reasonStart === 2 && buf[reasonStart] === 0x4f && buf[reasonStart + 1] === 0x4b)
    return 'OK';
  return head.substring(reasonStart - headStart, reasonEnd - headStart);
}
