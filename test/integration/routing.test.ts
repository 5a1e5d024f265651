/**
 * Listener rules, actions and accept checks through a real Ferry (2 workers,
 * real sockets): a table of requests against one listener with rules of every
 * condition kind, weighted forwarding, exact redirect and fixed responses,
 * keep-alive after local answers, reload of rules, and a listener whose
 * allowedSources excludes 127.0.0.1 refusing the connection at accept.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { LISTENER_SOURCE_REFUSED_TOTAL, loadListener } from '../../proto/table-layout.ts';
import { parseConfig } from '../../src/config/index.ts';
import { simpleConfig, startTestFerry, type TestFerry } from '../helpers/ferry.ts';
import { RawClient, type RawResponse } from '../helpers/raw-http.ts';
import { startTargets, type TestTarget } from '../helpers/targets.ts';
import { workerRequests, workerRequestsSince } from '../helpers/workers.ts';

function fixed(body: string, statusCode = 200): string {
  return `{ fixedResponse: { statusCode: ${statusCode}, contentType: text/plain, body: "${body}" } }`;
}

function routingConfig(api: TestTarget, web: TestTarget, extraRules = ''): string {
  return `workers: 2
admin: { address: "127.0.0.1:0" }
listeners:
  - name: web
    address: "127.0.0.1:0"
    addTargetHeader: true
    rules:
      - { priority: 5, conditions: { sourceIp: ["10.0.0.0/8"] }, action: ${fixed('r5-private10')} }
      - { priority: 6, conditions: { sourceIp: ["127.0.0.0/8"], pathPattern: ["/whoami"] }, action: ${fixed('r6-loopback')} }
      - { priority: 10, conditions: { pathPattern: ["/api/*"], httpRequestMethod: [GET, POST] }, action: { forward: { targetGroup: api } } }
      - { priority: 15, conditions: { pathPattern: ["/api/*"] }, action: ${fixed('r15-api-other-method')} }
      - { priority: 20, conditions: { hostHeader: ["admin.*"] }, action: ${fixed('r20-admin')} }
      - { priority: 25, conditions: { hostHeader: ["*.example.com", "example.?o"] }, action: ${fixed('r25-example')} }
      - { priority: 30, conditions: { pathPattern: ["/old/*"] }, action: { redirect: { protocol: HTTPS, port: "443", path: "/new/#{path}", statusCode: 301 } } }
      - { priority: 35, conditions: { pathPattern: ["/moved"] }, action: { redirect: { host: "other.test", path: "/x", query: "from=#{host}&#{query}", statusCode: 302 } } }
      - { priority: 40, conditions: { pathPattern: ["/ping"] }, action: ${fixed('pong')} }
      - { priority: 50, conditions: { httpHeader: { name: X-Env, values: [canary, "beta-*"] } }, action: ${fixed('r50-env')} }
      - { priority: 55, conditions: { httpHeader: [ { name: X-A, values: ["1"] }, { name: X-B, values: ["2"] } ] }, action: ${fixed('r55-both')} }
      - { priority: 60, conditions: { queryString: [ { key: version, value: "v2*" } ] }, action: ${fixed('r60-v2')} }
      - { priority: 65, conditions: { queryString: [ { value: debug } ] }, action: ${fixed('r65-debug')} }
      - { priority: 70, conditions: { pathPattern: ["/img/*.png", "/img/??.jpg"] }, action: ${fixed('r70-img')} }
      - { priority: 80, conditions: { httpRequestMethod: [DELETE] }, action: ${fixed('r80-delete', 405)} }
      - { priority: 90, conditions: { pathPattern: ["/web/*"] }, action: { forward: { targetGroup: web } } }
      - { priority: 95, conditions: { pathPattern: ["/json"] }, action: { fixedResponse: { statusCode: 503, contentType: application/json, body: '{"error":"maintenance"}' } } }
${extraRules}
    defaultAction: { forward: { targetGroup: web } }
targetGroups:
  - name: api
    healthCheck: { enabled: false }
    targets: [ { address: "${api.address}" } ]
  - name: web
    healthCheck: { enabled: false }
    targets: [ { address: "${web.address}" } ]
`;
}

let ferry: TestFerry | null = null;
let api: TestTarget;
let web: TestTarget;
let client: RawClient | null = null;

beforeAll(async () => {
  [api, web] = (await startTargets(2, 'target-')) as [TestTarget, TestTarget];
  ferry = await startTestFerry(routingConfig(api, web));
});

afterAll(async () => {
  client?.destroy();
  await ferry?.stop(1_000);
  await Promise.all([api.close(), web.close()]);
});

/** One request on the shared keep-alive connection (reopened when Ferry closed it). */
async function send(
  method: string,
  target: string,
  headers: Record<string, string> = {},
): Promise<RawResponse> {
  const host = headers['host'] ?? `127.0.0.1:${ferry!.port}`;
  const lines = Object.entries({ ...headers, host }).map(([name, value]) => `${name}: ${value}\r\n`);
  for (let attempt = 0; attempt < 2; attempt++) {
    client ??= await RawClient.connect(ferry!.port);
    try {
      await client.write(`${method} ${target} HTTP/1.1\r\n${lines.join('')}\r\n`);
      return await client.response({ isHead: method === 'HEAD' });
    } catch (error) {
      client.destroy();
      client = null;
      if (attempt === 1) throw error;
    }
  }
  throw new Error('unreachable');
}

