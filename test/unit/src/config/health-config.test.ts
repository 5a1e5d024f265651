/**
 * The health keys of a target group (src/config/schema.ts): healthCheck ranges
 * not covered in parse.test.ts, and outlierDetection (defaults, ranges, the
 * cross-field rule maxEjectionTime >= baseEjectionTime). Every bad value is
 * reported with its path, all at once.
 */
import { describe, expect, it } from 'vitest';
import { parseDocument } from 'yaml';
import { type ConfigResult, type ConfigSnapshot, parseConfig } from '../../../../src/config/parse.ts';

const BASE_YAML = `
listeners:
  - name: web
    address: 127.0.0.1:8080
    defaultAction: { forward: { targetGroup: api } }
targetGroups:
  - name: api
    targets:
      - { address: 127.0.0.1:9001 }
`;

type Path = (string | number)[];

function baseWith(path: Path, value: unknown): string {
  const doc = parseDocument(BASE_YAML);
  doc.setIn(path, value);
  return doc.toString();
}

function snapshotOf(result: ConfigResult): ConfigSnapshot {
  if (!result.ok) throw new Error(`expected a valid config, got:\n${JSON.stringify(result.errors, null, 2)}`);
  return result.snapshot;
}

function errorLines(result: ConfigResult): string[] {
  if (result.ok) throw new Error('expected errors, got a valid config');
  return result.errors.map((error) => `${error.path}: ${error.message}`);
}

describe('outlierDetection', () => {
  describe('when it is left out', () => {
    it('is on with Envoy-style defaults (5 and 5, 30s base, 300s max, 50%)', () => {
      const snapshot = snapshotOf(parseConfig(BASE_YAML, 'x.yaml'));
      expect(snapshot.targetGroups[0]?.outlierDetection).toEqual({
        enabled: true,
        consecutive5xx: 5,
        consecutiveGatewayFailure: 5,
        baseEjectionMs: 30_000,
        maxEjectionMs: 300_000,
        maxEjectionPercent: 50,
      });
    });
  });

  describe('when baseEjectionTime is longer than the default maximum', () => {
    it('raises the default maxEjectionTime to baseEjectionTime', () => {
      const snapshot = snapshotOf(
        parseConfig(baseWith(['targetGroups', 0, 'outlierDetection'], { baseEjectionTime: '10m' }), 'x.yaml'),
      );
      expect(snapshot.targetGroups[0]?.outlierDetection).toMatchObject({
        baseEjectionMs: 600_000,
        maxEjectionMs: 600_000,
      });
    });
  });

  describe('when a trigger is 0', () => {
    it('accepts it (that trigger is off)', () => {
      const snapshot = snapshotOf(
        parseConfig(
          baseWith(['targetGroups', 0, 'outlierDetection'], {
            consecutive5xx: 0,
            consecutiveGatewayFailure: 0,
          }),
          'x.yaml',
        ),
      );
      expect(snapshot.targetGroups[0]?.outlierDetection).toMatchObject({
        consecutive5xx: 0,
        consecutiveGatewayFailure: 0,
      });
    });
  });

  describe('when a value is out of range', () => {
    it.each<[string, Record<string, unknown>, string]>([
      ['enabled not a boolean', { enabled: 'on' }, 'enabled: expected true or false, got "on"'],
      [
        'consecutive5xx negative',
        { consecutive5xx: -1 },
        'consecutive5xx: expected an integer 0..1000, got -1',
      ],
      [
        'consecutive5xx a fraction',
        { consecutive5xx: 2.5 },
        'consecutive5xx: expected an integer 0..1000, got 2.5',
      ],
      [
        'consecutiveGatewayFailure too big',
        { consecutiveGatewayFailure: 1001 },
        'consecutiveGatewayFailure: expected an integer 0..1000, got 1001',
      ],
      [
        'baseEjectionTime below 1s',
        { baseEjectionTime: '500ms' },
        'baseEjectionTime: expected a duration 1s..1h, got "500ms"',
      ],
      [
        'baseEjectionTime without a unit',
        { baseEjectionTime: 30 },
        'baseEjectionTime: expected a duration with a unit, such as 500ms, 30s, 5m, 1h, 1d or 1m30s, got 30',
      ],
      [
        'maxEjectionTime above 1d',
        { maxEjectionTime: '2d' },
        'maxEjectionTime: expected a duration 1s..1d, got "2d"',
      ],
      [
        'maxEjectionTime below baseEjectionTime',
        { baseEjectionTime: '1m', maxEjectionTime: '30s' },
        'maxEjectionTime: must be at least baseEjectionTime (1m), got 30s',
      ],
      [
        'maxEjectionPercent above 100',
        { maxEjectionPercent: 101 },
        'maxEjectionPercent: expected an integer 0..100, got 101',
      ],
      ['an unknown key', { consecutive5xxx: 3 }, 'consecutive5xxx: unknown key'],
    ])('reports %s with its path', (_, value, message) => {
      const lines = errorLines(
        parseConfig(baseWith(['targetGroups', 0, 'outlierDetection'], value), 'x.yaml'),
      );
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(`targetGroups[0].outlierDetection.${message}`);
    });
  });

  describe('when several values are wrong', () => {
    it('reports each with its own path at once', () => {
      const lines = errorLines(
        parseConfig(
          baseWith(['targetGroups', 0, 'outlierDetection'], { consecutive5xx: -2, maxEjectionPercent: 200 }),
          'x.yaml',
        ),
      );
      expect(lines).toEqual([
        'targetGroups[0].outlierDetection.consecutive5xx: expected an integer 0..1000, got -2',
        'targetGroups[0].outlierDetection.maxEjectionPercent: expected an integer 0..100, got 200',
      ]);
    });
  });
});

