/**
 * "Why this target" (issue 15 §1) end to end: a real Ferry (one worker
 * thread) with tracing to an in-test OTLP receiver and access logs to a
 * file. Every SERVER span carries `ferry.lb.*` and every access-log line an
 * `lb` object: the algorithm, how the pick went (balanced, hash, sticky,
 * fail-open), stickiness hit/miss, failover, candidates and the chosen
 * target's score inputs as the balancer saw them — for each algorithm, a
 * sticky group, a group failing open and one failed over to its standby.
 * And the HTTP/2 defect of issue 15 §4: an HTTP/2 request's line says HTTP/2.0.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http2 from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALGORITHMS } from '../../proto/algorithms.ts';
import { createPki, type TestPki } from '../helpers/certs.ts';
import { startTestFerry, type TestFerry } from '../helpers/ferry.ts';
import {
  type OtlpReceiver,
  type ReceivedSpan,
  SPAN_KIND_SERVER,
  startOtlpReceiver,
} from '../helpers/otlp-receiver.ts';
import { RawClient, type RawResponse } from '../helpers/raw-http.ts';
import { closedPort } from '../helpers/raw-target.ts';
import { waitForSettled } from '../helpers/table-counters.ts';
import { startTargets, type TestTarget } from '../helpers/targets.ts';

type Line = Record<string, unknown> & { lb: Record<string, unknown> | null; traceId: string | null };

let dir: string;
let receiver: OtlpReceiver;
let ferry: TestFerry;
let targets: TestTarget[];
let pki: TestPki;
const savedDelay = process.env['OTEL_BSP_SCHEDULE_DELAY'];

beforeAll(async () => {
  process.env['OTEL_BSP_SCHEDULE_DELAY'] = '100';
  dir = mkdtempSync(join(tmpdir(), 'ferry-lb-'));
  pki = createPki('lb');
  const site = pki.issue('site', { dnsNames: ['lb.test'] });
  receiver = await startOtlpReceiver();
  targets = await startTargets(2, 'lb');
  const dead = `127.0.0.1:${await closedPort()}`;
  const two = targets.map((t) => `{ address: "${t.address}", weight: 3 }`).join(', ');
  const rules = ALGORITHMS.map(
    (algorithm, i) =>
      `      - { priority: ${i + 1}, conditions: { pathPattern: ["/${algorithm}"] }, action: { forward: { targetGroup: ${algorithm} } } }`,
  ).join('\n');
  const groups = ALGORITHMS.map(
    (algorithm) => `  - name: ${algorithm}
    algorithm: ${algorithm}
    healthCheck: { enabled: false }
    targets: [${two}]`,
  ).join('\n');
  ferry = await startTestFerry(`workers: 1
admin: { address: "127.0.0.1:0" }
tracing: { enabled: true, sampleRatio: 1.0, endpoint: "${receiver.endpoint}" }
accessLog: { enabled: true, destination: "${join(dir, 'access.log')}" }
listeners:
  - name: web
    protocol: HTTP
    address: "127.0.0.1:0"
    rules:
${rules}
      - { priority: 100, conditions: { pathPattern: ["/sticky"] }, action: { forward: { targetGroup: sticky } } }
      - { priority: 101, conditions: { pathPattern: ["/open"] }, action: { forward: { targetGroup: open } } }
      - { priority: 102, conditions: { pathPattern: ["/primary"] }, action: { forward: { targetGroup: primary } } }
    defaultAction: { forward: { targetGroup: round_robin } }
  - name: secure
    protocol: HTTPS
    address: "127.0.0.1:0"
    certificates: [ { cert: "${site.certPath}", key: "${site.keyPath}" } ]
    defaultAction: { forward: { targetGroup: round_robin } }
targetGroups:
${groups}
  - name: sticky
    healthCheck: { enabled: false }
    stickiness: { enabled: true, duration: 1h }
    targets: [${two}]
  - name: open
    healthCheck: { protocol: TCP, interval: 1s, timeout: 500ms, unhealthyThreshold: 2 }
    targets: [{ address: "${dead}" }]
  - name: primary
    healthCheck: { protocol: TCP, interval: 1s, timeout: 500ms, unhealthyThreshold: 2 }
    failOpen: false
    failover: { standby: standby, after: 1s }
    targets: [{ address: "${dead}" }]
  - name: standby
    healthCheck: { enabled: false }
    targets: [{ address: "${targets[0]!.address}" }]
`);
});

afterAll(async () => {
  await ferry?.stop(1_000);
  await receiver?.close();
  await Promise.all((targets ?? []).map((t) => t.close()));
  rmSync(dir, { recursive: true, force: true });
  pki?.cleanup();
  if (savedDelay === undefined) delete process.env['OTEL_BSP_SCHEDULE_DELAY'];
  else process.env['OTEL_BSP_SCHEDULE_DELAY'] = savedDelay;
});

/** One traced request on a fresh connection; returns the response and its trace id. */
async function get(path: string, cookie = ''): Promise<{ response: RawResponse; traceId: string }> {
  const traceId = randomBytes(16).toString('hex');
  const client = await RawClient.connect(ferry.port);
  await client.write(
    `GET ${path} HTTP/1.1\r\nhost: lb.test\r\nconnection: close\r\ntraceparent: 00-${traceId}-${randomBytes(8).toString('hex')}-01\r\n${cookie === '' ? '' : `cookie: ${cookie}\r\n`}\r\n`,
  );
  const response = await client.response();
  client.destroy();
  return { response, traceId };
}

