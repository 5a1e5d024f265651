/**
 * @module bench/e2e/host
 *
 * What the end-to-end bench needs from the machine: the Debian tools it
 * drives (installed with apt-get when missing, so a fresh machine works),
 * their versions and the CPU model for the output header, free loopback
 * ports, and readiness checks for a system under test. Thread: the bench's
 * main thread, outside Ferry. Place in the flow: harness layer under
 * `bench/e2e/http.ts`.
 */

import { spawnSync } from 'node:child_process';
import {
  accessSync,
  chmodSync,
  constants,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
} from 'node:fs';
import { Agent, request } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { killAllChildrenSync } from './children.ts';
import type { BenchDirs } from './configs.ts';

/** Tool binary -> Debian package that ships it. */
const DEBIAN_PACKAGE_BY_TOOL = {
  wrk: 'wrk',
  nginx: 'nginx',
  haproxy: 'haproxy',
  curl: 'curl',
  taskset: 'util-linux',
} as const;

export type ToolName = keyof typeof DEBIAN_PACKAGE_BY_TOOL;
export type ToolPaths = { readonly [name in ToolName]: string };

/** NGINX and HAProxy live in /usr/sbin, which a non-login PATH may lack. */
const EXTRA_BIN_DIRS = ['/usr/sbin', '/sbin', '/usr/local/sbin'];

function findBinary(name: string): string | null {
  const dirs = [...(process.env['PATH'] ?? '').split(delimiter), ...EXTRA_BIN_DIRS];
  for (const dir of dirs) {
    if (dir.length === 0) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not in this directory.
    }
  }
  return null;
}

