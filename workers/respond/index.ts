/**
 * @module workers/respond
 *
 * The one rescue point: turns an error code into the synthetic response a
 * client sees. Thread: worker. Place in the flow: any phase that fails before
 * a response head went downstream ends here (linkerd's l5d-proxy-error,
 * Pingora's fail_to_proxy).
 *
 * Every synthetic response carries `x-ferry-error: <code>` and a one-line
 * body naming the code, and closes the connection: after an error the
 * framing of whatever follows on it cannot be trusted. On HTTP/2 only the
 * stream ends (framing is per stream there; the session carries on).
 */

import { STATUS_CODES } from 'node:http';
import type { ServerHttp2Stream } from 'node:http2';
import type { Socket } from 'node:net';
import { ERROR_CODES, type ErrorCode } from '../../proto/error-codes.ts';

/** Status plus reason phrase, per code, built once (H2). */
const STATUS_LINES: Record<string, string> = {};
for (const [code, info] of Object.entries(ERROR_CODES)) {
  const reason = info.status === 499 ? 'Client Closed Request' : (STATUS_CODES[info.status] ?? 'Error');
  STATUS_LINES[code] = `HTTP/1.1 ${info.status} ${reason}\r\n`;
}

/** The HTTP status Ferry answers with for a code. */
export function statusForCode(code: ErrorCode): number {
  return ERROR_CODES[code].status;
}

/**
 * Write a complete error response and end the socket. `isHeadRequest`
 * suppresses the body (HEAD). Never throws; a destroyed socket is left alone.
 */
export function respondWithError(socket: Socket, code: ErrorCode, isHeadRequest: boolean): void {
  if (socket.destroyed || !socket.writable) return;
  const info = ERROR_CODES[code];
  const body = `${info.status} ${code}\n`;
  const head =
    `${STATUS_LINES[code]}content-type: text/plain; charset=utf-8\r\n` +
    `content-length: ${Buffer.byteLength(body)}\r\nx-ferry-error: ${code}\r\nconnection: close\r\n\r\n`;
  socket.end(isHeadRequest ? head : head + body, 'latin1');
}

/**
 * The same synthetic error on an HTTP/2 stream (workers/l7/h2/): status,
 * `x-ferry-error`, the one-line body; the stream ends, the session stays.
 * Never throws; a closed stream is left alone.
 */
export function respondH2WithError(stream: ServerHttp2Stream, code: ErrorCode, isHeadRequest: boolean): void {
  if (stream.destroyed || stream.closed || stream.headersSent) return;
  const info = ERROR_CODES[code];
  const body = `${info.status} ${code}\n`;
  stream.respond(
    {
      ':status': info.status,
      'content-type': 'text/plain; charset=utf-8',
      'content-length': Buffer.byteLength(body),
      'x-ferry-error': code,
    },
    { endStream: isHeadRequest },
  );
  if (!isHeadRequest) stream.end(body, 'latin1');
}

export {
  FixedResponse,
  Redirect,
  type RedirectInputs,
  redirectInputs,
} from './local.ts';
