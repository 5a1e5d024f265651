/**
 * Zone-aware routing end to end: 3 zones x 2 targets, Ferry in zone-a, real
 * worker threads and real targets on 127.0.0.1. Health runs on a
 * ManualClock; a target turns unhealthy by failing its real health checks.
 * Shares are measured over real requests; the spill share is random per
 * pick, so it is checked within ±5 % (about 5 standard deviations at 2,000
 * requests), never by time.
 */
import { Agent } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { GROUP_CROSS_ZONE_TOTAL, GROUP_ZONE_SPILL_TOTAL, loadGroup } from '../../proto/table-layout.ts';
import { startTestFerry, type TestFerry } from '../helpers/ferry.ts';
import { ManualClock } from '../helpers/manual-clock.ts';
import { metricValue, parsePrometheusText } from '../helpers/prometheus.ts';
import { startTargets, type TestTarget } from '../helpers/targets.ts';
import { get, runUntil, workersCaughtUp } from './health-support.ts';

let ferry: TestFerry | null = null;
let targets: TestTarget[] = [];
const agents: Agent[] = [];

afterEach(async () => {
  await Promise.all(agents.splice(0).map((agent) => agent.destroy()));
  await ferry?.stop(1_000);
  ferry = null;
  await Promise.all(targets.splice(0).map((t) => t.close()));
});

const ZONES = ['zone-a', 'zone-a', 'zone-b', 'zone-b', 'zone-c', 'zone-c'] as const;

function zonesConfig(groupYaml: string, algorithm = 'round_robin'): string {
  return `workers: 2
zone: zone-a
admin: { address: "127.0.0.1:0" }
listeners:
  - name: web
    protocol: HTTP
    address: "127.0.0.1:0"
    addTargetHeader: true
    defaultAction: { forward: { targetGroup: api } }
targetGroups:
  - name: api
    algorithm: ${algorithm}
    healthCheck: { path: /health, interval: 5s, timeout: 2s, healthyThreshold: 2, unhealthyThreshold: 2 }
    failOpen: false
${groupYaml}
    targets:
${targets.map((t, i) => `      - { address: "${t.address}", zone: ${ZONES[i]} }`).join('\n')}
`;
}

function states(): string[] {
  return ferry!.health.report().targetGroups[0]!.targets.map((t) => t.state);
}

async function shares(count: number): Promise<{ byZone: Map<string, number>; errors: number }> {
  const agent = new Agent({ connections: 16 });
  agents.push(agent);
  const zoneOf = new Map(targets.map((t, i) => [t.address, ZONES[i]!]));
  const byZone = new Map<string, number>();
  let errors = 0;
  for (let sent = 0; sent < count; sent += 40) {
    const answers = await Promise.all(Array.from({ length: 40 }, () => get(`${ferry!.url}/`, agent)));
    for (const answer of answers) {
      if (answer.status !== 200) errors++;
      else {
        const zone = zoneOf.get(answer.target)!;
        byZone.set(zone, (byZone.get(zone) ?? 0) + 1);
      }
    }
  }
  return { byZone, errors };
}

/** Start the 6 targets and Ferry, and wait until every target passed its checks. */
async function startZoned(groupYaml: string, algorithm?: string): Promise<ManualClock> {
  targets = await startTargets(6);
  const clock = new ManualClock();
  ferry = await startTestFerry(zonesConfig(groupYaml, algorithm), { clock });
  await runUntil(ferry.health, clock, () => states().every((state) => state === 'healthy'));
  return clock;
}

/** Fail `target`'s health checks until it is unhealthy, and wait for the workers to see it. */
async function makeUnhealthy(clock: ManualClock, target: TestTarget): Promise<void> {
  target.status = 503;
  const index = targets.indexOf(target);
  await runUntil(ferry!.health, clock, () => states()[index] === 'unhealthy');
  await workersCaughtUp(ferry!);
}

