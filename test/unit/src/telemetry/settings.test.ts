/**
 * resolveTracing / resolveAccessLog: config defaults, and the OTEL_*
 * environment taking precedence the way the OpenTelemetry SDKs do.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveAccessLog, resolveTracing } from '../../../../src/telemetry/index.ts';

const TRACING = { enabled: true, serviceName: 'ferry', sampleRatio: 0.25, endpoint: 'http://collector:4318' };

describe('resolveTracing', () => {
  describe('when only the config speaks', () => {
    it('appends /v1/traces and samples parent-based by the ratio', () => {
      expect(resolveTracing(TRACING, {})).toEqual({
        serviceName: 'ferry',
        tracesUrl: 'http://collector:4318/v1/traces',
        sampler: 'parentbased_traceidratio',
        samplerRatio: 0.25,
      });
    });

    it('is off unless enabled', () => {
      expect(resolveTracing({ ...TRACING, enabled: false }, { OTEL_SERVICE_NAME: 'x' })).toBeNull();
    });
  });

  describe('when OTEL_* variables are set', () => {
    it('lets them win over the config', () => {
      expect(
        resolveTracing(TRACING, {
          OTEL_SERVICE_NAME: 'checkout-sidecar',
          OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel:4318/',
          OTEL_TRACES_SAMPLER: 'traceidratio',
          OTEL_TRACES_SAMPLER_ARG: '0.5',
        }),
      ).toEqual({
        serviceName: 'checkout-sidecar',
        tracesUrl: 'http://otel:4318/v1/traces',
        sampler: 'traceidratio',
        samplerRatio: 0.5,
      });
    });

    it('uses the traces endpoint as given', () => {
      expect(
        resolveTracing(TRACING, {
          OTEL_EXPORTER_OTLP_ENDPOINT: 'http://ignored:4318',
          OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://otel.example/custom/path',
        })?.tracesUrl,
      ).toBe('https://otel.example/custom/path');
    });

    it.each([
      ['OTEL_SDK_DISABLED', 'true'],
      ['OTEL_TRACES_EXPORTER', 'none'],
    ])('turns tracing off with %s=%s', (name, value) => {
      expect(resolveTracing(TRACING, { [name]: value })).toBeNull();
    });
  });
});

describe('resolveAccessLog', () => {
  it('resolves a relative path against the config folder and creates its folder', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-settings-'));
    try {
      expect(
        resolveAccessLog({ enabled: true, destination: 'logs/access.log', sampleRatio: 1 }, dir),
      ).toEqual({
        destination: join(dir, 'logs/access.log'),
        sampleRatio: 1,
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a path it cannot open with FERRY_ERR_CONFIG_INVALID', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-settings-'));
    try {
      const file = join(dir, 'a-file');
      writeFileSync(file, '');
      // A folder path that goes through a regular file: ENOTDIR, whoever runs the test.
      expect(() =>
        resolveAccessLog({ enabled: true, destination: join(file, 'access.log'), sampleRatio: 1 }, dir),
      ).toThrow(expect.objectContaining({ code: 'FERRY_ERR_CONFIG_INVALID' }));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('keeps stdout as stdout', () => {
    expect(resolveAccessLog({ enabled: true, destination: 'stdout', sampleRatio: 0.1 }, '/')).toEqual({
      destination: 'stdout',
      sampleRatio: 0.1,
    });
  });
});
