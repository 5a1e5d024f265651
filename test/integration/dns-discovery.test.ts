/**
 * DNS discovery end to end, against a real DNS server: dnsmasq on 127.0.0.1
 * (test/helpers/dnsmasq.ts; installed by scripts/ensure-dnsmasq.sh when
 * missing), a real Ferry with worker threads, real targets on loopback
 * addresses. Ferry's discovery and health managers run on a ManualClock, so
 * TTLs, refreshes and backoff pass when a test advances it; the tests wait
 * only on real events (a resolution finishing, a check answering, workers
 * acknowledging a table generation).
 *
 * Where dnsmasq cannot be installed or run, the file skips with the reason
 * printed.
 */
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { join } from 'node:path';
import { Agent } from 'undici';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { DiscoveryStatus } from '../../proto/control/messages.ts';
import { parseConfig } from '../../src/config/index.ts';
import { configDir, ctl, startFileFerry } from '../helpers/control.ts';
import { ensureDnsmasq, TEST_DOMAIN, TestDns } from '../helpers/dnsmasq.ts';
import { startTestFerry, type TestFerry } from '../helpers/ferry.ts';
import { ManualClock } from '../helpers/manual-clock.ts';
import { metricValue, parsePrometheusText } from '../helpers/prometheus.ts';
import { startTarget, type TestTarget } from '../helpers/targets.ts';
import { get, nextEvent, runUntil, workersCaughtUp } from './health-support.ts';

const dnsmasq = ensureDnsmasq();
const skipReason = 'reason' in dnsmasq ? dnsmasq.reason : null;
if (skipReason !== null) console.warn(`dns-discovery tests skipped: ${skipReason}`);

const API = `api.${TEST_DOMAIN}`;
const SRV = `_http._tcp.api.${TEST_DOMAIN}`;

let ferry: TestFerry | null = null;
let dns: TestDns | null = null;
let targets: TestTarget[] = [];
const agents: Agent[] = [];
/** Servers a test started besides dnsmasq (the SERVFAIL responder). */
const cleanups: (() => void)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) cleanup();
  await Promise.all(agents.splice(0).map((agent) => agent.destroy()));
  await ferry?.stop(1_000);
  ferry = null;
  await dns?.close();
  dns = null;
  await Promise.all(targets.splice(0).map((t) => t.close()));
});

/** Targets on 127.0.0.2.. sharing one port, as pods behind a headless Service share theirs. */
async function loopbackTargets(count: number): Promise<TestTarget[]> {
  const first = await startTarget('t1', { host: '127.0.0.2' });
  const rest = await Promise.all(
    Array.from({ length: count - 1 }, (_, i) =>
      startTarget(`t${i + 2}`, { host: `127.0.0.${i + 3}`, port: first.port }),
    ),
  );
  return [first, ...rest];
}

function discoveryConfig(dnsYaml: string, groupYaml = '    healthCheck: { enabled: false }'): string {
  return `workers: 2
admin: { address: "127.0.0.1:0" }
listeners:
  - name: web
    protocol: HTTP
    address: "127.0.0.1:0"
    addTargetHeader: true
    defaultAction: { forward: { targetGroup: api } }
targetGroups:
  - name: api
    algorithm: round_robin
${groupYaml}
    discovery:
      dns:
${dnsYaml}
`;
}

function statusOf(group = 'api'): DiscoveryStatus {
  const status = ferry!.discovery.status().get(group);
  if (status === undefined) throw new Error(`no discovery for ${group}`);
  return status;
}

/** Advance the clock by `ms`; if that started a resolution, wait for it to finish. */
async function advanceAndResolve(clock: ManualClock, ms: number): Promise<void> {
  const resolved = once(ferry!.discovery, 'resolution');
  clock.advance(ms);
  if (statusOf().isResolving) await resolved;
}

function addressesIn(group = 'api'): string[] {
  return ferry!.health
    .report()
    .targetGroups.find((g) => g.name === group)!
    .targets.map((t) => `${t.address} ${t.state}`)
    .sort();
}

async function sendMany(count: number): Promise<{ byTarget: Map<string, number>; errors: number }> {
  const agent = new Agent({ connections: 8 });
  agents.push(agent);
  const byTarget = new Map<string, number>();
  let errors = 0;
  for (let sent = 0; sent < count; sent += 20) {
    const answers = await Promise.all(
      Array.from({ length: Math.min(20, count - sent) }, () => get(`${ferry!.url}/`, agent)),
    );
    for (const answer of answers) {
      if (answer.status !== 200) errors++;
      else byTarget.set(answer.target, (byTarget.get(answer.target) ?? 0) + 1);
    }
  }
  return { byTarget, errors };
}

