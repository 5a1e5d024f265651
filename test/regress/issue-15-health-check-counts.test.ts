/**
 * Regression for issue 15 §4: `ferry_target_health_checks_total{outcome="pass"}`
 * disagreed with the check count of `/targets`. Metrics counted 'check'
 * events, and the first round of checks runs before telemetry exists (and
 * before a target's series is first polled), so those checks never reached
 * /metrics. Now both read the health read model. A real Ferry on a manual
 * clock: checks happen only at start and when the test advances time.
 */
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestFerry, type TestFerry } from '../helpers/ferry.ts';
import { ManualClock } from '../helpers/manual-clock.ts';
import { metricValue, parsePrometheusText } from '../helpers/prometheus.ts';
import { startTargets, type TestTarget } from '../helpers/targets.ts';

let ferry: TestFerry;
let targets: TestTarget[];
const clock = new ManualClock();

beforeAll(async () => {
  targets = await startTargets(1, 'checked');
  ferry = await startTestFerry(
    `workers: 1
admin: { address: "127.0.0.1:0" }
listeners:
  - { name: web, protocol: HTTP, address: "127.0.0.1:0", defaultAction: { forward: { targetGroup: app } } }
targetGroups:
  - name: app
    healthCheck: { protocol: TCP, interval: 10s, timeout: 1s }
    targets: [ { address: "${targets[0]!.address}" } ]
`,
    { clock },
  );
});

afterAll(async () => {
  await ferry?.stop(1_000);
  await Promise.all((targets ?? []).map((t) => t.close()));
});

async function counts(): Promise<{ metricPass: number; targetsPass: number; checksTotal: number }> {
  const metrics = parsePrometheusText(
    await (await request(`http://${ferry.adminAddress}/metrics`)).body.text(),
  );
  const metricPass = metricValue(metrics, 'ferry_target_health_checks_total', { outcome: 'pass' });
  const document = (await (await request(`http://${ferry.adminAddress}/targets`)).body.json()) as {
    targetGroups: { targets: { checks: { pass: number }; checksTotal: number }[] }[];
  };
  const target = document.targetGroups[0]!.targets[0]!;
  return { metricPass, targetsPass: target.checks.pass, checksTotal: target.checksTotal };
}

describe('issue 15 (https://github.com/ferry/ferry/issues/15): health check counts', () => {
  it('counts the first round of checks, made before telemetry started, in /metrics as in /targets', async () => {
    expect(await counts()).toEqual({ metricPass: 1, targetsPass: 1, checksTotal: 1 });
  });

  it('keeps /metrics and /targets equal as later checks pass', async () => {
    const checked = new Promise<void>((resolve) => ferry.health.once('check', () => resolve()));
    clock.advance(10_000);
    await checked;
    expect(await counts()).toEqual({ metricPass: 2, targetsPass: 2, checksTotal: 2 });
  });
});
