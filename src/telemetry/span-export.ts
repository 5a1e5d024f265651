/**
 * @module src/telemetry/span-export
 *
 * Exports the workers' spans: each worker records its spans straight into
 * OTLP/protobuf and posts batches here (workers/record/tracing.ts); this
 * wraps a batch in that worker's resource envelope and sends it with the
 * OpenTelemetry OTLP/HTTP transport. Thread: main. Place in the flow:
 * workers/record -> supervisor ('spans' message) -> **span export** -> collector.
 *
 *   worker 0 ──batch (transferred bytes)──┐
 *   worker 1 ──batch──────────────────────┼─> queue ≤ OTEL_BSP_MAX_QUEUE_SIZE spans ─> POST /v1/traces
 *   worker N ──batch──────────────────────┘      (beyond it: the batch is dropped and counted)
 *
 * Why here and not in each worker (as until issue 15 §4): the HTTP request,
 * its retries and timeouts, and a slow collector then cost the data plane's
 * event loop nothing; a batch crosses threads as one transferred buffer.
 * Why main and not a thread of its own: the work left here is a copy and a
 * POST per batch (hundreds of spans), which main's mostly idle loop absorbs;
 * a thread would add memory and start-up for no measured gain.
 *
 * What the OpenTelemetry JS packages still do: resource detection (the
 * SDK's default resource, OTEL_RESOURCE_ATTRIBUTES via the env detector) and
 * the transport (@opentelemetry/otlp-exporter-base: OTEL_EXPORTER_OTLP_*
 * headers, timeout and compression, retries with backoff on 429/502/503/504);
 * its diagnostics reach Ferry's log through @opentelemetry/api's `diag`.
 */
import { DiagLogLevel, diag } from '@opentelemetry/api';
import { ExportResultCode } from '@opentelemetry/core';
import {
  convertLegacyHttpOptions,
  createOtlpHttpExportDelegate,
} from '@opentelemetry/otlp-exporter-base/node-http';
import {
  defaultResource,
  detectResources,
  envDetector,
  resourceFromAttributes,
} from '@opentelemetry/resources';
import type { Logger } from 'pino';
import type { TracingSettings } from '../../proto/observability.ts';
import {
  exportRequestBytes,
  type ResourceValue,
  type TraceEnvelope,
  traceEnvelopeOf,
} from '../shared/otlp-protobuf.ts';

/** Spans waiting for export (queued or being sent) when OTEL_BSP_MAX_QUEUE_SIZE does not say. */
const SPAN_QUEUE_DEFAULT = 8_192;
/** Longest a shutdown waits for the last exports. */
const SPAN_EXPORT_SHUTDOWN_MS_MAX = 2_000;
/** Least time between two "export failed" warnings (a collector down would log on every batch). */
const EXPORT_FAILURE_LOG_INTERVAL_MS = 10_000;
/** The instrumentation scope every span is under (the tracer's name before issue 15 §4). */
const SCOPE_NAME = 'ferry';

/** One batch as it waits: the export request, built when the batch arrives. */
interface PendingExport {
  readonly request: Uint8Array;
  readonly spanCount: number;
}

/** The transport's view of a request: already-encoded bytes, passed through. */
const PASSTHROUGH_SERIALIZER = {
  serializeRequest: (request: PendingExport): Uint8Array => request.request,
  deserializeResponse: (): unknown => ({}),
};
const SPAN_COUNTER = { name: 'span' as const, countItems: (request: PendingExport) => request.spanCount };

type Env = Readonly<Record<string, string | undefined>>;

export class SpanExporter {
  private readonly settings: TracingSettings;
  private readonly log: Logger;
  private readonly delegate: ReturnType<typeof createOtlpHttpExportDelegate<PendingExport, unknown>>;
  private readonly envelopes: Map<number, TraceEnvelope>;
  private readonly queueSpanCountMax: number;
  private lastFailureLogMs: number;
  /** Spans accepted and not yet exported or failed. */
  pendingSpanCount: number;
  exportedSpanCount: number;
  /** Spans the collector refused or never answered for (after the transport's retries). */
  failedSpanCount: number;
  /** Spans dropped: the queue was full, or a worker dropped them (too big for a batch). */
  droppedSpanCount: number;

