/**
 * @module src/shared/errors
 *
 * One error class for expected failures, carrying a stable code from
 * proto/error-codes.ts. Thread: both (workers import it). Branded with
 * Symbol.for so `isProxyError` works across module copies and threads
 * rebuild it from `{code, message}` (undici's approach).
 */
import { ERROR_CODES, type ErrorCode, type ErrorSource } from '../../proto/error-codes.ts';

const BRAND = Symbol.for('ferry.ProxyError');

export class ProxyError extends Error {
  readonly code: ErrorCode;
  readonly source: ErrorSource;
  readonly retryable: boolean;
  readonly [BRAND] = true;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ProxyError';
    this.code = code;
    this.source = ERROR_CODES[code].source;
    this.retryable = ERROR_CODES[code].retryable;
  }
}

/** True for a ProxyError from any copy of this module. */
export function isProxyError(value: unknown): value is ProxyError {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
}
