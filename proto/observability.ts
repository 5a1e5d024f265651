/**
 * @module proto/observability
 *
 * What main tells each worker about access logs and tracing, at spawn (in
 * workerData, beside WorkerBootData). Thread: both. Main resolves the config
 * and the OTEL_* environment into these (src/telemetry/settings.ts); the
 * worker only acts on them (workers/record/observer.ts). `null` means off,
 * and then no access-log destination or span batcher is made.
 *
 * Kept apart from thread-messages.ts because it is optional boot data that
 * only the record phase reads.
 */

/** Access logs: one JSON line per request (HTTP) or connection (TCP). */
export interface AccessLogSettings {
  /** `stdout`, or an absolute file path every worker appends to. */
  readonly destination: string;
  /** Share of successful requests logged, 0..1; errors are always logged. */
  readonly sampleRatio: number;
}

/** OpenTelemetry sampler names, as OTEL_TRACES_SAMPLER spells them. */
export const TRACE_SAMPLERS = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
] as const;
export type TraceSampler = (typeof TRACE_SAMPLERS)[number];

/** Tracing: each worker records and batches spans with these; main exports them (src/telemetry/span-export.ts). */
export interface TracingSettings {
  readonly serviceName: string;
  /** Full OTLP/HTTP traces URL (`…/v1/traces`). */
  readonly tracesUrl: string;
  readonly sampler: TraceSampler;
  /** Ratio for the `*traceidratio` samplers, 0..1. */
  readonly samplerRatio: number;
}

export interface WorkerObservability {
  readonly accessLog: AccessLogSettings | null;
  readonly tracing: TracingSettings | null;
}

/** The extra workerData field; absent means everything off. */
export interface ObservabilityBootData {
  readonly observability?: WorkerObservability;
}