function lines(): Line[] {
  let text = '';
  try {
    text = readFileSync(join(dir, 'access.log'), 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Line);
}

/** The SERVER span and the access-log line of one trace. */
async function recorded(traceId: string): Promise<{ span: ReceivedSpan; line: Line }> {
  const span = await waitForSettled(
    () => receiver.spans.find((s) => s.traceId === traceId && s.kind === SPAN_KIND_SERVER),
    (found) => found !== undefined,
    10_000,
    50,
  );
  const line = await waitForSettled(
    () => lines().find((l) => l.traceId === traceId),
    (found) => found !== undefined,
    10_000,
    50,
  );
  return { span: span!, line: line! };
}

describe('ferry.lb.* on SERVER spans and lb on access-log lines', () => {
  it.each(ALGORITHMS)(
    '%s: names the algorithm, how it picked, the candidates and the target’s score inputs',
    async (algorithm) => {
      const { response, traceId } = await get(`/${algorithm}`);
      expect(response.status).toBe(200);
      const { span, line } = await recorded(traceId);
      const pick = algorithm === 'hash' ? 'hash' : 'balanced';
      expect(span.attributes).toMatchObject({
        'ferry.lb.algorithm': algorithm,
        'ferry.lb.pick': pick,
        'ferry.lb.sticky': 'none',
        'ferry.lb.candidates': 2,
        'ferry.lb.failover': false,
        'ferry.lb.fail_open': false,
        'ferry.lb.target.weight': 3,
        'ferry.lb.target.in_flight': 0,
      });
      for (const name of ['connections', 'latency_ewma_us', 'peak_ewma_us']) {
        expect(typeof span.attributes[`ferry.lb.target.${name}`], name).toBe('number');
      }
      expect(line.lb).toEqual({
        algorithm,
        pick,
        sticky: 'none',
        candidates: 2,
        failover: false,
        failOpen: false,
        inFlight: span.attributes['ferry.lb.target.in_flight'],
        connections: span.attributes['ferry.lb.target.connections'],
        latencyEwmaUs: span.attributes['ferry.lb.target.latency_ewma_us'],
        peakEwmaUs: span.attributes['ferry.lb.target.peak_ewma_us'],
        weight: 3,
      });
    },
  );

  it('says sticky miss on a first request and sticky hit when the cookie comes back', async () => {
    const first = await get('/sticky');
    const cookie = first.response.header('set-cookie')!.split(';')[0]!;
    const firstRecord = await recorded(first.traceId);
    expect(firstRecord.span.attributes).toMatchObject({
      'ferry.lb.sticky': 'miss',
      'ferry.lb.pick': 'balanced',
    });
    expect(firstRecord.line.lb).toMatchObject({ sticky: 'miss', pick: 'balanced' });
    const second = await get('/sticky', cookie);
    const secondRecord = await recorded(second.traceId);
    expect(secondRecord.span.attributes).toMatchObject({
      'ferry.lb.sticky': 'hit',
      'ferry.lb.pick': 'sticky',
    });
    expect(secondRecord.line.lb).toMatchObject({ sticky: 'hit', pick: 'sticky' });
    expect(secondRecord.line['upstream']).toBe(firstRecord.line['upstream']);
  });

  it('says fail_open when no target of the group is healthy and it fails open', async () => {
    await waitForSettled(
      () =>
        ferry.health.target(
          'open',
          ferry.config().targetGroups.find((g) => g.name === 'open')!.targets[0]!.address,
        )?.state,
      (state) => state === 'unhealthy',
      15_000,
      100,
    );
    const { traceId } = await get('/open');
    const { span, line } = await recorded(traceId);
    expect(span.attributes).toMatchObject({ 'ferry.lb.pick': 'fail_open', 'ferry.lb.fail_open': true });
    expect(line.lb).toMatchObject({ pick: 'fail_open', failOpen: true });
  });

  it('says failover when the group asked for failed over to its standby', async () => {
    await waitForSettled(
      () => ferry.failover.status('primary').groups[0]?.routeTo,
      (routeTo) => routeTo === 'standby',
      15_000,
      100,
    );
    const { response, traceId } = await get('/primary');
    expect(response.status).toBe(200);
    const { span, line } = await recorded(traceId);
    expect(span.attributes).toMatchObject({ 'ferry.lb.failover': true, 'ferry.target_group': 'standby' });
    expect(line.lb).toMatchObject({ failover: true, candidates: 1 });
    expect(line['targetGroup']).toBe('standby');
  });

  it('writes HTTP/2.0 in the request line and 2 as the span protocol version of an HTTP/2 request', async () => {
    const traceId = randomBytes(16).toString('hex');
    const session = http2.connect(`https://127.0.0.1:${ferry.listenerPorts.get('secure')}`, {
      ca: pki.ca.cert,
      servername: 'lb.test',
    });
    try {
      const stream = session.request({
        ':path': '/over-h2',
        ':authority': 'lb.test',
        traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01`,
      });
      stream.resume();
      const status = await new Promise<number>((resolve, reject) => {
        stream.once('response', (headers) => resolve(Number(headers[':status'])));
        stream.once('error', reject);
      });
      expect(status).toBe(200);
      await new Promise<void>((resolve) => stream.once('close', () => resolve()));
    } finally {
      session.close();
    }
    const { span, line } = await recorded(traceId);
    expect(line['request']).toBe('GET https://lb.test/over-h2 HTTP/2.0');
    expect(span.attributes['network.protocol.version']).toBe('2');
    expect(line.lb).toMatchObject({ algorithm: 'round_robin', pick: 'balanced' });
  });
});
