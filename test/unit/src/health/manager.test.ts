/**
 * HealthManager (src/health/manager/) on a real table and real sockets but
 * without workers, on a manual clock: the concurrency bound on checks, the
 * check schedule and its jitter, the states that are not checked (unused,
 * unavailable) and their reasons, reconfiguration on apply, outlier ejection,
 * slow start, drain deadlines, and stop. Time passes only when a test
 * advances the clock; checks still make real connections on 127.0.0.1.
 * Integration tests with workers are in test/integration/health*.
 */
import net from 'node:net';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import {
  HEADER_CLOCK_ORIGIN_S,
  HEADER_GENERATION,
  loadHeader,
  loadTarget,
  storeTarget,
  storeWorker,
  TARGET_CONSECUTIVE_5XX,
  TARGET_CONSECUTIVE_GATEWAY_FAILURES,
  TARGET_EJECTED,
  TARGET_WEIGHT,
  WORKER_HEARTBEAT_MS,
  WORKER_OBSERVED_GENERATION,
} from '../../../../proto/table-layout.ts';
import { parseConfig } from '../../../../src/config/index.ts';
import {
  type EjectionEvent,
  HEALTH_TICK_MS,
  HealthManager,
  policiesFromConfig,
  type ReleaseEvent,
} from '../../../../src/health/index.ts';
import { clockMs } from '../../../../src/shared/clock.ts';
import { TableWriter } from '../../../../src/table/index.ts';
import { planFromConfig } from '../../../../src/table/plan.ts';
import { ManualClock } from '../../../helpers/manual-clock.ts';

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