/** What answered: a rule's fixed body, `redirect <status> <location>`, or `target <name>` for a forward. */
function outcome(response: RawResponse): string {
  if (response.status === 301 || response.status === 302)
    return `redirect ${response.status} ${response.header('location')}`;
  const target = response.header('x-target');
  if (target !== undefined) return `target ${target}`;
  return response.body.toString('utf8');
}

describe('listener rules', () => {
  const cases: [string, string, string, Record<string, string>, string][] = [
    ['sourceIp 127.0.0.0/8 with a path (10/8 never matches loopback)', 'GET', '/whoami', {}, 'r6-loopback'],
    ['a path pattern and GET', 'GET', '/api/users', {}, 'target target-1'],
    ['a path pattern and POST', 'POST', '/api/users', { 'content-length': '0' }, 'target target-1'],
    [
      'the same path with another method falls to the next rule',
      'PUT',
      '/api/users',
      { 'content-length': '0' },
      'r15-api-other-method',
    ],
    ['a path that only starts like the pattern', 'GET', '/api', {}, 'target target-2'],
    ['a host wildcard', 'GET', '/', { host: 'admin.foo' }, 'r20-admin'],
    ['a host wildcard, case-blind, port ignored', 'GET', '/', { host: 'ADMIN.foo.com:8080' }, 'r20-admin'],
    ['a leading-star host pattern', 'GET', '/', { host: 'www.example.com' }, 'r25-example'],
    ['a ? host pattern', 'GET', '/', { host: 'example.io' }, 'r25-example'],
    ['a host no pattern matches', 'GET', '/', { host: 'example.com' }, 'target target-2'],
    [
      'a redirect to HTTPS with #{path} and the query kept',
      'GET',
      '/old/a/b?x=1',
      {},
      'redirect 301 https://127.0.0.1/new/old/a/b?x=1',
    ],
    [
      'a redirect with host and query templates',
      'GET',
      '/moved?q=2',
      { host: 'shop.test:8080' },
      'redirect 302 http://other.test:{port}/x?from=shop.test&q=2',
    ],
    ['a fixed response', 'GET', '/ping', {}, 'pong'],
    ['a path ignoring the query string', 'GET', '/ping?x=1', {}, 'pong'],
    ['a header value', 'GET', '/', { 'x-env': 'canary' }, 'r50-env'],
    ['a header value wildcard, case-blind', 'GET', '/', { 'x-env': 'BETA-7' }, 'r50-env'],
    ['a header value no pattern matches', 'GET', '/', { 'x-env': 'prod' }, 'target target-2'],
    ['two header conditions, both present', 'GET', '/', { 'x-a': '1', 'x-b': '2' }, 'r55-both'],
    ['two header conditions, one missing', 'GET', '/', { 'x-a': '1' }, 'target target-2'],
    ['a query key and value wildcard', 'GET', '/?version=v2.3', {}, 'r60-v2'],
    ['a query key case-blind', 'GET', '/?a=1&VERSION=v2', {}, 'r60-v2'],
    ['a query value that does not match', 'GET', '/?version=v1', {}, 'target target-2'],
    ['a query value under any key', 'GET', '/?a=1&x=debug', {}, 'r65-debug'],
    ['a path with * and an extension', 'GET', '/img/cat.png', {}, 'r70-img'],
    ['a path with ??', 'GET', '/img/ab.jpg', {}, 'r70-img'],
    ['a path where ?? needs exactly two characters', 'GET', '/img/abc.jpg', {}, 'target target-2'],
    ['a case-sensitive path', 'GET', '/img/cat.PNG', {}, 'target target-2'],
    ['a method condition', 'DELETE', '/anything', {}, 'r80-delete'],
    [
      'a lower priority number winning over a later method rule',
      'DELETE',
      '/api/x',
      {},
      'r15-api-other-method',
    ],
    ['a second forward rule', 'GET', '/web/x', {}, 'target target-2'],
    ['priority 10 before a header rule at 50', 'GET', '/api/x', { 'x-env': 'canary' }, 'target target-1'],
    ['a host rule at 20 before a path rule at 40', 'GET', '/ping', { host: 'admin.x' }, 'r20-admin'],
    ['sourceIp with a query', 'GET', '/whoami?version=v2', {}, 'r6-loopback'],
    [
      'an absolute-form target by its path',
      'GET',
      'http://admin.example.com/ping',
      { host: 'admin.example.com' },
      'r20-admin',
    ],
    ['nothing: the default action', 'GET', '/', {}, 'target target-2'],
  ];

  it.each(cases)('routes %s', async (_label, method, target, headers, expected) => {
    // #{port} is the port the client connected to (the listener's), not the Host header's.
    expect(outcome(await send(method, target, headers))).toBe(
      expected.replace('{port}', String(ferry!.port)),
    );
  });

  it('answers a fixed response with exact bytes and keeps the connection', async () => {
    const own = await RawClient.connect(ferry!.port);
    await own.write('GET /json HTTP/1.1\r\nhost: x\r\n\r\nGET /ping HTTP/1.1\r\nhost: x\r\n\r\n');
    const first = await own.response();
    expect(first.head).toBe(
      'HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: 23\r\n\r\n',
    );
    expect(first.body.toString()).toBe('{"error":"maintenance"}');
    const second = await own.response();
    expect([second.status, second.body.toString()]).toEqual([200, 'pong']);
    own.destroy();
  });

  it('answers a redirect with exactly a Location and an empty body', async () => {
    const response = await send('GET', '/old/x');
    expect(response.head).toBe(
      'HTTP/1.1 301 Moved Permanently\r\nlocation: https://127.0.0.1/new/old/x\r\ncontent-length: 0\r\n\r\n',
    );
    expect(response.body).toHaveLength(0);
  });

  it('answers HEAD to a fixed response without the body', async () => {
    const response = await send('HEAD', '/ping');
    expect([response.status, response.header('content-length'), response.body.length]).toEqual([200, '4', 0]);
  });

  it('closes after answering a request that carried a body', async () => {
    const own = await RawClient.connect(ferry!.port);
    await own.write('POST /ping HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\n\r\nhello');
    const response = await own.response();
    expect([response.status, response.header('connection')]).toEqual([200, 'close']);
    await own.readToEnd();
    own.destroy();
  });

  it('applies changed rules on reload', async () => {
    const next = parseConfig(
      routingConfig(
        api,
        web,
        `      - { priority: 1, conditions: { pathPattern: ["/reloaded"] }, action: ${fixed('new-rule')} }`,
      ),
      '<reload>',
    );
    if (!next.ok) throw new Error('reload config invalid');
    expect(outcome(await send('GET', '/reloaded'))).toBe('target target-2');
    ferry!.reload(next.snapshot);
    // Every worker must have the new topology: poll on fresh connections (the kernel spreads them).
    let hits = 0;
    for (let attempt = 0; attempt < 200 && hits < 10; attempt++) {
      const own = await RawClient.connect(ferry!.port);
      await own.write('GET /reloaded HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n');
      hits = outcome(await own.response()) === 'new-rule' ? hits + 1 : 0;
      own.destroy();
    }
    expect(hits).toBe(10);
  });
});

