/**
 * @module src/health/checker
 *
 * The health-checker interface and what a check can say. Thread: main.
 * Place in the flow: health manager -> **checker** (tcp-checker.ts,
 * http-checker.ts) -> target; the result feeds thresholds.ts.
 *
 * A check never throws and never outlives its timeout: every way it can end
 * (answer, refusal, reset, TLS failure, garbage, silence) is a CheckResult.
 * Checks are plain async I/O on the main thread's event loop: nothing in
 * them blocks, so the control port and admin endpoint stay responsive.
 */
import type { Matcher } from '../config/index.ts';

/** How a check ended. `status`: an HTTP answer outside the matcher. */
export type CheckOutcome = 'pass' | 'status' | 'timeout' | 'error';
/** What broke when a check ended in `error` (ELB's Target.FailedHealthChecks). */
/**
 * `local`: Ferry itself could not run the check (out of file descriptors,
 * buffers or memory: EMFILE, ENFILE, ENOBUFS, ENOMEM). Issue 10: a connection
 * flood once marked every target unhealthy this way; such a result says
 * nothing about the target, so it does not count (manager/index.ts).
 */
export type FailureCause =
  | 'refused'
  | 'reset'
  | 'tls'
  | 'malformed'
  | 'unreachable'
  | 'dns'
  | 'local'
  | 'other';

export interface CheckResult {
  readonly outcome: CheckOutcome;
  /** HTTP status of the answer; 0 for TCP checks and when there was none. */
  readonly statusCode: number;
  /** Set when outcome is `error`. */
  readonly cause: FailureCause | null;
  /** The error code seen (`ECONNREFUSED`, `HPE_INVALID_CONSTANT`, ...); '' when none. */
  readonly detail: string;
  /** Wall time of the check, ms. */
  readonly durationMs: number;
}

/** Where a check goes: the target's host and traffic port (the checker applies a `port` override). */
export interface CheckTarget {
  readonly host: string;
  readonly port: number;
}

export interface HealthChecker {
  /**
   * Check one target. Resolves (never rejects) within the checker's timeout,
   * or soon after `signal` aborts (the manager stopping).
   */
  check(target: CheckTarget, signal: AbortSignal): Promise<CheckResult>;
}

/** True when `statusCode` is in the matcher's ranges. */
export function matchesStatus(matcher: Matcher, statusCode: number): boolean {
  for (const range of matcher.ranges) if (statusCode >= range.from && statusCode <= range.to) return true;
  return false;
}

const TIMEOUT_CODES = new Set([
  'ETIMEDOUT',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);
const RESET_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED']);
const UNREACHABLE_CODES = new Set(['EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'ENETDOWN', 'EADDRNOTAVAIL']);
/** Errors of this process, not of the target (issue 10). */
export const LOCAL_CODES: ReadonlySet<string> = new Set(['EMFILE', 'ENFILE', 'ENOBUFS', 'ENOMEM']);
const DNS_CODES = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL', 'EAI_NONAME']);

/**
 * Sort an error from net, tls or undici into a check outcome. `isTls`: the
 * check speaks TLS, so a reset before the handshake completed is a TLS
 * failure (a plain-HTTP server hangs up on a ClientHello). Thread: any.
 */
export function classifyError(
  error: unknown,
  isTls: boolean,
): { readonly outcome: 'timeout' | 'error'; readonly cause: FailureCause | null; readonly detail: string } {
  const failure = (typeof error === 'object' && error !== null ? error : {}) as {
    code?: unknown;
    name?: unknown;
    message?: unknown;
  };
  const code = typeof failure.code === 'string' ? failure.code : '';
  const name = typeof failure.name === 'string' ? failure.name : '';
  const message = typeof failure.message === 'string' ? failure.message : '';
  if (TIMEOUT_CODES.has(code)) return { outcome: 'timeout', cause: null, detail: code };
  if (LOCAL_CODES.has(code)) return { outcome: 'error', cause: 'local', detail: code };
  if (code === 'ECONNREFUSED') return { outcome: 'error', cause: 'refused', detail: code };
  if (
    code.startsWith('ERR_SSL_') ||
    code.startsWith('ERR_TLS_') ||
    code === 'EPROTO' ||
    code.startsWith('CERT_') ||
    code.startsWith('UNABLE_TO_') ||
    code === 'DEPTH_ZERO_SELF_SIGNED_CERT' ||
    code === 'SELF_SIGNED_CERT_IN_CHAIN' ||
    (isTls && RESET_CODES.has(code) && /TLS|SSL|secure/i.test(message))
  ) {
    return { outcome: 'error', cause: 'tls', detail: code };
  }
  if (RESET_CODES.has(code)) return { outcome: 'error', cause: 'reset', detail: code };
  if (
    name === 'HTTPParserError' ||
    code.startsWith('HPE_') ||
    code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH'
  ) {
    return { outcome: 'error', cause: 'malformed', detail: code === '' ? 'HTTPParserError' : code };
  }
  if (UNREACHABLE_CODES.has(code)) return { outcome: 'error', cause: 'unreachable', detail: code };
  if (DNS_CODES.has(code)) return { outcome: 'error', cause: 'dns', detail: code };
  return { outcome: 'error', cause: 'other', detail: code === '' ? name || 'Error' : code };
}

/** `host` as it goes in a URL: IPv6 addresses in brackets. */
export function hostForUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}