function aptGet(args: readonly string[]): boolean {
  const result = spawnSync('apt-get', args, {
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  return result.status === 0;
}

/**
 * Returns absolute paths of every tool the bench drives, installing the
 * missing ones with `apt-get install -y` (and `apt-get update` first if that
 * install fails). Throws with the manual command when installing fails.
 */
export function ensureTools(log: (line: string) => void): ToolPaths {
  const names = Object.keys(DEBIAN_PACKAGE_BY_TOOL) as ToolName[];
  const missing = names.filter((name) => findBinary(name) === null);
  if (missing.length > 0) {
    const packages = [...new Set(missing.map((name) => DEBIAN_PACKAGE_BY_TOOL[name]))];
    log(`installing ${packages.join(' ')} (apt-get install -y)`);
    const isInstalled =
      aptGet(['install', '-y', ...packages]) ||
      (aptGet(['update']) && aptGet(['install', '-y', ...packages]));
    if (!isInstalled) {
      throw new Error(
        `could not install ${packages.join(' ')}; as root run: apt-get install -y ${packages.join(' ')}`,
      );
    }
  }
  const paths: Record<string, string> = {};
  for (const name of names) {
    const path = findBinary(name);
    if (path === null) throw new Error(`${name} is still missing after apt-get install`);
    paths[name] = path;
  }
  return paths as ToolPaths;
}

function firstLine(binary: string, args: readonly string[]): string {
  const result = spawnSync(binary, args, { encoding: 'utf8' });
  const text = `${result.stdout ?? ''}${result.stderr ?? ''}`.trim();
  return text.split('\n')[0]?.trim() ?? 'unknown';
}

/** One-line versions of the tools, for the output header. */
export function readToolVersions(tools: ToolPaths): Record<'nginx' | 'haproxy' | 'wrk' | 'curl', string> {
  return {
    nginx: firstLine(tools.nginx, ['-v']).replace(/^nginx version:\s*/, ''),
    haproxy: firstLine(tools.haproxy, ['-v']).replace(/ - https?:\S+$/, ''),
    // wrk prints its banner on -v and exits 1.
    wrk: firstLine(tools.wrk, ['-v']).replace(/ Copyright.*$/, ''),
    curl: firstLine(tools.curl, ['--version']).split(' ').slice(0, 2).join(' '),
  };
}

/** CPU model name from /proc/cpuinfo. */
export function readCpuModel(): string {
  try {
    const match = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    return match?.[1]?.trim() ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** A loopback port that was free a moment ago (bind port 0, read it, close). */
export async function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

const sleep = (durationMs: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, durationMs));

/**
 * Waits until 127.0.0.1:`port` accepts a connection. Returns null when it
 * does, or the reason it gave up: `isGone()` returned a reason (the process
 * exited) or `timeoutMs` passed.
 */
export async function waitForPort(
  port: number,
  timeoutMs: number,
  isGone: () => string | null,
): Promise<string | null> {
  const deadlineMs = Date.now() + timeoutMs;
  while (Date.now() < deadlineMs) {
    const goneReason = isGone();
    if (goneReason !== null) return goneReason;
    if (await canConnect(port)) return null;
    await sleep(50);
  }
  return `port ${port} did not accept within ${timeoutMs / 1000} s`;
}

/** Time one probe request may take before the system counts as not serving. */
const PROBE_TIMEOUT_MS = 3_000;

/** How the probe reaches an HTTPS system (bench:https): the CA its certificate chains to and the name it carries. */
export type ProbeTls = { readonly ca: string; readonly servername: string };

function getOnce(
  agent: Agent,
  port: number,
  path: string,
  expectedBodyBytes: number,
  tls: ProbeTls | null,
): Promise<string | null> {
  return new Promise((resolve) => {
    const send = tls === null ? request : httpsRequest;
    const req = send(
      { host: '127.0.0.1', port, path, method: 'GET', agent, timeout: PROBE_TIMEOUT_MS },
      (res) => {
        let bodyBytes = 0;
        res.on('data', (chunk: Buffer) => {
          bodyBytes += chunk.length;
        });
        res.on('end', () => {
          if (res.statusCode !== 200) {
            const errorCode = res.headers['x-ferry-error'];
            resolve(`answered ${res.statusCode}${errorCode === undefined ? '' : ` ${errorCode}`}`);
          } else if (bodyBytes !== expectedBodyBytes) {
            resolve(`returned ${bodyBytes} bytes, expected ${expectedBodyBytes}`);
          } else {
            resolve(null);
          }
        });
        res.on('error', (error) => resolve(error.message));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${PROBE_TIMEOUT_MS / 1000} s`)));
    req.on('error', (error) => resolve(error.message));
    req.end();
  });
}

/**
 * `requestCount` GETs of `path`, one after another on one keep-alive
 * connection to 127.0.0.1:`port`. Returns null if each answers 200 with
 * `expectedBodyBytes` bytes, otherwise what went wrong, so a system that
 * listens but cannot forward (or stalls when it reuses a connection) is
 * reported instead of measured. Two requests per target (6 for 3 targets)
 * make a proxy reuse each of its upstream connections at least once.
 * With `tls`, the same over HTTPS (the certificate verified against `tls.ca`).
 */
export async function probeHttp(
  port: number,
  path: string,
  expectedBodyBytes: number,
  requestCount: number,
  tls: ProbeTls | null = null,
): Promise<string | null> {
  const agent =
    tls === null
      ? new Agent({ keepAlive: true, maxSockets: 1 })
      : new HttpsAgent({ keepAlive: true, maxSockets: 1, ca: tls.ca, servername: tls.servername });
  try {
    for (let requestIndex = 0; requestIndex < requestCount; requestIndex++) {
      const failure = await getOnce(agent, port, path, expectedBodyBytes, tls);
      if (failure !== null) {
        return `GET ${path} (request ${requestIndex + 1} of ${requestCount} on one keep-alive connection) ${failure}`;
      }
    }
    return null;
  } finally {
    agent.destroy();
  }
}

// === The repository and one bench run ===

export const REPO_DIR = resolve(import.meta.dirname, '../..');
export const RESULTS_PATH = join(REPO_DIR, 'bench/RESULTS.md');
export const FERRY_ENTRY_PATH = join(REPO_DIR, 'src/cli/ferry.ts');
/** Ferry runs on the project's Node 24 (node_modules/.bin/node), not whatever `node` is on PATH. */
export const FERRY_NODE_PATH = existsSync(join(REPO_DIR, 'node_modules/.bin/node'))
  ? join(REPO_DIR, 'node_modules/.bin/node')
  : process.execPath;

/** `git describe` of the tree being measured, `-dirty` when it has changes. */
export function gitRevision(): string {
  const result = spawnSync('git', ['describe', '--always', '--dirty'], { cwd: REPO_DIR, encoding: 'utf8' });
  return result.status === 0 ? result.stdout.trim() : 'unknown';
}

/** The command as the user typed it: `npm run <script> -- args` under npm, else `node bench/e2e/<file> args`. */
export function benchCommandLine(script: string, file: string): string {
  const args = process.argv.slice(2).join(' ');
  if (process.env['npm_lifecycle_event'] === script) {
    return args.length > 0 ? `npm run ${script} -- ${args}` : `npm run ${script}`;
  }
  return `node bench/e2e/${file}${args.length > 0 ? ` ${args}` : ''}`;
}

/**
 * A temporary root (and its `www` document root) for one run. On exit, and on
 * SIGINT/SIGTERM/SIGHUP, every process the bench started is killed and the
 * folder removed.
 */
export function createBenchDirs(name: string, log: (line: string) => void): BenchDirs {
  const rootDir = mkdtempSync(join(tmpdir(), `ferry-bench-${name}-`));
  // NGINX workers run as an unprivileged user when started by root: let them read the files.
  chmodSync(rootDir, 0o755);
  const wwwDir = join(rootDir, 'www');
  mkdirSync(wwwDir);
  process.on('exit', () => {
    killAllChildrenSync();
    rmSync(rootDir, { recursive: true, force: true });
  });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      log(`${signal}: stopping every process this bench started`);
      process.exit(130);
    });
  }
  return { rootDir, wwwDir };
}
