/**
 * Tracing end to end (issue 6): a real Ferry with two workers exports OTLP/HTTP
 * protobuf to a real receiver started here (test/helpers/otlp-receiver.ts);
 * the test checks parent/child links, the trace id carried from the caller
 * through Ferry to the target, semantic-convention and Ferry attributes, an
 * errored upstream marked as an error, spans from every worker, and that the
 * OTEL_* environment wins over the config.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestFerry, type TestFerry } from '../helpers/ferry.ts';
import {
  type OtlpReceiver,
  type ReceivedSpan,
  SPAN_KIND_CLIENT,
  SPAN_KIND_SERVER,
  STATUS_CODE_ERROR,
  startOtlpReceiver,
} from '../helpers/otlp-receiver.ts';
import { RawClient } from '../helpers/raw-http.ts';
import { closedPort } from '../helpers/raw-target.ts';
import { waitForSettled } from '../helpers/table-counters.ts';
import { startTargets, type TestTarget } from '../helpers/targets.ts';

/** Separate connections sent so both workers (reusePort) serve some: all on one has odds 2^-15. */
const SPREAD_CONNECTIONS = 16;

const ENV_OVERRIDES: Record<string, string> = {
  // The batch processor exports every 100 ms instead of every 5 s, so the test waits little.
  OTEL_BSP_SCHEDULE_DELAY: '100',
  // Environment over config: the spans must carry this name, not `config-name`.
  OTEL_SERVICE_NAME: 'ferry-from-env',
};

let receiver: OtlpReceiver;
let ferry: TestFerry;
let targets: TestTarget[];
const savedEnv: Record<string, string | undefined> = {};

async function get(port: number, path: string, headers: Record<string, string> = {}) {
  const client = await RawClient.connect(port);
  const extra = Object.entries(headers)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  await client.write(`GET ${path} HTTP/1.1\r\nhost: trace.test\r\nuser-agent: trace-test\r\n${extra}\r\n`);
  const response = await client.response();
  client.destroy();
  return response;
}

function spansOf(traceId: string): ReceivedSpan[] {
  return receiver.spans.filter((span) => span.traceId === traceId);
}

async function waitForSpans(traceId: string, count: number): Promise<ReceivedSpan[]> {
  return waitForSettled(
    () => spansOf(traceId),
    (spans) => spans.length >= count,
    10_000,
    50,
  );
}

beforeAll(async () => {
  for (const [name, value] of Object.entries(ENV_OVERRIDES)) {
    savedEnv[name] = process.env[name];
    process.env[name] = value;
  }
  receiver = await startOtlpReceiver();
  targets = await startTargets(1, 'traced');
  const dead = `127.0.0.1:${await closedPort()}`;
  ferry = await startTestFerry(`workers: 2
admin: { address: "127.0.0.1:0" }
tracing: { enabled: true, serviceName: config-name, sampleRatio: 1.0, endpoint: "${receiver.endpoint}" }
listeners:
  - { name: web, protocol: HTTP, address: "127.0.0.1:0", defaultAction: { forward: { targetGroup: app } } }
  - { name: broken, protocol: HTTP, address: "127.0.0.1:0", defaultAction: { forward: { targetGroup: refusing } } }
targetGroups:
  - name: app
    healthCheck: { enabled: false }
    targets: [ { address: "${targets[0]!.address}" } ]
  - name: refusing
    healthCheck: { enabled: false }
    outlierDetection: { enabled: false }
    targets: [ { address: "${dead}" } ]
`);
});

