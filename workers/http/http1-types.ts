/**
 * @module workers/http/http1-types
 *
 * Shapes shared by Ferry's HTTP/1.1 head parsers and the body-framing
 * scanners. Thread: worker. The parsers fill these reusable objects in place
 * (one per connection) so parsing a head allocates only the strings it must.
 */

/** Parse results: > 0 bytes consumed; NEED_MORE; or a negative PARSE_ERR_* code. */
export const NEED_MORE = 0;

/** Malformed framing or syntax (400 downstream, 502 upstream). */
export const PARSE_ERR_BAD = -1;
/** Head larger than HTTP_HEAD_BYTES_MAX or more than HTTP_HEADER_COUNT_MAX headers (431 / 502). */
export const PARSE_ERR_TOO_LARGE = -2;
/** HTTP version other than 1.0 / 1.1 (505 / 502). */
export const PARSE_ERR_VERSION = -3;

/**
 * ChunkedScanner.scan results besides a completion index (>= 0): every byte
 * was consumed and the message is not over yet; or the framing is broken
 * (`errorReason` says why; 400 downstream, 502 upstream, never reuse the socket).
 */
export const CHUNKED_NEED_MORE = -1;
export const CHUNKED_ERR_BAD = -2;

/** Body framing of a message, decided from its head. */
export const BODY_NONE = 0;
export const BODY_LENGTH = 1;
export const BODY_CHUNKED = 2;
/** Response only: body runs until the upstream closes (HTTP/1.0 style). */
export const BODY_UNTIL_CLOSE = 3;

/** Header fields shared by request and response heads. */
export interface MessageHead {
  /** 0 for HTTP/1.0, 1 for HTTP/1.1. */
  versionMinor: number;
  /** Lower-cased names and raw (OWS-trimmed) values, index-aligned; `headerCount` are valid. */
  headerNames: string[];
  headerValues: string[];
  headerCount: number;
  /** BODY_* */
  bodyKind: number;
  /** Bytes of body when bodyKind is BODY_LENGTH, else -1. */
  contentLength: number;
  /** Keep the connection open after this message (HTTP/1.1 default, 1.0 with keep-alive, no `close`). */
  isKeepAlive: boolean;
  /** Lower-cased tokens of the Connection header (hop-by-hop names to strip), joined by ','. Empty if absent. */
  connectionTokens: string;
  /** Lower-cased value of the Upgrade header when Connection includes `upgrade`, else ''. */
  upgrade: string;
  /** Why the parser refused the head (for logs and the error body); '' when it did not. */
  errorReason: string;
}

export interface RequestHead extends MessageHead {
  method: string;
  /** Request target exactly as sent (origin-form, absolute-form, authority-form or `*`). */
  target: string;
  /** The Host header value (required exactly once in HTTP/1.1). */
  host: string;
  /** `Expect: 100-continue` was sent. */
  isExpectContinue: boolean;
}

export interface ResponseHead extends MessageHead {
  statusCode: number;
  /** Reason phrase as sent (may be empty). */
  reason: string;
}
