/**
 * Runs `ferry` as a real child process (src/cli/ferry.ts on this test's Node)
 * and collects its JSON log lines, so tests can wait on what Ferry says it
 * did (ordering, not wall-clock time) and send it real signals.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import { join } from 'node:path';

export const FERRY_CLI = join(import.meta.dirname, '../../src/cli/ferry.ts');

/** One pino line: `msg`, `level` and the bindings. */
export type LogLine = Record<string, unknown> & { readonly msg: string };

export interface FerryProcess {
  readonly child: ChildProcess;
  /** Every JSON line on stdout so far, in order. */
  readonly lines: LogLine[];
  /** Everything on stderr so far. */
  stderr(): string;
  /** The first line (already seen or still to come) that matches; rejects if Ferry exits first. */
  waitForLog(match: (line: LogLine) => boolean, what: string): Promise<LogLine>;
  /** Resolves with the exit code once the process has exited. */
  readonly exited: Promise<number | null>;
  kill(): Promise<void>;
}

export function spawnFerry(args: readonly string[], env: Record<string, string> = {}): FerryProcess {
  const child = spawn(process.execPath, [FERRY_CLI, ...args], {
    env: { ...process.env, FERRY_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: LogLine[] = [];
  const waiters: { match: (line: LogLine) => boolean; resolve: (line: LogLine) => void }[] = [];
  let buffered = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (chunk: string) => {
    buffered += chunk;
    let newline = buffered.indexOf('\n');
    while (newline >= 0) {
      const text = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      newline = buffered.indexOf('\n');
      if (!text.startsWith('{')) continue;
      const line = JSON.parse(text) as LogLine;
      lines.push(line);
      for (let i = waiters.length - 1; i >= 0; i--) {
        if (waiters[i]!.match(line)) waiters.splice(i, 1)[0]!.resolve(line);
      }
    }
  });
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  return {
    child,
    lines,
    stderr: () => stderr,
    waitForLog(match, what) {
      const seen = lines.find(match);
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise<LogLine>((resolve, reject) => {
        waiters.push({ match, resolve });
        exited.then((code) =>
          reject(new Error(`ferry exited (${code}) before logging ${what}; stderr: ${stderr}`)),
        );
      });
    },
    exited,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
}

/** A port that was free a moment ago on 127.0.0.1 (for configs a child process binds). */
export async function freePort(): Promise<number> {
  const server = net.createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  server.close();
  await once(server, 'close');
  return port;
}

/** The line's `msg` equals `msg` (and every given field matches). */
export function logged(msg: string, fields: Record<string, unknown> = {}): (line: LogLine) => boolean {
  return (line) => line.msg === msg && Object.entries(fields).every(([key, value]) => line[key] === value);
}
