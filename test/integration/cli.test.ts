import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { startTargets, type TestTarget } from '../helpers/targets.ts';

const CLI = join(import.meta.dirname, '../../src/cli/ferry.ts');
let targets: TestTarget[] = [];
let child: ChildProcess | null = null;

afterEach(async () => {
  if (child !== null && child.exitCode === null) {
    child.kill('SIGKILL');
    await once(child, 'exit');
  }
  child = null;
  await Promise.all(targets.map((t) => t.close()));
  targets = [];
});

function writeConfig(yaml: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'ferry-cli-')), 'ferry.yaml');
  writeFileSync(path, yaml);
  return path;
}

async function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const proc = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, FERRY_LOG_LEVEL: 'warn' } });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (d) => (stdout += d));
  proc.stderr.on('data', (d) => (stderr += d));
  const [code] = (await once(proc, 'exit')) as [number | null];
  return { code, stdout, stderr };
}

async function freePort(): Promise<number> {
  const server = net.createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  server.close();
  await once(server, 'close');
  return port;
}

const BROKEN = `workers: 1
listeners:
  - name: web
    protocol: HTTP
    address: 127.0.0.1:notaport
    defaultAction: { forward: { targetGroup: missing } }
targetGroups:
  - name: api
    algorithm: fastest_please
    targets:
      - { address: "localhost" }
  - name: api
    targets: []
`;

describe('ferry', () => {
  it('prints usage with --help and exits 0', async () => {
    const { code, stdout } = await runCli(['--help']);
    expect(code).toBe(0);
    expect(stdout).toContain('ferry validate --config');
  });

  describe('when the config is broken', () => {
    it('validate prints every error with its path and exits non-zero', async () => {
      const { code, stderr } = await runCli(['validate', '--config', writeConfig(BROKEN)]);
      expect(code).toBe(1);
      expect(stderr).toContain('listeners[0].address');
      expect(stderr).toContain('targetGroups[0].algorithm');
      expect(stderr).toContain('targetGroups[0].targets[0].address');
      expect(stderr).toMatch(/targetGroups\[1\]\.name.*duplicate/i);
      expect(stderr).toMatch(/missing/);
      expect(stderr.split('\n')[0]).toMatch(/: \d+ errors \[FERRY_ERR_CONFIG_INVALID\]$/);
    });

    it('refuses to start, starts nothing, names FERRY_ERR_CONFIG_INVALID and exits non-zero', async () => {
      const path = writeConfig(BROKEN);
      const { code, stderr } = await runCli(['--config', path]);
      expect(code).toBe(1);
      const [head] = stderr.split('\n');
      expect(head).toMatch(/ errors; nothing started$/);
      expect(head?.startsWith(`ferry: FERRY_ERR_CONFIG_INVALID: ${path}: `)).toBe(true);
      expect(stderr).toContain('targetGroups[0].algorithm');
    });
  });

  describe('when a listener port is in use', () => {
    it('exits non-zero with FERRY_ERR_LISTEN_FAILED and leaves the other port free', async () => {
      const squatter = net.createServer().listen(0, '127.0.0.1');
      await once(squatter, 'listening');
      const usedPort = (squatter.address() as net.AddressInfo).port;
      const otherPort = await freePort();
      const yaml = `workers: 1
admin: { address: "127.0.0.1:0" }
listeners:
  - { name: a, protocol: HTTP, address: "127.0.0.1:${otherPort}", defaultAction: { forward: { targetGroup: g } } }
  - { name: b, protocol: HTTP, address: "127.0.0.1:${usedPort}", defaultAction: { forward: { targetGroup: g } } }
targetGroups:
  - { name: g, targets: [ { address: "127.0.0.1:9" } ] }
`;
      const { code, stderr } = await runCli(['--config', writeConfig(yaml)]);
      squatter.close();
      expect(code).toBe(1);
      expect(stderr).toContain('FERRY_ERR_LISTEN_FAILED');
      // Nothing half-started: the first listener's port is free again.
      const probe = net.createServer().listen(otherPort, '127.0.0.1');
      await once(probe, 'listening');
      probe.close();
    });
  });

  describe('when it receives SIGTERM', () => {
    it('finishes the in-flight request and exits 0', async () => {
      targets = await startTargets(1);
      const port = await freePort();
      const yaml = `workers: 2
admin: { address: "127.0.0.1:0" }
listeners:
  - { name: web, protocol: HTTP, address: "127.0.0.1:${port}", defaultAction: { forward: { targetGroup: g } } }
targetGroups:
  - { name: g, targets: [ { address: "${targets[0]!.address}" } ] }
`;
      child = spawn(process.execPath, [CLI, '--config', writeConfig(yaml)], {
        env: { ...process.env, FERRY_LOG_LEVEL: 'info' },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let out = '';
      await new Promise<void>((resolve) =>
        child!.stdout!.on('data', (d) => {
          out += d;
          if (out.includes('ferry is ready')) resolve();
        }),
      );
      const pending = request(`http://127.0.0.1:${port}/hold`);
      const response = await pending;
      expect(targets[0]!.held).toHaveLength(1);
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      targets[0]!.release();
      expect(await response.body.text()).toContain('released');
      const [code] = (await exited) as [number];
      expect(code).toBe(0);
    });
  });
});

describe('ferry validate, what startup refuses (issue 10: https://github.com/ferry/ferry/issues/10)', () => {
  it('rejects a control port on a non-loopback address without a token, with its code', async () => {
    const { code, stderr } = await runCli([
      'validate',
      '--config',
      writeConfig(`listeners:
  - { name: web, address: "127.0.0.1:0", defaultAction: { fixedResponse: { statusCode: 200 } } }
control: { address: "0.0.0.0:9900" }
`),
    ]);
    expect(code).toBe(1);
    expect(stderr).toContain('FERRY_ERR_CONTROL_TOKEN_REQUIRED');
  });
});
