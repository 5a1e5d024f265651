/**
 * @module src/telemetry/logger
 *
 * The main thread's pino root logger. Thread: main (workers make their own
 * root in workers/entry.ts at the same level and format). Level from
 * `--log-level`, else FERRY_LOG_LEVEL, else info; an unknown level is a
 * usage error the CLI reports in one line, never a pino stack trace.
 * Format: JSON lines on stdout (the default, for collectors), or `pretty`
 * (pino-pretty, pino's own companion) for people at a terminal.
 */
import pino, { type Logger } from 'pino';
import pretty from 'pino-pretty';

/** Levels Ferry accepts, quietest last (pino's own, plus silent). */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const LOG_FORMATS = ['json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export type LogSetting<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly message: string };

/** The level from the flag, else FERRY_LOG_LEVEL, else info; a clear message when it is not one of LOG_LEVELS. */
export function resolveLogLevel(flag: string | undefined, env: NodeJS.ProcessEnv): LogSetting<LogLevel> {
  const [text, from] =
    flag !== undefined ? [flag, '--log-level'] : [env['FERRY_LOG_LEVEL'], 'FERRY_LOG_LEVEL'];
  if (text === undefined || text === '') return { ok: true, value: 'info' };
  const value = LOG_LEVELS.find((level) => level === text.toLowerCase());
  if (value === undefined) {
    return {
      ok: false,
      message: `${from}: unknown log level ${JSON.stringify(text)}; expected one of ${LOG_LEVELS.join(' | ')}`,
    };
  }
  return { ok: true, value };
}

/** The format from the flag (json when absent). */
export function resolveLogFormat(flag: string | undefined): LogSetting<LogFormat> {
  if (flag === undefined) return { ok: true, value: 'json' };
  const value = LOG_FORMATS.find((format) => format === flag);
  if (value === undefined) {
    return {
      ok: false,
      message: `--log-format: unknown format ${JSON.stringify(flag)}; expected one of ${LOG_FORMATS.join(' | ')}`,
    };
  }
  return { ok: true, value };
}

/** FERRY_LOG_LEVEL or info, unchecked (tests and benches; the CLI uses resolveLogLevel). */
export function logLevelFromEnv(): string {
  return process.env['FERRY_LOG_LEVEL'] ?? 'info';
}

/**
 * A root logger with `base` bindings. Thread: any (main and workers/entry.ts
 * use it the same way). `pretty` writes synchronously to stdout with colours
 * only when stdout is a terminal.
 */
export function createLogger(level: string, format: LogFormat, base: Record<string, unknown>): Logger {
  if (format === 'pretty') {
    return pino(
      { level, base },
      pretty({ sync: true, colorize: process.stdout.isTTY === true, translateTime: 'SYS:HH:MM:ss.l' }),
    );
  }
  return pino({ level, base });
}

export function createRootLogger(level: string, format: LogFormat = 'json'): Logger {
  return createLogger(level, format, { thread: 'main' });
}
