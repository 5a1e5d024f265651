/**
 * @module workers/upstream/error-code
 *
 * Sorts a failure on the way to or from a target into a Ferry error code:
 * an errno from a raw socket (the HTTP/1.1 proxy and TCP), or an undici
 * error with its cause (HTTP/2 streams). Thread: worker. Place in the flow:
 * connect / forward / relay failure paths only (allocates nothing, but is
 * not on the success path).
 */
import type { ErrorCode } from '../../proto/error-codes.ts';
import { isTlsErrorCode } from '../tls/index.ts';

/**
 * The Ferry code of an upstream failure. `code` is an errno (`ECONNREFUSED`,
 * `ECONNRESET`, `EOF` for a clean close) or an undici code (`UND_ERR_*`,
 * `HPE_*`); `causeCode` is the errno undici wraps, '' when none.
 */
export function upstreamErrorCode(code: string, causeCode: string): ErrorCode {
  if (code === 'ECONNREFUSED' || causeCode === 'ECONNREFUSED') return 'FERRY_ERR_UPSTREAM_CONNECT_REFUSED';
  // Issue 10: this process is out of descriptors or buffers; the target did nothing wrong.
  if (code === 'EMFILE' || code === 'ENFILE' || code === 'ENOBUFS' || code === 'ENOMEM')
    return 'FERRY_ERR_INTERNAL_RESOURCES';
  if (isTlsErrorCode(code) || isTlsErrorCode(causeCode)) return 'FERRY_ERR_UPSTREAM_TLS';
  switch (code) {
    case 'UND_ERR_CONNECT_TIMEOUT':
      return 'FERRY_ERR_UPSTREAM_CONNECT_TIMEOUT';
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
      return 'FERRY_ERR_UPSTREAM_TIMEOUT';
    case 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH':
      return 'FERRY_ERR_HTTP_BAD_REQUEST';
    case 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH':
    case 'UND_ERR_HEADERS_OVERFLOW':
    case 'UND_ERR_INFO':
      return 'FERRY_ERR_UPSTREAM_BAD_RESPONSE';
    default:
      return code.startsWith('HPE_') ? 'FERRY_ERR_UPSTREAM_BAD_RESPONSE' : 'FERRY_ERR_UPSTREAM_RESET';
  }
}

/** True for the codes that mean no connection to the target was made (counted as connection errors). */
export function isConnectErrorCode(code: ErrorCode): boolean {
  return (
    code === 'FERRY_ERR_UPSTREAM_CONNECT_REFUSED' ||
    code === 'FERRY_ERR_UPSTREAM_CONNECT_TIMEOUT' ||
    code === 'FERRY_ERR_UPSTREAM_TLS'
  );
}
