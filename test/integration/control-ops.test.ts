/**
 * The control operations through `ferryctl`, against a real Ferry (2 worker
 * threads) on a Unix-socket control port found through `--config`: targets,
 * register, set-weight, deregister (with its drain followed to the end),
 * set-attributes, stats, reload (broken: rejected whole; good: applied with
 * draining) and drain — under continuous keep-alive load, which must not
 * lose a request.
 */
import { once } from 'node:events';
import { statSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ReleaseEvent } from '../../src/health/index.ts';
import {
  configDir,
  countPhases,
  ctl,
  type FileFerry,
  type Load,
  moreAnswers,
  startFileFerry,
  startLoad,
} from '../helpers/control.ts';
import { startTarget, startTargets, type TestTarget } from '../helpers/targets.ts';

let ferry: FileFerry;
let dir: string;
let targets: TestTarget[];
let extra: TestTarget;
let load: Load;
let counts: Map<string, Map<string, number>>;

function yaml(apiTargets: readonly TestTarget[], apiYaml = ''): string {
  return `workers: 2
admin: { address: "127.0.0.1:0" }
control: { address: "unix:${join(dir, 'ctl.sock')}", tokenFile: ferry.token }
listeners:
  - name: web
    protocol: HTTP
    address: "127.0.0.1:0"
    defaultAction: { forward: { targetGroup: api } }
targetGroups:
  - name: api
    healthCheck: { enabled: false }
    deregistrationDelay: 10s
${apiYaml}
    targets:
${apiTargets.map((t) => `      - { address: "${t.address}" }`).join('\n')}
`;
}

beforeAll(async () => {
  dir = configDir();
  targets = await startTargets(3, 't');
  extra = await startTarget('x');
  counts = countPhases([...targets, extra]);
  ferry = await startFileFerry(dir, yaml(targets.slice(0, 2)));
  load = startLoad(ferry.url, 6, 10);
  await moreAnswers(load, 100);
});

afterAll(async () => {
  await load?.stop();
  await ferry?.stop(1_000);
  await Promise.all([...(targets ?? []), extra].filter(Boolean).map((t) => t.close()));
});

function run(...args: string[]) {
  return ctl(['--config', join(dir, 'ferry.yaml'), ...args]);
}

function received(name: string, phase: string): number {
  return counts.get(name)?.get(phase) ?? 0;
}

