/**
 * @module src/health/tcp-checker
 *
 * TCP health check: does the port accept a connection within the timeout?
 * (ELB's TCP check; HAProxy's plain `check`.) The connection is closed as
 * soon as it is up; nothing is sent. Thread: main.
 */
import net from 'node:net';
import { type CheckResult, type CheckTarget, classifyError, type HealthChecker } from './checker.ts';

export interface TcpCheckOptions {
  /** `traffic-port` or a port on the target's host. */
  readonly port: number | 'traffic-port';
  readonly timeoutMs: number;
}

export function createTcpChecker(options: TcpCheckOptions): HealthChecker {
  return {
    check(target: CheckTarget, signal: AbortSignal): Promise<CheckResult> {
      const port = options.port === 'traffic-port' ? target.port : options.port;
      const startedMs = performance.now();
      return new Promise((resolve) => {
        const socket = net.connect({ host: target.host, port });
        let isDone = false;
        const finish = (result: Omit<CheckResult, 'durationMs'>): void => {
          if (isDone) return;
          isDone = true;
          clearTimeout(timer);
          signal.removeEventListener('abort', onAbort);
          socket.destroy();
          resolve({ ...result, durationMs: Math.round(performance.now() - startedMs) });
        };
        const onAbort = (): void =>
          finish({ outcome: 'error', statusCode: 0, cause: 'other', detail: 'aborted' });
        const timer = setTimeout(
          () => finish({ outcome: 'timeout', statusCode: 0, cause: null, detail: '' }),
          options.timeoutMs,
        );
        signal.addEventListener('abort', onAbort, { once: true });
        socket.once('connect', () => finish({ outcome: 'pass', statusCode: 0, cause: null, detail: '' }));
        socket.once('error', (error) => finish({ statusCode: 0, ...classifyError(error, false) }));
      });
    },
  };
}
