/**
 * Helpers for the control-port tests: a real Ferry started from a config
 * file (so `reload` has something to re-read), a control client, the
 * ferryctl command as a child process, and a paced keep-alive load that
 * records every answer and marks requests sent after a given moment.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino, { type Logger } from 'pino';
import { Agent, request } from 'undici';
import { formatConfigErrors, parseConfigFile, parseControlAddress } from '../../src/config/index.ts';
import { ControlClient } from '../../src/control/index.ts';
import { type FerryHandle, startFerry } from '../../src/main.ts';
import type { Clock } from '../../src/shared/clock.ts';
import type { TestTarget } from './targets.ts';

export const CTL = join(import.meta.dirname, '../../src/cli/ferryctl.ts');
export const TOKEN = 'test-token-0123456789abcdef';

export interface FileFerry extends FerryHandle {
  readonly configPath: string;
  readonly url: string;
  readonly control: string;
  /** Overwrite the config file (for reload). */
  writeConfig(yaml: string): void;
}

/** A temp folder with `ferry.yaml` and `ferry.token` (the token above). */
export function configDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-control-'));
  writeFileSync(join(dir, 'ferry.token'), `${TOKEN}\n`);
  return dir;
}

/** Start Ferry from YAML written to a file in `dir`; `log` replaces the silent logger. */
export async function startFileFerry(
  dir: string,
  yaml: string,
  options: { clock?: Clock; log?: Logger } = {},
): Promise<FileFerry> {
  const configPath = join(dir, 'ferry.yaml');
  writeFileSync(configPath, yaml);
  const result = await parseConfigFile(configPath);
  if (!result.ok) throw new Error(`test config invalid:\n${formatConfigErrors(result.errors)}`);
  const level = process.env['FERRY_TEST_LOG_LEVEL'] ?? 'silent';
  const handle = await startFerry(result.snapshot, {
    log: options.log ?? pino({ level }),
    logLevel: level,
    ...(options.clock === undefined ? {} : { clock: options.clock }),
  });
  const first = result.snapshot.listeners[0]!;
  return Object.assign(handle, {
    configPath,
    url: `http://127.0.0.1:${handle.listenerPorts.get(first.name)}`,
    control: handle.controlAddress!,
    writeConfig: (text: string) => writeFileSync(configPath, text),
  });
}

/** A connected, authenticated control client. */
export function connect(address: string, token: string | null = TOKEN): Promise<ControlClient> {
  const parsed = parseControlAddress(address);
  if (!parsed.ok) throw new Error(parsed.message);
  return ControlClient.connect({ address: parsed.value, token, client: 'test' });
}

export interface CtlRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Run ferryctl with args (and env additions); resolves when it exits. */
export async function ctl(args: readonly string[], env: Record<string, string> = {}): Promise<CtlRun> {
  const child: ChildProcess = spawn(process.execPath, [CTL, ...args], {
    env: { ...process.env, FERRY_CONTROL: '', FERRY_CONTROL_TOKEN: '', ...env },
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk) => (stdout += chunk));
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stdout, stderr };
}

export interface Answer {
  readonly status: number;
  readonly target: string;
  /** The phase the load was in when the request was sent (see setPhase). */
  readonly phase: string;
  /** Ferry's `x-ferry-error` code on a synthetic answer, '' otherwise, so a failure says why. */
  readonly error: string;
}

export interface Load {
  readonly answers: Answer[];
  /** Requests sent from now on carry `x-load-phase: <phase>`, which test targets count. */
  setPhase(phase: string): void;
  stop(): Promise<void>;
  /** Answers other than 200 (0 = network error). */
  failures(): Answer[];
}

/**
 * `concurrency` keep-alive loops of GETs, each pausing `pauseMs` between
 * requests (8 loops x 10 ms ≈ 600 req/s on an idle machine). A network
 * error counts as status 0.
 */
export function startLoad(url: string, concurrency = 8, pauseMs = 10): Load {
  const agent = new Agent({ connections: concurrency, keepAliveTimeout: 30_000 });
  const answers: Answer[] = [];
  let isRunning = true;
  let phase = 'start';
  const loop = async (): Promise<void> => {
    while (isRunning) {
      const sentPhase = phase;
      try {
        const response = await request(`${url}/`, {
          dispatcher: agent,
          headers: { 'x-load-phase': sentPhase },
        });
        await response.body.text();
        answers.push({
          status: response.statusCode,
          target: String(response.headers['x-target'] ?? ''),
          phase: sentPhase,
          error: String(response.headers['x-ferry-error'] ?? ''),
        });
      } catch (error) {
        answers.push({ status: 0, target: '', phase: sentPhase, error: String(error) });
      }
      if (pauseMs > 0) await new Promise((resolve) => setTimeout(resolve, pauseMs));
    }
  };
  const loops = Array.from({ length: concurrency }, loop);
  return {
    answers,
    setPhase: (next) => {
      phase = next;
    },
    stop: async () => {
      if (!isRunning) return;
      isRunning = false;
      await Promise.all(loops);
      await agent.close();
    },
    failures: () => answers.filter((answer) => answer.status !== 200),
  };
}

/** Per target name: requests it received, by `x-load-phase` (counted at the target itself). */
export function countPhases(targets: readonly TestTarget[]): Map<string, Map<string, number>> {
  const counts = new Map<string, Map<string, number>>();
  for (const target of targets) {
    const byPhase = new Map<string, number>();
    counts.set(target.name, byPhase);
    target.server.on('request', (req: IncomingMessage) => {
      const phase = String(req.headers['x-load-phase'] ?? '');
      byPhase.set(phase, (byPhase.get(phase) ?? 0) + 1);
    });
  }
  return counts;
}

/** Wait until `count` more answers arrived (bounded by `maxMs`). */
export async function moreAnswers(load: Load, count: number, maxMs = 10_000): Promise<void> {
  const target = load.answers.length + count;
  const deadline = Date.now() + maxMs;
  while (load.answers.length < target && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