describe('ferryctl', () => {
  it('finds the port and token with --config (a 0600 Unix socket) and prints every target', async () => {
    expect(statSync(join(dir, 'ctl.sock')).mode & 0o777).toBe(0o600);
    const table = await run('targets');
    expect(table.stderr).toBe('');
    expect(table.code).toBe(0);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe('target group api (round_robin)');
    expect(lines[1]).toMatch(/^ {2}TARGET +STATE +REASON +CONNS +IN-FLIGHT +LATENCY +WEIGHT +DESCRIPTION$/);
    expect(lines[2]).toMatch(
      new RegExp(
        `^  ${targets[0]!.address} +unavailable +Target\\.HealthCheckDisabled +\\d+ +\\d+ +[\\d.]+ms +1 +Health checks are disabled`,
      ),
    );
    const json = JSON.parse((await run('targets', '--json')).stdout);
    expect(json.targetGroups[0].targets.map((t: { address: string }) => t.address)).toEqual(
      targets.slice(0, 2).map((t) => t.address),
    );
  });

  it('register adds a target that takes traffic, set-weight 0 stops new traffic to it, deregister drains it until it is gone', async () => {
    const registered = await run('register', 'api', `${extra.address}:2`);
    expect(registered.stdout).toBe(`registered ${extra.address} in api (weight 2): unavailable\n`);
    load.setPhase('registered');
    await moreAnswers(load, 200);
    expect(received('x', 'registered')).toBeGreaterThan(0);

    const weighed = await run('set-weight', 'api', extra.address, '0');
    expect(weighed.stdout).toBe(`api ${extra.address}: weight 2 -> 0 (effective 0)\n`);
    load.setPhase('weight-0');
    await moreAnswers(load, 200);
    expect(received('x', 'weight-0')).toBe(0);

    load.setPhase('deregistering');
    const deregistered = await run('deregister', 'api', extra.address);
    expect(deregistered.code).toBe(0);
    expect(deregistered.stdout).toMatch(
      new RegExp(
        `^draining ${extra.address.replaceAll('.', '\\.')} from api: \\d+ in flight, deadline in [\\d.]+ s\\n(.*\\n)*deregistered ${extra.address.replaceAll('.', '\\.')} \\(drained in [\\d.]+ (ms|s)\\)\\n$`,
      ),
    );
    expect(ferry.health.target('api', extra.address)).toBeUndefined();
    expect(load.failures()).toEqual([]);
  });

  it('set-attributes changes attributes live, and refuses what the config would refuse, with its message', async () => {
    const changed = await run(
      'set-attributes',
      'api',
      'algorithm=least_connections',
      'deregistrationDelay=5s',
    );
    expect(changed.stdout).toBe(
      'api: algorithm (default) -> "least_connections"\napi: deregistrationDelay "10s" -> "5s"\n',
    );
    expect(ferry.config().targetGroups[0]).toMatchObject({
      algorithm: 'least_connections',
      deregistrationDelayMs: 5_000,
    });

    const bad = await run('set-attributes', 'api', 'algorithm=fastest', 'slowStart=5s');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(
      /^ferryctl: FERRY_ERR_CONFIG_INVALID: set-attributes of api: 2 errors, nothing changed\n/,
    );
    expect(bad.stderr).toContain('  targetGroups[0].algorithm: expected one of round_robin');
    expect(bad.stderr).toContain('  targetGroups[0].slowStart: expected a duration 0 or 30s..15m, got "5s"');
    expect(ferry.config().targetGroups[0]?.algorithm).toBe('least_connections');

    const sticky = await run('set-attributes', 'api', 'stickiness=on', 'stickiness.duration=1h');
    expect(sticky.stdout).toBe(
      'api: stickiness.enabled (default) -> true\napi: stickiness.duration (default) -> "1h"\n',
    );
    expect(ferry.config().targetGroups[0]?.stickiness).toMatchObject({
      enabled: true,
      durationMs: 3_600_000,
    });

    const unknown = await run('set-attributes', 'api', 'colour=blue');
    expect(unknown.stderr).toContain('targetGroups[0].colour: unknown key');
    const reserved = await run('set-attributes', 'api', 'targets=[]');
    expect(reserved.stderr).toBe(
      'ferryctl: FERRY_ERR_CONTROL_BAD_ARGS: set-attributes: targets: use register, deregister and set-weight for targets\n',
    );
    expect(reserved.code).toBe(1);
    expect(load.failures()).toEqual([]);
  });

  it('stats reports workers, targets and the control port', async () => {
    const stats = JSON.parse((await run('stats', '--json')).stdout);
    expect(stats.workers).toHaveLength(2);
    expect(stats.workers.every((w: { isLive: boolean }) => w.isLive)).toBe(true);
    expect(stats.targets.length).toBeGreaterThanOrEqual(2);
    expect(stats.control.connectionsTotal).toBeGreaterThan(0);
    const text = await run('stats');
    expect(text.stdout).toMatch(/^config .*ferry\.yaml, up /);
  });
});