function managerFor(yaml: string, random: () => number = () => 0.5) {
  const config = snapshot(yaml);
  const table = new TableWriter({ groupCapacity: 4, targetCapacity: 256, workerCapacity: 1 });
  const clock = new ManualClock();
  const manager = new HealthManager({
    table,
    log: pino({ level: 'silent' }),
    publishTopology: () => {},
    clock,
    random,
  });
  managers.push(manager);
  manager.apply(planFromConfig(config, new Map()), policiesFromConfig(config));
  return {
    manager,
    table,
    clock,
    slotOf: (group: string, address: string) => table.target(group, address)!.slot,
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
    // Checks hang until their timeout; 1 s (not less) so each connection is accepted, and counted
    // here, before its check gives up, even on a loaded machine (100 ms lost some to the race).
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
    healthCheck: { port: ${port}, interval: 5s, timeout: 1s }
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
    const { manager, apply } = managerFor(both);
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
    );
    const first = manager.start();
    await manager.stop();
    await first;
    expect(manager.target('app', `127.0.0.1:${port}`)?.checksTotal).toBe(0);
  });

  describe('when time passes on its clock', () => {
    /** A TCP server that accepts and closes, counting the checks it received. */
    async function accepting(): Promise<{ port: number; connections: () => number }> {
      let connections = 0;
      const port = await listen(
        net.createServer((socket) => {
          connections++;
          socket.end();
        }),
      );
      return { port, connections: () => connections };
    }

    it('checks again after half an interval the first time, then every interval ± 10%, and never in between', async () => {
      const server = await accepting();
      // random 0: the earliest each draw allows (0.5 × interval, then 0.9 × interval).
      const { manager, clock } = managerFor(
        config(`  - name: app
    healthCheck: { protocol: TCP, interval: 10s, timeout: 100ms }
    targets: [{ address: "127.0.0.1:${server.port}" }]`),
        () => 0,
      );
      await manager.start();
      expect(server.connections()).toBe(1);
      const checked = () => new Promise<void>((resolve) => manager.once('check', () => resolve()));

      clock.advance(4_999);
      expect(manager.checkLoad().running).toBe(0);
      let next = checked();
      clock.advance(1);
      expect(manager.checkLoad().running).toBe(1);
      await next;
      expect(manager.target('app', `127.0.0.1:${server.port}`)?.checksTotal).toBe(2);

      clock.advance(8_999);
      expect(manager.checkLoad().running).toBe(0);
      next = checked();
      clock.advance(1);
      await next;
      expect(server.connections()).toBe(3);
    });

    it('ejects a target at the first tick after it crosses consecutive5xx, re-admits it after baseEjectionTime, and doubles the time on the next ejection', async () => {
      const { manager, clock, table, slotOf } = managerFor(
        config(`  - name: app
    healthCheck: { enabled: false }
    outlierDetection: { consecutive5xx: 5, baseEjectionTime: 2s, maxEjectionPercent: 50 }
    targets: [{ address: "127.0.0.1:1" }, { address: "127.0.0.1:2" }]`),
      );
      await manager.start();
      const events: EjectionEvent[] = [];
      manager.on('ejection', (event) => events.push(event));
      const bad = slotOf('app', '127.0.0.1:2');
      storeTarget(table.view, bad, TARGET_CONSECUTIVE_5XX, 4);
      clock.advance(HEALTH_TICK_MS);
      expect(events).toEqual([]);
      storeTarget(table.view, bad, TARGET_CONSECUTIVE_5XX, 5);
      const ejectedAtMs = clock.nowMs() + HEALTH_TICK_MS;
      clock.advance(HEALTH_TICK_MS);
      expect(events).toEqual([
        expect.objectContaining({ address: '127.0.0.1:2', isEjected: true, count: 5, ejections: 1 }),
      ]);
      expect(events[0]!.untilMs).toBe(ejectedAtMs + 2_000);
      expect(loadTarget(table.view, bad, TARGET_EJECTED)).toBe(1);
      expect(loadTarget(table.view, bad, TARGET_CONSECUTIVE_5XX)).toBe(0);

      clock.advance(2_000 - HEALTH_TICK_MS);
      expect(manager.target('app', '127.0.0.1:2')?.outlier.isEjected).toBe(true);
      clock.advance(HEALTH_TICK_MS);
      expect(events.at(-1)).toMatchObject({ isEjected: false, ejections: 1 });
      expect(loadTarget(table.view, bad, TARGET_EJECTED)).toBe(0);

      storeTarget(table.view, bad, TARGET_CONSECUTIVE_5XX, 5);
      clock.advance(HEALTH_TICK_MS);
      expect(events.at(-1)).toMatchObject({ isEjected: true, ejections: 2 });
      clock.advance(4_000 - HEALTH_TICK_MS);
      expect(manager.target('app', '127.0.0.1:2')?.outlier.isEjected).toBe(true);
      clock.advance(HEALTH_TICK_MS);
      expect(manager.target('app', '127.0.0.1:2')?.outlier).toMatchObject({
        isEjected: false,
        ejectionsTotal: 2,
      });
    });

    it('forgets gateway failures counted while a target was down when it turns healthy, so outlier detection does not eject it (issue 10)', async () => {
      // A port nothing listens on yet: the target starts unhealthy.
      const probe = net.createServer();
      const port = await listen(probe);
      await new Promise<void>((resolve) => probe.close(() => resolve()));
      servers.splice(servers.indexOf(probe), 1);
      const { manager, clock, table, slotOf } = managerFor(
        config(`  - name: app
    healthCheck: { protocol: TCP, interval: 5s, timeout: 100ms, healthyThreshold: 2, unhealthyThreshold: 2 }
    outlierDetection: { consecutiveGatewayFailure: 5, consecutive5xx: 0, maxEjectionPercent: 100 }
    targets: [{ address: "127.0.0.1:${port}" }, { address: "127.0.0.1:1" }]`),
      );
      const address = `127.0.0.1:${port}`;
      const slot = slotOf('app', address);
      const events: EjectionEvent[] = [];
      manager.on('ejection', (event) => events.push(event));
      /** Advance one interval at a time, awaiting each check, until the target is in `state`. */
      const until = async (state: string) => {
        for (let i = 0; i < 10 && manager.target('app', address)?.state !== state; i++) {
          const checked = new Promise<void>((resolve) => manager.once('check', () => resolve()));
          clock.advance(5_000);
          await checked;
        }
        expect(manager.target('app', address)?.state).toBe(state);
      };
      await manager.start();
      await until('unhealthy');
      // Fail-open traffic and retries hit it while it is down: 13 consecutive gateway failures.
      storeTarget(table.view, slot, TARGET_CONSECUTIVE_GATEWAY_FAILURES, 13);
      const server = net.createServer((socket) => socket.end());
      servers.push(server);
      await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', () => resolve()));
      await until('healthy');
      expect(loadTarget(table.view, slot, TARGET_CONSECUTIVE_GATEWAY_FAILURES)).toBe(0);
      clock.advance(HEALTH_TICK_MS);
      expect(events.filter((event) => event.address === address)).toEqual([]);
    });

    it("ramps a newly healthy target's weight from 10% to full over slowStart, but not the group's first targets", async () => {
      const server = await accepting();
      const group = (addresses: string[]) =>
        config(`  - name: app
    healthCheck: { protocol: TCP, port: ${server.port}, interval: 300s, timeout: 100ms }
    slowStart: 30s
    targets: [${addresses.map((address) => `{ address: "${address}", weight: 100 }`).join(', ')}]`);
      const { manager, clock, apply, table, slotOf } = managerFor(group(['127.0.0.1:1']));
      await manager.start();
      expect(manager.target('app', '127.0.0.1:1')).toMatchObject({ state: 'healthy', slowStart: null });

      const healthy = new Promise<void>((resolve) =>
        manager.on('transition', (e) => e.address === '127.0.0.1:2' && e.to === 'healthy' && resolve()),
      );
      apply(group(['127.0.0.1:1', '127.0.0.1:2']));
      await healthy;
      const fresh = slotOf('app', '127.0.0.1:2');
      const percent = () => manager.target('app', '127.0.0.1:2')?.slowStart?.percent ?? 100;
      expect(percent()).toBe(10);
      expect(loadTarget(table.view, fresh, TARGET_WEIGHT)).toBeLessThan(
        loadTarget(table.view, slotOf('app', '127.0.0.1:1'), TARGET_WEIGHT),
      );
      clock.advance(15_000);
      expect(percent()).toBe(55);
      clock.advance(15_000 - HEALTH_TICK_MS);
      expect(percent()).toBeLessThan(100);
      clock.advance(HEALTH_TICK_MS);
      expect(manager.target('app', '127.0.0.1:2')?.slowStart).toBeNull();
      expect(loadTarget(table.view, fresh, TARGET_WEIGHT)).toBe(
        loadTarget(table.view, slotOf('app', '127.0.0.1:1'), TARGET_WEIGHT),
      );
    });

    it('releases a draining target at deregistrationDelay while a live worker has not seen it leave, and at the next tick once it has', async () => {
      const { manager, clock, table } = managerFor(
        config(`  - name: app
    healthCheck: { enabled: false }
    deregistrationDelay: 10s
    targets: [{ address: "127.0.0.1:1" }, { address: "127.0.0.1:2" }, { address: "127.0.0.1:3" }]`),
      );
      await manager.start();
      const released: ReleaseEvent[] = [];
      manager.on('released', (event) => released.push(event));
      // One live worker (a fresh heartbeat in table time, which stays real) stuck on the generation before the drain.
      const observed = loadHeader(table.view, HEADER_GENERATION);
      const beat = () =>
        storeWorker(
          table.view,
          0,
          WORKER_HEARTBEAT_MS,
          clockMs(loadHeader(table.view, HEADER_CLOCK_ORIGIN_S)),
        );
      storeWorker(table.view, 0, WORKER_OBSERVED_GENERATION, observed);
      beat();
      expect(manager.deregister('app', '127.0.0.1:1')).toBe('draining');
      clock.advance(10_000 - HEALTH_TICK_MS);
      beat();
      expect(manager.target('app', '127.0.0.1:1')?.state).toBe('draining');
      expect(released).toEqual([]);
      clock.advance(HEALTH_TICK_MS);
      expect(released).toEqual([
        expect.objectContaining({ address: '127.0.0.1:1', end: 'deadline', drainedMs: 10_000 }),
      ]);
      expect(manager.target('app', '127.0.0.1:1')).toBeUndefined();

      expect(manager.deregister('app', '127.0.0.1:2')).toBe('draining');
      beat();
      clock.advance(HEALTH_TICK_MS);
      expect(released).toHaveLength(1);
      storeWorker(table.view, 0, WORKER_OBSERVED_GENERATION, loadHeader(table.view, HEADER_GENERATION));
      beat();
      clock.advance(HEALTH_TICK_MS);
      expect(released.at(-1)).toMatchObject({
        address: '127.0.0.1:2',
        end: 'idle',
        drainedMs: 2 * HEALTH_TICK_MS,
      });
    });
  });
});
