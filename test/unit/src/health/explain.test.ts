/**
 * `explain` (src/health/manager/explain.ts through the control port's
 * explainReport) on a real table, real check sockets on 127.0.0.1 and a
 * manual clock: the verdict, reason, check history, ejection backoff, slow
 * start and drain deadline of targets in each state an operator is paged
 * about. Time passes only when a test advances the clock.
 */
import http from 'node:http';
import net from 'node:net';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { storeTarget, TARGET_CONSECUTIVE_5XX } from '../../../../proto/table-layout.ts';
import { type ConfigSnapshot, parseConfig } from '../../../../src/config/index.ts';
import { explainReport } from '../../../../src/control/index.ts';
import { HEALTH_TICK_MS, HealthManager, policiesFromConfig } from '../../../../src/health/index.ts';
import { TableWriter } from '../../../../src/table/index.ts';
import { planFromConfig } from '../../../../src/table/plan.ts';
import { ManualClock } from '../../../helpers/manual-clock.ts';

const managers: HealthManager[] = [];
const servers: net.Server[] = [];

afterEach(async () => {
  await Promise.all(managers.splice(0).map((manager) => manager.stop()));
  for (const server of servers.splice(0)) {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

function snapshot(yaml: string): ConfigSnapshot {
  const result = parseConfig(yaml, '<test>');
  if (!result.ok) throw new Error(JSON.stringify(result.errors));
  return result.snapshot;
}

function config(groups: string): string {
  return `listeners:
  - name: web
    address: "127.0.0.1:0"
    rules:
      - priority: 10
        conditions: { pathPattern: ["/canary/*"] }
        action: { forward: { targetGroup: app } }
    defaultAction: { forward: { targetGroup: app } }
targetGroups:
${groups}`;
}

function managerFor(yaml: string) {
  let current = snapshot(yaml);
  const table = new TableWriter({ groupCapacity: 4, targetCapacity: 64, workerCapacity: 1 });
  const clock = new ManualClock();
  const health = new HealthManager({
    table,
    log: pino({ level: 'silent' }),
    publishTopology: () => {},
    clock,
    random: () => 0,
  });
  managers.push(health);
  health.apply(planFromConfig(current, new Map()), policiesFromConfig(current));
  const sources = { config: () => current, table, health };
  return {
    health,
    table,
    clock,
    explain: (address: string, group = 'app') => explainReport(sources, group, address),
    apply(next: string) {
      current = snapshot(next);
      health.apply(planFromConfig(current, new Map()), policiesFromConfig(current));
    },
    /** Advance one check interval at a time until `address` reaches `state` (bounded). */
    async untilState(address: string, state: string, intervalMs: number) {
      for (let round = 0; round < 10; round++) {
        if (health.target('app', address)?.state === state) return;
        const checked = new Promise<void>((resolve) => health.once('check', () => resolve()));
        clock.advance(intervalMs);
        await checked;
      }
      throw new Error(`${address} never became ${state}: ${health.target('app', address)?.state}`);
    },
  };
}

async function listen(server: net.Server): Promise<string> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
}

/** An HTTP target answering every check with `status`. */
function answering(status: number): Promise<string> {
  return listen(
    http.createServer((_req, res) => {
      res.writeHead(status).end();
    }),
  );
}

/** A port nothing listens on (bound, then closed). */
async function closedPort(): Promise<string> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const address = `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return address;
}

/** One HTTP-checked group; failOpen off so an unhealthy lone target is out of rotation (default: on, as ELB). */
const CHECKED = (addresses: readonly string[], failOpen = false) => `  - name: app
    healthCheck: { protocol: HTTP, path: /healthz, interval: 10s, timeout: 200ms, healthyThreshold: 2, unhealthyThreshold: 2 }
    failOpen: ${failOpen}
    targets: [${addresses.map((address) => `{ address: "${address}", weight: 10 }`).join(', ')}]`;

describe('explainReport', () => {
  describe('when the target is healthy', () => {
    it('is in rotation because healthy, lists its passing checks and both routes that reach its group', async () => {
      const address = await answering(200);
      const { health, explain, untilState, clock } = managerFor(config(CHECKED([address])));
      await health.start();
      await untilState(address, 'healthy', 10_000);
      const checked = new Promise<void>((resolve) => health.once('check', () => resolve()));
      clock.advance(10_000);
      await checked;
      const explained = explain(address);
      expect(explained).toMatchObject({
        targetGroup: 'app',
        address,
        isInRotation: true,
        because: ['healthy'],
        state: 'healthy',
        reason: null,
        healthCheck: { enabled: true, path: '/healthz', consecutiveSuccesses: 2, outcomesTotal: { pass: 2 } },
        routes: [
          { listener: 'web', rulePriority: null, targetGroup: 'app' },
          { listener: 'web', rulePriority: 10, targetGroup: 'app' },
        ],
        traffic: null,
        failedOverTo: null,
      });
      expect(explained.summary).toBe('in rotation: healthy; last 2 checks passed.');
      expect(explained.recentChecks.map((check) => [check.outcome, check.statusCode])).toEqual([
        ['pass', 200],
        ['pass', 200],
      ]);
      expect(explained.recentChecks[0]!.atMs).toBeGreaterThan(explained.recentChecks[1]!.atMs);
    });
  });

  describe('when the target is unhealthy', () => {
    it('names Target.ResponseCodeMismatch with the status the target answered', async () => {
      const address = await answering(503);
      const { health, explain, untilState } = managerFor(config(CHECKED([address])));
      await health.start();
      await untilState(address, 'unhealthy', 10_000);
      const explained = explain(address);
      expect(explained).toMatchObject({
        isInRotation: false,
        because: ['failed_health_checks'],
        reason: 'Target.ResponseCodeMismatch',
        description: 'Health checks failed with these codes: [503]',
        healthCheck: { consecutiveFailures: 2, outcomesTotal: { pass: 0, status: 2 } },
      });
      expect(explained.recentChecks[0]).toMatchObject({
        outcome: 'status',
        statusCode: 503,
        reason: 'Target.ResponseCodeMismatch',
      });
      expect(explained.summary).toMatch(
        /^out of rotation: Target\.ResponseCodeMismatch: Health checks failed with these codes: \[503\]; 2 failed in a row, needs 2 more passes in a row to return\.$/,
      );
    });

    it('names Target.Timeout when the target accepts and never answers', async () => {
      const address = await listen(net.createServer((socket) => socket.resume()));
      const { health, explain, untilState } = managerFor(config(CHECKED([address])));
      await health.start();
      await untilState(address, 'unhealthy', 10_000);
      expect(explain(address)).toMatchObject({
        isInRotation: false,
        because: ['failed_health_checks'],
        reason: 'Target.Timeout',
        recentChecks: [
          { outcome: 'timeout', reason: 'Target.Timeout', statusCode: null },
          { outcome: 'timeout' },
        ],
      });
    });

    it('names Target.FailedHealthChecks with the cause when the connection is refused', async () => {
      const address = await closedPort();
      const { health, explain, untilState } = managerFor(config(CHECKED([address])));
      await health.start();
      await untilState(address, 'unhealthy', 10_000);
      expect(explain(address)).toMatchObject({
        isInRotation: false,
        reason: 'Target.FailedHealthChecks',
        description: expect.stringMatching(/^Health checks failed: connection refused/),
        recentChecks: [{ outcome: 'error', reason: 'Target.FailedHealthChecks' }, { outcome: 'error' }],
        healthCheck: { outcomesTotal: { error: 2 } },
      });
    });

    it('is registration_in_progress before its first check answered, and initial_health_checking while it fails fewer than unhealthyThreshold checks', async () => {
      const first = await answering(200);
      const second = await closedPort();
      const { health, explain, apply } = managerFor(config(CHECKED([first])));
      await health.start();
      apply(config(CHECKED([first, second])));
      expect(explain(second)).toMatchObject({
        isInRotation: false,
        because: ['registration_in_progress'],
        reason: 'Elb.RegistrationInProgress',
      });
      await new Promise<void>((resolve) => health.on('check', (ref) => ref.address === second && resolve()));
      expect(explain(second)).toMatchObject({
        isInRotation: false,
        because: ['initial_health_checking'],
        summary: 'out of rotation: initial health checks: no pass yet, 1 of 2 failures before unhealthy.',
      });
    });
  });

  describe('when outlier detection ejected the target', () => {
    it('is out of rotation until the ejection ends, with the cause, count and backoff of each ejection', async () => {
      const { health, explain, clock, table } = managerFor(
        config(`  - name: app
    healthCheck: { enabled: false }
    outlierDetection: { consecutive5xx: 5, baseEjectionTime: 2s, maxEjectionPercent: 50 }
    targets: [{ address: "127.0.0.1:1" }, { address: "127.0.0.1:2" }]`),
      );
      await health.start();
      const slot = table.target('app', '127.0.0.1:2')!.slot;
      storeTarget(table.view, slot, TARGET_CONSECUTIVE_5XX, 5);
      clock.advance(HEALTH_TICK_MS);
      const first = explain('127.0.0.1:2');
      expect(first).toMatchObject({
        isInRotation: false,
        because: ['outlier_ejected', 'health_checks_disabled'],
        outlier: {
          isEjected: true,
          ejectedUntilMs: clock.nowMs() + 2_000,
          multiplier: 1,
          ejections: [{ trigger: 'consecutive5xx', count: 5, multiplier: 1, durationMs: 2_000 }],
        },
      });
      expect(first.summary).toBe(
        'out of rotation: ejected by outlier detection (consecutive5xx) for another 2.0 s, ejection 1.',
      );
      clock.advance(2_000);
      expect(explain('127.0.0.1:2')).toMatchObject({ isInRotation: true, outlier: { isEjected: false } });
      storeTarget(table.view, slot, TARGET_CONSECUTIVE_5XX, 5);
      clock.advance(HEALTH_TICK_MS);
      expect(explain('127.0.0.1:2').outlier.ejections.map((e) => [e.multiplier, e.durationMs])).toEqual([
        [2, 4_000],
        [1, 2_000],
      ]);
    });
  });

  describe('when the target is slow-starting', () => {
    it('is in rotation with its ramp: percent, effective weight and when it ends', async () => {
      const first = await answering(200);
      const second = await answering(200);
      const groups = (addresses: string[]) =>
        config(`  - name: app
    healthCheck: { protocol: TCP, interval: 300s, timeout: 100ms, healthyThreshold: 2 }
    slowStart: 30s
    targets: [${addresses.map((address) => `{ address: "${address}", weight: 100 }`).join(', ')}]`);
      const { health, explain, apply, untilState } = managerFor(groups([first]));
      await health.start();
      await untilState(first, 'healthy', 300_000);
      apply(groups([first, second]));
      await untilState(second, 'healthy', 300_000);
      const explained = explain(second);
      expect(explained).toMatchObject({
        isInRotation: true,
        because: ['healthy', 'slow_start'],
        slowStart: { percent: 10 },
        weight: { configured: 100 },
      });
      expect(explained.weight.effective).toBeLessThan(explain(first).weight.effective);
      expect(explained.slowStart!.untilMs - explained.slowStart!.sinceMs).toBe(30_000);
      expect(explained.summary).toMatch(/; slow start at 10% of its weight until \d{4}-.*Z\.$/);
    });
  });

  describe('when the target is draining', () => {
    it('is out of rotation with its drain deadline and what is still in flight', async () => {
      const { health, explain, clock } = managerFor(
        config(`  - name: app
    healthCheck: { enabled: false }
    deregistrationDelay: 30s
    targets: [{ address: "127.0.0.1:1" }, { address: "127.0.0.1:2" }]`),
      );
      await health.start();
      expect(health.deregister('app', '127.0.0.1:1')).toBe('draining');
      const explained = explain('127.0.0.1:1');
      expect(explained).toMatchObject({
        isInRotation: false,
        because: ['draining'],
        reason: 'Target.DeregistrationInProgress',
        drain: { sinceMs: clock.nowMs(), deadlineMs: clock.nowMs() + 30_000, inFlight: 0 },
      });
      expect(explained.summary).toMatch(
        /^out of rotation: deregistered, draining 0 in flight; .* \(in 30 s\)\.$/,
      );
    });
  });

  describe('when the target cannot get traffic for other reasons', () => {
    it('is not_in_use when no listener forwards to its group, and weight_zero at weight 0', async () => {
      const { health, explain } = managerFor(
        config(`  - name: app
    healthCheck: { enabled: false }
    targets: [{ address: "127.0.0.1:1", weight: 0 }, { address: "127.0.0.1:2" }]
  - name: spare
    healthCheck: { enabled: false }
    targets: [{ address: "127.0.0.1:3" }]`),
      );
      await health.start();
      expect(explain('127.0.0.1:1')).toMatchObject({
        isInRotation: false,
        because: ['weight_zero', 'health_checks_disabled'],
        summary: 'out of rotation: its weight is 0.',
      });
      expect(explain('127.0.0.1:2')).toMatchObject({
        isInRotation: true,
        because: ['health_checks_disabled'],
      });
      expect(explain('127.0.0.1:3', 'spare')).toMatchObject({
        isInRotation: false,
        because: ['not_in_use'],
        routes: [],
      });
    });

    it('is in rotation through fail_open when no target of its group is healthy and failOpen is on (the default)', async () => {
      const address = await answering(500);
      const { health, explain, untilState } = managerFor(config(CHECKED([address], true)));
      await health.start();
      await untilState(address, 'unhealthy', 10_000);
      const explained = explain(address);
      expect(explained).toMatchObject({
        isInRotation: true,
        because: ['failed_health_checks', 'fail_open'],
        reason: 'Target.ResponseCodeMismatch',
      });
      expect(explained.summary).toMatch(/; app has no healthy target and fails open\.$/);
    });

    it('answers FERRY_ERR_CONTROL_NOT_FOUND naming what exists for an unknown group or target', async () => {
      const { explain } = managerFor(
        config(`  - name: app
    healthCheck: { enabled: false }
    targets: [{ address: "127.0.0.1:1" }]`),
      );
      expect(() => explain('127.0.0.1:9')).toThrow(
        expect.objectContaining({
          code: 'FERRY_ERR_CONTROL_NOT_FOUND',
          message: 'no target "127.0.0.1:9" in app (registered: 127.0.0.1:1)',
        }),
      );
      expect(() => explain('127.0.0.1:1', 'nope')).toThrow(
        expect.objectContaining({
          code: 'FERRY_ERR_CONTROL_NOT_FOUND',
          message: expect.stringMatching(/known: app/),
        }),
      );
    });
  });
});