describe('healthCheck ranges', () => {
  it.each<[string, Record<string, unknown>, string]>([
    [
      'healthyThreshold above 10',
      { healthyThreshold: 11 },
      'healthyThreshold: expected an integer 2..10, got 11',
    ],
    [
      'unhealthyThreshold below 2',
      { unhealthyThreshold: 1 },
      'unhealthyThreshold: expected an integer 2..10, got 1',
    ],
    ['timeout below 100ms', { timeout: '50ms' }, 'timeout: expected a duration 100ms..2m, got "50ms"'],
    ['port above 65535', { port: 70000 }, 'port: expected an integer 1..65535, got 70000'],
    [
      'matcher code above 599',
      { matcher: '200-600' },
      'matcher: expected status codes such as "200", "200,204" or "200-299" (codes 100..599), got "200-600"',
    ],
    [
      'matcher list with an empty item',
      { matcher: '200,,204' },
      'matcher: expected status codes such as "200", "200,204" or "200-299", got "200,,204"',
    ],
    ['protocol lower case', { protocol: 'http' }, 'protocol: expected one of TCP | HTTP | HTTPS, got "http"'],
  ])('reports %s with its path', (_, value, message) => {
    const lines = errorLines(parseConfig(baseWith(['targetGroups', 0, 'healthCheck'], value), 'x.yaml'));
    expect(lines).toEqual([`targetGroups[0].healthCheck.${message}`]);
  });

  it('accepts the ELB bounds: interval 1s and 300s, thresholds 2 and 10', () => {
    for (const check of [
      { interval: '1s', timeout: '500ms', healthyThreshold: 2, unhealthyThreshold: 10 },
      { interval: '300s', timeout: '2m', healthyThreshold: 10, unhealthyThreshold: 2 },
    ]) {
      const snapshot = snapshotOf(parseConfig(baseWith(['targetGroups', 0, 'healthCheck'], check), 'x.yaml'));
      expect(snapshot.targetGroups[0]?.healthCheck.healthyThreshold).toBe(check.healthyThreshold);
    }
  });
});
