/**
 * Active health checks end to end: a real Ferry (2 worker threads) in front
 * of real targets on 127.0.0.1. Check intervals pass on a ManualClock the
 * tests advance (runUntil jumps to each next due check), so a threshold of 2
 * or 3 costs only the checks' own round trips; a check's timeout is real (it
 * bounds real I/O), so the one test of timeouts uses a short one.
 */
import { Agent, request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { CheckResult, TargetRef } from '../../src/health/index.ts';
import { simpleConfig, startTestFerry, type TestFerry } from '../helpers/ferry.ts';
import { ManualClock } from '../helpers/manual-clock.ts';
import { startTarget, startTargets, type TestTarget } from '../helpers/targets.ts';
import { capturingLogger, checksSettled, get, groupsConfig, nextEvent, runUntil } from './health-support.ts';

const CHECK = 'healthCheck: { path: /health, interval: 2s, timeout: 1500ms';

async function closedPort(): Promise<number> {
  const probe = await startTarget('probe');
  await probe.close();
  return probe.port;
}

describe('a target that stops listening', () => {
  let ferry: TestFerry | null = null;
  let targets: TestTarget[] = [];
  afterEach(async () => {
    await ferry?.stop(1_000);
    ferry = null;
    await Promise.all(targets.map((t) => t.close()));
    targets = [];
  });

  it('becomes unhealthy (refused) after exactly unhealthyThreshold failures, gets nothing, and is healthy again after healthyThreshold passes', async () => {
    targets = await startTargets(2);
    const [steady, flaky] = targets as [TestTarget, TestTarget];
    const { log, lines } = capturingLogger();
    const clock = new ManualClock();
    ferry = await startTestFerry(
      simpleConfig({
        targets: [steady.address, flaky.address],
        groupYaml: `    ${CHECK}, healthyThreshold: 3, unhealthyThreshold: 2 }`,
      }),
      { clock, log },
    );
    const health = ferry.health;
    const stateOf = () => health.target('app', flaky.address)?.state;
    expect(health.target('app', flaky.address)?.state).toBe('healthy');

    const results: CheckResult[] = [];
    const onCheck = (ref: TargetRef, result: CheckResult) => {
      if (ref.address === flaky.address) results.push(result);
    };
    health.on('check', onCheck);
    const down = nextEvent(health, 'transition', (e) => e.address === flaky.address && e.to === 'unhealthy');
    await flaky.close();
    await runUntil(health, clock, () => stateOf() === 'unhealthy');
    const [toUnhealthy] = await down;
    // Exactly unhealthyThreshold failing checks, counted since it stopped listening.
    expect(results.filter((r) => r.outcome !== 'pass')).toHaveLength(2);
    expect(toUnhealthy.from).toBe('healthy');
    expect(toUnhealthy.reason).toMatchObject({ code: 'Target.FailedHealthChecks' });
    expect(health.target('app', flaky.address)).toMatchObject({
      state: 'unhealthy',
      consecutiveFailures: 2,
      reason: { code: 'Target.FailedHealthChecks', cause: 'refused' },
    });
    // One log line for the change, with target, old -> new state and reason.
    const logged = lines.filter((line) => line['target'] === flaky.address && line['to'] === 'unhealthy');
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({ from: 'healthy', level: 40, reason: 'Target.FailedHealthChecks' });
    expect(String(logged[0]?.['msg'])).toContain('healthy -> unhealthy (Target.FailedHealthChecks');

    // No request reaches it (it would be a 502 if one did).
    const agent = new Agent({ connections: 4 });
    const answers = await Promise.all(Array.from({ length: 20 }, () => get(`${ferry!.url}/`, agent)));
    expect(answers.map((a) => `${a.status} ${a.target}`)).toEqual(Array(20).fill(`200 ${steady.address}`));

    // Back: healthy after exactly healthyThreshold passes, then traffic again.
    results.length = 0;
    const up = nextEvent(health, 'transition', (e) => e.address === flaky.address && e.to === 'healthy');
    await new Promise<void>((resolve) => flaky.server.listen(flaky.port, '127.0.0.1', () => resolve()));
    await runUntil(health, clock, () => stateOf() === 'healthy');
    const [toHealthy] = await up;
    expect(toHealthy.from).toBe('unhealthy');
    expect(results.filter((r) => r.outcome === 'pass')).toHaveLength(3);
    expect(results.at(-1)?.outcome).toBe('pass');
    health.off('check', onCheck);
    const before = flaky.hits.get('/') ?? 0;
    await Promise.all(Array.from({ length: 20 }, () => get(`${ferry!.url}/`, agent)));
    expect((flaky.hits.get('/') ?? 0) - before).toBeGreaterThan(0);
    await agent.close();
  });
});

describe('check kinds, reasons and matchers', () => {
  let ferry: TestFerry;
  const clock = new ManualClock();
  const t: Record<string, TestTarget> = {};
  let closed = 0;

  beforeAll(async () => {
    for (const name of ['mismatch', 'hang', 'range', 'list', 'tcp', 'traffic', 'healthPort', 'tls']) {
      t[name] = await startTarget(name);
    }
    t['mismatch']!.status = 503;
    t['hang']!.delayMs = 3_000;
    t['range']!.status = 204;
    t['list']!.status = 201;
    t['healthPort']!.status = 500;
    closed = await closedPort();
    const yaml = groupsConfig([
      { name: 'mismatch', targets: [t['mismatch']!.address], yaml: `    ${CHECK} }` },
      // The timeout is real time (it bounds the socket), so this one is short.
      {
        name: 'hang',
        targets: [t['hang']!.address],
        yaml: '    healthCheck: { path: /health, interval: 2s, timeout: 200ms }',
      },
      { name: 'range', targets: [t['range']!.address], yaml: `    ${CHECK}, matcher: "200-299" }` },
      { name: 'list', targets: [t['list']!.address], yaml: `    ${CHECK}, matcher: "200,204" }` },
      {
        name: 'tcp',
        targets: [t['tcp']!.address, `127.0.0.1:${closed}`],
        yaml: '    healthCheck: { protocol: TCP, interval: 2s, timeout: 1500ms }',
      },
      {
        name: 'override',
        targets: [t['traffic']!.address],
        yaml: `    ${CHECK}, port: ${t['healthPort']!.port} }`,
      },
      {
        name: 'tls',
        targets: [t['tls']!.address],
        yaml: '    healthCheck: { protocol: HTTPS, interval: 2s, timeout: 1500ms }',
      },
    ]);
    ferry = await startTestFerry(yaml, { clock });
  });
  afterAll(async () => {
    await ferry.stop(1_000);
    await Promise.all(Object.values(t).map((target) => target.close()));
  });

  /** The target's status once it has reached `state` (bounded by a count of clock steps). */
  async function settled(group: string, address: string, state: string) {
    await runUntil(ferry.health, clock, () => ferry.health.target(group, address)?.state === state);
    return ferry.health.target(group, address)!;
  }

  it('reports a wrong status as Target.ResponseCodeMismatch with the code', async () => {
    const status = await settled('mismatch', t['mismatch']!.address, 'unhealthy');
    expect(status.reason).toEqual({
      code: 'Target.ResponseCodeMismatch',
      description: 'Health checks failed with these codes: [503]',
      statusCode: 503,
      cause: null,
    });
    expect(status.lastCheck).toMatchObject({ statusCode: 503, outcome: 'status' });
  });

  it('reports a check that hangs as Target.Timeout', async () => {
    const status = await settled('hang', t['hang']!.address, 'unhealthy');
    expect(status.reason?.code).toBe('Target.Timeout');
    expect(status.lastCheck?.outcome).toBe('timeout');
  });

  it('honours a matcher range (204 in 200-299 is healthy)', async () => {
    expect((await settled('range', t['range']!.address, 'healthy')).lastCheck?.statusCode).toBe(204);
  });

  it('honours a matcher list (201 is not in "200,204")', async () => {
    const status = await settled('list', t['list']!.address, 'unhealthy');
    expect(status.reason).toMatchObject({ code: 'Target.ResponseCodeMismatch', statusCode: 201 });
  });

  it('runs TCP checks: an open port is healthy, a closed one unhealthy (refused)', async () => {
    expect((await settled('tcp', t['tcp']!.address, 'healthy')).lastCheck?.statusCode).toBeNull();
    const down = await settled('tcp', `127.0.0.1:${closed}`, 'unhealthy');
    expect(down.reason).toMatchObject({ code: 'Target.FailedHealthChecks', cause: 'refused' });
    expect(t['tcp']!.count).toBe(0);
  });

  it('checks the port override, not the traffic port', async () => {
    const status = await settled('override', t['traffic']!.address, 'unhealthy');
    expect(status.reason).toMatchObject({ statusCode: 500 });
    expect(t['traffic']!.hits.get('/') ?? 0).toBe(0);
    expect(t['traffic']!.hits.get('/health') ?? 0).toBe(0);
    expect(t['healthPort']!.hits.get('/health') ?? 0).toBeGreaterThanOrEqual(2);
  });

  it('reports an HTTPS check of a plain-HTTP target as a TLS failure', async () => {
    const status = await settled('tls', t['tls']!.address, 'unhealthy');
    expect(status.reason).toMatchObject({ code: 'Target.FailedHealthChecks', cause: 'tls' });
  });

  it('lists every target with its health at GET /targets', async () => {
    await settled('mismatch', t['mismatch']!.address, 'unhealthy');
    const res = await request(`http://${ferry.adminAddress}/targets`);
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
    const doc = (await res.body.json()) as {
      targetGroups: {
        name: string;
        algorithm: string;
        routeTo: string;
        targets: Record<string, unknown>[];
      }[];
    };
    expect(doc.targetGroups.map((group) => group.name)).toEqual([
      'mismatch',
      'hang',
      'range',
      'list',
      'tcp',
      'override',
      'tls',
    ]);
    // The read model's group facts are served as they are: no second lookup in the config or table.
    expect(doc.targetGroups[0]).toMatchObject({ algorithm: 'round_robin', routeTo: 'mismatch' });
    const mismatch = doc.targetGroups[0]!.targets[0]!;
    expect(mismatch).toMatchObject({
      address: t['mismatch']!.address,
      health: {
        state: 'unhealthy',
        reason: 'Target.ResponseCodeMismatch',
        description: 'Health checks failed with these codes: [503]',
        statusCode: 503,
      },
      lastCheck: { statusCode: 503, outcome: 'status', reason: 'Target.ResponseCodeMismatch' },
      consecutiveSuccesses: 0,
      outlier: { ejected: false, ejectionsTotal: 0 },
      drain: null,
      // No request has gone to it, so there is no latency estimate yet.
      latencyEwmaUs: null,
    });
    expect(typeof mismatch['timeInStateMs']).toBe('number');
    expect(mismatch['consecutiveFailures']).toBeGreaterThanOrEqual(2);
    expect(
      (mismatch['transitions'] as { from: string | null; to: string }[]).map((x) => `${x.from}->${x.to}`),
    ).toEqual(['null->initial', 'initial->unhealthy']);
  });
});

describe('a new target', () => {
  let ferry: TestFerry | null = null;
  let targets: TestTarget[] = [];
  afterEach(async () => {
    await ferry?.stop(1_000);
    ferry = null;
    await Promise.all(targets.map((t) => t.close()));
    targets = [];
  });

  it('is initial and gets no traffic until its first passing check', async () => {
    targets = await startTargets(2);
    const [old, fresh] = targets as [TestTarget, TestTarget];
    fresh.status = 503;
    const groupYaml = `    ${CHECK}, unhealthyThreshold: 10 }`;
    const clock = new ManualClock();
    ferry = await startTestFerry(simpleConfig({ targets: [old.address], groupYaml }), { clock });
    const { parseConfig } = await import('../../src/config/index.ts');
    const next = parseConfig(simpleConfig({ targets: [old.address, fresh.address], groupYaml }), '<reload>');
    if (!next.ok) throw new Error('bad reload config');

    const firstCheck = nextEvent(ferry.health, 'check', (ref) => ref.address === fresh.address);
    ferry.reload(next.snapshot);
    expect(ferry.health.target('app', fresh.address)).toMatchObject({
      state: 'initial',
      reason: { code: 'Elb.RegistrationInProgress' },
    });
    await firstCheck;
    await checksSettled(ferry.health);
    expect(ferry.health.target('app', fresh.address)).toMatchObject({
      state: 'initial',
      reason: { code: 'Elb.InitialHealthChecking' },
    });
    const agent = new Agent({ connections: 4 });
    const answers = await Promise.all(Array.from({ length: 20 }, () => get(`${ferry!.url}/`, agent)));
    expect(new Set(answers.map((a) => a.target))).toEqual(new Set([old.address]));
    expect(fresh.hits.get('/') ?? 0).toBe(0);

    const passed = nextEvent(
      ferry.health,
      'transition',
      (e) => e.address === fresh.address && e.to === 'healthy',
    );
    fresh.status = 200;
    await runUntil(
      ferry.health,
      clock,
      () => ferry!.health.target('app', fresh.address)?.state === 'healthy',
    );
    expect((await passed)[0].from).toBe('initial');
    await Promise.all(Array.from({ length: 20 }, () => get(`${ferry!.url}/`, agent)));
    expect(fresh.hits.get('/') ?? 0).toBeGreaterThan(0);
    await agent.close();
  });
});
