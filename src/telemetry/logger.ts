/**
 * @module src/telemetry/logger
 *
 * The main thread's pino root logger. Thread: main (workers make their own
 * root in workers/entry.ts at the same level). Level from FERRY_LOG_LEVEL
 * (default info); JSON lines on stdout, one object per event.
 */
import pino, { type Logger } from 'pino';

export function logLevelFromEnv(): string {
  return process.env['FERRY_LOG_LEVEL'] ?? 'info';
}

export function createRootLogger(level: string): Logger {
  return pino({ level, base: { thread: 'main' } });
}
