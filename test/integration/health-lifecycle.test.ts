/**
 * Target lifecycle end to end: deregistration with draining (under load, by
 * reload, and at the deregistrationDelay deadline), slow start, and
 * fail-open. Real Ferry with 2 worker threads, real targets on 127.0.0.1.
 * The health manager runs on a ManualClock: deadlines, the slow-start window
 * and check intervals pass when a test advances it, and the tests wait only
 * on real events (answers, a held request arriving, workers acknowledging).
 */
import { once } from 'node:events';
import { Agent, request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/index.ts';
import { HEALTH_TICK_MS, type ReleaseEvent } from '../../src/health/index.ts';
import { simpleConfig, startTestFerry, type TestFerry } from '../helpers/ferry.ts';
import { ManualClock } from '../helpers/manual-clock.ts';
import { startTarget, startTargets, type TestTarget } from '../helpers/targets.ts';
import { workerRequests, workerRequestsSince } from '../helpers/workers.ts';
import { type Answer, get, nextEvent, runUntil, ticks, workersCaughtUp } from './health-support.ts';

let ferry: TestFerry | null = null;
let targets: TestTarget[] = [];
const agents: Agent[] = [];

afterEach(async () => {
  await Promise.all(agents.splice(0).map((agent) => agent.destroy()));
  await ferry?.stop(1_000);
  ferry = null;
  await Promise.all(targets.map((t) => t.close()));
  targets = [];
});

function snapshotOf(yaml: string) {
  const result = parseConfig(yaml, '<reload>');
  if (!result.ok) throw new Error(`bad config: ${JSON.stringify(result.errors)}`);
  return result.snapshot;
}

describe('deregistration', () => {
  it('under steady load through 2 workers loses zero requests, and the target leaves draining as soon as it is idle', async () => {
    targets = await startTargets(3);
    for (const target of targets) target.delayMs = 1_000;
    const leaving = targets[1]!;
    const clock = new ManualClock();
    ferry = await startTestFerry(
      simpleConfig({
        targets: targets.map((t) => t.address),
        workers: 2,
        // Checks on, patient enough for targets that take 1 s to answer anything. The delay is far
        // beyond the clock time the test lets pass (one tick per answer), so only idleness ends the drain.
        groupYaml:
          '    healthCheck: { path: /health, interval: 5s, timeout: 3s }\n    deregistrationDelay: 1h',
      }),
      { clock },
    );
    const agent = new Agent({ connections: 300 });
    agents.push(agent);
    const CONCURRENCY = 300;
    const ROUNDS = 5;
    const answers: (Answer & { startedAfterDrain: boolean; endedAfterDrain: boolean })[] = [];
    let isDraining = false;
    let released: ReleaseEvent | null = null;
    let completedAtRelease = -1;
    const releasedEvent = nextEvent(ferry.health, 'released', (e) => e.address === leaving.address).then(
      ([e]) => {
        released = e;
        completedAtRelease = answers.length;
      },
    );
    let drainStarted!: () => void;
    const halfway = new Promise<void>((resolve) => {
      drainStarted = resolve;
    });
    const loop = async (): Promise<void> => {
      for (let round = 0; round < ROUNDS; round++) {
        const startedAfterDrain = isDraining;
        const answer = await get(`${ferry!.url}/`, agent);
        answers.push({ ...answer, startedAfterDrain, endedAfterDrain: isDraining });
        if (answers.length === (CONCURRENCY * 3) / 2) drainStarted();
        // The control tick runs once per answer: driven by the load itself, not by wall time.
        clock.advance(HEALTH_TICK_MS);
      }
    };
    const before = workerRequests(ferry, 2);
    const load = Promise.all(Array.from({ length: CONCURRENCY }, loop));
    await halfway;
    const inFlightAtDrain = ferry.health.target('app', leaving.address)!.inFlight;
    expect(ferry.health.deregister('app', leaving.address)).toBe('draining');
    isDraining = true;
    expect(ferry.health.target('app', leaving.address)).toMatchObject({
      state: 'draining',
      reason: { code: 'Target.DeregistrationInProgress' },
    });
    await load;
    await runUntil(ferry.health, clock, () => released !== null, 100);
    await releasedEvent;

    // Zero failures: every one of the requests got its 200, and both workers served some.
    expect(answers).toHaveLength(CONCURRENCY * ROUNDS);
    const served = workerRequestsSince(ferry, before);
    expect(
      served.every((count) => count > 0),
      `requests per worker: ${served}`,
    ).toBe(true);
    expect(answers.filter((a) => a.status !== 200)).toEqual([]);
    // Its in-flight requests completed; no request started after the deregistration went to it.
    expect(inFlightAtDrain).toBeGreaterThan(0);
    expect(answers.filter((a) => a.target === leaving.address && a.endedAfterDrain).length).toBeGreaterThan(
      0,
    );
    expect(answers.filter((a) => a.target === leaving.address && a.startedAfterDrain)).toEqual([]);
    // It left draining because it was idle, not because deregistrationDelay ran out,
    // and while the load was still running.
    expect(released).toMatchObject({ end: 'idle', inFlight: 0 });
    expect(completedAtRelease).toBeLessThan(CONCURRENCY * ROUNDS);
    expect(ferry.health.target('app', leaving.address)).toBeUndefined();
    expect(ferry.topology().groups[0]!.members.map((m) => m.id)).not.toContain(leaving.address);
  });

  it('happens when a reload leaves a target out; re-listing it registers it again', async () => {
    targets = await startTargets(2);
    const [stays, goes] = targets as [TestTarget, TestTarget];
    const groupYaml = '    healthCheck: { path: /health, interval: 2s, timeout: 1500ms }';
    const both = simpleConfig({ targets: [stays.address, goes.address], groupYaml });
    const clock = new ManualClock();
    ferry = await startTestFerry(both, { clock });
    const releasedEvent = nextEvent(ferry.health, 'released', (e) => e.address === goes.address);
    const topology = ferry.reload(snapshotOf(simpleConfig({ targets: [stays.address], groupYaml })));
    // Still in the topology while draining (in-flight requests keep their slot).
    expect(topology.groups[0]!.members.map((m) => m.id)).toContain(goes.address);
    expect(ferry.health.target('app', goes.address)?.state).toBe('draining');
    await workersCaughtUp(ferry);
    await ticks(clock, 1);
    const [event] = await releasedEvent;
    expect(event.end).toBe('idle');
    expect(ferry.health.deregister('app', goes.address)).toBe('not-found');

    const back = nextEvent(
      ferry.health,
      'transition',
      (e) => e.address === goes.address && e.to === 'healthy',
    );
    ferry.reload(snapshotOf(both));
    expect(ferry.health.target('app', goes.address)?.state).toBe('initial');
    await back;

    // Listeners, workers, admin and limits are bound at start: a reload that changes them is refused whole.
    const oneWorker = simpleConfig({ targets: [stays.address], groupYaml, workers: 1 });
    expect(() => ferry!.reload(snapshotOf(oneWorker))).toThrow(/restart Ferry to apply them/);
    expect(ferry.health.target('app', goes.address)?.state).toBe('healthy');
  });

  it('answers already-draining and not-found to repeated or unknown deregistrations', async () => {
    targets = await startTargets(2);
    ferry = await startTestFerry(
      simpleConfig({ targets: targets.map((t) => t.address), groupYaml: '    deregistrationDelay: 1h' }),
      { clock: new ManualClock() },
    );
    const agent = new Agent({ connections: 1 });
    agents.push(agent);
    // Keep one request open on the first target so its drain cannot end early.
    ferry.table.setWeight(ferry.table.target('app', targets[1]!.address)!.slot, 0);
    await workersCaughtUp(ferry);
    const arrived = once(targets[0]!.server, 'request');
    const held = request(`${ferry.url}/hold`, { dispatcher: agent });
    await arrived;
    expect(targets[0]!.held).toHaveLength(1);
    expect(ferry.health.deregister('app', targets[0]!.address)).toBe('draining');
    expect(ferry.health.deregister('app', targets[0]!.address)).toBe('already-draining');
    expect(ferry.health.deregister('app', '127.0.0.1:1')).toBe('not-found');
    expect(ferry.health.deregister('nope', targets[0]!.address)).toBe('not-found');
    targets[0]!.release();
    await (await held).body.text();
  });

  it('frees the slot and cuts the request still open when deregistrationDelay passes', async () => {
    targets = await startTargets(2);
    const clock = new ManualClock();
    ferry = await startTestFerry(
      simpleConfig({ targets: targets.map((t) => t.address), groupYaml: '    deregistrationDelay: 2s' }),
      { clock },
    );
    const agent = new Agent({ connections: 1 });
    agents.push(agent);
    ferry.table.setWeight(ferry.table.target('app', targets[1]!.address)!.slot, 0);
    await workersCaughtUp(ferry);
    const arrived = once(targets[0]!.server, 'request');
    const held = request(`${ferry.url}/hold`, { dispatcher: agent });
    await arrived;
    const released: ReleaseEvent[] = [];
    ferry.health.on('released', (e) => released.push(e));
    expect(ferry.health.deregister('app', targets[0]!.address)).toBe('draining');
    await ticks(clock, 2_000 / HEALTH_TICK_MS - 1);
    expect(released).toEqual([]);
    expect(ferry.health.target('app', targets[0]!.address)?.state).toBe('draining');
    await ticks(clock, 1);
    expect(released).toEqual([expect.objectContaining({ end: 'deadline', inFlight: 1, drainedMs: 2_000 })]);
    // Whatever is still open at the deadline is closed (ELB): the client sees its response cut.
    await expect((await held).body.text()).rejects.toThrow();
  });
});

describe('slow start', () => {
  it("ramps a newly healthy target's share of requests up over the window", async () => {
    targets = await startTargets(2);
    const [old, fresh] = targets as [TestTarget, TestTarget];
    const groupYaml = '    healthCheck: { path: /health, interval: 2s, timeout: 1500ms }\n    slowStart: 30s';
    const clock = new ManualClock();
    ferry = await startTestFerry(simpleConfig({ targets: [old.address], groupYaml }), { clock });
    const healthy = nextEvent(
      ferry.health,
      'transition',
      (e) => e.address === fresh.address && e.to === 'healthy',
    );
    ferry.reload(snapshotOf(simpleConfig({ targets: [old.address, fresh.address], groupYaml })));
    await healthy;
    expect(ferry.health.target('app', fresh.address)?.slowStart?.percent).toBe(10);

    const agent = new Agent({ connections: 2 });
    agents.push(agent);
    const shares: { percent: number; share: number }[] = [];
    // One batch per second of the clock, so the 30 s window spans 30 batches; each batch waits
    // until the workers have taken the new weights.
    for (let batch = 0; batch < 300; batch++) {
      await ticks(clock, 1_000 / HEALTH_TICK_MS);
      await workersCaughtUp(ferry);
      const percent = ferry.health.target('app', fresh.address)?.slowStart?.percent ?? 100;
      const answers = await Promise.all(Array.from({ length: 22 }, () => get(`${ferry!.url}/`, agent)));
      expect(answers.every((a) => a.status === 200)).toBe(true);
      shares.push({
        percent,
        share: answers.filter((a) => a.target === fresh.address).length / answers.length,
      });
      if (percent === 100) break;
    }
    const first = shares[0]!;
    const ramp = shares.filter((s) => s.percent < 100);
    const last = shares.at(-1)!;
    expect(first.percent).toBe(10);
    expect(first.share).toBeLessThan(0.2);
    expect(last.percent).toBe(100);
    expect(last.share).toBeGreaterThanOrEqual(0.4);
    // Rising over the window: the late half of the ramp gets more than the early half.
    const half = Math.floor(ramp.length / 2);
    const mean = (xs: { share: number }[]) => xs.reduce((sum, x) => sum + x.share, 0) / xs.length;
    expect(ramp.length).toBe(29);
    expect(mean(ramp.slice(half))).toBeGreaterThan(mean(ramp.slice(0, half)));
  });
});

describe('fail-open', () => {
  async function allUnhealthy(failOpen: boolean): Promise<void> {
    const closed = await startTarget('closed');
    await closed.close();
    targets = await startTargets(2);
    const clock = new ManualClock();
    ferry = await startTestFerry(
      simpleConfig({
        targets: targets.map((t) => t.address),
        // Checks go to a port nothing listens on: every target fails them, traffic ports are fine.
        groupYaml: `    healthCheck: { port: ${closed.port}, interval: 1s, timeout: 500ms }\n    failOpen: ${failOpen}`,
      }),
      { clock },
    );
    const health = ferry.health;
    await runUntil(health, clock, () =>
      targets.every((t) => health.target('app', t.address)?.state === 'unhealthy'),
    );
  }

  async function groupCounters() {
    const res = await request(`http://${ferry!.adminAddress}/targets`);
    const doc = (await res.body.json()) as {
      targetGroups: { failOpenRequestsTotal: number; noTargetRequestsTotal: number }[];
    };
    return doc.targetGroups[0]!;
  }

  it('routes over all targets when none is healthy, and counts those requests', async () => {
    await allUnhealthy(true);
    const before = await groupCounters();
    const answers = [];
    for (let i = 0; i < 10; i++) answers.push(await get(`${ferry!.url}/`));
    expect(answers.map((a) => a.status)).toEqual(Array(10).fill(200));
    expect(new Set(answers.map((a) => a.target))).toEqual(new Set(targets.map((t) => t.address)));
    expect((await groupCounters()).failOpenRequestsTotal - before.failOpenRequestsTotal).toBe(10);
  });

  it('answers 503 FERRY_ERR_PICK_NO_TARGET when failOpen is false', async () => {
    await allUnhealthy(false);
    const before = await groupCounters();
    const answers = [];
    for (let i = 0; i < 10; i++) answers.push(await get(`${ferry!.url}/`));
    expect(answers.map((a) => `${a.status} ${a.error}`)).toEqual(
      Array(10).fill('503 FERRY_ERR_PICK_NO_TARGET'),
    );
    expect(targets.map((t) => t.hits.get('/') ?? 0)).toEqual([0, 0]);
    const after = await groupCounters();
    expect(after.noTargetRequestsTotal - before.noTargetRequestsTotal).toBe(10);
    expect(after.failOpenRequestsTotal).toBe(0);
  });
});
