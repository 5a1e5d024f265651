/**
 * The package installs and runs like a real one: `npm pack` builds dist/,
 * and in an empty folder `npm install ./ferry-*.tgz` then `npx ferry --help`,
 * `ferry validate` and `ferryctl --help` work on this Node (24), from compiled JavaScript.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const REPO = join(import.meta.dirname, '../..');
// npm and npx resolve `node` from PATH: put this test's Node (24) first.
const env = { ...process.env, PATH: `${dirname(process.execPath)}${delimiter}${process.env['PATH'] ?? ''}` };

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
  }, 180_000);
});
