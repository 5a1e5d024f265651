/**
 * @module workers/http/chunked-scanner
 *
 * Finds where a chunked message body ends (RFC 9112 §7.1) without decoding
 * it. Thread: worker. Place in the flow: l7 **forward** (request bodies) and
 * **relay** (response bodies), after the head parser chose BODY_CHUNKED.
 *
 * Why it exists: the proxy forwards the raw bytes it scanned unchanged and
 * only needs to know where the message ends, so this is an incremental byte
 * state machine that survives any buffer split and skips chunk data in one
 * step. It is strict for the same reason as the head parsers: a chunk size
 * that Ferry and the next hop read differently is a smuggled request.
 *
 *   chunked-body = *chunk last-chunk trailer-section CRLF
 *   chunk        = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
 *
 *   SIZE_START -hex-> SIZE -CR-> SIZE_LF -LF-> DATA -n bytes-> DATA_CR -> DATA_LF -> SIZE_START
 *                      |  \-';'/BWS-> EXT --CR--^       (size 0: SIZE_LF -LF-> TRAILER_START)
 *   TRAILER_START -token-> TRAILER_NAME -':'-> TRAILER_VALUE -CR-> TRAILER_LF -LF-> TRAILER_START
 *   TRAILER_START -CR-> FINAL_LF -LF-> DONE (scan returns the index after this LF)
 */
import { assert } from '../../src/shared/assert.ts';
import {
  HTTP_CHUNK_LINE_BYTES_MAX,
  HTTP_HEAD_BYTES_MAX,
  HTTP_HEADER_COUNT_MAX,
} from '../../src/shared/limits.ts';
import { COLON, CR, DEL, HEX_VALUES, HTAB, LF, SEMICOLON, SP, TOKEN_BYTES } from './http1-tokens.ts';
import { CHUNKED_ERR_BAD, CHUNKED_NEED_MORE } from './http1-types.ts';

/** Hex digits in a chunk size; 15 keeps every accepted size exact in a double. */
const CHUNK_SIZE_DIGITS_MAX = 15;

const STATE_SIZE_START = 0;
const STATE_SIZE = 1;
const STATE_EXT_BWS = 2;
const STATE_EXT = 3;
const STATE_SIZE_LF = 4;
const STATE_DATA = 5;
const STATE_DATA_CR = 6;
const STATE_DATA_LF = 7;
const STATE_TRAILER_START = 8;
const STATE_TRAILER_NAME = 9;
const STATE_TRAILER_VALUE = 10;
const STATE_TRAILER_LF = 11;
const STATE_FINAL_LF = 12;
const STATE_DONE = 13;
const STATE_ERROR = 14;

/**
 * One per connection direction; `reset()` before each chunked message.
 * Stable shape (H6): every field is set in the constructor and in reset().
 */
export class ChunkedScanner {
  /** STATE_* of the byte the next scan starts with. */
  state = STATE_SIZE_START;
  /** Size of the chunk being read (while in the size line), then bytes of it still to skip. */
  chunkBytesLeft = 0;
  /** Hex digits seen in the current chunk-size. */
  sizeDigitCount = 0;
  /** Bytes of the current chunk-size line so far, CRLF excluded. */
  lineBytes = 0;
  /** Bytes of the trailer section so far, final CRLF included. */
  trailerBytes = 0;
  trailerCount = 0;
  /** Chunk-data bytes of this message (the decoded body length), for metrics. */
  bodyBytes = 0;
  /** Raw bytes scanned for this message (framing included), for metrics. */
  wireBytes = 0;
  /** Why the body was refused; '' when it was not. */
  errorReason = '';

  /** Readies the scanner for the next message on the connection. Allocates nothing. */
  reset(): void {
    this.state = STATE_SIZE_START;
    this.chunkBytesLeft = 0;
    this.sizeDigitCount = 0;
    this.lineBytes = 0;
    this.trailerBytes = 0;
    this.trailerCount = 0;
    this.bodyBytes = 0;
    this.wireBytes = 0;
    this.errorReason = '';
  }

