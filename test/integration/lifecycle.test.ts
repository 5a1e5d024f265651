/**
 * The pod lifecycle of a real `ferry` process: SIGHUP reloads, the config
 * file watcher (a ConfigMap `..data` symlink swap and an editor's rename),
 * SIGTERM's drain (/readyz 503 first, serving through the drain delay, every
 * in-flight request finished, exit 0) and the second signal that exits at
 * once. Every wait is on what Ferry logs or answers, never on a clock: an
 * order is asserted ("503 before the listeners close"), not a duration.
 * Durations are printed for the README.
 */
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Agent, request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { ctl, moreAnswers, startLoad, TOKEN } from '../helpers/control.ts';
import { type FerryProcess, freePort, type LogLine, logged, spawnFerry } from '../helpers/ferry-process.ts';
import { startTargets, type TestTarget } from '../helpers/targets.ts';

let ferry: FerryProcess | null = null;
let targets: TestTarget[] = [];

afterEach(async () => {
  await ferry?.kill();
  ferry = null;
  await Promise.all(targets.map((t) => t.close()));
  targets = [];
});

interface Ports {
  readonly listener: number;
  readonly admin: number;
  readonly control: number;
}

async function freePorts(): Promise<Ports> {
  const [listener, admin, control] = [await freePort(), await freePort(), await freePort()];
  return { listener: listener!, admin: admin!, control: control! };
}

/** One HTTP listener, round robin over `targets` with `weights` (a weight may be any YAML, to break it). */
function configText(
  ports: Ports,
  options: { weights: readonly unknown[]; extra?: string; tokenFile?: string },
): string {
  const targetLines = targets
    .map((t, i) => `      - { address: "${t.address}", weight: ${options.weights[i] ?? 1} }`)
    .join('\n');
  return `workers: 2
admin: { address: "127.0.0.1:${ports.admin}" }
control: { address: "127.0.0.1:${ports.control}"${options.tokenFile === undefined ? '' : `, tokenFile: "${options.tokenFile}"`} }
${options.extra ?? ''}
listeners:
  - name: web
    protocol: HTTP
    address: "127.0.0.1:${ports.listener}"
    defaultAction: { forward: { targetGroup: app } }
targetGroups:
  - name: app
    algorithm: round_robin
    healthCheck: { enabled: false }
    targets:
${targetLines}
`;
}

/** Which target answered each of `count` sequential requests on a fresh connection. */
async function answeredBy(url: string, count: number): Promise<string[]> {
  const agent = new Agent({ connections: 1 });
  const names: string[] = [];
  for (let i = 0; i < count; i++) {
    const response = await request(`${url}/`, { dispatcher: agent });
    await response.body.text();
    expect(response.statusCode).toBe(200);
    names.push(String(response.headers['x-target']));
  }
  await agent.close();
  return names;
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

const isRejection = (trigger: string) => (line: LogLine) =>
  line.msg.startsWith('config file rejected') && line['trigger'] === trigger;

describe('ferry on SIGHUP', () => {
  it('applies a changed weight, keeps serving the old config when the file is invalid, and loses no request under keep-alive load', async () => {
    targets = await startTargets(2);
    const ports = await freePorts();
    const dir = mkdtempSync(join(tmpdir(), 'ferry-sighup-'));
    const path = join(dir, 'ferry.yaml');
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, `${TOKEN}\n`);
    writeFileSync(path, configText(ports, { weights: [1, 1], tokenFile }));
    ferry = spawnFerry(['--config', path, '--no-watch-config']);
    await ferry.waitForLog(logged('ferry is ready'), 'ready');
    const url = `http://127.0.0.1:${ports.listener}`;
    expect(new Set(await answeredBy(url, 4))).toEqual(new Set(['t1', 't2']));
    const load = startLoad(url, 4, 5);
    await moreAnswers(load, 40);

    writeFileSync(path, configText(ports, { weights: [1, 0], tokenFile }));
    ferry.child.kill('SIGHUP');
    const applied = await ferry.waitForLog(
      logged('config file reloaded', { trigger: 'SIGHUP' }),
      'the reload',
    );
    expect(applied['weightsChanged']).toEqual([
      { targetGroup: 'app', address: targets[1]!.address, from: 1, to: 0 },
    ]);
    expect(new Set(await answeredBy(url, 10))).toEqual(new Set(['t1']));
    await moreAnswers(load, 40);

    writeFileSync(path, configText(ports, { weights: [1, '-3'], tokenFile }));
    ferry.child.kill('SIGHUP');
    const rejected = await ferry.waitForLog(isRejection('SIGHUP'), 'the rejection');
    expect(rejected['errors']).toEqual([
      expect.objectContaining({ path: 'targetGroups[0].targets[1].weight', message: expect.any(String) }),
    ]);
    expect(ferry.child.exitCode).toBeNull();
    expect(await statusOf(`http://127.0.0.1:${ports.admin}/readyz`)).toBe(200);
    expect(new Set(await answeredBy(url, 10))).toEqual(new Set(['t1'])); // the old config still serves
    await moreAnswers(load, 40);

    // The control port's reload takes the same path: the same line, the same errors.
    const viaControl = await ctl([
      '--control',
      `127.0.0.1:${ports.control}`,
      '--token-file',
      tokenFile,
      'reload',
    ]);
    expect(viaControl.code).toBe(1);
    const controlLine = await ferry.waitForLog(isRejection('control'), 'the control-port rejection');
    expect(controlLine.msg).toBe(rejected.msg);
    expect(controlLine['errors']).toEqual(rejected['errors']);

    await load.stop();
    expect(load.failures()).toEqual([]);
    expect(
      ferry.lines.filter((line) => line.msg === 'config file reloaded').map((l) => l['trigger']),
    ).toEqual(['SIGHUP']);
    // --no-watch-config: the file was rewritten twice, yet no watcher started or reloaded anything.
    expect(ferry.lines.some((line) => line.msg.startsWith('watching the config file'))).toBe(false);
    expect(ferry.lines.some((line) => line['trigger'] === 'file-watch')).toBe(false);
    // Every trigger counts in one place: one reload applied (SIGHUP), two rejected (SIGHUP, control port).
    const metrics = await (await fetch(`http://127.0.0.1:${ports.admin}/metrics`)).text();
    expect(metrics).toContain('ferry_config_reloads_total{outcome="applied"} 1\n');
    expect(metrics).toContain('ferry_config_reloads_total{outcome="rejected"} 2\n');
  });
});

