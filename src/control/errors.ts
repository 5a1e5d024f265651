/**
 * @module src/control/errors
 *
 * Control-port errors: a ProxyError with an optional list of precise
 * problems (every config error of a rejected reload, every bad argument), and
 * the mapping from anything thrown by a handler to a reply's error body.
 * Thread: main (server) and ferryctl (client-side failures).
 */
import type { ZodError } from 'zod';
import type { ControlErrorBody, ControlErrorDetail } from '../../proto/control/protocol.ts';
import type { ErrorCode } from '../../proto/error-codes.ts';
import { isProxyError, ProxyError } from '../shared/errors.ts';

/** Details carried at most in one error reply (a config with more errors says how many were left out). */
export const CONTROL_ERROR_DETAILS_MAX = 100;

/** An expected control-port failure: a stable code, one line, and details when there are several problems. */
export class ControlError extends ProxyError {
  readonly details: readonly ControlErrorDetail[];

  constructor(code: ErrorCode, message: string, details: readonly ControlErrorDetail[] = []) {
    super(code, message);
    this.name = 'ControlError';
    this.details = details.slice(0, CONTROL_ERROR_DETAILS_MAX);
  }
}

/** The reply body of whatever a handler threw: its code for a ProxyError, FERRY_ERR_INTERNAL_BUG otherwise. */
export function errorBody(error: unknown): ControlErrorBody {
  if (error instanceof ControlError && error.details.length > 0) {
    return { code: error.code, message: error.message, details: error.details };
  }
  if (isProxyError(error)) return { code: error.code, message: error.message };
  return {
    code: 'FERRY_ERR_INTERNAL_BUG',
    message: 'the control operation failed inside Ferry; see its log',
  };
}

/** A zod failure on a request's args, as a BAD_ARGS error with one detail per issue (`args.weight: …`). */
export function badArgs(op: string, error: ZodError): ControlError {
  const details = error.issues.map((issue) => ({
    path: ['args', ...issue.path.map(String)].join('.'),
    message: issue.message,
  }));
  const first = details[0];
  return new ControlError(
    'FERRY_ERR_CONTROL_BAD_ARGS',
    `${op}: ${first === undefined ? 'bad arguments' : `${first.path}: ${first.message}`}` +
      (details.length > 1 ? ` (and ${details.length - 1} more)` : ''),
    details,
  );
}