describe('weighted forward', () => {
  let groupFerry: TestFerry | null = null;
  let targets: TestTarget[] = [];

  afterEach(async () => {
    await groupFerry?.stop(1_000);
    groupFerry = null;
    await Promise.all(targets.map((t) => t.close()));
    targets = [];
  });

  it('sends 90/10 of 2,000 requests to blue/green through both workers, within 1 request per worker', async () => {
    targets = await startTargets(2, 'color-');
    groupFerry = await startTestFerry(`workers: 2
admin: { address: "127.0.0.1:0" }
listeners:
  - name: web
    address: "127.0.0.1:0"
    defaultAction: { forward: { targetGroups: [ { name: blue, weight: 90 }, { name: green, weight: 10 } ] } }
targetGroups:
  - { name: blue, healthCheck: { enabled: false }, targets: [ { address: "${targets[0]!.address}" } ] }
  - { name: green, healthCheck: { enabled: false }, targets: [ { address: "${targets[1]!.address}" } ] }
`);
    // Several keep-alive connections, so both workers serve (checked below).
    const before = workerRequests(groupFerry, 2);
    const clients = await Promise.all(Array.from({ length: 8 }, () => RawClient.connect(groupFerry!.port)));
    await Promise.all(
      clients.map(async (own) => {
        for (let i = 0; i < 250; i++) {
          await own.write('GET / HTTP/1.1\r\nhost: x\r\n\r\n');
          await own.response();
        }
        own.destroy();
      }),
    );
    const [blue, green] = [targets[0]!.count, targets[1]!.count];
    expect(blue + green).toBe(2_000);
    const served = workerRequestsSince(groupFerry, before);
    expect(
      served.every((count) => count > 0),
      `requests per worker: ${served}`,
    ).toBe(true);
    // Each worker walks its own smooth 9:1 sequence, so each is at most 1 request off its exact
    // share: 1,800 ± 2 in all (a weighted random pick strays ±13 at one standard deviation).
    expect(Math.abs(blue - 1_800)).toBeLessThanOrEqual(2);
  });
});

