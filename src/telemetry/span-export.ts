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
 * A request carries up to OTEL_BSP_MAX_EXPORT_BATCH_SIZE spans (several
 * worker batches, one ResourceSpans each) and leaves when that many are
 * queued or OTEL_BSP_SCHEDULE_DELAY after the first one queued.
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
  type ResourceSpansPart,
  type ResourceValue,
  type TraceEnvelope,
  traceEnvelopeOf,
} from '../shared/otlp-protobuf.ts';

/** Spans waiting for export (queued or being sent) when OTEL_BSP_MAX_QUEUE_SIZE does not say. */
const SPAN_QUEUE_DEFAULT = 16_384;
/**
 * Spans in one export request when OTEL_BSP_MAX_EXPORT_BATCH_SIZE does not
 * say (the SDK's default is 512). Measured here (a 1-core VM, loopback sink):
 * an export costs ~0.7 ms of CPU whatever its size, so at 512 spans (~180 KB)
 * it was ~3 µs per request with 2 spans each; at 4,096 (~1.5 MB, well under
 * the collector's 20 MiB default body limit) ~0.4 µs. Lower it for a
 * collector or proxy with a small request limit.
 */
export const SPAN_EXPORT_BATCH_DEFAULT = 4_096;
/** Longest a span waits in the queue when OTEL_BSP_SCHEDULE_DELAY does not say (the SDK's default). */
const SPAN_EXPORT_DELAY_MS_DEFAULT = 5_000;
/** Longest a shutdown waits for the last exports. */
const SPAN_EXPORT_SHUTDOWN_MS_MAX = 2_000;
/** Least time between two "export failed" warnings (a collector down would log on every batch). */
const EXPORT_FAILURE_LOG_INTERVAL_MS = 10_000;
/** The instrumentation scope every span is under (the tracer's name before issue 15 §4). */
const SCOPE_NAME = 'ferry';

/** One worker batch waiting in the queue, under its worker's resource. */
interface QueuedBatch extends ResourceSpansPart {
  readonly spanCount: number;
}

/** One export request as the transport sees it. */
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
  private readonly exportSpanCountMax: number;
  private readonly delayMs: number;
  private readonly queue: QueuedBatch[];
  private queuedSpanCount: number;
  private timer: NodeJS.Timeout | null;
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
    this.queueSpanCountMax = positiveIntOf(env['OTEL_BSP_MAX_QUEUE_SIZE'], SPAN_QUEUE_DEFAULT);
    this.exportSpanCountMax = positiveIntOf(env['OTEL_BSP_MAX_EXPORT_BATCH_SIZE'], SPAN_EXPORT_BATCH_DEFAULT);
    this.delayMs = positiveIntOf(env['OTEL_BSP_SCHEDULE_DELAY'], SPAN_EXPORT_DELAY_MS_DEFAULT);
    this.queue = [];
    this.queuedSpanCount = 0;
    this.timer = null;
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
   * into the queue, or drop it (counted) when the spans waiting would pass
   * OTEL_BSP_MAX_QUEUE_SIZE. An export starts once OTEL_BSP_MAX_EXPORT_BATCH_SIZE
   * spans are queued, else at the next OTEL_BSP_SCHEDULE_DELAY tick. Never throws.
   */
  accept(workerIndex: number, spans: Uint8Array, spanCount: number, workerDroppedSpanCount: number): void {
    this.droppedSpanCount += workerDroppedSpanCount;
    if (spanCount === 0) return;
    if (this.pendingSpanCount + spanCount > this.queueSpanCountMax) {
      this.droppedSpanCount += spanCount;
      return;
    }
    this.pendingSpanCount += spanCount;
    this.queue.push({ envelope: this.envelopeOf(workerIndex), spans, spanCount });
    this.queuedSpanCount += spanCount;
    if (this.queuedSpanCount >= this.exportSpanCountMax) this.exportQueued();
    else if (this.timer === null) {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.exportQueued();
      }, this.delayMs);
      this.timer.unref();
    }
  }

  /** Send queued batches, up to OTEL_BSP_MAX_EXPORT_BATCH_SIZE spans a request (a bigger batch goes alone). */
  private exportQueued(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    while (this.queue.length > 0) {
      const parts: QueuedBatch[] = [];
      let spanCount = 0;
      while (this.queue.length > 0) {
        const next = this.queue[0]!;
        if (parts.length > 0 && spanCount + next.spanCount > this.exportSpanCountMax) break;
        parts.push(next);
        spanCount += next.spanCount;
        this.queue.shift();
      }
      this.queuedSpanCount -= spanCount;
      this.send({ request: exportRequestBytes(parts), spanCount });
    }
  }

  private send(pending: PendingExport): void {
    const spanCount = pending.spanCount;
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

  /** Send what is queued, wait for the exports under way (bounded by SPAN_EXPORT_SHUTDOWN_MS_MAX), close the transport. */
  async shutdown(): Promise<void> {
    this.exportQueued();
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

/** A positive integer from an environment value, else `fallback`. */
function positiveIntOf(value: string | undefined, fallback: number): number {
  const parsed = Number.parseInt(value ?? '', 10);
  return Number.isFinite(parsed) && parsed > 0 ? parsed : fallback;
}