describe('the config file watcher', () => {
  it('applies a ConfigMap-style ..data symlink swap, and rejects a swap to a broken config whole', async () => {
    targets = await startTargets(2);
    const ports = await freePorts();
    // The layout kubelet writes for a ConfigMap volume: ferry.yaml -> ..data/ferry.yaml, ..data -> ..<version>.
    const dir = mkdtempSync(join(tmpdir(), 'ferry-configmap-'));
    let version = 0;
    const publish = (text: string) => {
      const previous = `..v${version}`;
      version++;
      mkdirSync(join(dir, `..v${version}`));
      writeFileSync(join(dir, `..v${version}`, 'ferry.yaml'), text);
      symlinkSync(`..v${version}`, join(dir, '..data_tmp'));
      renameSync(join(dir, '..data_tmp'), join(dir, '..data')); // the atomic swap
      rmSync(join(dir, previous), { recursive: true, force: true });
    };
    publish(configText(ports, { weights: [1, 1] }));
    symlinkSync('..data/ferry.yaml', join(dir, 'ferry.yaml'));
    ferry = spawnFerry(['--config', join(dir, 'ferry.yaml')]);
    await ferry.waitForLog((line) => line.msg.startsWith('watching the config file'), 'the watch');
    const url = `http://127.0.0.1:${ports.listener}`;
    const load = startLoad(url, 4, 5);
    await moreAnswers(load, 40);

    const swappedAtMs = performance.now();
    publish(configText(ports, { weights: [1, 0] }));
    const applied = await ferry.waitForLog(
      logged('config file reloaded', { trigger: 'file-watch' }),
      'the reload',
    );
    console.log(`ConfigMap ..data swap applied after ${Math.round(performance.now() - swappedAtMs)} ms`);
    expect(applied['weightsChanged']).toEqual([
      { targetGroup: 'app', address: targets[1]!.address, from: 1, to: 0 },
    ]);
    expect(new Set(await answeredBy(url, 10))).toEqual(new Set(['t1']));

    publish(configText(ports, { weights: [1, 1] }).replace('algorithm: round_robin', 'algorithm: fastest'));
    const rejected = await ferry.waitForLog(isRejection('file-watch'), 'the rejection');
    expect(rejected['errors']).toEqual([expect.objectContaining({ path: 'targetGroups[0].algorithm' })]);
    expect(new Set(await answeredBy(url, 10))).toEqual(new Set(['t1'])); // nothing of the broken file applied
    expect(ferry.child.exitCode).toBeNull();
    await load.stop();
    expect(load.failures()).toEqual([]);
  });

  it("applies an editor's save: a new file renamed over the old one", async () => {
    targets = await startTargets(2);
    const ports = await freePorts();
    const dir = mkdtempSync(join(tmpdir(), 'ferry-editor-'));
    const path = join(dir, 'ferry.yaml');
    writeFileSync(path, configText(ports, { weights: [1, 1] }));
    ferry = spawnFerry(['--config', path]);
    await ferry.waitForLog((line) => line.msg.startsWith('watching the config file'), 'the watch');
    const savedAtMs = performance.now();
    writeFileSync(join(dir, '.ferry.yaml.swp'), configText(ports, { weights: [0, 1] }));
    renameSync(join(dir, '.ferry.yaml.swp'), path);
    const applied = await ferry.waitForLog(
      logged('config file reloaded', { trigger: 'file-watch' }),
      'the reload',
    );
    console.log(`editor rename applied after ${Math.round(performance.now() - savedAtMs)} ms`);
    expect(applied['weightsChanged']).toEqual([
      { targetGroup: 'app', address: targets[0]!.address, from: 1, to: 0 },
    ]);
    expect(new Set(await answeredBy(`http://127.0.0.1:${ports.listener}`, 10))).toEqual(new Set(['t2']));
  });
});

