/**
 * @module workers/http
 *
 * HTTP/1.1 at the byte level, below every phase that reads a request or a
 * response: the head types, Ferry's strict head parsers (RFC 9112), the
 * chunked-body scanner, the hop-by-hop rules and the request-target pieces.
 * Thread: worker. No I/O, no phase logic: route, record, respond and l7 all
 * import this folder, and it imports none of them (so no import circle can
 * run through it).
 */
export { ChunkedScanner } from './chunked-scanner.ts';
export { isDroppedRequestHeader, isHopByHop } from './hop-by-hop.ts';
export { latin1 } from './http1-tokens.ts';
export {
  BODY_CHUNKED,
  BODY_LENGTH,
  BODY_NONE,
  BODY_UNTIL_CLOSE,
  CHUNKED_ERR_BAD,
  CHUNKED_NEED_MORE,
  type MessageHead,
  NEED_MORE,
  PARSE_ERR_BAD,
  PARSE_ERR_TOO_LARGE,
  PARSE_ERR_VERSION,
  type RequestHead,
  type ResponseHead,
} from './http1-types.ts';
export { createRequestHead, parseRequestHead } from './parse-request-head.ts';
export { createResponseHead, parseResponseHead } from './parse-response-head.ts';
export { hostLengthOf, pathEndOf, pathStartOf } from './request-target.ts';