describe('accept checks', () => {
  let ownFerry: TestFerry | null = null;
  let target: TestTarget | null = null;

  afterEach(async () => {
    await ownFerry?.stop(1_000);
    ownFerry = null;
    await target?.close();
    target = null;
  });

  it('resets a connection from 127.0.0.1 when allowedSources excludes it, and counts it', async () => {
    [target] = (await startTargets(1)) as [TestTarget];
    ownFerry = await startTestFerry(`workers: 2
admin: { address: "127.0.0.1:0" }
listeners:
  - name: closed
    address: "127.0.0.1:0"
    allowedSources: ["10.0.0.0/8", "fd00::/8"]
    defaultAction: { forward: { targetGroup: app } }
  - name: internal
    address: "127.0.0.1:0"
    scheme: internal
    defaultAction: { forward: { targetGroup: app } }
targetGroups:
  - { name: app, healthCheck: { enabled: false }, targets: [ { address: "${target.address}" } ] }
`);
    // The reset can beat the client's own 'connect' event: both mean the same refusal.
    const refused = await RawClient.connect(ownFerry.port).catch((error: NodeJS.ErrnoException) => error);
    if (refused instanceof RawClient) {
      await refused.write('GET / HTTP/1.1\r\nhost: x\r\n\r\n').catch(() => {});
      const rest = await refused.readToEnd().catch(() => Buffer.alloc(0));
      await refused.closed;
      expect(rest).toHaveLength(0);
    } else {
      expect(refused.code).toBe('ECONNRESET');
    }
    expect(target.count).toBe(0);
    const refusedTotal = [0, 1].reduce(
      (sum, worker) => sum + loadListener(ownFerry!.table.view, worker, 0, LISTENER_SOURCE_REFUSED_TOTAL),
      0,
    );
    expect(refusedTotal).toBe(1);

    // Loopback is private: the internal listener serves it.
    const internalPort = ownFerry.listenerPorts.get('internal')!;
    const allowed = await RawClient.connect(internalPort);
    await allowed.write('GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n');
    expect((await allowed.response()).status).toBe(200);
    allowed.destroy();
  });
});

describe('route', () => {
  let ownFerry: TestFerry | null = null;
  let target: TestTarget | null = null;

  afterEach(async () => {
    await ownFerry?.stop(1_000);
    ownFerry = null;
    await target?.close();
    target = null;
  });

  // A valid config always has a defaultAction, so "no rule and no default action" happens only
  // when a worker's topology has no routes for the listener that accepted: made here by sending
  // the workers a topology without listeners, the message a reload sends.
  describe("when the worker's topology has no routes for the listener", () => {
    it('answers 404 FERRY_ERR_ROUTE_NO_MATCH, and forwards again once the routes are back', async () => {
      [target] = (await startTargets(1)) as [TestTarget];
      ownFerry = await startTestFerry(simpleConfig({ targets: [target.address], workers: 1 }));
      const running = ownFerry;
      const topology = running.topology();
      const get = async () => {
        const own = await RawClient.connect(running.port);
        await own.write('GET / HTTP/1.1\r\nhost: x\r\n\r\n');
        const response = await own.response();
        own.destroy();
        return response;
      };
      expect((await get()).status).toBe(200);
      running.supervisor.broadcast({ type: 'topology', topology: { ...topology, listeners: [] } });
      // The message is applied between two requests; bounded: 100 tries.
      let response = await get();
      for (let i = 0; i < 100 && response.status === 200; i++) response = await get();
      expect(response.status).toBe(404);
      expect(response.header('x-ferry-error')).toBe('FERRY_ERR_ROUTE_NO_MATCH');
      const forwarded = target.count;
      running.supervisor.broadcast({ type: 'topology', topology });
      for (let i = 0; i < 100 && response.status === 404; i++) response = await get();
      expect(response.status).toBe(200);
      expect(target.count).toBe(forwarded + 1);
    });
  });
});