describe('ferry on SIGTERM', () => {
  it('turns /readyz 503 before the listeners close, serves through the drain delay, finishes in-flight requests and exits 0', async () => {
    targets = await startTargets(1);
    const ports = await freePorts();
    const dir = mkdtempSync(join(tmpdir(), 'ferry-sigterm-'));
    writeFileSync(
      join(dir, 'ferry.yaml'),
      configText(ports, { weights: [1], extra: 'drainDelay: 3s\nshutdownGracePeriod: 20s' }),
    );
    ferry = spawnFerry(['--config', join(dir, 'ferry.yaml'), '--no-watch-config']);
    await ferry.waitForLog(logged('ferry is ready'), 'ready');
    const url = `http://127.0.0.1:${ports.listener}`;
    const readyz = `http://127.0.0.1:${ports.admin}/readyz`;
    expect(await statusOf(readyz)).toBe(200);
    const load = startLoad(url, 4, 5);
    const holding = new Agent({ connections: 3 });
    const inFlight = Array.from({ length: 3 }, () => request(`${url}/hold`, { dispatcher: holding }));
    await Promise.all(inFlight); // heads arrived: the target holds their bodies
    await moreAnswers(load, 40);

    const signalledAtMs = performance.now();
    ferry.child.kill('SIGTERM');
    let readyzStatus = 200;
    for (let i = 0; i < 1_000 && readyzStatus === 200; i++) readyzStatus = await statusOf(readyz);
    console.log(`/readyz answered 503 ${Math.round(performance.now() - signalledAtMs)} ms after SIGTERM`);
    expect(readyzStatus).toBe(503);
    // Order, not time: readiness dropped while the drain delay still runs (listeners open).
    const isClosing = (line: LogLine) => line.msg.startsWith('drain: listeners closing');
    expect(ferry.lines.some(isClosing)).toBe(false);
    load.setPhase('draining');
    await moreAnswers(load, 20);
    expect(await statusOf(`${url}/`)).toBe(200); // a new connection is still served during the delay
    expect(ferry.lines.some(isClosing)).toBe(false);
    // Clients that follow readiness stop sending; what they sent during the delay all succeeded.
    await load.stop();
    expect(load.answers.filter((a) => a.phase === 'draining').length).toBeGreaterThan(0);
    expect(load.failures()).toEqual([]);

    await ferry.waitForLog(isClosing, 'the stop');
    targets[0]!.release();
    const bodies = await Promise.all(inFlight.map(async (pending) => (await pending).body.text()));
    expect(bodies).toEqual(['t1 released\n', 't1 released\n', 't1 released\n']);
    expect(await ferry.exited).toBe(0);
    expect(ferry.lines.some((line) => line.msg === 'drained: every worker finished')).toBe(true);
    await holding.close();
  });

  describe('when a request in flight at SIGTERM finishes quickly', () => {
    // The grace period (120 s) is four times this test's timeout: waiting it out fails by timeout.
    it('exits 0 as soon as that request is done, long before the grace period', {
      timeout: 30_000,
    }, async () => {
      targets = await startTargets(1);
      const ports = await freePorts();
      const dir = mkdtempSync(join(tmpdir(), 'ferry-sigterm-quick-'));
      writeFileSync(
        join(dir, 'ferry.yaml'),
        configText(ports, { weights: [1], extra: 'drainDelay: 0s\nshutdownGracePeriod: 120s' }),
      );
      ferry = spawnFerry(['--config', join(dir, 'ferry.yaml'), '--no-watch-config']);
      await ferry.waitForLog(logged('ferry is ready'), 'ready');
      const url = `http://127.0.0.1:${ports.listener}`;
      // A keep-alive client that keeps idle connections (10 min): one request in flight, one idle
      // connection next to it. Ferry must close both, not wait for the client to.
      const client = new Agent({ connections: 2, keepAliveTimeout: 600_000, keepAliveMaxTimeout: 600_000 });
      const idle = await request(`${url}/`, { dispatcher: client });
      await idle.body.text();
      const held = await request(`${url}/hold`, { dispatcher: client });
      ferry.child.kill('SIGTERM');
      const closing = await ferry.waitForLog(
        (line) => line.msg.startsWith('drain: listeners closing'),
        'the stop',
      );
      expect(closing['inFlight']).toBe(1);
      targets[0]!.release();
      expect(await held.body.text()).toBe('t1 released\n');
      expect(await ferry.exited).toBe(0);
      const drained = ferry.lines.find((line) => line.msg.startsWith('drained:'));
      expect(drained).toMatchObject({
        msg: 'drained: every worker finished',
        isComplete: true,
        inFlightAtEnd: 0,
      });
      await client.close();
    });
  });

  it('exits at once on a second signal during the drain delay', async () => {
    targets = await startTargets(1);
    const ports = await freePorts();
    const dir = mkdtempSync(join(tmpdir(), 'ferry-second-'));
    writeFileSync(join(dir, 'ferry.yaml'), configText(ports, { weights: [1], extra: 'drainDelay: 10m' }));
    ferry = spawnFerry(['--config', join(dir, 'ferry.yaml'), '--no-watch-config']);
    await ferry.waitForLog(logged('ferry is ready'), 'ready');
    ferry.child.kill('SIGTERM');
    await ferry.waitForLog((line) => line.msg.startsWith('draining: /readyz answers 503'), 'the drain');
    ferry.child.kill('SIGINT');
    expect(await ferry.exited).toBe(1);
    const messages = ferry.lines.map((line) => line.msg);
    expect(messages).toContain('second signal during the drain: exiting now, in-flight requests are cut off');
    expect(messages.some((msg) => msg.startsWith('drain: listeners closing'))).toBe(false); // the 10-minute delay never ended
  });
});

