/**
 * The container image, built and run here (deploy/image.sh: podman with a
 * locally made Node 24 base, as the machines reach no container registry).
 * Skipped, with the reason printed, only where no container engine can run.
 * It serves the demo, passes its own readiness probe (the Deployment's
 * readinessProbe path on its probe port), runs as the non-root user on a
 * read-only root filesystem, and stops with exit 0 on its STOPSIGNAL.
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { freePort } from '../helpers/ferry-process.ts';

const run = promisify(execFile);
const REPO = join(import.meta.dirname, '../..');
const SCRIPT = join(REPO, 'deploy/image.sh');
const IMAGE = process.env['FERRY_IMAGE'] ?? 'localhost/ferry:dev';

function engineProblem(): string | null {
  try {
    execFileSync('bash', [SCRIPT, 'check'], { encoding: 'utf8', stdio: 'pipe' });
    return null;
  } catch (error) {
    const { status, stdout } = error as { status: number; stdout: string };
    if (status === 3) return stdout.trim();
    throw error;
  }
}
const PROBLEM = engineProblem();
if (PROBLEM !== null) console.warn(`skipping the image test: ${PROBLEM}`);

async function statusOf(url: string): Promise<number> {
  try {
    const response = await request(url);
    await response.body.text();
    return response.statusCode;
  } catch {
    return 0;
  }
}

describe.skipIf(PROBLEM !== null)('the container image', () => {
  it('builds, serves the demo, passes its readiness probe, and stops with exit 0', async () => {
    const build = await run('bash', [SCRIPT, 'build'], { maxBuffer: 64 * 1024 * 1024 });
    expect(build.stdout).toContain('Successfully tagged');
    const sizeBytes = Number((await run('bash', [SCRIPT, 'size'])).stdout.trim());
    console.log(`image ${IMAGE}: ${(sizeBytes / 1e6).toFixed(0)} MB`);

    // The Deployment's readiness probe: its path, on the probe port the config names.
    const deployment = parseYaml(readFileSync(join(REPO, 'deploy/kubernetes/deployment.yaml'), 'utf8'));
    const sidecar = deployment.spec.template.spec.initContainers[0];
    const probePath = sidecar.readinessProbe.httpGet.path as string;

    // The demo (demo: true), on free ports: the container shares the host's network here.
    const [listener, admin, probe, target] = [
      await freePort(),
      await freePort(),
      await freePort(),
      await freePort(),
    ];
    const dir = mkdtempSync(join(tmpdir(), 'ferry-image-'));
    chmodSync(dir, 0o755);
    writeFileSync(
      join(dir, 'ferry.yaml'),
      `demo: true
workers: 2
admin: { address: "127.0.0.1:${admin}", probeAddress: "127.0.0.1:${probe}" }
drainDelay: 1s
listeners:
  - { name: web, protocol: HTTP, address: "127.0.0.1:${listener}", defaultAction: { forward: { targetGroup: demo } } }
targetGroups:
  - { name: demo, targets: [ { address: "127.0.0.1:${target}" } ] }
`,
      { mode: 0o644 },
    );
    const name = `ferry-image-test-${process.pid}`;
    const container = spawn(
      'bash',
      [
        SCRIPT,
        'run',
        '--name',
        name,
        '-v',
        `${dir}:/etc/ferry:ro`,
        IMAGE,
        '--config',
        '/etc/ferry/ferry.yaml',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    container.stdout.on('data', (chunk) => (output += chunk));
    container.stderr.on('data', (chunk) => (output += chunk));
    const exited = once(container, 'exit');
    try {
      let ready = 0;
      for (let i = 0; i < 600 && ready !== 200 && container.exitCode === null; i++) {
        ready = await statusOf(`http://127.0.0.1:${probe}${probePath}`);
        if (ready !== 200) await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(ready, output).toBe(200);
      const response = await request(`http://127.0.0.1:${listener}/`);
      expect(response.statusCode).toBe(200);
      expect(response.headers['x-demo-target']).toBe('demo-1');
      await response.body.text();
      const user = await run('bash', [
        SCRIPT,
        'podman',
        'exec',
        name,
        'node',
        '-e',
        'console.log(process.getuid())',
      ]);
      expect(user.stdout.trim()).toBe('65532');
      const write = await run('bash', [
        SCRIPT,
        'podman',
        'exec',
        name,
        'node',
        '-e',
        "try { require('fs').writeFileSync('/app/x', 'x'); console.log('wrote') } catch (e) { console.log(e.code) }",
      ]);
      expect(write.stdout.trim()).toBe('EROFS');
      await run('bash', [SCRIPT, 'podman', 'stop', '--time', '30', name]);
      expect((await exited)[0], output).toBe(0);
      expect(output).toContain('drained: every worker finished');
    } finally {
      if (container.exitCode === null) {
        await run('bash', [SCRIPT, 'podman', 'rm', '--force', name]).catch(() => undefined);
      }
    }
  });
});
