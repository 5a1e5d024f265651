/**
 * Credentials in the config never leave Ferry in what it shows (issue 10,
 * "Semantics and secrets"): a real Ferry (a real worker thread, real sockets,
 * a Unix-socket control port) runs a config whose tracing endpoint carries
 * `user:password@` and whose health-check path carries `?token=`; every
 * output is read whole and must not hold either secret: `/status.json`, the
 * status page, `/metrics`, every pino line from start through a good and a
 * rejected reload, ferryctl's replies (stats, targets, explain, reload), and
 * `ferry validate` and `ferry` itself on a good and a broken config.
 *
 * https://github.com/ferry/ferry/issues/10
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configDir, ctl, type FileFerry, startFileFerry } from '../helpers/control.ts';
import { closedPort } from '../helpers/raw-target.ts';
import { startTarget, type TestTarget } from '../helpers/targets.ts';

const CLI = join(import.meta.dirname, '../../src/cli/ferry.ts');
/** The secrets; none may appear in any output. */
const PASSWORD = 'pw-Zq7s3cr3t';
const TOKEN = 'tok-Xy9s3cr3t';
const RELOADED_PASSWORD = 'pw-Rl0ad3d';
const BROKEN_PASSWORD = 'pw-Br0k3n';
const SECRETS = [PASSWORD, TOKEN, RELOADED_PASSWORD, BROKEN_PASSWORD];

let dir: string;
let ferry: FileFerry;
let target: TestTarget;
let collectorPort: number;
/** Every pino line Ferry wrote, as text. */
const logText: string[] = [];

function config(endpoint: string, interval = '5s'): string {
  return `workers: 1
admin: { address: "127.0.0.1:0" }
control: { address: "unix:${join(dir, 'ctl.sock')}", tokenFile: ferry.token }
tracing: { enabled: true, endpoint: "${endpoint}" }
listeners:
  - { name: web, protocol: HTTP, address: "127.0.0.1:0", defaultAction: { forward: { targetGroup: app } } }
targetGroups:
  - name: app
    healthCheck: { path: "/health?probe=1&token=${TOKEN}", interval: ${interval} }
    targets: [ { address: "${target.address}" } ]
`;
}

function ctlRun(...args: string[]) {
  return ctl(['--config', join(dir, 'ferry.yaml'), ...args]);
}

async function runCli(args: string[]): Promise<string> {
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, FERRY_LOG_LEVEL: 'info' } });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  await once(child, 'exit');
  return output;
}

async function adminGet(path: string): Promise<string> {
  const response = await fetch(`http://${ferry.adminAddress}${path}`);
  return response.text();
}

function expectNoSecret(text: string): void {
  for (const secret of SECRETS) expect(text).not.toContain(secret);
}

beforeAll(async () => {
  dir = configDir();
  target = await startTarget('t1');
  collectorPort = await closedPort();
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logText.push(chunk.toString());
      done();
    },
  });
  ferry = await startFileFerry(dir, config(`https://ferry-user:${PASSWORD}@127.0.0.1:${collectorPort}`), {
    log: pino({ level: 'debug' }, sink),
  });
  await fetch(`${ferry.url}/`).then((response) => response.text());
});

afterAll(async () => {
  await ferry?.stop(0);
  await target?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('credential redaction (issue 10: https://github.com/ferry/ferry/issues/10)', () => {
  describe('when the config holds a tracing endpoint with user:password@ and a health-check ?token=', () => {
    it('shows the endpoint on /status.json redacted, and neither secret', async () => {
      const text = await adminGet('/status.json');
      expectNoSecret(text);
      const doc = JSON.parse(text) as { tracing: { endpoint: string } };
      expect(doc.tracing.endpoint).toBe(`https://<redacted>@127.0.0.1:${collectorPort}/v1/traces`);
    });

    it('keeps both out of the status page and /metrics', async () => {
      expectNoSecret(await adminGet('/'));
      expectNoSecret(await adminGet('/metrics'));
    });

    it('keeps both out of ferryctl stats, targets and explain, as text and JSON', async () => {
      for (const args of [
        ['stats'],
        ['stats', '--json'],
        ['targets'],
        ['targets', '--json'],
        ['explain', 'app', target.address],
        ['explain', 'app', target.address, '--json'],
      ]) {
        const run = await ctlRun(...args);
        expect(run.code, args.join(' ')).toBe(0);
        expectNoSecret(run.stdout + run.stderr);
      }
      // The health-check path is still shown, with the token's value taken out.
      expect((await ctlRun('explain', 'app', target.address, '--json')).stdout).toContain(
        '/health?probe=1&token=<redacted>',
      );
    });

    it('keeps both out of every log line from start through a good and a rejected reload, and out of ferryctl reload', async () => {
      ferry.writeConfig(config(`https://ferry-user:${PASSWORD}@127.0.0.1:${collectorPort}`, '6s'));
      const good = await ctlRun('reload');
      expect(good.code, good.stderr).toBe(0);
      // Tracing changes need a restart: refused, naming the key but not the value.
      ferry.writeConfig(config(`https://ferry-user:${RELOADED_PASSWORD}@127.0.0.1:${collectorPort}`));
      const restartNeeded = await ctlRun('reload');
      expect(restartNeeded.code).not.toBe(0);
      ferry.writeConfig(config(`ftp://ferry-user:${BROKEN_PASSWORD}@127.0.0.1:${collectorPort}`));
      const rejected = await ctlRun('reload');
      expect(rejected.code).not.toBe(0);
      expect(rejected.stderr).toContain('tracing.endpoint');
      for (const run of [good, restartNeeded, rejected]) expectNoSecret(run.stdout + run.stderr);
      const lines = logText.join('');
      expect(lines).toContain('config file rejected');
      expectNoSecret(lines);
    });
  });

  describe('when ferry validate or ferry reads such a config', () => {
    it('prints neither secret for a good config, nor for a broken one it quotes', async () => {
      const goodPath = join(dir, 'good.yaml');
      writeFileSync(goodPath, config(`https://ferry-user:${PASSWORD}@127.0.0.1:${collectorPort}`));
      const brokenPath = join(dir, 'broken.yaml');
      writeFileSync(
        brokenPath,
        config(`ftp://ferry-user:${BROKEN_PASSWORD}@127.0.0.1:${collectorPort}`).replace(
          `token=${TOKEN}`,
          `token=${TOKEN} x`,
        ),
      );
      const validGood = await runCli(['validate', '--config', goodPath]);
      expect(validGood).toContain('config OK');
      const validBroken = await runCli(['validate', '--config', brokenPath]);
      expect(validBroken).toContain('tracing.endpoint');
      expect(validBroken).toContain('<redacted>');
      const startBroken = await runCli(['--config', brokenPath]);
      expect(startBroken).toContain('tracing.endpoint');
      for (const output of [validGood, validBroken, startBroken]) expectNoSecret(output);
    });
  });
});