describe('ferry log settings', () => {
  async function exitOf(
    args: string[],
    env: Record<string, string>,
  ): Promise<{ code: number | null; stderr: string }> {
    const child = spawnFerry(args, env);
    const code = await child.exited;
    return { code, stderr: child.stderr() };
  }

  it('refuses an unknown FERRY_LOG_LEVEL with one clear line and exit 1', async () => {
    const { code, stderr } = await exitOf([], { FERRY_LOG_LEVEL: 'verbose' });
    expect(code).toBe(1);
    expect(stderr).toBe(
      'ferry: FERRY_LOG_LEVEL: unknown log level "verbose"; expected one of trace | debug | info | warn | error | fatal | silent; nothing started\n',
    );
  });

  it('refuses an unknown --log-level or --log-format the same way', async () => {
    const level = await exitOf(['--log-level', 'loud'], {});
    expect(level.code).toBe(1);
    expect(level.stderr).toMatch(
      /^ferry: --log-level: unknown log level "loud"; expected one of trace \| .*\n$/,
    );
    const format = await exitOf(['--log-format', 'xml'], {});
    expect(format.code).toBe(1);
    expect(format.stderr).toBe(
      'ferry: --log-format: unknown format "xml"; expected one of json | pretty; nothing started\n',
    );
  });

  it('prints human-readable lines with --log-format pretty, and --log-level wins over FERRY_LOG_LEVEL', async () => {
    targets = await startTargets(1);
    const ports = await freePorts();
    const dir = mkdtempSync(join(tmpdir(), 'ferry-pretty-'));
    writeFileSync(join(dir, 'ferry.yaml'), configText(ports, { weights: [1] }));
    ferry = spawnFerry(
      [
        '--config',
        join(dir, 'ferry.yaml'),
        '--no-watch-config',
        '--log-format',
        'pretty',
        '--log-level',
        'info',
      ],
      { FERRY_LOG_LEVEL: 'error' },
    );
    let out = '';
    await new Promise<void>((resolve) =>
      ferry!.child.stdout!.on('data', (chunk: Buffer) => {
        out += chunk;
        if (out.includes('ferry is ready')) resolve();
      }),
    );
    const line = out.split('\n').find((text) => text.includes('ferry is ready'))!;
    expect(line.startsWith('{')).toBe(false);
    expect(line).toMatch(/INFO/);
    expect(ferry.lines).toEqual([]); // not one JSON line
  });
});