afterAll(async () => {
  await ferry?.stop(2_000);
  await receiver?.close();
  await Promise.all((targets ?? []).map((target) => target.close()));
  for (const [name, value] of Object.entries(savedEnv)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
});

describe('tracing', () => {
  describe('when the request carries a traceparent', () => {
    const callerTraceId = randomBytes(16).toString('hex');
    const callerSpanId = randomBytes(8).toString('hex');
    let spans: ReceivedSpan[];
    let targetTraceparent: string;

    beforeAll(async () => {
      const response = await get(ferry.listenerPorts.get('web')!, '/orders?id=7', {
        traceparent: `00-${callerTraceId}-${callerSpanId}-01`,
        tracestate: 'caller=1',
      });
      expect(response.status).toBe(200);
      targetTraceparent = String(targets[0]!.lastHeaders['traceparent']);
      spans = await waitForSpans(callerTraceId, 2);
    });

    it('continues the caller trace: SERVER span child of the caller, CLIENT span child of the SERVER span', () => {
      const server = spans.find((span) => span.kind === SPAN_KIND_SERVER)!;
      const client = spans.find((span) => span.kind === SPAN_KIND_CLIENT)!;
      expect(server.parentSpanId).toBe(callerSpanId);
      expect(client.parentSpanId).toBe(server.spanId);
      expect(spans).toHaveLength(2);
    });

    it('injects its CLIENT span as the parent into the upstream request, replacing the caller header', () => {
      const client = spans.find((span) => span.kind === SPAN_KIND_CLIENT)!;
      expect(targetTraceparent).toBe(`00-${callerTraceId}-${client.spanId}-01`);
      expect(targets[0]!.lastHeaders['tracestate']).toBe('caller=1');
    });

    it('sets semantic-convention attributes on the SERVER span', () => {
      const server = spans.find((span) => span.kind === SPAN_KIND_SERVER)!;
      expect(server.name).toBe('GET');
      expect(server.attributes).toMatchObject({
        'http.request.method': 'GET',
        'url.path': '/orders',
        'url.query': 'id=7',
        'url.scheme': 'http',
        'server.address': 'trace.test',
        'server.port': ferry.listenerPorts.get('web'),
        'client.address': '127.0.0.1',
        'network.protocol.version': '1.1',
        'user_agent.original': 'trace-test',
        'http.response.status_code': 200,
        'ferry.listener': 'web',
        'ferry.rule': 'default',
        'ferry.target_group': 'app',
        'ferry.target': targets[0]!.address,
      });
      expect(server.status.code).not.toBe(STATUS_CODE_ERROR);
    });

    it('sets the target and why it was picked on the CLIENT span', () => {
      const client = spans.find((span) => span.kind === SPAN_KIND_CLIENT)!;
      expect(client.attributes).toMatchObject({
        'http.request.method': 'GET',
        'server.address': '127.0.0.1',
        'server.port': targets[0]!.port,
        'url.full': `http://${targets[0]!.address}/orders?id=7`,
        'http.response.status_code': 200,
        'ferry.target_group': 'app',
        'ferry.target': targets[0]!.address,
        'ferry.algorithm': 'round_robin',
        'ferry.pick_reason': 'balanced',
      });
    });

    it('names the service from OTEL_SERVICE_NAME over the config', () => {
      expect(spans.every((span) => span.resource['service.name'] === 'ferry-from-env')).toBe(true);
    });
  });

  describe('when the target refuses the connection', () => {
    it('marks the CLIENT and SERVER spans as errors with the Ferry error code', async () => {
      const traceId = randomBytes(16).toString('hex');
      const response = await get(ferry.listenerPorts.get('broken')!, '/', {
        traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01`,
      });
      expect(response.status).toBe(502);
      const spans = await waitForSpans(traceId, 2);
      const server = spans.find((span) => span.kind === SPAN_KIND_SERVER)!;
      const client = spans.find((span) => span.kind === SPAN_KIND_CLIENT)!;
      expect(client.status.code).toBe(STATUS_CODE_ERROR);
      expect(client.attributes['error.type']).toBe('FERRY_ERR_UPSTREAM_CONNECT_REFUSED');
      expect(server.status.code).toBe(STATUS_CODE_ERROR);
      expect(server.attributes['http.response.status_code']).toBe(502);
      expect(server.attributes['error.type']).toBe('FERRY_ERR_UPSTREAM_CONNECT_REFUSED');
    });
  });

  describe('when requests arrive without a traceparent', () => {
    it('starts new traces, and every worker exports its spans', async () => {
      const before = receiver.spans.length;
      for (let i = 0; i < SPREAD_CONNECTIONS; i++) {
        expect((await get(ferry.listenerPorts.get('web')!, `/spread/${i}`)).status).toBe(200);
      }
      const servers = await waitForSettled(
        () =>
          receiver.spans
            .slice(before)
            .filter(
              (span) =>
                span.kind === SPAN_KIND_SERVER && String(span.attributes['url.path']).startsWith('/spread/'),
            ),
        (spans) => spans.length >= SPREAD_CONNECTIONS,
        10_000,
        50,
      );
      expect(servers).toHaveLength(SPREAD_CONNECTIONS);
      expect(servers.every((span) => span.parentSpanId === '')).toBe(true);
      expect(new Set(servers.map((span) => span.traceId)).size).toBe(SPREAD_CONNECTIONS);
      expect(new Set(servers.map((span) => span.resource['ferry.worker']))).toEqual(new Set([0, 1]));
      expect(receiver.problems).toEqual([]);
    });
  });

  describe('when spans have been exported', () => {
    it('counts them in /metrics, with none dropped or failed', async () => {
      const counts = await waitForSettled(
        async () => {
          const text = await (await fetch(`http://${ferry.adminAddress}/metrics`)).text();
          const sampleOf = (name: string) =>
            Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1] ?? -1);
          return {
            exported: sampleOf('ferry_tracing_spans_exported_total'),
            dropped: sampleOf('ferry_tracing_spans_dropped_total'),
            failed: sampleOf('ferry_tracing_spans_failed_total'),
          };
        },
        (counts) => counts.exported >= receiver.spans.length && receiver.spans.length > 0,
        10_000,
        50,
      );
      expect(counts.dropped).toBe(0);
      expect(counts.failed).toBe(0);
    });
  });
});
