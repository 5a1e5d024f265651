/**
 * Failover before fail-open (issue 10, "Fail-open vs failover"), through real
 * sockets and two real worker threads: when every target of a group is down
 * and its standby has a routable target, requests go to the standby from
 * the first one, instead of failing open to targets that refuse connects
 * until the automatic failover (`failover.after`) makes the switch official.
 * Without a standby, fail-open still applies.
 *
 * https://github.com/ferry/ferry/issues/10
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestFerry, type TestFerry } from '../helpers/ferry.ts';
import { closedPort } from '../helpers/raw-target.ts';
import { waitForSettled } from '../helpers/table-counters.ts';
import { startTarget, type TestTarget } from '../helpers/targets.ts';

let ferry: TestFerry;
let standbyTarget: TestTarget;
let dead: string[];

function url(listener: string): string {
  return `http://127.0.0.1:${ferry.listenerPorts.get(listener)!}/`;
}

beforeAll(async () => {
  standbyTarget = await startTarget('standby');
  dead = [`127.0.0.1:${await closedPort()}`, `127.0.0.1:${await closedPort()}`];
  const deadTargets = dead.map((address) => `{ address: "${address}" }`).join(', ');
  // Retries off, so an answer from the standby can only come from the pick.
  const downGroup = (name: string, extra: string) => `  - name: ${name}
    healthCheck: { protocol: TCP, interval: 1s, timeout: 200ms, unhealthyThreshold: 2 }
    retries: { attempts: 0 }
${extra}
    targets: [ ${deadTargets} ]`;
  ferry = await startTestFerry(`workers: 2
admin: { address: "127.0.0.1:0" }
listeners:
  - { name: guarded, address: "127.0.0.1:0", addTargetHeader: true, defaultAction: { forward: { targetGroup: api } } }
  - { name: bare, address: "127.0.0.1:0", addTargetHeader: true, defaultAction: { forward: { targetGroup: lonely } } }
targetGroups:
${downGroup('api', '    failover: { standby: backup, after: 1h }')}
${downGroup('lonely', '')}
  - name: backup
    healthCheck: { enabled: false }
    targets: [ { address: "${standbyTarget.address}" } ]
`);
  // Wait until health checks have marked every dead target unhealthy (no routable target left).
  const states = await waitForSettled(
    () =>
      ['api', 'lonely'].flatMap((group) => dead.map((address) => ferry.health.target(group, address)?.state)),
    (all) => all.every((state) => state === 'unhealthy'),
    15_000,
    100,
  );
  expect(states.every((state) => state === 'unhealthy')).toBe(true);
}, 30_000);

afterAll(async () => {
  await ferry?.stop(0);
  await standbyTarget.close();
});

describe('TargetGroups.balance (issue 10: https://github.com/ferry/ferry/issues/10)', () => {
  describe('when every target of a group is down and its standby is healthy', () => {
    it('sends every request to the standby before any automatic failover', async () => {
      for (let i = 0; i < 6; i++) {
        const response = await fetch(url('guarded'));
        expect(response.status).toBe(200);
        expect(response.headers.get('x-ferry-target')).toBe(standbyTarget.address);
        await response.text();
      }
      // The switch itself is still main's to make, after `failover.after`.
      expect(ferry.failover.status('api').groups[0]).toMatchObject({ routeTo: 'api' });
    });
  });

  describe('when every target of a group is down and it has no standby', () => {
    it('fails open to its targets, whose refused connects answer 502', async () => {
      const response = await fetch(url('bare'));
      expect(response.status).toBe(502);
      expect(response.headers.get('x-ferry-error')).toBe('FERRY_ERR_UPSTREAM_CONNECT_REFUSED');
    });
  });
});
