/**
 * HealthManager (src/health/manager.ts) on a real table and real sockets but
 * without workers: the concurrency bound on checks, the states that are not
 * checked (unused, unavailable) and their reasons, reconfiguration on apply,
 * and stop. Integration tests with workers are in test/integration/health*.
 */
import net from 'node:net';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../../../src/config/index.ts';
import { HealthManager, policiesFromConfig } from '../../../../src/health/index.ts';
import { TableWriter } from '../../../../src/table/index.ts';
import { planFromConfig } from '../../../../src/table/plan.ts';

const managers: HealthManager[] = [];
const servers: net.Server[] = [];

afterEach(async () => {
  await Promise.all(managers.splice(0).map((manager) => manager.stop()));
  for (const server of servers.splice(0)) await new Promise<void>((resolve) => server.close(() => resolve()));
});

function snapshot(yaml: string) {
  const result = parseConfig(yaml, '<test>');
  if (!result.ok) throw new Error(JSON.stringify(result.errors));
  return result.snapshot;
}

function managerFor(yaml: string, timeScale = 0.2) {
  const config = snapshot(yaml);
  const table = new TableWriter({ groupCapacity: 4, targetCapacity: 256, workerCapacity: 1 });
  const manager = new HealthManager({
    table,
    log: pino({ level: 'silent' }),
    publishTopology: () => {},
    timeScale,
  });
  managers.push(manager);
  manager.apply(planFromConfig(config, new Map()), policiesFromConfig(config));
  return {
    manager,
    table,
    apply: (next: string) => {
      const nextConfig = snapshot(next);
      return manager.apply(planFromConfig(nextConfig, new Map()), policiesFromConfig(nextConfig));
    },
  };
}

async function listen(server: net.Server): Promise<number> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return (server.address() as net.AddressInfo).port;
}

function config(groups: string, listeners = 'app'): string {
  return `limits: { maxTargets: 256 }
listeners:
${listeners
  .split(',')
  .map(
    (group, i) =>
      `  - { name: l${i}, address: "127.0.0.1:0", defaultAction: { forward: { targetGroup: ${group} } } }`,
  )
  .join('\n')}
targetGroups:
${groups}`;
}

