/**
 * @module src/health/http-checker
 *
 * HTTP and HTTPS health checks with undici: `GET <path>` on the target (or
 * the `port` override), passing when the status is in the matcher. Thread:
 * main. Why undici: checks are few and off the data plane, and undici gives
 * timeouts, TLS and strict response parsing without our own client.
 *
 * Each check uses its own undici Client (one connection) and destroys it
 * when the check ends, however it ends, like HAProxy's httpchk closing after
 * each check: a target whose accept loop broke is caught, no idle sockets to
 * hundreds of targets are kept, and no state is shared between checks. HTTPS
 * checks do not verify the target's certificate (ELB does not either: the
 * target is inside the network and often self-signed); a failed handshake
 * is still a failure (Target.FailedHealthChecks, cause `tls`). Redirects are
 * not followed: a 301 passes only if the matcher lists it.
 */
import { Client } from 'undici';
import type { Matcher } from '../config/index.ts';
import {
  type CheckResult,
  type CheckTarget,
  classifyError,
  type HealthChecker,
  hostForUrl,
  matchesStatus,
} from './checker.ts';
import { HEALTH_CHECK_BODY_BYTES_MAX, HEALTH_CHECK_USER_AGENT } from './limits.ts';

export interface HttpCheckOptions {
  readonly protocol: 'HTTP' | 'HTTPS';
  readonly port: number | 'traffic-port';
  /** Path and optional query, starting with `/`. */
  readonly path: string;
  readonly timeoutMs: number;
  readonly matcher: Matcher;
}

const TIMED_OUT = Symbol('health-check-timeout');

export function createHttpChecker(options: HttpCheckOptions): HealthChecker {
  const scheme = options.protocol === 'HTTPS' ? 'https' : 'http';
  const isTls = options.protocol === 'HTTPS';
  return {
    async check(target: CheckTarget, signal: AbortSignal): Promise<CheckResult> {
      const port = options.port === 'traffic-port' ? target.port : options.port;
      const origin = `${scheme}://${hostForUrl(target.host)}:${port}`;
      const client = new Client(origin, {
        connect: { rejectUnauthorized: false, timeout: options.timeoutMs },
        headersTimeout: options.timeoutMs,
        bodyTimeout: options.timeoutMs,
        pipelining: 1,
      });
      const controller = new AbortController();
      const onAbort = (): void => controller.abort(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      const timer = setTimeout(() => controller.abort(TIMED_OUT), options.timeoutMs);
      const startedMs = performance.now();
      const elapsedMs = (): number => Math.round(performance.now() - startedMs);
      try {
        const response = await client.request({
          method: 'GET',
          path: options.path,
          signal: controller.signal,
          reset: true,
          headers: { 'user-agent': HEALTH_CHECK_USER_AGENT, accept: '*/*' },
        });
        await response.body.dump({ limit: HEALTH_CHECK_BODY_BYTES_MAX });
        const isMatch = matchesStatus(options.matcher, response.statusCode);
        return {
          outcome: isMatch ? 'pass' : 'status',
          statusCode: response.statusCode,
          cause: null,
          detail: '',
          durationMs: elapsedMs(),
        };
      } catch (error) {
        if (controller.signal.aborted && controller.signal.reason === TIMED_OUT) {
          return { outcome: 'timeout', statusCode: 0, cause: null, detail: '', durationMs: elapsedMs() };
        }
        if (signal.aborted) {
          return {
            outcome: 'error',
            statusCode: 0,
            cause: 'other',
            detail: 'aborted',
            durationMs: elapsedMs(),
          };
        }
        return { statusCode: 0, ...classifyError(error, isTls), durationMs: elapsedMs() };
      } finally {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        client.destroy().catch(() => {});
      }
    },
  };
}
