/**
 * Sticky sessions through a real Ferry with 2 workers and a new connection
 * per request (so both workers serve): lb_cookie keeps a client on one
 * target under round robin, moves it with a rewritten cookie when that
 * target turns unhealthy, ignores a tampered cookie, honours the duration;
 * app_cookie starts only once the application sets its cookie; group-level
 * stickiness keeps a client on one group of a weighted forward; and a reload
 * switches stickiness on and off.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  GROUP_FORWARD_STICKY_HITS_TOTAL,
  GROUP_STICKY_HITS_TOTAL,
  GROUP_STICKY_MISSES_TOTAL,
  GROUP_STICKY_REPICKS_TOTAL,
  loadGroup,
  loadWorker,
  TARGET_STATE_UNHEALTHY,
  WORKER_REQUESTS_TOTAL,
} from '../../proto/table-layout.ts';
import { parseConfig } from '../../src/config/index.ts';
import { startTestFerry, type TestFerry } from '../helpers/ferry.ts';
import { RawClient, type RawResponse } from '../helpers/raw-http.ts';
import { startTargets, type TestTarget } from '../helpers/targets.ts';

let ferry: TestFerry | null = null;
let targets: TestTarget[] = [];
let servers: http.Server[] = [];

afterEach(async () => {
  await ferry?.stop(1_000);
  ferry = null;
  await Promise.all(targets.map((t) => t.close()));
  targets = [];
  await Promise.all(
    servers.map(
      (server) =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    ),
  );
  servers = [];
});

function config(
  groupYaml: string,
  addresses: readonly string[],
  defaultAction = '{ forward: { targetGroup: app } }',
) {
  return `workers: 2
admin: { address: "127.0.0.1:0" }
listeners:
  - name: web
    address: "127.0.0.1:0"
    defaultAction: ${defaultAction}
targetGroups:
  - name: app
    algorithm: round_robin
    healthCheck: { enabled: false }
${groupYaml}
    targets:
${addresses.map((address) => `      - { address: "${address}" }`).join('\n')}
`;
}

/** One request on a fresh connection, with the given cookies. */
async function get(path: string, cookies: Record<string, string> = {}): Promise<RawResponse> {
  const client = await RawClient.connect(ferry!.port);
  const cookieLine = Object.entries(cookies)
    .map(([name, value]) => `${name}=${value}`)
    .join('; ');
  await client.write(
    `GET ${path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n${cookieLine === '' ? '' : `cookie: ${cookieLine}\r\n`}\r\n`,
  );
  const response = await client.response();
  client.destroy();
  return response;
}

/** Cookies a response sets: name -> { value, attributes }. */
function setCookies(response: RawResponse): Map<string, { value: string; attributes: string }> {
  const cookies = new Map<string, { value: string; attributes: string }>();
  for (const [name, line] of response.headers) {
    if (name !== 'set-cookie') continue;
    const semi = line.indexOf(';');
    const pair = semi === -1 ? line : line.slice(0, semi);
    const eq = pair.indexOf('=');
    cookies.set(pair.slice(0, eq), {
      value: pair.slice(eq + 1),
      attributes: semi === -1 ? '' : line.slice(semi + 1),
    });
  }
  return cookies;
}

function groupCounter(field: number, groupIndex = 0): number {
  return loadGroup(ferry!.table.view, groupIndex, field);
}

function slotOf(address: string): number {
  return ferry!
    .topology()
    .groups.flatMap((group) => group.members)
    .find((member) => member.id === address)!.slot;
}

/** Change one cookie character to another valid one (a forged or corrupted cookie). */
function tamper(value: string): string {
  const at = Math.floor(value.length / 2);
  return value.slice(0, at) + (value[at] === 'A' ? 'B' : 'A') + value.slice(at + 1);
}

