/**
 * @module src/config/observability-schema
 *
 * The observability keys of the config, as zod fields that schema.ts places
 * at the top level:
 *
 *   accessLog: { enabled, destination, sampleRatio }             (pino, one JSON line per request)
 *   tracing:   { enabled, serviceName, sampleRatio, endpoint }   (OpenTelemetry, OTLP/HTTP)
 *
 * Thread: main (config time). Place in the flow: YAML -> schema.ts (+ these
 * fields) -> ConfigSnapshot -> src/telemetry (resolves paths and the OTEL_*
 * environment) -> workers at spawn.
 *
 * Metrics (`/metrics`) and the status page have no keys: they are always on,
 * cost a few Atomics per request, and live on the admin address.
 *
 * Kept apart from schema.ts so observability lives in one place and schema.ts
 * only gains the lines that place these fields.
 */
import { z } from 'zod';
import { describeValue } from './config-error.ts';
import { booleanField, unlessMissing } from './fields.ts';

/** Where access-log lines go when `destination` is this word; anything else is a file path. */
export const ACCESS_LOG_STDOUT = 'stdout';
/** Longest access-log file path, in characters. */
export const ACCESS_LOG_PATH_LENGTH_MAX = 4_096;
/** Longest `tracing.serviceName`. */
export const SERVICE_NAME_LENGTH_MAX = 255;
/** The OTLP/HTTP endpoint of a collector on the same host (the OpenTelemetry default port). */
export const TRACING_ENDPOINT_DEFAULT = 'http://127.0.0.1:4318';

/** A ratio 0..1 (YAML `1` and `0.25` both read as numbers). */
function ratioField() {
  const error = unlessMissing((input) => `expected a number 0..1, got ${describeValue(input)}`);
  return z.number({ error }).min(0, { error }).max(1, { error }).meta({ 'x-allowed': '0..1' });
}

/** An absolute http(s) URL with a host, no query or fragment. */
function endpointField() {
  return z
    .string({
      error: unlessMissing(
        (input) =>
          `expected an http:// or https:// URL such as ${TRACING_ENDPOINT_DEFAULT}, got ${describeValue(input)}`,
      ),
    })
    .refine(
      (text) => {
        if (!URL.canParse(text)) return false;
        const url = new URL(text);
        return (
          (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '' && url.search === ''
        );
      },
      {
        error: (issue) =>
          `expected an http:// or https:// URL such as ${TRACING_ENDPOINT_DEFAULT}, got ${describeValue(issue.input)}`,
      },
    )
    .meta({ 'x-type': 'URL', 'x-allowed': 'http:// or https:// URL without a query' });
}

// === accessLog ===
export const accessLogField = z
  .strictObject({
    enabled: booleanField()
      .default(false)
      .describe(
        'Write one JSON line per request (ALB access-log fields; see docs/observability.md). Off costs nothing per request.',
      ),
    destination: z
      .string({
        error: unlessMissing(
          (input) => `expected ${ACCESS_LOG_STDOUT} or a file path, got ${describeValue(input)}`,
        ),
      })
      .min(1, { error: `expected ${ACCESS_LOG_STDOUT} or a file path, got ""` })
      .max(ACCESS_LOG_PATH_LENGTH_MAX, {
        error: `expected a path of at most ${ACCESS_LOG_PATH_LENGTH_MAX} characters`,
      })
      .default(ACCESS_LOG_STDOUT)
      .meta({
        description:
          '`stdout`, or a file every worker appends to (created if missing; relative paths start at the config file’s folder). Lines are buffered and written asynchronously.',
        'x-type': '`stdout` or path',
      }),
    sampleRatio: ratioField()
      .default(1)
      .describe(
        'Share of successful requests logged (0..1, random per request). Requests Ferry answered with an error, or whose target failed, are always logged.',
      ),
  })
  .prefault({})
  .describe('Access logs: one JSON line per HTTP request or TCP connection.');

// === tracing ===
export const tracingField = z
  .strictObject({
    enabled: booleanField()
      .default(false)
      .describe(
        'Emit OpenTelemetry spans: a SERVER span per request and a CLIENT span per upstream attempt, W3C traceparent continued and injected. Off loads no SDK. OTEL_SDK_DISABLED=true turns it off.',
      ),
    serviceName: z
      .string({
        error: unlessMissing((input) => `expected a service name, got ${describeValue(input)}`),
      })
      .min(1, { error: 'expected a service name, got ""' })
      .max(SERVICE_NAME_LENGTH_MAX, {
        error: `expected a service name of at most ${SERVICE_NAME_LENGTH_MAX} characters`,
      })
      .default('ferry')
      .describe('`service.name` of the spans. OTEL_SERVICE_NAME takes precedence.'),
    sampleRatio: ratioField()
      .default(1)
      .describe(
        'Share of new traces sampled (parent-based: a caller’s sampled flag is followed). OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG take precedence.',
      ),
    endpoint: endpointField()
      .default(TRACING_ENDPOINT_DEFAULT)
      .describe(
        'OTLP/HTTP (protobuf) collector base URL; `/v1/traces` is appended as the SDK does. OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (used as is) and OTEL_EXPORTER_OTLP_ENDPOINT take precedence.',
      ),
  })
  .prefault({})
  .describe('Distributed tracing (OpenTelemetry, exported over OTLP/HTTP by every worker).');
