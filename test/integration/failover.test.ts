/**
 * Hot failover end to end: a real Ferry (2 worker threads) under continuous
 * keep-alive load, switched with `ferryctl failover` / `failback` and by
 * itself when every primary target goes down. Requests carry the load's
 * phase in a header and the targets count them, so "no new request reaches
 * the primary after the command returns" is checked where it matters: at
 * the targets. The automatic case runs the health and failover managers on a
 * ManualClock: check intervals and `failover.after` pass as the test
 * advances it, while the load and the switch's acknowledgement stay real.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { SwitchResult } from '../../proto/control/messages.ts';
import { loadWorker, WORKER_OBSERVED_GENERATION } from '../../proto/table-layout.ts';
import type { FailoverSwitchEvent } from '../../src/failover/index.ts';
import {
  configDir,
  connect,
  countPhases,
  ctl,
  type FileFerry,
  type Load,
  moreAnswers,
  startFileFerry,
  startLoad,
  TOKEN,
} from '../helpers/control.ts';
import { ManualClock } from '../helpers/manual-clock.ts';
import { startTargets, type TestTarget } from '../helpers/targets.ts';
import { runUntil } from './health-support.ts';

let ferry: FileFerry | null = null;
let load: Load | null = null;
let targets: TestTarget[] = [];

afterEach(async () => {
  await load?.stop();
  load = null;
  await ferry?.stop(1_000);
  ferry = null;
  await Promise.all(targets.map((target) => target.close()));
  targets = [];
});

function failoverConfig(
  primaries: readonly TestTarget[],
  standbys: readonly TestTarget[],
  groupYaml: string,
): string {
  const list = (group: readonly TestTarget[]) =>
    group.map((target) => `      - { address: "${target.address}" }`).join('\n');
  return `workers: 2
admin: { address: "127.0.0.1:0" }
control: { address: "127.0.0.1:0", tokenFile: ferry.token }
listeners:
  - name: web
    protocol: HTTP
    address: "127.0.0.1:0"
    defaultAction: { forward: { targetGroup: api } }
targetGroups:
  - name: api
${groupYaml}
    failover: { standby: api-standby, after: 1s }
    targets:
${list(primaries)}
  - name: api-standby
${groupYaml}
    targets:
${list(standbys)}
`;
}

function sum(counts: Map<string, Map<string, number>>, names: readonly string[], phase: string): number {
  return names.reduce((total, name) => total + (counts.get(name)?.get(phase) ?? 0), 0);
}

describe('ferryctl failover', () => {
  it('under continuous load moves every new request to the standby with zero failures, and failback moves them back', async () => {
    targets = await startTargets(4, 't');
    const [p1, p2, s1, s2] = targets as [TestTarget, TestTarget, TestTarget, TestTarget];
    const counts = countPhases(targets);
    ferry = await startFileFerry(
      configDir(),
      failoverConfig([p1, p2], [s1, s2], '    healthCheck: { enabled: false }'),
    );
    const flags = ['--control', ferry.control];
    const env = { FERRY_CONTROL_TOKEN: TOKEN };
    load = startLoad(ferry.url, 8, 10);
    await moreAnswers(load, 300);

    const over = await ctl(['failover', 'api', ...flags], env);
    expect(over.stderr).toBe('');
    expect(over.code).toBe(0);
    expect(over.stdout).toMatch(/^api: failover api -> api-standby; observed by 2 workers in [\d.]+ ms/);
    load.setPhase('failed-over');
    await moreAnswers(load, 400);

    load.setPhase('switching');
    const back = await ctl(['failback', 'api', ...flags], env);
    expect(back.code).toBe(0);
    expect(back.stdout).toMatch(/^api: failback api-standby -> api; observed by 2 workers/);
    load.setPhase('failed-back');
    await moreAnswers(load, 400);
    await load.stop();

    expect(load.failures()).toEqual([]);
    expect(load.answers.length).toBeGreaterThan(1_000);
    // Counted at the targets: nothing sent after the failover returned reached a primary target,
    // nothing sent after the failback returned reached a standby target.
    expect(sum(counts, ['t1', 't2'], 'failed-over')).toBe(0);
    expect(sum(counts, ['t3', 't4'], 'failed-over')).toBeGreaterThan(200);
    expect(sum(counts, ['t3', 't4'], 'failed-back')).toBe(0);
    expect(sum(counts, ['t1', 't2'], 'failed-back')).toBeGreaterThan(200);

    const status = await ctl(['failover-status', '--json', ...flags], env);
    expect(JSON.parse(status.stdout)).toMatchObject({
      groups: [
        { targetGroup: 'api', standby: 'api-standby', routeTo: 'api', mode: 'primary', switchesTotal: 2 },
      ],
      switchesTotal: 2,
    });
  });

  // How fast every worker observes a switch is a measurement, not a test: bench/e2e/failover.ts
  // (`npm run bench:failover`) reports it beside load, and bench/RESULTS.md keeps the numbers.
  it('answers each of 20 switches under load only once both workers observed it, failing no request', async () => {
    targets = await startTargets(4, 't');
    const [p1, p2, s1, s2] = targets as [TestTarget, TestTarget, TestTarget, TestTarget];
    ferry = await startFileFerry(
      configDir(),
      failoverConfig([p1, p2], [s1, s2], '    healthCheck: { enabled: false }'),
    );
    load = startLoad(ferry.url, 8, 10);
    await moreAnswers(load, 300);
    const client = await connect(ferry.control);
    const SWITCHES = 20;
    try {
      for (let i = 0; i < SWITCHES; i++) {
        const isFailover = i % 2 === 0;
        const result: SwitchResult = isFailover
          ? await client.request('failover', { targetGroup: 'api' })
          : await client.request('failback', { targetGroup: 'api' });
        expect(result).toMatchObject({
          isChanged: true,
          workerCount: 2,
          to: isFailover ? 'api-standby' : 'api',
        });
        // Observed means acknowledged: every worker's WORKER_OBSERVED_GENERATION has reached the switch's.
        for (const worker of [0, 1]) {
          const observed = loadWorker(ferry!.table.view, worker, WORKER_OBSERVED_GENERATION);
          expect((observed - result.generation) | 0).toBeGreaterThanOrEqual(0);
        }
        await moreAnswers(load, 20);
      }
    } finally {
      client.close();
    }
    await load.stop();
    expect(load.failures()).toEqual([]);
  });
});

describe('automatic failover', () => {
  it('fails over when every primary target goes down for failover.after, and fails back when one recovers', async () => {
    targets = await startTargets(4, 't');
    const [p1, p2, s1, s2] = targets as [TestTarget, TestTarget, TestTarget, TestTarget];
    const counts = countPhases(targets);
    // Checks every 1 s, 2 results to change state; failover.after 1 s (all on the manual clock).
    const clock = new ManualClock();
    ferry = await startFileFerry(
      configDir(),
      failoverConfig(
        [p1, p2],
        [s1, s2],
        '    healthCheck: { path: /health, interval: 1s, timeout: 500ms, healthyThreshold: 2, unhealthyThreshold: 2 }\n    failOpen: false',
      ),
      { clock },
    );
    const switches: FailoverSwitchEvent[] = [];
    ferry.failover.on('switch', (event) => switches.push(event));
    const nextSwitch = () =>
      new Promise<FailoverSwitchEvent>((resolve) => ferry!.failover.once('switch', resolve));
    load = startLoad(ferry.url, 4, 10);
    await moreAnswers(load, 100);

    load.setPhase('failing');
    const failedOver = nextSwitch();
    p1.status = 503;
    p2.status = 503;
    await runUntil(ferry.health, clock, () => switches.length >= 1);
    const over = await failedOver;
    expect(over).toMatchObject({
      targetGroup: 'api',
      from: 'api',
      to: 'api-standby',
      trigger: 'auto-failover',
      isObserved: true,
    });
    load.setPhase('auto-failed-over');
    await moreAnswers(load, 200);

    load.setPhase('recovering');
    const failedBack = nextSwitch();
    p1.status = 200;
    await runUntil(ferry.health, clock, () => switches.length >= 2);
    const back = await failedBack;
    expect(back).toMatchObject({
      from: 'api-standby',
      to: 'api',
      trigger: 'auto-failback',
      isObserved: true,
    });
    load.setPhase('auto-failed-back');
    await moreAnswers(load, 200);
    await load.stop();

    expect(switches.map((event) => event.trigger)).toEqual(['auto-failover', 'auto-failback']);
    expect(sum(counts, ['t1', 't2'], 'auto-failed-over')).toBe(0);
    expect(sum(counts, ['t3', 't4'], 'auto-failed-over')).toBeGreaterThan(100);
    expect(sum(counts, ['t3', 't4'], 'auto-failed-back')).toBe(0);
    expect(ferry.failover.status()).toMatchObject({ autoFailoversTotal: 1, autoFailbacksTotal: 1 });
    // Only the window before the switch (primaries answering 503) may have failed; none after it.
    expect(load.failures().filter((answer) => answer.phase.startsWith('auto-'))).toEqual([]);
  });
});
