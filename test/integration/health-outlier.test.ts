/**
 * Passive health checking (outlier detection) end to end: workers count
 * consecutive 5xx answers and gateway failures in the shared table, the main
 * thread ejects past the threshold, re-admits when the ejection time is up,
 * doubles it the second time, and never ejects more than maxEjectionPercent
 * (but always one when the group has two or more targets).
 *
 * Requests go one at a time, each followed (once the worker has recorded it)
 * by two control ticks on the manager's ManualClock, so the count a target
 * received when it was ejected is exact, and ejection times pass on the clock.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { EjectionEvent } from '../../src/health/index.ts';
import { simpleConfig, startTestFerry, type TestFerry } from '../helpers/ferry.ts';
import { ManualClock } from '../helpers/manual-clock.ts';
import { startTargets, type TestTarget } from '../helpers/targets.ts';
import { exchangesRecorded, get, nextEvent, ticks } from './health-support.ts';

let ferry: TestFerry | null = null;
let targets: TestTarget[] = [];
let clock = new ManualClock();
/** Requests sent through the listener so far (what the workers must have recorded before a tick). */
let sent = 0;

afterEach(async () => {
  await ferry?.stop(1_000);
  ferry = null;
  await Promise.all(targets.map((t) => t.close()));
  targets = [];
});

async function start(yaml: string): Promise<TestFerry> {
  clock = new ManualClock();
  sent = 0;
  ferry = await startTestFerry(yaml, { clock });
  return ferry;
}

/** Send one request and let the manager's tick see what the worker counted. */
async function step(): Promise<{ status: number; target: string }> {
  const answer = await get(`${ferry!.url}/`);
  await exchangesRecorded(ferry!, 'app', ++sent);
  await ticks(clock, 2);
  return answer;
}

/** Rounds of 8 concurrent requests, each followed by two ticks (exact counts do not matter here). */
async function burst(rounds: number): Promise<void> {
  for (let round = 0; round < rounds; round++) {
    await Promise.all(Array.from({ length: 8 }, () => get(`${ferry!.url}/`)));
    sent += 8;
    await exchangesRecorded(ferry!, 'app', sent);
    await ticks(clock, 2);
  }
}