  constructor(settings: TracingSettings, log: Logger, env: Env = process.env) {
    this.settings = settings;
    this.log = log;
    // The transport reports through OTel's diag channel; warnings and errors go to Ferry's log.
    diag.setLogger(
      {
        error: (message, ...args) => log.error({ args }, `otel: ${message}`),
        warn: (message, ...args) => log.warn({ args }, `otel: ${message}`),
        info: () => {},
        debug: () => {},
        verbose: () => {},
      },
      { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true },
    );
    this.delegate = createOtlpHttpExportDelegate(
      convertLegacyHttpOptions({ url: settings.tracesUrl }, 'TRACES', 'v1/traces', {
        'Content-Type': 'application/x-protobuf',
      }),
      PASSTHROUGH_SERIALIZER,
      'ferry_span_exporter',
      SPAN_COUNTER,
      undefined,
    );
    this.envelopes = new Map();
    const queueMax = Number.parseInt(env['OTEL_BSP_MAX_QUEUE_SIZE'] ?? '', 10);
    this.queueSpanCountMax = Number.isFinite(queueMax) && queueMax > 0 ? queueMax : SPAN_QUEUE_DEFAULT;
    this.lastFailureLogMs = 0;
    this.pendingSpanCount = 0;
    this.exportedSpanCount = 0;
    this.failedSpanCount = 0;
    this.droppedSpanCount = 0;
  }

  /** Worker `workerIndex`'s resource and scope, encoded once (its spans differ only by `ferry.worker`). */
  private envelopeOf(workerIndex: number): TraceEnvelope {
    let envelope = this.envelopes.get(workerIndex);
    if (envelope === undefined) {
      // The same merge as the worker's tracer provider before: SDK defaults, then ours, then the
      // environment (OTEL_RESOURCE_ATTRIBUTES, OTEL_SERVICE_NAME) over both.
      const resource = defaultResource()
        .merge(
          resourceFromAttributes({ 'service.name': this.settings.serviceName, 'ferry.worker': workerIndex }),
        )
        .merge(detectResources({ detectors: [envDetector] }));
      const attributes: Record<string, ResourceValue> = {};
      for (const [key, value] of Object.entries(resource.attributes)) {
        if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean')
          attributes[key] = value;
      }
      envelope = traceEnvelopeOf(attributes, SCOPE_NAME);
      this.envelopes.set(workerIndex, envelope);
    }
    return envelope;
  }

  /**
   * Take one worker batch (`spans`: encoded, tagged ScopeSpans.spans entries)
   * and start its export, or drop it when OTEL_BSP_MAX_QUEUE_SIZE spans are
   * already waiting. Never throws.
   */
  accept(workerIndex: number, spans: Uint8Array, spanCount: number, workerDroppedSpanCount: number): void {
    this.droppedSpanCount += workerDroppedSpanCount;
    if (spanCount === 0) return;
    if (this.pendingSpanCount + spanCount > this.queueSpanCountMax) {
      this.droppedSpanCount += spanCount;
      return;
    }
    this.pendingSpanCount += spanCount;
    const pending: PendingExport = {
      request: exportRequestBytes(this.envelopeOf(workerIndex), spans),
      spanCount,
    };
    this.delegate.export(pending, (result) => {
      this.pendingSpanCount -= spanCount;
      if (result.code === ExportResultCode.SUCCESS) {
        this.exportedSpanCount += spanCount;
        return;
      }
      this.failedSpanCount += spanCount;
      const nowMs = Date.now();
      if (nowMs - this.lastFailureLogMs >= EXPORT_FAILURE_LOG_INTERVAL_MS) {
        this.lastFailureLogMs = nowMs;
        this.log.warn(
          { err: result.error, url: this.settings.tracesUrl, failedSpans: this.failedSpanCount },
          'span export failed; those spans are lost',
        );
      }
    });
  }

  /** Wait for the exports under way (bounded by SPAN_EXPORT_SHUTDOWN_MS_MAX) and close the transport. */
  async shutdown(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.delegate.shutdown().catch(() => {}),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, SPAN_EXPORT_SHUTDOWN_MS_MAX);
      }),
    ]);
    clearTimeout(timer);
  }
}