describe('zoneAware (overprovisioningFactor 1.4)', () => {
  for (const algorithm of ['round_robin', 'least_outstanding_requests', 'random'] as const) {
    describe(`with ${algorithm}`, () => {
      it('sends 100 % to the local zone while it is healthy, and 70 % ±5 % when one of its two targets is unhealthy, the rest over the other zones', async () => {
        const clock = await startZoned(
          '    zoneAware: { enabled: true, overprovisioningFactor: 1.4, minTargets: 2 }',
          algorithm,
        );
        const healthy = await shares(400);
        expect(healthy.errors).toBe(0);
        expect(healthy.byZone.get('zone-a')).toBe(400);

        await makeUnhealthy(clock, targets[0]!);
        const trafficBefore = targets[0]!.hits.get('/') ?? 0;
        const spilled = await shares(2_000);
        expect(spilled.errors).toBe(0);
        const local = (spilled.byZone.get('zone-a') ?? 0) / 2_000;
        expect(Math.abs(local - 0.7)).toBeLessThanOrEqual(0.05);
        const zoneB = spilled.byZone.get('zone-b') ?? 0;
        const zoneC = spilled.byZone.get('zone-c') ?? 0;
        expect(zoneB + zoneC).toBe(2_000 - (spilled.byZone.get('zone-a') ?? 0));
        // The other zones share the spill in proportion to their routable targets (2 each): about half each.
        expect(Math.abs(zoneB / (zoneB + zoneC) - 0.5)).toBeLessThanOrEqual(0.1);
        expect(targets[0]!.hits.get('/') ?? 0).toBe(trafficBefore);
        expect(loadGroup(ferry!.table.view, 0, GROUP_ZONE_SPILL_TOTAL)).toBe(zoneB + zoneC);
      });
    });
  }

  it('ignores zones in a group with fewer targets than minTargets', async () => {
    await startZoned('    zoneAware: { enabled: true, minTargets: 7 }');
    const { byZone, errors } = await shares(600);
    expect(errors).toBe(0);
    for (const zone of ['zone-a', 'zone-b', 'zone-c']) expect(byZone.get(zone)).toBe(200);
  });
});

describe('crossZone: disabled', () => {
  it('sends only to the local zone, and to the other zones (counted) once no local target is routable', async () => {
    const clock = await startZoned('    crossZone: disabled');
    const local = await shares(200);
    expect(local.byZone.get('zone-a')).toBe(200);
    expect(loadGroup(ferry!.table.view, 0, GROUP_CROSS_ZONE_TOTAL)).toBe(0);

    await makeUnhealthy(clock, targets[0]!);
    const oneLeft = await shares(200);
    expect(oneLeft.byZone.get('zone-a')).toBe(200);

    await makeUnhealthy(clock, targets[1]!);
    const away = await shares(400);
    expect(away.errors).toBe(0);
    expect(away.byZone.get('zone-a')).toBeUndefined();
    expect((away.byZone.get('zone-b') ?? 0) + (away.byZone.get('zone-c') ?? 0)).toBe(400);
    expect(loadGroup(ferry!.table.view, 0, GROUP_CROSS_ZONE_TOTAL)).toBe(400);
    const metrics = parsePrometheusText(await (await fetch(`http://${ferry!.adminAddress}/metrics`)).text());
    expect(
      metricValue(metrics, 'ferry_target_group_cross_zone_requests_total', { target_group: 'api' }),
    ).toBe(400);
    expect(
      metricValue(metrics, 'ferry_zone_targets', {
        target_group: 'api',
        zone: 'zone-a',
        state: 'unhealthy',
        local: '1',
      }),
    ).toBe(2);
    expect(
      metricValue(metrics, 'ferry_zone_targets', {
        target_group: 'api',
        zone: 'zone-b',
        state: 'healthy',
        local: '0',
      }),
    ).toBe(2);
  });
});
