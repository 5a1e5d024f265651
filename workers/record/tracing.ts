/**
 * @module workers/record/tracing
 *
 * The worker's OpenTelemetry tracing: its own tracer provider with a batch
 * span processor exporting OTLP/HTTP (protobuf), plus the few span
 * operations the record phase needs, with W3C trace-context parsing and
 * formatting. Thread: worker. Place in the flow: **record** (request-record.ts
 * starts and ends spans at phase boundaries). Loaded by observer.ts with a
 * dynamic import only when tracing is on, so with tracing off no SDK module
 * is ever evaluated (H4: off costs nothing).
 *
 * Why one provider per worker and not one in main: spans are made where the
 * request is, and shipping each to main would be a message per request; each
 * worker batches and exports on its own, like a process per core would.
 *
 * Spans (names and attributes follow the stable HTTP semantic conventions):
 *
 *   caller span (traceparent in the request)
 *     └─ SERVER `GET`  one per downstream request   ferry.listener, ferry.rule, client.*, url.*
 *          └─ CLIENT `GET`  one per upstream attempt  ferry.target_group, ferry.target,
 *               └─ target's span (traceparent we inject)   ferry.algorithm, ferry.pick_reason
 *
 * No context manager and no async-hooks: parents are passed explicitly, so the
 * proxy's own callbacks pay nothing for context propagation.
 */
import {
  type Attributes,
  type Context,
  ROOT_CONTEXT,
  type Span,
  type SpanContext,
  SpanKind,
  SpanStatusCode,
  type TextMapGetter,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BasicTracerProvider,
  BatchSpanProcessor,
  ParentBasedSampler,
  type Sampler,
  TraceIdRatioBasedSampler,
} from '@opentelemetry/sdk-trace-base';
import type { TracingSettings } from '../../proto/observability.ts';

/** Spans a worker queues for export at most when OTEL_BSP_MAX_QUEUE_SIZE does not say (SDK default 2048). */
const SPAN_QUEUE_DEFAULT = 8_192;
/** Longest a drain waits for the last spans to be exported. */
const TRACING_SHUTDOWN_MS_MAX = 2_000;

/** Reads request-head fields for the W3C propagator: lower-cased names, index-aligned values. */
export interface HeaderCarrier {
  headerNames: string[];
  headerValues: string[];
  headerCount: number;
}

const headerGetter: TextMapGetter<HeaderCarrier> = {
  get(carrier, key) {
    for (let i = 0; i < carrier.headerCount; i++) {
      if (carrier.headerNames[i] === key) return carrier.headerValues[i];
    }
    return undefined;
  },
  keys(carrier) {
    return carrier.headerNames.slice(0, carrier.headerCount);
  },
};

function samplerOf(settings: TracingSettings): Sampler {
  const ratio = new TraceIdRatioBasedSampler(settings.samplerRatio);
  switch (settings.sampler) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return ratio;
    case 'parentbased_always_on':
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: ratio });
  }
}

/** Two lower-case hex digits of the trace flags. */
function flagsHex(flags: number): string {
  return flags < 16 ? `0${flags.toString(16)}` : (flags & 0xff).toString(16);
}

/**
 * One worker's tracer. Every method is synchronous and never throws for a
 * span it made; `Span` values are opaque to the caller.
 */
export class Tracing {
  readonly tracer: Tracer;
  private readonly provider: BasicTracerProvider;
  private readonly propagator: W3CTraceContextPropagator;

  constructor(settings: TracingSettings, workerIndex: number) {
    const resource = resourceFromAttributes({
      'service.name': settings.serviceName,
      'ferry.worker': workerIndex,
    }).merge(detectResources({ detectors: [envDetector] }));
    const exporter = new OTLPTraceExporter({ url: settings.tracesUrl });
    const processor = new BatchSpanProcessor(
      exporter,
      process.env['OTEL_BSP_MAX_QUEUE_SIZE'] === undefined ? { maxQueueSize: SPAN_QUEUE_DEFAULT } : {},
    );
    this.provider = new BasicTracerProvider({
      resource,
      sampler: samplerOf(settings),
      spanProcessors: [processor],
    });
    this.tracer = this.provider.getTracer('ferry');
    this.propagator = new W3CTraceContextPropagator();
  }

  /** The caller's context from `traceparent`/`tracestate` in a request head (ROOT_CONTEXT without). */
  extract(carrier: HeaderCarrier): Context {
    return this.propagator.extract(ROOT_CONTEXT, carrier, headerGetter);
  }

  /**
   * Spans start bare; the caller builds attributes only if `isRecording` (H4:
   * a span the sampler dropped costs no attribute object).
   */
  startServer(name: string, parent: Context): Span {
    return this.tracer.startSpan(name, { kind: SpanKind.SERVER }, parent);
  }

  startClient(name: string, server: Span): Span {
    return this.tracer.startSpan(name, { kind: SpanKind.CLIENT }, trace.setSpan(ROOT_CONTEXT, server));
  }

  isRecording(span: Span): boolean {
    return span.isRecording();
  }

  setAttributes(span: Span, attributes: Attributes): void {
    span.setAttributes(attributes);
  }

  /** `traceparent` (and `tracestate`) header lines naming `span` as the parent, for the upstream head. */
  headerLines(span: Span): string {
    const context = span.spanContext();
    const line = `traceparent: ${traceparentOf(context)}\r\n`;
    const state = context.traceState?.serialize();
    return state === undefined || state === '' ? line : `${line}tracestate: ${state}\r\n`;
  }

  /** The same fields as a flat [name, value, …] list (HTTP/2 streams' upstream requests). */
  pushHeaderFields(out: string[], span: Span): void {
    const context = span.spanContext();
    out.push('traceparent', traceparentOf(context));
    const state = context.traceState?.serialize();
    if (state !== undefined && state !== '') out.push('tracestate', state);
  }

  traceId(span: Span): string {
    return span.spanContext().traceId;
  }

  /** End a span with its final attributes; `errorType` marks it failed (semconv `error.type`). */
  end(span: Span, statusCode: number, errorType: string | null, isError: boolean): void {
    if (span.isRecording()) {
      if (statusCode > 0) span.setAttribute('http.response.status_code', statusCode);
      if (errorType !== null) span.setAttribute('error.type', errorType);
      if (isError) span.setStatus({ code: SpanStatusCode.ERROR, message: errorType ?? String(statusCode) });
    }
    span.end();
  }

  setAttribute(span: Span, key: string, value: string | number): void {
    if (span.isRecording()) span.setAttribute(key, value);
  }

  /** Export what is queued and stop (worker drain); bounded by TRACING_SHUTDOWN_MS_MAX. */
  async shutdown(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.provider.shutdown().catch(() => {}),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, TRACING_SHUTDOWN_MS_MAX);
      }),
    ]);
    clearTimeout(timer);
  }
}

/** The W3C `traceparent` value naming a span as the parent. */
function traceparentOf(context: SpanContext): string {
  return `00-${context.traceId}-${context.spanId}-${flagsHex(context.traceFlags)}`;
}
