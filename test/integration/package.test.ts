/**
 * The package installs and runs like a real one: `npm pack` builds dist/,
 * and in an empty folder `npm install ./ferry-*.tgz` then `npx ferry --help`,
 * `ferry validate`, `ferryctl --help` and the demo work on this Node (24),
 * from compiled JavaScript; every file the README links to is in the
 * package; and on a Node older than `engines` (the system Node here, when it
 * is one) both bins print one line and exit 1.
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import { isNodeVersionAtLeast, NODE_VERSION_MIN } from '../../src/cli/node-check.ts';
import { freePort } from '../helpers/ferry-process.ts';

const run = promisify(execFile);
const REPO = join(import.meta.dirname, '../..');
// npm and npx resolve `node` from PATH: put this test's Node (24) first.
const env = { ...process.env, PATH: `${dirname(process.execPath)}${delimiter}${process.env['PATH'] ?? ''}` };

/** A `node` on PATH older than NODE_VERSION_MIN (a typical system Node), or null. */
function oldNode(): { path: string; version: string } | null {
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    const path = join(dir, 'node');
    if (dir === '' || !existsSync(path)) continue;
    try {
      const version = execFileSync(path, ['--version'], { encoding: 'utf8' }).trim();
      if (!isNodeVersionAtLeast(version, NODE_VERSION_MIN)) return { path, version };
    } catch {
      // not runnable: look further
    }
  }
  return null;
}
const OLD_NODE = oldNode();
if (OLD_NODE === null)
  console.warn(`no Node older than ${NODE_VERSION_MIN} on PATH: the old-Node check is skipped`);

/** Relative link targets of README.md (files and folders), without anchors. */
function readmeLinks(): string[] {
  const text = readFileSync(join(REPO, 'README.md'), 'utf8');
  const links = [...text.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)].map((m) => m[1]!);
  return [...new Set(links.filter((link) => !/^[a-z]+:/.test(link)))];
}

describe('npm pack', () => {
  it('produces a package whose ferry binary runs from an empty folder', async () => {
    const packDir = mkdtempSync(join(tmpdir(), 'ferry-pack-'));
    await run('npm', ['pack', '--pack-destination', packDir], { cwd: REPO, env });
    const tarball = readdirSync(packDir).find((name) => name.endsWith('.tgz'));
    expect(tarball).toMatch(/^ferry-.*\.tgz$/);
    const installDir = mkdtempSync(join(tmpdir(), 'ferry-install-'));
    await run('npm', ['init', '-y'], { cwd: installDir, env });
    await run('npm', ['install', '--no-audit', '--no-fund', join(packDir, tarball!)], {
      cwd: installDir,
      env,
    });
    const help = await run('npx', ['ferry', '--help'], { cwd: installDir, env });
    expect(help.stdout).toContain('ferry validate --config');
    const validate = await run('npx', ['ferry', 'validate', '--config', join(REPO, 'examples/ferry.yaml')], {
      cwd: installDir,
      env,
    });
    expect(validate.stdout).toContain('config OK');
    const ctl = await run('npx', ['ferryctl', '--help'], { cwd: installDir, env });
    expect(ctl.stdout).toContain('failover');

    // The demo, from the installed bin, on free ports.
    const [listener, admin, demoTarget] = [await freePort(), await freePort(), await freePort()];
    writeFileSync(
      join(installDir, 'demo.yaml'),
      `demo: true
workers: 1
admin: { address: "127.0.0.1:${admin}" }
listeners:
  - { name: web, protocol: HTTP, address: "127.0.0.1:${listener}", defaultAction: { forward: { targetGroup: demo } } }
targetGroups:
  - { name: demo, targets: [ { address: "127.0.0.1:${demoTarget}" } ] }
`,
    );
    const demo = spawn(join(installDir, 'node_modules/.bin/ferry'), ['--config', 'demo.yaml'], {
      cwd: installDir,
      env,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    await new Promise<void>((resolve, reject) => {
      demo.stdout.on('data', (chunk) => {
        out += chunk;
        if (out.includes('ferry is ready')) resolve();
      });
      demo.once('exit', (code) => reject(new Error(`the demo exited (${code}): ${out}`)));
    });
    const response = await request(`http://127.0.0.1:${listener}/`);
    expect(response.statusCode).toBe(200);
    expect(response.headers['x-demo-target']).toBe('demo-1');
    await response.body.text();
    const exited = once(demo, 'exit');
    demo.kill('SIGTERM');
    expect((await exited)[0]).toBe(0);

    // Every file the README links to ships in the package, so the links work from the package page.
    const installed = join(installDir, 'node_modules/ferry');
    for (const link of readmeLinks()) expect(existsSync(join(installed, link)), link).toBe(true);
    expect(existsSync(join(installed, 'LICENSE'))).toBe(true);

    if (OLD_NODE !== null) {
      // Installed and run under an older Node: one line that says what to do, exit 1, no stack trace.
      const oldEnv = {
        ...process.env,
        PATH: `${dirname(OLD_NODE.path)}${delimiter}${process.env['PATH'] ?? ''}`,
      };
      for (const bin of ['ferry', 'ferryctl']) {
        const failed = await run(join(installDir, 'node_modules/.bin', bin), ['--help'], {
          cwd: installDir,
          env: oldEnv,
        }).then(
          () => null,
          (error: { code: number; stdout: string; stderr: string }) => error,
        );
        expect(failed, `${bin} under ${OLD_NODE.version}`).not.toBeNull();
        expect(failed!.code).toBe(1);
        expect(failed!.stdout).toBe('');
        expect(failed!.stderr).toBe(
          `${bin}: needs Node.js >= ${NODE_VERSION_MIN}, found ${OLD_NODE.version}; install Node.js 24 LTS (https://nodejs.org/en/download, or \`nvm install 24\`)\n`,
        );
      }
    }
  }, 240_000);
});
