/**
 * `ferryctl drain` and `ferryctl undrain` against a running Ferry: the drain
 * a Kubernetes preStop hook starts. /readyz turns 503 at once while Ferry
 * keeps serving for the drain delay; undrain during the delay makes it ready
 * again; once the listeners close, undrain is refused.
 */

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { CTL, type CtlRun, configDir, type FileFerry, startFileFerry } from '../helpers/control.ts';
import { startTargets, type TestTarget } from '../helpers/targets.ts';

let ferry: FileFerry | null = null;
let targets: TestTarget[] = [];

afterEach(async () => {
  await ferry?.stop(1_000);
  ferry = null;
  await Promise.all(targets.map((t) => t.close()));
  targets = [];
});

function yaml(target: string): string {
  return `workers: 2
admin: { address: "127.0.0.1:0" }
control: { address: "127.0.0.1:0", tokenFile: ferry.token }
drainDelay: 10m
listeners:
  - { name: web, protocol: HTTP, address: "127.0.0.1:0", defaultAction: { forward: { targetGroup: app } } }
targetGroups:
  - { name: app, healthCheck: { enabled: false }, targets: [ { address: "${target}" } ] }
`;
}

/** Start ferryctl; `done` resolves when it exits (drain waits for the whole drain). */
function startCtl(ferryAt: FileFerry, ...args: string[]): { done: Promise<CtlRun> } {
  const child = spawn(
    process.execPath,
    [CTL, '--control', ferryAt.control, '--token-file', join(ferryAt.configPath, '../ferry.token'), ...args],
    { env: { ...process.env, FERRY_CONTROL: '', FERRY_CONTROL_TOKEN: '' } },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stderr.on('data', (chunk) => (stderr += chunk));
  return { done: once(child, 'exit').then(([code]) => ({ code: code as number | null, stdout, stderr })) };
}

async function statusOf(url: string): Promise<number> {
  const agent = new Agent({ connections: 1 });
  try {
    const response = await request(url, { dispatcher: agent });
    await response.body.text();
    return response.statusCode;
  } finally {
    await agent.close();
  }
}

async function readyzUntil(ferryAt: FileFerry, status: number): Promise<number> {
  let seen = 0;
  for (let i = 0; i < 1_000 && seen !== status; i++)
    seen = await statusOf(`http://${ferryAt.adminAddress}/readyz`);
  return seen;
}

describe('ferryctl drain', () => {
  describe('when undrain comes during the drain delay', () => {
    it('turns /readyz 503 while still serving, then undrain makes it ready again and the drain reports it was cancelled', async () => {
      targets = await startTargets(1);
      const dir = configDir();
      ferry = await startFileFerry(dir, yaml(targets[0]!.address));
      const draining = startCtl(ferry, 'drain');
      expect(await readyzUntil(ferry, 503)).toBe(503);
      expect(ferry.drain.phase).toBe('draining');
      expect(await statusOf(`${ferry.url}/`)).toBe(200); // still serving, new connections too

      const undrained = await startCtl(ferry, 'undrain').done;
      expect(undrained).toEqual({
        code: 0,
        stdout: 'undrained: Ferry serves and /readyz answers 200 again\n',
        stderr: '',
      });
      const drained = await draining.done;
      expect(drained.code).toBe(0);
      expect(drained.stdout).toMatch(
        /^drain cancelled by undrain after [\d.]+ (ms|s): Ferry serves and is ready again\n$/,
      );
      expect(await statusOf(`http://${ferry.adminAddress}/readyz`)).toBe(200);
      expect(await statusOf(`${ferry.url}/`)).toBe(200);

      const nothing = await startCtl(ferry, 'undrain').done;
      expect(nothing.stdout).toBe('not draining: nothing to undo\n');
    });
  });

  describe('when the listeners have closed', () => {
    it('refuses undrain: only a restart serves again', async () => {
      targets = await startTargets(1);
      const dir = configDir();
      ferry = await startFileFerry(dir, yaml(targets[0]!.address));
      const drained = await startCtl(ferry, 'drain', '--delay', '0s', '--grace', '5s').done;
      expect(drained.stdout).toMatch(/^drained in /);
      expect(ferry.drain.phase).toBe('stopped');
      const late = await startCtl(ferry, 'undrain').done;
      expect(late.code).toBe(1);
      expect(late.stderr).toBe(
        'ferryctl: FERRY_ERR_CONTROL_CONFLICT: too late to undrain: the listeners are closed (the drain delay is over); restart Ferry to serve again\n',
      );
      expect(await statusOf(`http://${ferry.adminAddress}/readyz`)).toBe(503);
    });
  });
});
