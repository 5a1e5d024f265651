/**
 * `/metrics` against the traffic a test sent (issue 6): a real Ferry with two
 * workers, real targets and a real scrape, parsed by a strict Prometheus text
 * parser (test/helpers/prometheus.ts), so the numbers and the format are both
 * checked. Also `/status.json`, the same counters as the page sees them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RETRY_ATTEMPTS_DEFAULT } from '../../src/shared/limits.ts';
import { startTestFerry, type TestFerry } from '../helpers/ferry.ts';
import { familyOf, metricValue, type PromFamily, parsePrometheusText } from '../helpers/prometheus.ts';
import { RawClient } from '../helpers/raw-http.ts';
import { closedPort } from '../helpers/raw-target.ts';
import { waitForSettled } from '../helpers/table-counters.ts';
import { startTargets, type TestTarget } from '../helpers/targets.ts';

const OK_REQUESTS = 10;
const NOT_FOUND_REQUESTS = 10;
const REFUSED_REQUESTS = 3;
const NO_TARGET_REQUESTS = 2;

let ferry: TestFerry;
let targets: TestTarget[];
let deadAddress: string;

function config(): string {
  return `workers: 2
admin: { address: "127.0.0.1:0" }
listeners:
  - { name: web, protocol: HTTP, address: "127.0.0.1:0", defaultAction: { forward: { targetGroup: app } } }
  - { name: dead, protocol: HTTP, address: "127.0.0.1:0", defaultAction: { forward: { targetGroup: refusing } } }
  - { name: none, protocol: HTTP, address: "127.0.0.1:0", defaultAction: { forward: { targetGroup: empty } } }
targetGroups:
  - name: app
    healthCheck: { enabled: false }
    targets:
      - { address: "${targets[0]!.address}" }
      - { address: "${targets[1]!.address}" }
  - name: refusing
    healthCheck: { enabled: false }
    outlierDetection: { enabled: false }
    targets:
      - { address: "${deadAddress}" }
  - name: empty
    healthCheck: { enabled: false }
    failOpen: false
    targets: []
`;
}

async function scrape(): Promise<Map<string, PromFamily>> {
  const response = await fetch(`http://${ferry.adminAddress}/metrics`);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
  return parsePrometheusText(await response.text());
}

/** Sends `count` GETs on one keep-alive connection; returns the exact bytes written and read. */
async function sendOnOneConnection(
  port: number,
  path: string,
  count: number,
): Promise<{ out: number; in: number }> {
  const client = await RawClient.connect(port);
  for (let i = 0; i < count; i++) {
    await client.write(`GET ${path} HTTP/1.1\r\nhost: metrics.test\r\nuser-agent: metrics-test\r\n\r\n`);
    await client.response();
  }
  client.socket.end();
  await client.closed;
  return { out: client.socket.bytesWritten, in: client.socket.bytesRead };
}

let webBytes: { out: number; in: number };
const badBytes = { out: 0, in: 0 };

beforeAll(async () => {
  targets = await startTargets(2, 'm');
  targets[1]!.status = 404;
  deadAddress = `127.0.0.1:${await closedPort()}`;
  ferry = await startTestFerry(config());
  const port = (name: string) => ferry.listenerPorts.get(name)!;
  // Round robin over two targets: t1 answers 200, t2 answers 404.
  webBytes = await sendOnOneConnection(port('web'), '/', OK_REQUESTS + NOT_FOUND_REQUESTS);
  for (let i = 0; i < REFUSED_REQUESTS; i++) await sendOnOneConnection(port('dead'), '/', 1);
  for (let i = 0; i < NO_TARGET_REQUESTS; i++) await sendOnOneConnection(port('none'), '/', 1);
  const bad = await RawClient.connect(port('web'));
  await bad.write('GET / HTTP/1.1\r\nhost: a\r\nhost: b\r\n\r\n');
  expect((await bad.response()).status).toBe(400);
  await bad.closed;
  badBytes.out = bad.socket.bytesWritten;
  badBytes.in = bad.socket.bytesRead;
});

