/**
 * @module src/telemetry/settings
 *
 * Resolves the config's `accessLog` and `tracing` keys, with the standard
 * OTEL_* environment variables taking precedence, into what every worker
 * gets at spawn (proto/observability.ts). Thread: main, at start. Place in
 * the flow: ConfigSnapshot -> **settings** -> supervisor -> workers/record.
 *
 * Precedence, as the OpenTelemetry SDKs do it (env over code config):
 *
 *   OTEL_SDK_DISABLED=true                 tracing off whatever the config says
 *   OTEL_TRACES_EXPORTER=none              tracing off
 *   OTEL_SERVICE_NAME                      over tracing.serviceName (OTEL_RESOURCE_ATTRIBUTES
 *                                          are merged by main's span exporter)
 *   OTEL_TRACES_SAMPLER(+_ARG)             over tracing.sampleRatio (parentbased_traceidratio)
 *   OTEL_EXPORTER_OTLP_TRACES_ENDPOINT     used as is, over
 *   OTEL_EXPORTER_OTLP_ENDPOINT            + /v1/traces, over tracing.endpoint + /v1/traces
 *
 * The environment alone never turns tracing on: `tracing.enabled` does.
 * OTEL_EXPORTER_OTLP_HEADERS and the like are read by the span exporter in
 * main (span-export.ts); OTEL_BSP_* by it and by each worker's batcher
 * (workers inherit the environment).
 */
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import {
  type AccessLogSettings,
  TRACE_SAMPLERS,
  type TraceSampler,
  type TracingSettings,
  type WorkerObservability,
} from '../../proto/observability.ts';
import type { ConfigSnapshot } from '../config/index.ts';
import { ProxyError } from '../shared/errors.ts';

type Env = Readonly<Record<string, string | undefined>>;

/** `base` + `/v1/traces`, without doubling the slash (what the OTLP exporters do with a base endpoint). */
export function tracesUrlOf(base: string): string {
  return `${base.endsWith('/') ? base : `${base}/`}v1/traces`;
}

function isTrue(value: string | undefined): boolean {
  return value !== undefined && value.trim().toLowerCase() === 'true';
}

/** Tracing settings for the workers, or null when tracing is off. */
export function resolveTracing(config: ConfigSnapshot['tracing'], env: Env): TracingSettings | null {
  if (!config.enabled) return null;
  if (isTrue(env['OTEL_SDK_DISABLED'])) return null;
  if (env['OTEL_TRACES_EXPORTER']?.trim().toLowerCase() === 'none') return null;
  const serviceName = env['OTEL_SERVICE_NAME']?.trim() || config.serviceName;
  const tracesEndpoint = env['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT']?.trim();
  const baseEndpoint = env['OTEL_EXPORTER_OTLP_ENDPOINT']?.trim();
  const tracesUrl =
    tracesEndpoint !== undefined && tracesEndpoint !== ''
      ? tracesEndpoint
      : tracesUrlOf(baseEndpoint !== undefined && baseEndpoint !== '' ? baseEndpoint : config.endpoint);
  const envSampler = env['OTEL_TRACES_SAMPLER']?.trim().toLowerCase();
  const isKnownSampler =
    envSampler !== undefined && (TRACE_SAMPLERS as readonly string[]).includes(envSampler);
  const sampler: TraceSampler = isKnownSampler ? (envSampler as TraceSampler) : 'parentbased_traceidratio';
  const envRatio = Number.parseFloat(env['OTEL_TRACES_SAMPLER_ARG'] ?? '');
  const samplerRatio =
    isKnownSampler && Number.isFinite(envRatio) && envRatio >= 0 && envRatio <= 1
      ? envRatio
      : isKnownSampler
        ? 1
        : config.sampleRatio;
  return { serviceName, tracesUrl, sampler, samplerRatio };
}

/**
 * Access-log settings for the workers, or null when off. A file path is
 * resolved against the config's folder, its folder created, and the file
 * opened for append once here, so a path Ferry cannot write fails the start
 * with FERRY_ERR_CONFIG_INVALID instead of losing lines later.
 */
export function resolveAccessLog(
  config: ConfigSnapshot['accessLog'],
  configDir: string,
): AccessLogSettings | null {
  if (!config.enabled) return null;
  if (config.destination === 'stdout') return { destination: 'stdout', sampleRatio: config.sampleRatio };
  const path = isAbsolute(config.destination) ? config.destination : resolve(configDir, config.destination);
  try {
    mkdirSync(dirname(path), { recursive: true });
    closeSync(openSync(path, 'a'));
  } catch (error) {
    throw new ProxyError(
      'FERRY_ERR_CONFIG_INVALID',
      `accessLog.destination: cannot open ${path} for append: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
    );
  }
  return { destination: path, sampleRatio: config.sampleRatio };
}

export function resolveObservability(snapshot: ConfigSnapshot, env: Env): WorkerObservability {
  return {
    accessLog: resolveAccessLog(snapshot.accessLog, snapshot.configDir),
    tracing: resolveTracing(snapshot.tracing, env),
  };
}