describe('outlier detection', () => {
  it('ejects a target answering 500 after consecutive5xx requests, re-admits it after the ejection time, and doubles it next time', async () => {
    targets = await startTargets(2);
    const [good, bad] = targets as [TestTarget, TestTarget];
    bad.status = 500;
    await start(
      simpleConfig({
        targets: [good.address, bad.address],
        // TCP checks pass (the port accepts), so only real traffic shows the 500s.
        groupYaml:
          '    healthCheck: { protocol: TCP, interval: 5s }\n' +
          '    outlierDetection: { consecutive5xx: 5, baseEjectionTime: 2s, maxEjectionPercent: 50 }',
      }),
    );
    const health = ferry!.health;
    const events: EjectionEvent[] = [];
    /** ManualClock ms at which each event was emitted. */
    const atMs: number[] = [];
    health.on('ejection', (event) => {
      events.push(event);
      atMs.push(clock.nowMs());
    });

    let guard = 0;
    while (events.length === 0 && guard++ < 40) await step();
    expect(events[0]).toMatchObject({
      address: bad.address,
      isEjected: true,
      trigger: 'consecutive5xx',
      count: 5,
      ejections: 1,
    });
    expect(bad.hits.get('/')).toBe(5);
    expect(health.target('app', bad.address)?.outlier).toMatchObject({ isEjected: true, ejectionsTotal: 1 });
    // Its state is still healthy (active checks pass); ejection is a separate flag.
    expect(health.target('app', bad.address)?.state).toBe('healthy');

    const readmitted = nextEvent(health, 'ejection', (e) => e.address === bad.address && !e.isEjected);
    while (events.length === 1) expect((await step()).target).toBe(good.address);
    await readmitted;

    // Back in rotation: it gets requests again, fails 5 more, and is ejected for 2 × baseEjectionTime.
    const second = nextEvent(health, 'ejection', (e) => e.address === bad.address && e.isEjected);
    guard = 0;
    while (events.length < 3 && guard++ < 40) await step();
    const [again] = await second;
    expect(again).toMatchObject({ count: 5, ejections: 2 });
    expect(bad.hits.get('/')).toBe(10);

    // Out for 2 × baseEjectionTime this time: no request reaches it for 4 s of the manager's clock,
    // then it is re-admitted (within the two 100 ms ticks of the step that crosses 4 s).
    const readmittedAgain = nextEvent(health, 'ejection', (e) => e.address === bad.address && !e.isEjected);
    guard = 0;
    while (events.length === 3 && guard++ < 100) expect((await step()).target).toBe(good.address);
    await readmittedAgain;
    expect(bad.hits.get('/')).toBe(10);
    const [ejected1, readmitted1, ejected2, readmitted2] = atMs as [number, number, number, number];
    expect(events[0]!.untilMs! - ejected1).toBe(2_000);
    expect(events[2]!.untilMs! - ejected2).toBe(4_000);
    expect(readmitted1 - ejected1).toBeGreaterThanOrEqual(2_000);
    expect(readmitted1 - ejected1).toBeLessThanOrEqual(2_200);
    expect(readmitted2 - ejected2).toBeGreaterThanOrEqual(4_000);
    expect(readmitted2 - ejected2).toBeLessThanOrEqual(4_200);
  });

  it('ejects a target that refuses connections on consecutive gateway failures, with active checks off', async () => {
    targets = await startTargets(2);
    const [good, dead] = targets as [TestTarget, TestTarget];
    await dead.close();
    await start(
      simpleConfig({
        targets: [good.address, dead.address],
        groupYaml: '    outlierDetection: { consecutiveGatewayFailure: 3, consecutive5xx: 0 }',
      }),
    );
    const ejected = nextEvent(ferry!.health, 'ejection', (e) => e.isEjected);
    const answers = [];
    for (let i = 0; i < 12; i++) answers.push(await step());
    const [event] = await ejected;
    expect(event).toMatchObject({ address: dead.address, trigger: 'consecutiveGatewayFailure', count: 3 });
    // Issue 10: each refused connect is retried on the good target, so clients see no 502,
    // but every failed try still counts against the dead target, which is ejected as before.
    expect(answers.filter((a) => a.status !== 200)).toHaveLength(0);
    expect(answers.slice(-4).map((a) => `${a.status} ${a.target}`)).toEqual(
      Array(4).fill(`200 ${good.address}`),
    );
    expect(ferry!.health.target('app', dead.address)?.state).toBe('unavailable');
  });

  it('never ejects more than maxEjectionPercent of the group', async () => {
    targets = await startTargets(4);
    for (const target of targets.slice(1)) target.status = 500;
    await start(
      simpleConfig({
        targets: targets.map((t) => t.address),
        groupYaml:
          '    outlierDetection: { consecutive5xx: 2, maxEjectionPercent: 50, baseEjectionTime: 1h }',
      }),
    );
    await burst(6);
    const ejected = targets.filter((t) => ferry!.health.target('app', t.address)?.outlier.isEjected);
    expect(ejected).toHaveLength(2);
    expect(ejected).not.toContain(targets[0]);
  });

  it('always allows one ejection when the group has two targets, even at 0%', async () => {
    targets = await startTargets(2);
    for (const target of targets) target.status = 500;
    await start(
      simpleConfig({
        targets: targets.map((t) => t.address),
        groupYaml: '    outlierDetection: { consecutive5xx: 2, maxEjectionPercent: 0, baseEjectionTime: 1h }',
      }),
    );
    await burst(4);
    const ejected = targets.filter((t) => ferry!.health.target('app', t.address)?.outlier.isEjected);
    expect(ejected).toHaveLength(1);
  });
});