  /** True once the whole message (last chunk, trailers, final CRLF) was scanned. */
  isDone(): boolean {
    return this.state === STATE_DONE;
  }

  /**
   * Consumes raw chunked bytes buf[start, end), continuing where the last
   * call stopped. Returns the index just after the message's final CRLF when
   * it ends inside the range (bytes from there on belong to the next
   * message); CHUNKED_NEED_MORE (-1) when all bytes were consumed and the
   * message goes on; CHUNKED_ERR_BAD (-2) with `errorReason` set on a framing
   * error (and on every call after it).
   *
   * Thread: worker. Allocates nothing; throws only (assert) when called
   * again after the message completed without reset(), which is a caller bug.
   */
  scan(buf: Buffer, start: number, end: number): number {
    assert(this.state !== STATE_DONE, 'ChunkedScanner.scan after the message ended; call reset()');
    if (this.state === STATE_ERROR) return CHUNKED_ERR_BAD;
    let state = this.state;
    let p = start;
    // Bounded: every pass consumes at least one byte, or ends the scan.
    while (p < end) {
      const c = buf[p]!;
      switch (state) {
        case STATE_DATA: {
          const left = this.chunkBytesLeft;
          const available = end - p;
          const take = Math.min(left, available);
          p += take;
          this.chunkBytesLeft = left - take;
          this.bodyBytes += take;
          if (left === take) state = STATE_DATA_CR;
          continue;
        }
        case STATE_SIZE_START: {
          const digit = HEX_VALUES[c]!;
          if (digit === 255)
            return this.refuse(p, start, c === CR ? 'missing chunk size' : 'invalid chunk size');
          this.chunkBytesLeft = digit;
          this.sizeDigitCount = 1;
          this.lineBytes = 1;
          state = STATE_SIZE;
          break;
        }
        case STATE_SIZE: {
          const digit = HEX_VALUES[c]!;
          if (digit !== 255) {
            if (++this.sizeDigitCount > CHUNK_SIZE_DIGITS_MAX) {
              return this.refuse(p, start, 'chunk size longer than 15 hex digits');
            }
            const size = this.chunkBytesLeft * 16 + digit;
            if (size > Number.MAX_SAFE_INTEGER) return this.refuse(p, start, 'chunk size over 2^53');
            this.chunkBytesLeft = size;
          } else if (c === CR) {
            state = STATE_SIZE_LF;
          } else if (c === SEMICOLON) {
            state = STATE_EXT;
          } else if (c === SP || c === HTAB) {
            state = STATE_EXT_BWS;
          } else {
            return this.refuse(p, start, c === LF ? 'bare LF in chunk line' : 'invalid chunk size');
          }
          if (c !== CR && ++this.lineBytes > HTTP_CHUNK_LINE_BYTES_MAX) {
            return this.refuse(p, start, 'chunk line longer than HTTP_CHUNK_LINE_BYTES_MAX');
          }
          break;
        }
        case STATE_EXT_BWS: {
          // BWS is only allowed before ';' (RFC 9112 §7.1.1); "5 \r\n" is refused.
          if (c === SEMICOLON) state = STATE_EXT;
          else if (c !== SP && c !== HTAB) return this.refuse(p, start, 'invalid chunk extension');
          if (++this.lineBytes > HTTP_CHUNK_LINE_BYTES_MAX) {
            return this.refuse(p, start, 'chunk line longer than HTTP_CHUNK_LINE_BYTES_MAX');
          }
          break;
        }
        case STATE_EXT: {
          // Extensions are passed through unread; only their bytes are checked.
          if (c < SP || c === DEL) {
            if (c === CR) {
              state = STATE_SIZE_LF;
              break;
            }
            if (c === LF) return this.refuse(p, start, 'bare LF in chunk line');
            if (c !== HTAB) return this.refuse(p, start, 'control byte in chunk extension');
          }
          if (++this.lineBytes > HTTP_CHUNK_LINE_BYTES_MAX) {
            return this.refuse(p, start, 'chunk line longer than HTTP_CHUNK_LINE_BYTES_MAX');
          }
          break;
        }
        case STATE_SIZE_LF: {
          if (c !== LF) return this.refuse(p, start, 'bare CR in chunk line');
          state = this.chunkBytesLeft === 0 ? STATE_TRAILER_START : STATE_DATA;
          break;
        }
        case STATE_DATA_CR: {
          if (c !== CR) return this.refuse(p, start, 'missing CRLF after chunk data');
          state = STATE_DATA_LF;
          break;
        }
        case STATE_DATA_LF: {
          if (c !== LF) return this.refuse(p, start, 'missing CRLF after chunk data');
          state = STATE_SIZE_START;
          break;
        }
        case STATE_TRAILER_START: {
          if (c === CR) {
            state = STATE_FINAL_LF;
          } else if (TOKEN_BYTES[c] === 1) {
            if (++this.trailerCount > HTTP_HEADER_COUNT_MAX) {
              return this.refuse(p, start, 'more than HTTP_HEADER_COUNT_MAX trailer fields');
            }
            state = STATE_TRAILER_NAME;
          } else if (c === LF) {
            return this.refuse(p, start, 'bare LF in trailer section');
          } else if (c === SP || c === HTAB) {
            return this.refuse(p, start, 'obs-fold in trailer section');
          } else if (c === COLON) {
            return this.refuse(p, start, 'empty trailer field name');
          } else {
            return this.refuse(p, start, 'trailer field name is not a token');
          }
          if (++this.trailerBytes > HTTP_HEAD_BYTES_MAX) {
            return this.refuse(p, start, 'trailer section larger than HTTP_HEAD_BYTES_MAX');
          }
          break;
        }
        case STATE_TRAILER_NAME: {
          if (c === COLON) state = STATE_TRAILER_VALUE;
          else if (c === SP || c === HTAB) {
            return this.refuse(p, start, 'whitespace between trailer field name and colon');
          } else if (TOKEN_BYTES[c] !== 1) {
            return this.refuse(p, start, 'trailer field name is not a token');
          }
          if (++this.trailerBytes > HTTP_HEAD_BYTES_MAX) {
            return this.refuse(p, start, 'trailer section larger than HTTP_HEAD_BYTES_MAX');
          }
          break;
        }
        case STATE_TRAILER_VALUE: {
          if (c < SP || c === DEL) {
            if (c === CR) state = STATE_TRAILER_LF;
            else if (c === LF) return this.refuse(p, start, 'bare LF in trailer section');
            else if (c !== HTAB) return this.refuse(p, start, 'control byte in trailer value');
          }
          if (++this.trailerBytes > HTTP_HEAD_BYTES_MAX) {
            return this.refuse(p, start, 'trailer section larger than HTTP_HEAD_BYTES_MAX');
          }
          break;
        }
        case STATE_TRAILER_LF: {
          if (c !== LF) return this.refuse(p, start, 'bare CR in trailer section');
          state = STATE_TRAILER_START;
          if (++this.trailerBytes > HTTP_HEAD_BYTES_MAX) {
            return this.refuse(p, start, 'trailer section larger than HTTP_HEAD_BYTES_MAX');
          }
          break;
        }
        case STATE_FINAL_LF: {
          if (c !== LF) return this.refuse(p, start, 'bare CR in trailer section');
          p++;
          this.state = STATE_DONE;
          this.wireBytes += p - start;
          return p;
        }
        default:
          assert(false, `ChunkedScanner in unknown state ${state}`);
      }
      p++;
    }
    this.state = state;
    this.wireBytes += end - start;
    return CHUNKED_NEED_MORE;
  }

  private refuse(p: number, start: number, reason: string): number {
    this.state = STATE_ERROR;
    this.wireBytes += p - start;
    this.errorReason = reason;
    return CHUNKED_ERR_BAD;
  }
}
