/**
 * Runs Ferry's built-in CA for tests: `ferry ca …` as a real child process
 * (the CLI the user runs), and `openssl` as the independent check of what it
 * wrote. Files live in a temp folder the caller removes.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';

export const FERRY_CLI = join(import.meta.dirname, '../../src/cli/ferry.ts');

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Run `ferry ARGS…` to its end. */
export async function runFerryCli(args: readonly string[]): Promise<CliResult> {
  const proc = spawn(process.execPath, [FERRY_CLI, ...args], {
    env: { ...process.env, FERRY_LOG_LEVEL: 'info' },
  });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  proc.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const [code] = (await once(proc, 'exit')) as [number | null];
  return { code, stdout, stderr };
}

/** `openssl ARGS…`; returns stdout and stderr together, throws on a non-zero exit. */
export function openssl(args: readonly string[]): string {
  return execFileSync('openssl', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** A running `ferry ca serve`, with its log lines as they come. */
export interface CaServeProcess {
  readonly proc: ChildProcess;
  /** `127.0.0.1:PORT` it listens on. */
  readonly address: string;
  /** Every stdout line so far (pino JSON). */
  readonly lines: string[];
  stop(): Promise<void>;
}

/** Start `ferry ca serve` and wait for its `issuing service listening` line. */
export async function startCaServe(args: readonly string[]): Promise<CaServeProcess> {
  const proc = spawn(process.execPath, [FERRY_CLI, 'ca', 'serve', ...args], {
    env: { ...process.env, FERRY_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let stderr = '';
  proc.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  let buffered = '';
  const address = await new Promise<string>((resolve, reject) => {
    proc.once('exit', (code) => reject(new Error(`ferry ca serve exited ${code}: ${stderr}`)));
    proc.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      let newline = buffered.indexOf('\n');
      while (newline !== -1) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        lines.push(line);
        const entry = JSON.parse(line) as { msg?: string; address?: string };
        if (entry.msg === 'issuing service listening' && entry.address !== undefined) resolve(entry.address);
        newline = buffered.indexOf('\n');
      }
    });
  });
  return {
    proc,
    address,
    lines,
    stop: async () => {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = once(proc, 'exit');
      proc.kill('SIGTERM');
      await exited;
    },
  };
}