describe('HealthManager', () => {
  it('never runs more than HEALTH_CHECKS_IN_FLIGHT_MAX (128) checks at once, and checks every target', async () => {
    let total = 0;
    let maxRunning = 0;
    let maxQueued = 0;
    let manager: HealthManager | null = null;
    const hang = net.createServer((socket) => {
      socket.resume();
      total++;
      const load = manager!.checkLoad();
      maxRunning = Math.max(maxRunning, load.running);
      maxQueued = Math.max(maxQueued, load.queued);
    });
    const port = await listen(hang);
    const targets = Array.from({ length: 200 }, (_, i) => `      - { address: "127.0.0.1:${10_000 + i}" }`);
    ({ manager } = managerFor(
      config(`  - name: app
    healthCheck: { port: ${port}, interval: 2s, timeout: 1s }
    targets:
${targets.join('\n')}`),
    ));
    await manager.start();
    expect(total).toBeGreaterThanOrEqual(200);
    expect(maxRunning).toBe(128);
    expect(maxQueued).toBe(200 - 128);
    const states = manager.report().targetGroups[0]!.targets.map((target) => target.reason?.code);
    expect(new Set(states)).toEqual(new Set(['Elb.InitialHealthChecking']));
  });

  it('leaves targets of a group no listener uses unused (Target.NotInUse) and unchecked, until one does', async () => {
    let connections = 0;
    const port = await listen(
      net.createServer((socket) => {
        connections++;
        socket.end();
      }),
    );
    const groups = `  - name: app
    healthCheck: { protocol: TCP }
    targets: [{ address: "127.0.0.1:${port}" }]
  - name: spare
    healthCheck: { protocol: TCP }
    targets: [{ address: "127.0.0.1:${port}" }]`;
    const { manager, apply } = managerFor(config(groups, 'app'));
    await manager.start();
    expect(manager.target('spare', `127.0.0.1:${port}`)).toMatchObject({
      state: 'unused',
      reason: { code: 'Target.NotInUse' },
      checksTotal: 0,
    });
    expect(connections).toBe(1);
    apply(config(groups, 'app,spare'));
    expect(manager.target('spare', `127.0.0.1:${port}`)?.state).toBe('initial');
    await new Promise<void>((resolve) =>
      manager.on('transition', (e) => e.targetGroup === 'spare' && e.to === 'healthy' && resolve()),
    );
  });

  it('makes targets unavailable (Target.HealthCheckDisabled) when checks are turned off, and initial when on again', async () => {
    const port = await listen(net.createServer((socket) => socket.end()));
    const on = config(`  - name: app
    healthCheck: { protocol: TCP }
    targets: [{ address: "127.0.0.1:${port}" }]`);
    const off = config(`  - name: app
    healthCheck: { enabled: false }
    targets: [{ address: "127.0.0.1:${port}" }]`);
    const { manager, apply } = managerFor(on);
    await manager.start();
    const address = `127.0.0.1:${port}`;
    expect(manager.target('app', address)?.state).toBe('healthy');
    apply(off);
    expect(manager.target('app', address)).toMatchObject({
      state: 'unavailable',
      reason: { code: 'Target.HealthCheckDisabled' },
    });
    apply(on);
    expect(manager.target('app', address)).toMatchObject({
      state: 'initial',
      reason: { code: 'Elb.RegistrationInProgress' },
    });
    expect(manager.target('app', address)?.transitions.map((t) => `${t.from}->${t.to}`)).toEqual([
      'null->initial',
      'initial->healthy',
      'healthy->unavailable',
      'unavailable->initial',
    ]);
  });

  it('refuses a plan that does not fit, changing nothing', async () => {
    const { manager, apply } = managerFor(
      config(`  - name: app
    healthCheck: { enabled: false }
    targets: [{ address: "127.0.0.1:1" }]`),
    );
    const tooMany = Array.from({ length: 257 }, (_, i) => `      - { address: "127.0.0.1:${2000 + i}" }`);
    expect(() =>
      apply(`limits: { maxTargets: 1024 }
listeners:
  - { name: l0, address: "127.0.0.1:0", defaultAction: { forward: { targetGroup: app } } }
targetGroups:
  - name: app
    targets:
${tooMany.join('\n')}`),
    ).toThrow(/exceed limits.maxTargets \(256\)/);
    expect(manager.report().targetGroups[0]!.targets.map((t) => t.address)).toEqual(['127.0.0.1:1']);
  });

  it("drains the targets of a removed group on that group's deregistrationDelay, and still reports them", async () => {
    const both = config(
      `  - name: app
    healthCheck: { enabled: false }
    targets: [{ address: "127.0.0.1:1" }]
  - name: old
    healthCheck: { enabled: false }
    deregistrationDelay: 10m
    targets: [{ address: "127.0.0.1:2" }]`,
      'app,old',
    );
    const { manager, apply } = managerFor(both, 1);
    await manager.start();
    apply(
      config(`  - name: app
    healthCheck: { enabled: false }
    targets: [{ address: "127.0.0.1:1" }]`),
    );
    const draining = manager.target('old', '127.0.0.1:2')!;
    expect(draining.state).toBe('draining');
    expect(draining.drain!.deadlineMs - draining.drain!.sinceMs).toBe(600_000);
    expect(manager.report().targetGroups.map((group) => `${group.name}:${group.targets.length}`)).toEqual([
      'app:1',
      'old:1',
    ]);
  });

  it('stops promptly with checks still hanging', async () => {
    const port = await listen(net.createServer((socket) => socket.resume()));
    const { manager } = managerFor(
      config(`  - name: app
    healthCheck: { interval: 5m, timeout: 2m }
    targets: [{ address: "127.0.0.1:${port}" }]`),
      1,
    );
    const first = manager.start();
    await manager.stop();
    await first;
    expect(manager.target('app', `127.0.0.1:${port}`)?.checksTotal).toBe(0);
  });
});
