/**
 * The span path without a Ferry around it: workers/record/tracing.ts encodes
 * spans and hands batches to src/telemetry/span-export.ts, which exports
 * them to a real OTLP/HTTP receiver (test/helpers/otlp-receiver.ts) over a
 * real socket. Both run on the test's thread here (in Ferry the batches
 * cross from a worker to main as transferred bytes; that hop is covered by
 * test/integration/tracing.test.ts).
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SpanExporter } from '../../../../src/telemetry/span-export.ts';
import {
  ATTR_FERRY_LISTENER,
  ATTR_LB_FAILOVER,
  ATTR_LB_TARGET_WEIGHT,
  ATTR_URL_PATH,
  ATTR_USER_AGENT_ORIGINAL,
  type HeaderCarrier,
  TraceSpan,
  Tracing,
} from '../../../../workers/record/tracing.ts';
import { type OtlpReceiver, SPAN_KIND_SERVER, startOtlpReceiver } from '../../../helpers/otlp-receiver.ts';
import { waitForSettled } from '../../../helpers/table-counters.ts';

const SETTINGS = {
  serviceName: 'span-export-test',
  sampler: 'parentbased_always_on',
  samplerRatio: 1,
} as const;
const NO_HEADERS: HeaderCarrier = { headerNames: [], headerValues: [], headerCount: 0 };
const silent = pino({ level: 'silent' });

/** A Tracing whose batches go straight into `exporter`, as the worker's postMessage would carry them. */
function tracingInto(exporter: SpanExporter, env: Record<string, string>): Tracing {
  return new Tracing(
    { ...SETTINGS, tracesUrl: '' },
    (batch) => exporter.accept(0, batch.bytes, batch.spanCount, batch.droppedSpanCount),
    env,
  );
}

/** Record one ended SERVER span with `path` as url.path. */
function recordSpan(tracing: Tracing, span: TraceSpan, path: string): void {
  tracing.startServer(span, 'GET', NO_HEADERS, performance.now() * 1000);
  span.setString(ATTR_URL_PATH, path);
  span.setString(ATTR_FERRY_LISTENER, 'web');
  span.setString(ATTR_USER_AGENT_ORIGINAL, 'ü-agent/1.0 '.repeat(20)); // long and non-ASCII
  span.setBool(ATTR_LB_FAILOVER, true);
  span.setNumber(ATTR_LB_TARGET_WEIGHT, 100);
  tracing.end(span, 200, null, false, performance.now() * 1000);
}

let receiver: OtlpReceiver;

beforeEach(async () => {
  receiver = await startOtlpReceiver();
});

afterEach(async () => {
  await receiver.close();
});

describe('SpanExporter', () => {
  describe('when more spans are recorded than fit in one batch and one export', () => {
    it('delivers every span, with its attributes, across the batch boundaries', async () => {
      const env = { OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '64', OTEL_BSP_SCHEDULE_DELAY: '60000' };
      const exporter = new SpanExporter(
        { ...SETTINGS, tracesUrl: `${receiver.endpoint}/v1/traces` },
        silent,
        env,
      );
      const tracing = tracingInto(exporter, env);
      const span = new TraceSpan();
      const spanCount = 1_000;
      for (let i = 0; i < spanCount; i++) recordSpan(tracing, span, `/item/${i}`);
      tracing.shutdown();
      await exporter.shutdown();
      const received = await waitForSettled(
        () => receiver.spans,
        (spans) => spans.length >= spanCount,
        10_000,
        20,
      );
      expect(receiver.problems).toEqual([]);
      expect(received).toHaveLength(spanCount);
      expect(receiver.requestCount).toBeGreaterThanOrEqual(spanCount / 64);
      expect(new Set(received.map((each) => each.attributes['url.path'])).size).toBe(spanCount);
      expect(new Set(received.map((each) => each.spanId)).size).toBe(spanCount);
      const first = received.find((each) => each.attributes['url.path'] === '/item/0')!;
      expect(first.kind).toBe(SPAN_KIND_SERVER);
      expect(first.name).toBe('GET');
      expect(first.attributes).toMatchObject({
        'ferry.listener': 'web',
        'user_agent.original': 'ü-agent/1.0 '.repeat(20),
        'ferry.lb.failover': true,
        'ferry.lb.target.weight': 100,
        'http.response.status_code': 200,
      });
      expect(first.resource).toMatchObject({ 'service.name': 'span-export-test', 'ferry.worker': 0 });
      expect(exporter.exportedSpanCount).toBe(spanCount);
      expect(exporter.droppedSpanCount).toBe(0);
    });
  });

  describe('when the batch is not full and the schedule delay is far off', () => {
    it('still delivers the spans on shutdown', async () => {
      const env = { OTEL_BSP_SCHEDULE_DELAY: '600000' };
      const exporter = new SpanExporter(
        { ...SETTINGS, tracesUrl: `${receiver.endpoint}/v1/traces` },
        silent,
        env,
      );
      const tracing = tracingInto(exporter, env);
      const span = new TraceSpan();
      for (let i = 0; i < 3; i++) recordSpan(tracing, span, `/last/${i}`);
      expect(receiver.requestCount).toBe(0);
      tracing.shutdown();
      await exporter.shutdown();
      expect(receiver.spans.map((each) => each.attributes['url.path']).sort()).toEqual([
        '/last/0',
        '/last/1',
        '/last/2',
      ]);
    });
  });

  describe('when the collector does not answer and the queue fills', () => {
    let stalled: http.Server;
    const sockets = new Set<Socket>();

    beforeEach(async () => {
      stalled = http.createServer(() => {}); // reads requests, never answers
      stalled.on('connection', (socket) => sockets.add(socket));
      await new Promise<void>((resolve) => stalled.listen(0, '127.0.0.1', () => resolve()));
    });

    afterEach(async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => stalled.close(() => resolve()));
    });

    it('drops the batches beyond OTEL_BSP_MAX_QUEUE_SIZE and counts them', async () => {
      const env = {
        OTEL_BSP_MAX_QUEUE_SIZE: '20',
        OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '10',
        OTEL_BSP_SCHEDULE_DELAY: '600000',
      };
      const port = (stalled.address() as AddressInfo).port;
      const exporter = new SpanExporter(
        { ...SETTINGS, tracesUrl: `http://127.0.0.1:${port}/v1/traces` },
        silent,
        env,
      );
      const tracing = tracingInto(exporter, env);
      const span = new TraceSpan();
      for (let i = 0; i < 50; i++) recordSpan(tracing, span, `/stalled/${i}`);
      tracing.shutdown();
      // Two exports of 10 hang; the other 30 spans found the queue full.
      expect(exporter.pendingSpanCount).toBe(20);
      expect(exporter.droppedSpanCount).toBe(30);
      expect(exporter.exportedSpanCount).toBe(0);
      for (const socket of sockets) socket.destroy(); // the hanging exports fail now; shutdown returns
      await exporter.shutdown();
    });
  });
});