describe.skipIf(skipReason !== null)('DNS discovery (dnsmasq)', () => {
  let binary = '';
  beforeAll(() => {
    if ('path' in dnsmasq) binary = dnsmasq.path;
  });

  describe('when A records change', () => {
    it('health-checks an added address and sends it traffic within one refresh, and drains a removed one until it leaves', async () => {
      targets = await loopbackTargets(3);
      const [t1, t2, t3] = targets as [TestTarget, TestTarget, TestTarget];
      dns = await TestDns.start(binary, { ttlS: 5, hosts: { [API]: ['127.0.0.2', '127.0.0.3'] } });
      const clock = new ManualClock();
      ferry = await startTestFerry(
        discoveryConfig(
          `        { name: ${API}, type: A, port: ${t1.port}, servers: ["${dns.server}"] }`,
          '    healthCheck: { path: /health, interval: 5s, timeout: 2s, healthyThreshold: 2 }\n    deregistrationDelay: 30s',
        ),
        { clock },
      );
      await runUntil(ferry.health, clock, () => addressesIn().every((line) => line.endsWith('healthy')));
      expect(addressesIn()).toEqual([`${t1.address} healthy`, `${t2.address} healthy`]);
      expect(ferry.health.report().targetGroups[0]!.targets.map((t) => t.source)).toEqual(['dns', 'dns']);

      // Add 127.0.0.4: one refresh (the TTL, 5 s) later it is registered and checked.
      await dns.update({ ttlS: 5, hosts: { [API]: ['127.0.0.2', '127.0.0.3', '127.0.0.4'] } });
      await advanceAndResolve(clock, 5_000);
      expect(addressesIn()).toContain(`${t3.address} initial`);
      const checksBefore = t3.hits.get('/health') ?? 0;
      await runUntil(ferry.health, clock, () => addressesIn().includes(`${t3.address} healthy`));
      expect(t3.hits.get('/health') ?? 0).toBeGreaterThan(checksBefore);
      await workersCaughtUp(ferry);
      const { byTarget, errors } = await sendMany(60);
      expect(errors).toBe(0);
      expect(byTarget.get(t3.address)).toBe(20);

      // Remove 127.0.0.2: the next refresh drains it; idle, it leaves.
      await dns.update({ ttlS: 5, hosts: { [API]: ['127.0.0.3', '127.0.0.4'] } });
      const released = nextEvent(ferry.health, 'released', (event) => event.address === t1.address);
      await advanceAndResolve(clock, 5_000);
      expect(addressesIn()).toContain(`${t1.address} draining`);
      await runUntil(ferry.health, clock, () => !addressesIn().some((line) => line.startsWith(t1.address)));
      await released;
      await workersCaughtUp(ferry);
      const after = await sendMany(40);
      expect(after.errors).toBe(0);
      expect(after.byTarget.get(t1.address)).toBeUndefined();
      expect(statusOf().changesTotal).toBe(3);
    });

    it('asks again exactly when a 5 s TTL runs out, not before', async () => {
      targets = await loopbackTargets(1);
      dns = await TestDns.start(binary, { ttlS: 5, hosts: { [API]: ['127.0.0.2'] } });
      const clock = new ManualClock();
      ferry = await startTestFerry(
        discoveryConfig(
          `        { name: ${API}, type: A, port: ${targets[0]!.port}, servers: ["${dns.server}"] }`,
        ),
        { clock },
      );
      expect(statusOf()).toMatchObject({ state: 'ok', ttlS: 5, resolutionsTotal: 1 });
      expect(dns.queryCount(API, 'A')).toBe(1);
      for (let refresh = 1; refresh <= 3; refresh++) {
        await advanceAndResolve(clock, 4_999);
        expect(statusOf().resolutionsTotal).toBe(refresh);
        await advanceAndResolve(clock, 1);
        expect(statusOf().resolutionsTotal).toBe(refresh + 1);
      }
      expect(dns.queryCount(API, 'A')).toBe(4);
    });

    it('with TTL 0 asks at most once per minRefresh', async () => {
      targets = await loopbackTargets(1);
      dns = await TestDns.start(binary, { ttlS: 0, hosts: { [API]: ['127.0.0.2'] } });
      const clock = new ManualClock();
      ferry = await startTestFerry(
        discoveryConfig(
          `        { name: ${API}, type: A, port: ${targets[0]!.port}, minRefresh: 1s, servers: ["${dns.server}"] }`,
        ),
        { clock },
      );
      expect(statusOf().ttlS).toBe(0);
      // Ten seconds in 100 ms steps: a TTL-0 storm would ask on every step.
      for (let step = 0; step < 100; step++) await advanceAndResolve(clock, 100);
      expect(dns.queryCount(API, 'A')).toBe(1 + 10);
      expect(statusOf().resolutionsTotal).toBe(1 + 10);
    });
  });

  describe('when the name has both A and AAAA records', () => {
    it('registers the addresses of both families with type ANY, and only its own family with A or AAAA', async () => {
      const v4 = await startTarget('v4', { host: '127.0.0.2' });
      const v6 = await startTarget('v6', { host: '::1', port: v4.port }).catch(() => null);
      targets = v6 === null ? [v4] : [v4, v6];
      if (v6 === null) {
        console.warn('ANY test skipped: cannot listen on [::1] here');
        return;
      }
      dns = await TestDns.start(binary, { ttlS: 30, hosts: { [API]: ['127.0.0.2', '::1'] } });
      const v6Address = `[::1]:${v4.port}`;
      for (const [type, expected] of [
        ['ANY', [v4.address, v6Address]],
        ['A', [v4.address]],
        ['AAAA', [v6Address]],
      ] as const) {
        ferry = await startTestFerry(
          discoveryConfig(
            `        { name: ${API}, type: ${type}, port: ${v4.port}, servers: ["${dns.server}"] }`,
          ),
        );
        expect(addressesIn().map((line) => line.split(' ')[0])).toEqual([...expected].sort());
        const { byTarget, errors } = await sendMany(20);
        expect(errors).toBe(0);
        expect([...byTarget.keys()].sort()).toEqual([...expected].sort());
        await ferry.stop(1_000);
        ferry = null;
      }
    });
  });

  describe('when SRV records name the targets', () => {
    it('gives each target the port and weight of its record (3:1 within ±5 % over 2,000 requests)', async () => {
      const heavy = await startTarget('heavy');
      const light = await startTarget('light');
      targets = [heavy, light];
      dns = await TestDns.start(binary, {
        ttlS: 30,
        hosts: { [`heavy.${TEST_DOMAIN}`]: ['127.0.0.1'], [`light.${TEST_DOMAIN}`]: ['127.0.0.1'] },
        srv: [
          { name: SRV, target: `heavy.${TEST_DOMAIN}`, port: heavy.port, weight: 30 },
          { name: SRV, target: `light.${TEST_DOMAIN}`, port: light.port, weight: 10 },
          // A higher priority value is a backup tier (RFC 2782): reported, not registered.
          { name: SRV, target: `light.${TEST_DOMAIN}`, port: 1, priority: 10, weight: 50 },
        ],
      });
      ferry = await startTestFerry(
        discoveryConfig(`        { name: ${SRV}, type: SRV, servers: ["${dns.server}"] }`),
      );
      const rows = ferry.health.report().targetGroups[0]!.targets;
      expect(rows.map((t) => [t.address, t.weight.configured]).sort()).toEqual(
        [
          [heavy.address, 30],
          [light.address, 10],
        ].sort(),
      );
      expect(statusOf()).toMatchObject({ state: 'ok', targetCount: 2, backupCount: 1, ttlS: 30 });
      const { byTarget, errors } = await sendMany(2_000);
      expect(errors).toBe(0);
      const heavyShare = (byTarget.get(heavy.address) ?? 0) / 2_000;
      expect(Math.abs(heavyShare - 0.75)).toBeLessThanOrEqual(0.05);
    });
  });

  describe('when the DNS server fails', () => {
    const cases = [
      {
        failure: 'stops answering (timeouts)',
        code: 'ETIMEOUT',
        fail: async (server: TestDns) => server.pause(),
        recover: async (server: TestDns) => server.resume(),
      },
      {
        failure: 'is stopped (connection refused)',
        code: 'ECONNREFUSED',
        fail: async (server: TestDns) => server.stop(),
        recover: async (server: TestDns) => server.start(),
      },
      {
        failure: 'answers NXDOMAIN',
        code: 'ENOTFOUND',
        fail: async (server: TestDns) => server.update({ ttlS: 5, hosts: {} }),
        recover: async () => {},
      },
      {
        failure: 'answers SERVFAIL',
        code: 'ESERVFAIL',
        // dnsmasq answers its own names; a server that fails them is a small real UDP responder
        // (startServfailServer) the group is pointed at by a reload, and back again.
        fail: async () => {},
        recover: async () => {},
        isServfail: true,
      },
      {
        failure: 'refuses the query',
        code: 'EREFUSED',
        // A name outside the server's domain (it has no upstream): REFUSED.
        fail: async () => {},
        recover: async () => {},
        name: 'api.elsewhere.example',
      },
    ] as const;

    for (const scenario of cases) {
      it(`keeps the last good targets with 0 errors and shows them stale when it ${scenario.failure}, and recovery picks up changes made meanwhile`, async () => {
        targets = await loopbackTargets(3);
        const [t1, t2, t3] = targets as [TestTarget, TestTarget, TestTarget];
        const name = 'name' in scenario ? scenario.name : API;
        dns = await TestDns.start(binary, { ttlS: 5, hosts: { [API]: ['127.0.0.2', '127.0.0.3'] } });
        const clock = new ManualClock();
        ferry = await startTestFerry(
          discoveryConfig(`        { name: ${API}, type: A, port: ${t1.port}, servers: ["${dns.server}"] }`),
          { clock },
        );
        expect(addressesIn()).toEqual([`${t1.address} unavailable`, `${t2.address} unavailable`]);
        const servfail = 'isServfail' in scenario ? await startServfailServer() : null;
        if (servfail !== null) cleanups.push(() => servfail.close());
        if (name !== API || servfail !== null) {
          // Point the group at the refused name (or the failing server) through a reload (the watcher restarts).
          const failingServer = servfail === null ? dns.server : servfail.server;
          const next = parseConfig(
            discoveryConfig(
              `        { name: ${name}, type: A, port: ${t1.port}, servers: ["${failingServer}"] }`,
            ),
            '<reload>',
          );
          if (!next.ok) throw new Error('bad reload config');
          const resolved = once(ferry.discovery, 'resolution');
          ferry.reload(next.snapshot);
          await resolved;
        } else {
          await scenario.fail(dns);
          await advanceAndResolve(clock, 5_000);
        }
        expect(statusOf()).toMatchObject({ state: 'stale', consecutiveFailures: 1 });
        expect(statusOf().lastError?.code).toBe(scenario.code);
        await workersCaughtUp(ferry);
        const during = await sendMany(60);
        expect(during.errors).toBe(0);
        expect([...during.byTarget.keys()].sort()).toEqual([t1.address, t2.address].sort());

        const metrics = parsePrometheusText(
          await (await fetch(`http://${ferry.adminAddress}/metrics`)).text(),
        );
        expect(metricValue(metrics, 'ferry_discovery_stale', { target_group: 'api' })).toBe(1);
        expect(metricValue(metrics, 'ferry_discovery_failures_total', { target_group: 'api' })).toBe(1);

        // Backoff: the next try is minRefresh (1 s) later, then 2 s.
        expect(statusOf().nextRefreshMs! - statusOf().lastResolutionMs!).toBe(1_000);
        // Meanwhile 127.0.0.4 joined and 127.0.0.2 left; the server comes back with that.
        await scenario.recover(dns);
        await dns.update({ ttlS: 5, hosts: { [API]: ['127.0.0.3', '127.0.0.4'] } });
        if (name === API && servfail === null) await advanceAndResolve(clock, 1_000);
        else {
          // The refused name is fixed by pointing the group back at the served one.
          const fixed = parseConfig(
            discoveryConfig(
              `        { name: ${API}, type: A, port: ${t1.port}, servers: ["${dns.server}"] }`,
            ),
            '<reload>',
          );
          if (!fixed.ok) throw new Error('bad reload config');
          const resolved = once(ferry.discovery, 'resolution');
          ferry.reload(fixed.snapshot);
          await resolved;
        }
        expect(statusOf()).toMatchObject({ state: 'ok', consecutiveFailures: 0 });
        expect(addressesIn()).toEqual(
          [`${t1.address} draining`, `${t2.address} unavailable`, `${t3.address} unavailable`].sort(),
        );
      });
    }
  });
  describe('ferryctl targets', () => {
    it('shows where each target came from, and the group STALE with its error while DNS answers NXDOMAIN', async () => {
      targets = await loopbackTargets(2);
      const [t1, t2] = targets as [TestTarget, TestTarget];
      const extra = await startTarget('static');
      targets.push(extra);
      dns = await TestDns.start(binary, { ttlS: 5, hosts: { [API]: ['127.0.0.2', '127.0.0.3'] } });
      const clock = new ManualClock();
      const dir = configDir();
      const yaml = discoveryConfig(
        `        { name: ${API}, type: A, port: ${t1.port}, servers: ["${dns.server}"], zone: zone-a }`,
        `    healthCheck: { enabled: false }\n    targets:\n      - { address: "${extra.address}", zone: zone-b }`,
      ).replace(
        'targetGroups:',
        `control: { address: "unix:${join(dir, 'ctl.sock')}", tokenFile: ferry.token }\nzone: zone-a\ntargetGroups:`,
      );
      ferry = (await startFileFerry(dir, yaml, { clock })) as unknown as TestFerry;
      const run = (...args: string[]) => ctl(['--config', join(dir, 'ferry.yaml'), ...args]);

      const before = await run('targets');
      expect(before.code).toBe(0);
      const lines = before.stdout.split('\n');
      expect(lines[1]).toMatch(
        new RegExp(
          `^  discovery: dns A ${API} via ${dns.server}: ok, resolved 0 ms ago, TTL 5 s, 2 targets, next in 5\\.0 s$`,
        ),
      );
      expect(before.stdout).toMatch(/ZONE +SOURCE +DESCRIPTION/);
      expect(before.stdout).toMatch(new RegExp(`${extra.address} .* zone-b +config `));
      expect(before.stdout).toMatch(new RegExp(`${t2.address} .* zone-a +dns:${API} `));

      await dns.update({ ttlS: 5, hosts: {} });
      await advanceAndResolve(clock, 5_000);
      const during = await run('targets');
      expect(during.stdout).toContain(
        `STALE (1 failed; last good answer 5.0 s ago, its 2 targets kept), resolved 0 ms ago, TTL 5 s, 2 targets, next in 1.0 s, last error ENOTFOUND: ${API}: NXDOMAIN (the name does not exist)`,
      );
      // The status page's document carries the same: stale discovery, and where each target came from.
      const status = (await (await fetch(`http://${ferry.adminAddress}/status.json`)).json()) as {
        targetGroups: {
          discovery: DiscoveryStatus;
          targets: { address: string; source: string; zone: string }[];
        }[];
      };
      expect(status.targetGroups[0]!.discovery).toMatchObject({ state: 'stale', targetCount: 2 });
      expect(status.targetGroups[0]!.targets.find((t) => t.address === t2.address)).toMatchObject({
        source: 'dns',
        zone: 'zone-a',
      });
      const json = JSON.parse((await run('targets', '--json')).stdout);
      expect(json.targetGroups[0].discovery).toMatchObject({
        state: 'stale',
        lastError: { code: 'ENOTFOUND' },
      });
      expect(json.targetGroups[0].targets.map((t: { address: string }) => t.address).sort()).toEqual(
        [extra.address, t1.address, t2.address].sort(),
      );
    });
  });
});

/**
 * A real DNS server on a loopback UDP port that answers every query SERVFAIL
 * (RFC 1035 §4.1.1: the query echoed with QR set and RCODE 2), for the
 * failure dnsmasq will not produce for names it holds itself.
 */
async function startServfailServer(): Promise<{ readonly server: string; close(): void }> {
  const socket = createSocket('udp4');
  socket.on('message', (query, peer) => {
    if (query.length < 12) return;
    const answer = Buffer.from(query);
    answer[2] = (query[2]! & 0x79) | 0x80; // QR = 1, keep opcode and RD; AA and TC clear
    answer[3] = 0x80 | 0x02; // RA = 1, RCODE = SERVFAIL
    answer.writeUInt16BE(0, 6); // no answers, authority or additional records
    answer.writeUInt16BE(0, 8);
    answer.writeUInt16BE(0, 10);
    socket.send(answer, peer.port, peer.address);
  });
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  return { server: `127.0.0.1:${socket.address().port}`, close: () => socket.close() };
}
