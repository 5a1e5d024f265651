/**
 * A real HAProxy for tests (Debian's, installed by
 * scripts/ensure-debian-tool.sh when missing): written config, started in the
 * foreground on loopback ports, stopped by its own pid. `haproxyOrSkip()`
 * gives the reason a test prints when it cannot run.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ENSURE = join(import.meta.dirname, '../../scripts/ensure-debian-tool.sh');

/** The path of a Debian tool, installing it if needed; or the reason it is not there. */
export function ensureTool(binary: string, debianPackage: string): { path: string } | { reason: string } {
  const run = spawnSync(ENSURE, [binary, debianPackage], { encoding: 'utf8', timeout: 600_000 });
  if (run.status === 0) return { path: run.stdout.trim().split('\n').at(-1) ?? binary };
  return {
    reason: (run.stderr || run.stdout || `exit ${run.status}`).trim().split('\n').at(-1) ?? 'unknown',
  };
}

/** A loopback port that was free a moment ago (for a peer that cannot report the port it bound). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Resolves once `port` accepts a connection; rejects after `timeoutMs`. */
export async function waitForPort(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    const isOpen = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (isOpen) return;
    if (Date.now() > deadline) throw new Error(`port ${port} did not open within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export interface RunningHaproxy {
  readonly child: ChildProcess;
  stop(): Promise<void>;
}

/** Start `haproxy -db -f <config>`; resolves once every port in `ports` accepts connections. */
export async function startHaproxy(
  binary: string,
  config: string,
  ports: readonly number[],
): Promise<RunningHaproxy> {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-haproxy-'));
  const path = join(dir, 'haproxy.cfg');
  writeFileSync(path, config);
  const check = spawnSync(binary, ['-c', '-f', path], { encoding: 'utf8' });
  if (check.status !== 0) throw new Error(`haproxy config invalid:\n${check.stdout}${check.stderr}`);
  const child = spawn(binary, ['-db', '-f', path], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk) => {
    stderr += String(chunk);
  });
  try {
    for (const port of ports) await waitForPort(port);
  } catch (error) {
    child.kill('SIGKILL');
    throw new Error(`${(error as Error).message}; haproxy said: ${stderr}`);
  }
  return {
    child,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await once(child, 'exit');
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