describe('lb_cookie stickiness', () => {
  it('keeps 100 requests on one target from both workers, then moves with a rewritten cookie when it turns unhealthy', async () => {
    targets = await startTargets(3, 'rr-');
    ferry = await startTestFerry(
      config(
        '    stickiness: { enabled: true, type: lb_cookie, duration: 1h }',
        targets.map((t) => t.address),
      ),
    );

    const first = await get('/');
    const issued = setCookies(first);
    const cookie = issued.get('FERRYLB-app');
    expect(cookie).toBeDefined();
    expect(cookie!.attributes).toContain('Path=/');
    expect(cookie!.value).not.toContain('127.0.0.1');
    // A plain HTTP listener: no Secure, and no SameSite=None companion (it would need Secure).
    expect(cookie!.attributes).toMatch(/^ Expires=[^;]+; Path=\/; HttpOnly; SameSite=Lax$/);
    expect(issued.has('FERRYLBCORS-app')).toBe(false);
    const stickyTarget = first.header('x-target')!;

    const before = [0, 1].map((worker) => loadWorker(ferry!.table.view, worker, WORKER_REQUESTS_TOTAL));
    const seen = new Set<string>();
    let value = cookie!.value;
    for (let i = 0; i < 100; i++) {
      const response = await get('/', { 'FERRYLB-app': value });
      seen.add(response.header('x-target')!);
      value = setCookies(response).get('FERRYLB-app')?.value ?? value; // refreshed expiry
    }
    expect([...seen]).toEqual([stickyTarget]);
    const served = [0, 1].map(
      (worker) => loadWorker(ferry!.table.view, worker, WORKER_REQUESTS_TOTAL) - before[worker]!,
    );
    expect(
      served.every((count) => count > 0),
      `requests per worker: ${served}`,
    ).toBe(true);
    expect(groupCounter(GROUP_STICKY_HITS_TOTAL)).toBe(100);
    expect(groupCounter(GROUP_STICKY_MISSES_TOTAL)).toBe(1);

    // The sticky target fails its health checks: the next request goes elsewhere, with a new cookie.
    const sticky = targets.find((t) => t.name === stickyTarget)!;
    ferry.table.setState(slotOf(sticky.address), TARGET_STATE_UNHEALTHY);
    const moved = await get('/', { 'FERRYLB-app': value });
    expect(moved.status).toBe(200);
    const newTarget = moved.header('x-target')!;
    expect(newTarget).not.toBe(stickyTarget);
    const rewritten = setCookies(moved).get('FERRYLB-app')!.value;
    expect(rewritten).not.toBe(value);
    expect(groupCounter(GROUP_STICKY_REPICKS_TOTAL)).toBe(1);
    for (let i = 0; i < 10; i++) {
      expect((await get('/', { 'FERRYLB-app': rewritten })).header('x-target')).toBe(newTarget);
    }
  });

  it('treats a tampered cookie as none: balanced, counted as a miss, and replaced', async () => {
    targets = await startTargets(3, 'rr-');
    ferry = await startTestFerry(
      config(
        '    stickiness: { enabled: true }',
        targets.map((t) => t.address),
      ),
    );
    const value = setCookies(await get('/')).get('FERRYLB-app')!.value;
    const forged = tamper(value);
    const seen = new Set<string>();
    for (let i = 0; i < 12; i++) {
      const response = await get('/', { 'FERRYLB-app': forged });
      seen.add(response.header('x-target')!);
      expect(setCookies(response).get('FERRYLB-app')!.value).not.toBe(forged);
    }
    expect(seen.size).toBeGreaterThan(1);
    expect(groupCounter(GROUP_STICKY_HITS_TOTAL)).toBe(0);
    expect(groupCounter(GROUP_STICKY_MISSES_TOTAL)).toBe(13);
  });

  it('stops honouring a cookie once its duration has passed since it was set', async () => {
    targets = await startTargets(3, 'rr-');
    ferry = await startTestFerry(
      config(
        '    stickiness: { enabled: true, duration: 1s }',
        targets.map((t) => t.address),
      ),
    );
    const first = await get('/');
    const value = setCookies(first).get('FERRYLB-app')!.value;
    expect(setCookies(first).get('FERRYLB-app')!.attributes).toMatch(/Expires=\w{3}, \d{2} \w{3} \d{4}/);
    // Replay the first cookie (never the refreshed one) until Ferry counts it a miss: it expired.
    const missesBefore = groupCounter(GROUP_STICKY_MISSES_TOTAL);
    let isExpired = false;
    for (let attempt = 0; attempt < 100 && !isExpired; attempt++) {
      await get('/', { 'FERRYLB-app': value });
      isExpired = groupCounter(GROUP_STICKY_MISSES_TOTAL) > missesBefore;
      if (!isExpired) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(isExpired).toBe(true);
    const hitsAfter = groupCounter(GROUP_STICKY_HITS_TOTAL);
    await get('/', { 'FERRYLB-app': value });
    expect(groupCounter(GROUP_STICKY_HITS_TOTAL)).toBe(hitsAfter);
  });

  it('is switched on and off by a config reload', async () => {
    targets = await startTargets(2, 'rr-');
    const addresses = targets.map((t) => t.address);
    ferry = await startTestFerry(config('', addresses));
    expect(setCookies(await get('/')).has('FERRYLB-app')).toBe(false);

    const reloadTo = async (groupYaml: string, isCookieWanted: boolean) => {
      const next = parseConfig(config(groupYaml, addresses), '<reload>');
      if (!next.ok) throw new Error('reload config invalid');
      ferry!.reload(next.snapshot);
      // Both workers must have applied it: ten fresh connections in a row agree.
      let agreeing = 0;
      for (let attempt = 0; attempt < 200 && agreeing < 10; attempt++) {
        agreeing = setCookies(await get('/')).has('FERRYLB-app') === isCookieWanted ? agreeing + 1 : 0;
      }
      expect(agreeing).toBe(10);
    };
    await reloadTo('    stickiness: { enabled: true }', true);
    await reloadTo('    stickiness: { enabled: false }', false);
  });
});

/** A target that starts a session on /login (Set-Cookie SESSIONID) and names itself in x-target. */
async function startSessionTarget(name: string): Promise<string> {
  let sessions = 0;
  const server = http.createServer((req, res) => {
    const headers: Record<string, string> = { 'x-target': name, 'content-length': '0' };
    if (req.url === '/login') headers['set-cookie'] = `SESSIONID=${name}-${++sessions}; Path=/; HttpOnly`;
    res.writeHead(200, headers).end();
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('app_cookie stickiness', () => {
  it('is off until the application sets its cookie, then binds that session to the target', async () => {
    const addresses = await Promise.all(['app-a', 'app-b'].map(startSessionTarget));
    ferry = await startTestFerry(
      config(
        '    stickiness: { enabled: true, type: app_cookie, cookieName: SESSIONID, duration: 1h }',
        addresses,
      ),
    );

    // Before any session: balanced (round robin alternates), and Ferry sets no cookie.
    const before = new Set<string>();
    for (let i = 0; i < 6; i++) {
      const response = await get('/');
      expect(setCookies(response).size).toBe(0);
      before.add(response.header('x-target')!);
    }
    expect(before.size).toBe(2);

    // The application starts a session: Ferry binds it with its own cookie.
    const login = await get('/login');
    const cookies = setCookies(login);
    const session = cookies.get('SESSIONID')!.value;
    const binding = cookies.get('FERRYAPP-app')!.value;
    expect(cookies.has('FERRYAPPCORS-app')).toBe(false); // plain HTTP: no companion
    const owner = login.header('x-target');
    for (let i = 0; i < 20; i++) {
      const response = await get('/', { SESSIONID: session, 'FERRYAPP-app': binding });
      expect(response.header('x-target')).toBe(owner);
      expect(setCookies(response).has('FERRYAPP-app')).toBe(true); // refreshed
    }
    expect(groupCounter(GROUP_STICKY_HITS_TOTAL)).toBe(20);

    // The binding is to that session: with another session value it is not honoured.
    const other = new Set<string>();
    for (let i = 0; i < 6; i++) {
      other.add((await get('/', { SESSIONID: 'someone-else', 'FERRYAPP-app': binding })).header('x-target')!);
    }
    expect(other.size).toBe(2);
    expect(groupCounter(GROUP_STICKY_HITS_TOTAL)).toBe(20);
  });
});

describe('group-level stickiness of a weighted forward', () => {
  it('keeps a client on the target group it got', async () => {
    targets = await startTargets(2, 'color-');
    ferry = await startTestFerry(`workers: 2
admin: { address: "127.0.0.1:0" }
listeners:
  - name: web
    address: "127.0.0.1:0"
    defaultAction:
      forward:
        targetGroups: [ { name: blue, weight: 1 }, { name: green, weight: 1 } ]
        stickiness: { enabled: true, duration: 1h }
targetGroups:
  - { name: blue, healthCheck: { enabled: false }, targets: [ { address: "${targets[0]!.address}" } ] }
  - { name: green, healthCheck: { enabled: false }, targets: [ { address: "${targets[1]!.address}" } ] }
`);
    const first = await get('/');
    const cookie = setCookies(first).get('FERRYTG-web-default')!;
    expect(setCookies(first).has('FERRYTGCORS-web-default')).toBe(false); // plain HTTP: no companion
    const group = first.header('x-target');
    for (let i = 0; i < 30; i++) {
      expect((await get('/', { 'FERRYTG-web-default': cookie.value })).header('x-target')).toBe(group);
    }
    const groupIndex = group === targets[0]!.name ? 0 : 1;
    expect(groupCounter(GROUP_FORWARD_STICKY_HITS_TOTAL, groupIndex)).toBe(30);
    // Without the cookie the split goes on (both groups serve).
    const seen = new Set<string>();
    for (let i = 0; i < 8; i++) seen.add((await get('/')).header('x-target')!);
    expect(seen.size).toBe(2);
  });
});