describe('ferryctl reload', () => {
  it('rejects a broken config whole, with every error, and keeps serving on the old one', async () => {
    const before = ferry.config();
    ferry.writeConfig(
      `${yaml(targets.slice(0, 2))}    algorithm: fastest\n  - name: api\n    targets: [{ address: nowhere }]\n`,
    );
    const rejected = await run('reload');
    expect(rejected.code).toBe(1);
    const lines = rejected.stderr.trimEnd().split('\n');
    expect(lines[0]).toMatch(
      /^ferryctl: FERRY_ERR_CONFIG_INVALID: reload of .*ferry\.yaml: \d+ errors, nothing changed$/,
    );
    // Each error is printed once (the headline used to repeat the first one).
    expect(rejected.stderr.split('targetGroups[0].algorithm').length - 1).toBe(1);
    expect(lines).toHaveLength(1 + Number(/: (\d+) errors/.exec(lines[0]!)?.[1]));
    expect(lines.slice(1).join('\n')).toContain('targetGroups[0].algorithm');
    expect(lines.slice(1).join('\n')).toContain('targetGroups[1].name: duplicate target group name "api"');
    expect(lines.slice(1).join('\n')).toContain('targetGroups[1].targets[0].address: expected host:port');
    expect(ferry.config()).toBe(before);
    await moreAnswers(load, 100);
    expect(load.failures()).toEqual([]);
  });

  it('applies a good config: the new target takes traffic, the removed one drains, no request fails', async () => {
    const [t1, t2, t3] = targets as [TestTarget, TestTarget, TestTarget];
    const released = new Promise<ReleaseEvent>((resolve) =>
      ferry.health.on('released', (event) => {
        if (event.address === t1.address) resolve(event);
      }),
    );
    ferry.writeConfig(yaml([t2, t3]));
    load.setPhase('reloading');
    const applied = await run('reload');
    expect(applied.stderr).toBe('');
    expect(applied.stdout).toBe(
      `reloaded ${join(dir, 'ferry.yaml')}\n` +
        '  ~ target group api: attributes changed\n' +
        `  + target ${t3.address} in api\n` +
        `  - target ${t1.address} in api (draining)\n`,
    );
    load.setPhase('reloaded');
    await moreAnswers(load, 300);
    expect((await released).end).toBe('idle');
    expect(received('t1', 'reloaded')).toBe(0);
    expect(received('t3', 'reloaded')).toBeGreaterThan(0);
    expect(load.failures()).toEqual([]);
  });
});

describe('ferryctl drain', () => {
  it('stops accepting, lets the 4 requests in flight finish, and reports them', async () => {
    await load.stop();
    expect(load.failures()).toEqual([]);
    const all = [...targets, extra];
    const heldNow = () => all.reduce((sum, target) => sum + target.held.length, 0);
    const agent = new Agent({ connections: 4 });
    const inFlight = Array.from({ length: 4 }, () => request(`${ferry.url}/hold`, { dispatcher: agent }));
    await waitUntil(() => heldNow() === 4, 'the targets to hold 4 requests');
    const draining = run('drain', '--grace', '10s');
    // While the 4 are held, the listener closes: a new connection is refused (bounded wait).
    const port = Number(new URL(ferry.url).port);
    let isRefused = false;
    for (let attempt = 0; attempt < 200 && !isRefused; attempt++) {
      isRefused = await isConnectionRefused(port);
      if (!isRefused) await new Promise((resolve) => setTimeout(resolve, 25));
    }
    expect(isRefused).toBe(true);
    expect(heldNow()).toBe(4);
    for (const target of all) target.release();
    const responses = await Promise.all(inFlight);
    expect(responses.map((res) => res.statusCode)).toEqual([200, 200, 200, 200]);
    expect(
      (await Promise.all(responses.map((res) => res.body.text()))).every((body) => body.includes('released')),
    ).toBe(true);
    await agent.close();
    const drained = await draining;
    expect(drained.stderr).toBe('');
    expect(drained.stdout).toMatch(
      /^drained in [\d.]+ m?s: \d+ connections and 4 requests in flight at the start; every request finished\n/,
    );
    expect(ferry.supervisor.readyCount).toBe(0);
    const again = await run('drain');
    expect(again.stderr).toBe('ferryctl: FERRY_ERR_CONTROL_CONFLICT: Ferry is already drained or draining\n');
  });
});

async function waitUntil(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 25));
  if (!condition()) throw new Error(`gave up waiting for ${what}`);
}

/** Whether a TCP connect to the port is refused (true) or accepted (false, then closed). */
async function isConnectionRefused(port: number): Promise<boolean> {
  const socket = net.connect(port, '127.0.0.1');
  try {
    await once(socket, 'connect');
    socket.destroy();
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ECONNREFUSED';
  }
}