afterAll(async () => {
  await ferry?.stop(2_000);
  await Promise.all((targets ?? []).map((target) => target.close()));
});

describe('GET /metrics', () => {
  describe('when requests went to targets', () => {
    it('counts every request per listener and per target, and target responses by status class', async () => {
      const families = await waitForSettled(
        scrape,
        (f) => metricValue(f, 'ferry_listener_active_connections', { listener: 'web' }) === 0,
      );
      expect(metricValue(families, 'ferry_listener_requests_total', { listener: 'web' })).toBe(
        OK_REQUESTS + NOT_FOUND_REQUESTS + 1,
      );
      const [ok, notFound] = targets.map((target) => ({ target_group: 'app', target: target.address }));
      expect(metricValue(families, 'ferry_target_requests_total', ok)).toBe(OK_REQUESTS);
      expect(metricValue(families, 'ferry_target_requests_total', notFound)).toBe(NOT_FOUND_REQUESTS);
      expect(metricValue(families, 'ferry_target_responses_total', { ...ok, code_class: '2xx' })).toBe(
        OK_REQUESTS,
      );
      expect(metricValue(families, 'ferry_target_responses_total', { ...ok, code_class: '4xx' })).toBe(0);
      expect(metricValue(families, 'ferry_target_responses_total', { ...notFound, code_class: '4xx' })).toBe(
        NOT_FOUND_REQUESTS,
      );
      expect(metricValue(families, 'ferry_target_connection_errors_total', ok)).toBe(0);
    });

    it('puts every answered request in the response-time histogram', async () => {
      const families = await scrape();
      const ok = { target_group: 'app', target: targets[0]!.address };
      expect(metricValue(families, 'ferry_target_response_time_seconds_count', ok)).toBe(OK_REQUESTS);
      expect(metricValue(families, 'ferry_target_response_time_seconds_bucket', { ...ok, le: '+Inf' })).toBe(
        OK_REQUESTS,
      );
      // The sum agrees with the buckets (no clock assumed): each response lies between its
      // bucket's lower and upper bound, so the sum does too (100 µs rounding per response aside).
      const cumulative = familyOf(families, 'ferry_target_response_time_seconds_bucket')!
        .samples.filter(
          (sample) =>
            sample.name === 'ferry_target_response_time_seconds_bucket' &&
            sample.labels['target'] === ok.target &&
            sample.labels['le'] !== '+Inf',
        )
        .map((sample) => [Number(sample.labels['le']), sample.value] as const)
        .sort((a, b) => a[0] - b[0]);
      let lowS = 0;
      let highS = 0;
      let below = 0;
      let previousLe = 0;
      for (const [le, count] of cumulative) {
        lowS += (count - below) * previousLe;
        highS += (count - below) * le;
        below = count;
        previousLe = le;
      }
      expect(below, 'responses above the last finite bucket').toBe(OK_REQUESTS);
      const sumS = metricValue(families, 'ferry_target_response_time_seconds_sum', ok);
      expect(sumS).toBeGreaterThanOrEqual(lowS - OK_REQUESTS * 0.00005);
      expect(sumS).toBeLessThanOrEqual(highS + OK_REQUESTS * 0.00005);
      expect(sumS).toBeGreaterThan(0);
    });

    it('counts connections, and processed bytes exactly as the client saw them', async () => {
      const families = await scrape();
      expect(metricValue(families, 'ferry_listener_new_connections_total', { listener: 'web' })).toBe(2);
      expect(metricValue(families, 'ferry_listener_active_connections', { listener: 'web' })).toBe(0);
      expect(
        metricValue(families, 'ferry_listener_processed_bytes_total', { listener: 'web', direction: 'in' }),
      ).toBe(webBytes.out + badBytes.out);
      expect(
        metricValue(families, 'ferry_listener_processed_bytes_total', { listener: 'web', direction: 'out' }),
      ).toBe(webBytes.in + badBytes.in);
      expect(
        metricValue(families, 'ferry_target_new_connections_total', {
          target_group: 'app',
          target: targets[0]!.address,
        }),
      ).toBeGreaterThanOrEqual(1);
    });
  });

  describe('when Ferry answered itself', () => {
    it('counts 502 for a refusing target, with its connection errors', async () => {
      const families = await scrape();
      expect(
        metricValue(families, 'ferry_listener_generated_gateway_responses_total', {
          listener: 'dead',
          code: '502',
        }),
      ).toBe(REFUSED_REQUESTS);
      expect(
        metricValue(families, 'ferry_listener_generated_responses_total', {
          listener: 'dead',
          code_class: '5xx',
        }),
      ).toBe(REFUSED_REQUESTS);
      const dead = { target_group: 'refusing', target: deadAddress };
      // Issue 10: each refused connect is retried (group `retries`, default 2), and every try counts
      // against the target; the only target here refuses them all.
      const tries = REFUSED_REQUESTS * (1 + RETRY_ATTEMPTS_DEFAULT);
      expect(metricValue(families, 'ferry_target_connection_errors_total', dead)).toBe(tries);
      expect(metricValue(families, 'ferry_target_gateway_failures_total', dead)).toBe(tries);
      expect(metricValue(families, 'ferry_target_response_time_seconds_count', dead)).toBe(0);
    });

    it('counts 503 with no target per listener and per group', async () => {
      const families = await scrape();
      expect(
        metricValue(families, 'ferry_listener_generated_gateway_responses_total', {
          listener: 'none',
          code: '503',
        }),
      ).toBe(NO_TARGET_REQUESTS);
      expect(
        metricValue(families, 'ferry_target_group_no_target_requests_total', { target_group: 'empty' }),
      ).toBe(NO_TARGET_REQUESTS);
    });

    it('counts a malformed request as a request and a generated 4xx', async () => {
      const families = await scrape();
      expect(
        metricValue(families, 'ferry_listener_generated_responses_total', {
          listener: 'web',
          code_class: '4xx',
        }),
      ).toBe(1);
      expect(
        metricValue(families, 'ferry_listener_generated_responses_total', {
          listener: 'web',
          code_class: '5xx',
        }),
      ).toBe(0);
    });
  });

  describe('when no target is failing', () => {
    it('reports host counts, workers and restarts', async () => {
      const families = await scrape();
      expect(metricValue(families, 'ferry_target_group_healthy_host_count', { target_group: 'app' })).toBe(2);
      expect(metricValue(families, 'ferry_target_group_unhealthy_host_count', { target_group: 'app' })).toBe(
        0,
      );
      expect(metricValue(families, 'ferry_target_group_failover_active', { target_group: 'app' })).toBe(0);
      expect(metricValue(families, 'ferry_workers_ready')).toBe(2);
      expect(metricValue(families, 'ferry_worker_restarts_total')).toBe(0);
      expect(
        metricValue(families, 'ferry_target_state', {
          target_group: 'app',
          target: targets[0]!.address,
          state: 'unavailable',
        }),
      ).toBe(1);
    });
  });
});

describe('GET /status.json', () => {
  it('shows the same counters per listener and target, with history', async () => {
    const response = await fetch(`http://${ferry.adminAddress}/status.json`);
    expect(response.status).toBe(200);
    const doc = (await response.json()) as {
      schemaVersion: number;
      ready: boolean;
      listeners: { name: string; requestsTotal: number; history: { requestRate: number[] } }[];
      targetGroups: { name: string; targets: { address: string; state: string; requestsTotal: number }[] }[];
    };
    expect(doc.schemaVersion).toBe(1);
    expect(doc.ready).toBe(true);
    expect(doc.listeners.find((listener) => listener.name === 'web')?.requestsTotal).toBe(
      OK_REQUESTS + NOT_FOUND_REQUESTS + 1,
    );
    const app = doc.targetGroups.find((group) => group.name === 'app')!;
    expect(app.targets.map((target) => [target.address, target.state, target.requestsTotal])).toEqual([
      [targets[0]!.address, 'unavailable', OK_REQUESTS],
      [targets[1]!.address, 'unavailable', NOT_FOUND_REQUESTS],
    ]);
  });
});
