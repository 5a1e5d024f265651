/**
 * parseConfig / parseConfigFile / loadConfigFile (src/config/parse.ts): YAML
 * to a frozen ConfigSnapshot, or every error with its path and line. Each
 * field rule of the schema has a bad-input case here; the rules across fields
 * are in rules.test.ts.
 */
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseDocument } from 'yaml';
import { ConfigLoadError } from '../../../../src/config/config-error.ts';
import {
  autoMaxConnections,
  CONFIG_BYTES_MAX,
  type ConfigResult,
  type ConfigSnapshot,
  loadConfigFile,
  parseConfig,
  parseConfigFile,
  resolveConfigPath,
} from '../../../../src/config/parse.ts';
import { LISTENER_TIMEOUTS_DEFAULT, RETRIES_DEFAULT } from '../../../../src/shared/limits.ts';

const FIXTURES_DIR = fileURLToPath(new URL('../../../fixtures/config/', import.meta.url));
const fixture = (name: string): string => `${FIXTURES_DIR}${name}`;

/** A small valid config that each case below breaks in exactly one place. */
const BASE_YAML = `
listeners:
  - name: web
    address: 127.0.0.1:8080
    defaultAction: { forward: { targetGroup: api } }
targetGroups:
  - name: api
    algorithm: hash
    hash: { key: source_ip }
    targets:
      - { address: 127.0.0.1:9001 }
`;

type Path = (string | number)[];

/** BASE_YAML with one value set (or removed, for `undefined`), as YAML text. */
function baseWith(path: Path, value: unknown): string {
  const doc = parseDocument(BASE_YAML);
  if (value === undefined) doc.deleteIn(path);
  else doc.setIn(path, value);
  return doc.toString();
}

function snapshotOf(result: ConfigResult): ConfigSnapshot {
  if (!result.ok) throw new Error(`expected a valid config, got:\n${JSON.stringify(result.errors, null, 2)}`);
  return result.snapshot;
}

/** Errors as `path: message` lines, the way a user reads them. */
function errorLines(result: ConfigResult): string[] {
  if (result.ok) throw new Error('expected errors, got a valid config');
  return result.errors.map((error) => `${error.path}: ${error.message}`);
}

const NAME_MESSAGE =
  "expected a name (1..63 letters, digits, '.', '_' or '-', starting with a letter or digit)";
const DURATION_HINT = 'expected a duration with a unit, such as 500ms, 30s, 5m, 1h, 1d or 1m30s';

describe('parseConfig', () => {
  describe('when the config is the full fixture', () => {
    it('round-trips into the expected normalised snapshot', async () => {
      const result = await parseConfigFile(fixture('full.yaml'), { availableParallelism: 8 });
      expect(snapshotOf(result)).toEqual({
        sourceName: fixture('full.yaml'),
        configDir: FIXTURES_DIR.slice(0, -1),
        workerCount: 3,
        maxConnectionsTotal: autoMaxConnections(),
        workers: 3,
        admin: { address: '[::1]:9902', host: '::1', port: 9902 },
        limits: { maxTargets: 16, maxConnections: 'auto', maxTargetGroups: 4, maxUdpFlows: 16_384 },
        demo: false,
        listeners: [
          {
            name: 'web',
            protocol: 'HTTP',
            address: '0.0.0.0:8080',
            host: '0.0.0.0',
            port: 8080,
            scheme: 'internet-facing',
            addTargetHeader: true,
            rules: [],
            defaultAction: {
              type: 'forward',
              targetGroups: [{ name: 'api', weight: 1 }],
              stickiness: { enabled: false, durationMs: 86_400_000 },
            },
            allowedSources: [],
            internalSources: [],
            forwardTargetGroups: ['api'],
            certificates: [],
            sslPolicy: null,
            mutualAuthentication: { mode: 'off', trustStore: null, allowedIdentities: null },
            identity: false,
            alpnProtocols: [],
            tcpIdleTimeoutMs: 350_000,
            udpIdleTimeoutMs: 120_000,
            proxyProtocol: null,
            timeouts: LISTENER_TIMEOUTS_DEFAULT,
            headersWithUnderscores: 'drop',
            maxConnections: null,
          },
          {
            name: 'db',
            protocol: 'TCP',
            address: '127.0.0.1:15432',
            host: '127.0.0.1',
            port: 15432,
            scheme: 'internal',
            addTargetHeader: false,
            rules: [],
            defaultAction: {
              type: 'forward',
              targetGroups: [{ name: 'postgres', weight: 1 }],
              stickiness: { enabled: false, durationMs: 86_400_000 },
            },
            allowedSources: [],
            internalSources: [],
            forwardTargetGroups: ['postgres'],
            certificates: [],
            sslPolicy: null,
            mutualAuthentication: { mode: 'off', trustStore: null, allowedIdentities: null },
            identity: false,
            alpnProtocols: [],
            tcpIdleTimeoutMs: 350_000,
            udpIdleTimeoutMs: 120_000,
            proxyProtocol: null,
            timeouts: LISTENER_TIMEOUTS_DEFAULT,
            headersWithUnderscores: 'drop',
            maxConnections: null,
          },
        ],
        targetGroups: [
          {
            name: 'api',
            algorithm: 'hash',
            hash: { key: 'header:X-User', kind: 'header', name: 'x-user' },
            stickiness: { enabled: false, type: 'lb_cookie', durationMs: 86_400_000, cookieName: '' },
            proxyProtocol: 'off',
            geneve: null,
            discovery: null,
            isCrossZone: true,
            zoneAware: null,
            targets: [
              { address: '127.0.0.1:9001', host: '127.0.0.1', port: 9001, weight: 5, zone: null },
              { address: '[::1]:9002', host: '::1', port: 9002, weight: 1, zone: null },
              { address: 'api-3.internal:9003', host: 'api-3.internal', port: 9003, weight: 0, zone: null },
            ],
            healthCheck: {
              enabled: true,
              protocol: 'HTTPS',
              port: 8443,
              path: '/health?deep=1',
              intervalMs: 10_000,
              timeoutMs: 2_500,
              healthyThreshold: 3,
              unhealthyThreshold: 4,
              matcher: {
                text: '200,204,300-399',
                ranges: [
                  { from: 200, to: 200 },
                  { from: 204, to: 204 },
                  { from: 300, to: 399 },
                ],
              },
            },
            outlierDetection: {
              enabled: true,
              consecutive5xx: 7,
              consecutiveGatewayFailure: 3,
              baseEjectionMs: 10_000,
              maxEjectionMs: 120_000,
              maxEjectionPercent: 25,
            },
            deregistrationDelayMs: 90_000,
            slowStartMs: 45_000,
            failOpen: false,
            timeouts: { connectMs: 750, responseMs: 120_000 },
            retries: RETRIES_DEFAULT,
            failover: null,
            protocol: 'HTTP',
            tls: null,
          },
          {
            name: 'postgres',
            algorithm: 'least_connections',
            hash: null,
            stickiness: { enabled: false, type: 'lb_cookie', durationMs: 86_400_000, cookieName: '' },
            proxyProtocol: 'off',
            geneve: null,
            discovery: null,
            isCrossZone: true,
            zoneAware: null,
            targets: [{ address: '10.0.0.5:5432', host: '10.0.0.5', port: 5432, weight: 1, zone: null }],
            healthCheck: {
              enabled: true,
              protocol: 'TCP',
              port: 'traffic-port',
              path: '/',
              intervalMs: 5_000,
              timeoutMs: 2_500,
              healthyThreshold: 5,
              unhealthyThreshold: 2,
              matcher: { text: '200', ranges: [{ from: 200, to: 200 }] },
            },
            outlierDetection: {
              enabled: true,
              consecutive5xx: 5,
              consecutiveGatewayFailure: 5,
              baseEjectionMs: 30_000,
              maxEjectionMs: 300_000,
              maxEjectionPercent: 50,
            },
            deregistrationDelayMs: 30_000,
            slowStartMs: 0,
            failOpen: true,
            timeouts: { connectMs: 5_000, responseMs: 60_000 },
            retries: RETRIES_DEFAULT,
            failover: null,
            protocol: 'HTTP',
            tls: null,
          },
        ],
        shutdownGracePeriodMs: 0,
        drainDelayMs: 0,
        probeAddress: null,
        zone: null,
        control: null,
        accessLog: { enabled: false, destination: 'stdout', sampleRatio: 1 },
        tracing: { enabled: false, serviceName: 'ferry', sampleRatio: 1, endpoint: 'http://127.0.0.1:4318' },
        identity: null,
      });
    });
  });

  describe('when keys are left out', () => {
    it('fills in every default', async () => {
      const snapshot = snapshotOf(
        await parseConfigFile(fixture('minimal.yaml'), { availableParallelism: 2 }),
      );
      expect(snapshot.workers).toBe('auto');
      expect(snapshot.admin).toEqual({ address: '127.0.0.1:9901', host: '127.0.0.1', port: 9901 });
      expect(snapshot.limits).toEqual({
        maxTargets: 1024,
        maxConnections: 'auto',
        maxTargetGroups: 64,
        maxUdpFlows: 16_384,
      });
      expect(snapshot.demo).toBe(false);
      expect(snapshot.control).toBeNull();
      expect(snapshot.shutdownGracePeriodMs).toBe(10_000);
      expect(snapshot.listeners[0]).toMatchObject({
        protocol: 'HTTP',
        scheme: 'internet-facing',
        addTargetHeader: false,
      });
      expect(snapshot.targetGroups[0]).toEqual({
        name: 'api',
        algorithm: 'round_robin',
        hash: null,
        stickiness: { enabled: false, type: 'lb_cookie', durationMs: 86_400_000, cookieName: '' },
        proxyProtocol: 'off',
        geneve: null,
        discovery: null,
        isCrossZone: true,
        zoneAware: null,
        targets: [{ address: '127.0.0.1:9001', host: '127.0.0.1', port: 9001, weight: 1, zone: null }],
        healthCheck: {
          enabled: true,
          protocol: 'HTTP',
          port: 'traffic-port',
          path: '/',
          intervalMs: 30_000,
          timeoutMs: 5_000,
          healthyThreshold: 5,
          unhealthyThreshold: 2,
          matcher: { text: '200', ranges: [{ from: 200, to: 200 }] },
        },
        outlierDetection: {
          enabled: true,
          consecutive5xx: 5,
          consecutiveGatewayFailure: 5,
          baseEjectionMs: 30_000,
          maxEjectionMs: 300_000,
          maxEjectionPercent: 50,
        },
        deregistrationDelayMs: 30_000,
        slowStartMs: 0,
        failOpen: true,
        timeouts: { connectMs: 5_000, responseMs: 60_000 },
        retries: RETRIES_DEFAULT,
        failover: null,
        protocol: 'HTTP',
        tls: null,
      });
    });

    it('defaults the hash key to source_ip when algorithm is hash', () => {
      const snapshot = snapshotOf(parseConfig(baseWith(['targetGroups', 0, 'hash'], undefined), 'x.yaml'));
      expect(snapshot.targetGroups[0]?.hash).toEqual({ key: 'source_ip', kind: 'source_ip', name: null });
    });

    it('defaults the health-check timeout to half the interval when that is below 5s', () => {
      const snapshot = snapshotOf(
        parseConfig(baseWith(['targetGroups', 0, 'healthCheck'], { interval: '4s' }), 'x.yaml'),
      );
      expect(snapshot.targetGroups[0]?.healthCheck).toMatchObject({ intervalMs: 4_000, timeoutMs: 2_000 });
    });

    it('turns addTargetHeader on when demo is on', () => {
      const snapshot = snapshotOf(parseConfig(baseWith(['demo'], true), 'x.yaml'));
      expect(snapshot.listeners[0]?.addTargetHeader).toBe(true);
    });

    it('accepts an unquoted numeric matcher, as YAML reads `matcher: 200`', () => {
      const text = `${baseWith(['targetGroups', 0, 'healthCheck'], {})}`.replace(
        'healthCheck: {}',
        'healthCheck: { matcher: 204 }',
      );
      const snapshot = snapshotOf(parseConfig(text, 'x.yaml'));
      expect(snapshot.targetGroups[0]?.healthCheck.matcher).toEqual({
        text: '204',
        ranges: [{ from: 204, to: 204 }],
      });
    });
  });

  describe('when workers is auto', () => {
    it('resolves to the available parallelism', () => {
      expect(snapshotOf(parseConfig(BASE_YAML, 'x.yaml', { availableParallelism: 6 })).workerCount).toBe(6);
    });

    it('caps the count at MAX_WORKERS', () => {
      expect(snapshotOf(parseConfig(BASE_YAML, 'x.yaml', { availableParallelism: 500 })).workerCount).toBe(
        64,
      );
    });

    it('uses os.availableParallelism() unless told otherwise', () => {
      expect(snapshotOf(parseConfig(BASE_YAML, 'x.yaml')).workerCount).toBeGreaterThanOrEqual(1);
    });
  });

  describe('when it returns a snapshot', () => {
    it('freezes it deeply', () => {
      const snapshot = snapshotOf(parseConfig(BASE_YAML, 'x.yaml'));
      expect(Object.isFrozen(snapshot)).toBe(true);
      expect(Object.isFrozen(snapshot.listeners)).toBe(true);
      expect(Object.isFrozen(snapshot.targetGroups[0]?.targets[0])).toBe(true);
      expect(Object.isFrozen(snapshot.targetGroups[0]?.healthCheck.matcher.ranges[0])).toBe(true);
      expect(() => {
        (snapshot.limits as { maxTargets: number }).maxTargets = 1;
      }).toThrow(TypeError);
    });

    it('keeps the config folder so relative paths resolve against it', () => {
      const snapshot = snapshotOf(parseConfig(BASE_YAML, '/etc/ferry/ferry.yaml'));
      expect(snapshot.configDir).toBe('/etc/ferry');
      expect(resolveConfigPath(snapshot, 'certs/web.pem')).toBe('/etc/ferry/certs/web.pem');
      expect(snapshotOf(parseConfig(BASE_YAML, 'x', { configDir: '/srv' })).configDir).toBe('/srv');
    });
  });

  describe('when one field is invalid', () => {
    it.each<[string, Path, unknown, string]>([
      ['workers below 1', ['workers'], 0, 'workers: expected an integer 1..64, got 0'],
      ['workers above MAX_WORKERS', ['workers'], 65, 'workers: expected an integer 1..64, got 65'],
      ['workers a word', ['workers'], 'many', 'workers: expected auto or an integer 1..64, got "many"'],
      ['workers a fraction', ['workers'], 1.5, 'workers: expected auto or an integer 1..64, got 1.5'],
      [
        'admin address without port',
        ['admin'],
        { address: 'localhost' },
        'admin.address: expected host:port (the port is missing), got "localhost"',
      ],
      [
        'limits.maxTargets 0',
        ['limits'],
        { maxTargets: 0 },
        'limits.maxTargets: expected an integer 1..65536, got 0',
      ],
      [
        'limits.maxTargetGroups too big',
        ['limits'],
        { maxTargetGroups: 5000 },
        'limits.maxTargetGroups: expected an integer 1..4096, got 5000',
      ],
      ['demo not a boolean', ['demo'], 'yes', 'demo: expected true or false, got "yes"'],
      ['listeners missing', ['listeners'], undefined, 'listeners: is required'],
      ['listeners empty', ['listeners'], [], 'listeners: at least one listener is required'],
      [
        'listeners a mapping',
        ['listeners'],
        { web: 1 },
        'listeners: expected a list of listeners, got a mapping',
      ],
      ['listener name missing', ['listeners', 0, 'name'], undefined, 'listeners[0].name: is required'],
      [
        'listener name bad',
        ['listeners', 0, 'name'],
        '-web',
        `listeners[0].name: ${NAME_MESSAGE}, got "-web"`,
      ],
      [
        'listener protocol SCTP',
        ['listeners', 0, 'protocol'],
        'SCTP',
        'listeners[0].protocol: expected one of HTTP | HTTPS | TCP | TLS | UDP | TCP_UDP | GENEVE, got "SCTP"',
      ],
      [
        'listener protocol lower-case',
        ['listeners', 0, 'protocol'],
        'udp',
        'listeners[0].protocol: expected one of HTTP | HTTPS | TCP | TLS | UDP | TCP_UDP | GENEVE, got "udp"',
      ],
      [
        'listener protocol unknown',
        ['listeners', 0, 'protocol'],
        'http',
        'listeners[0].protocol: expected one of HTTP | HTTPS | TCP | TLS | UDP | TCP_UDP | GENEVE, got "http"',
      ],
      [
        'listener IPv6 without brackets',
        ['listeners', 0, 'address'],
        '::1:8080',
        'listeners[0].address: expected host:port (write IPv6 addresses in brackets, e.g. [::1]:8080), got "::1:8080"',
      ],
      [
        'listener port out of range',
        ['listeners', 0, 'address'],
        '127.0.0.1:65536',
        'listeners[0].address: expected host:port (port 0..65535), got "127.0.0.1:65536"',
      ],
      [
        'listener address a number',
        ['listeners', 0, 'address'],
        8080,
        'listeners[0].address: expected host:port, got 8080',
      ],
      [
        'listener scheme',
        ['listeners', 0, 'scheme'],
        'public',
        'listeners[0].scheme: expected one of internet-facing | internal, got "public"',
      ],
      [
        'listener addTargetHeader',
        ['listeners', 0, 'addTargetHeader'],
        'on',
        'listeners[0].addTargetHeader: expected true or false, got "on"',
      ],
      [
        'listener defaultAction missing',
        ['listeners', 0, 'defaultAction'],
        undefined,
        'listeners[0].defaultAction: is required',
      ],
      [
        'listener forward not a mapping',
        ['listeners', 0, 'defaultAction', 'forward'],
        'api',
        'listeners[0].defaultAction.forward: expected a mapping, got "api"',
      ],
      [
        'group algorithm unknown',
        ['targetGroups', 0, 'algorithm'],
        'rr',
        'targetGroups[0].algorithm: expected one of round_robin | least_connections | least_outstanding_requests | ' +
          'response_time | peak_ewma | hash | random | weighted_random, got "rr"',
      ],
      [
        'group algorithm misspelt',
        ['targetGroups', 0, 'algorithm'],
        'least_conections',
        'targetGroups[0].algorithm: expected one of round_robin | least_connections | least_outstanding_requests | ' +
          'response_time | peak_ewma | hash | random | weighted_random, got "least_conections" (did you mean least_connections?)',
      ],
      [
        'group name bad',
        ['targetGroups', 0, 'name'],
        'my group',
        `targetGroups[0].name: ${NAME_MESSAGE}, got "my group"`,
      ],
      [
        'hash key unknown',
        ['targetGroups', 0, 'hash', 'key'],
        'ip',
        'targetGroups[0].hash.key: expected source_ip, source_ip_dest_ip, five_tuple, path, header:<name>, cookie:<name> or query:<name>, got "ip"',
      ],
      [
        'hash key without a name',
        ['targetGroups', 0, 'hash', 'key'],
        'cookie:',
        'targetGroups[0].hash.key: expected cookie:<name>; the name is missing',
      ],
      [
        'hash header name not a token',
        ['targetGroups', 0, 'hash', 'key'],
        'header:x user',
        'targetGroups[0].hash.key: header name "x user" is not a valid HTTP token',
      ],
      [
        'targets a string',
        ['targetGroups', 0, 'targets'],
        '127.0.0.1:9001',
        'targetGroups[0].targets: expected a list, got "127.0.0.1:9001"',
      ],
      [
        'target address without port',
        ['targetGroups', 0, 'targets', 0, 'address'],
        '10.0.0.1',
        'targetGroups[0].targets[0].address: expected host:port (the port is missing), got "10.0.0.1"',
      ],
      [
        'target port 0',
        ['targetGroups', 0, 'targets', 0, 'address'],
        '10.0.0.1:0',
        'targetGroups[0].targets[0].address: expected host:port (port 1..65535), got "10.0.0.1:0"',
      ],
      [
        'target address missing',
        ['targetGroups', 0, 'targets', 0, 'address'],
        undefined,
        'targetGroups[0].targets[0].address: is required',
      ],
      [
        'target weight above WEIGHT_MAX',
        ['targetGroups', 0, 'targets', 0, 'weight'],
        1001,
        'targetGroups[0].targets[0].weight: expected an integer 0..1000, got 1001',
      ],
      [
        'target weight negative',
        ['targetGroups', 0, 'targets', 0, 'weight'],
        -1,
        'targetGroups[0].targets[0].weight: expected an integer 0..1000, got -1',
      ],
      [
        'target weight fractional',
        ['targetGroups', 0, 'targets', 0, 'weight'],
        0.5,
        'targetGroups[0].targets[0].weight: expected an integer 0..1000, got 0.5',
      ],
      [
        'health check enabled',
        ['targetGroups', 0, 'healthCheck'],
        { enabled: 'yes' },
        'targetGroups[0].healthCheck.enabled: expected true or false, got "yes"',
      ],
      [
        'health check protocol',
        ['targetGroups', 0, 'healthCheck'],
        { protocol: 'UDP' },
        'targetGroups[0].healthCheck.protocol: expected one of TCP | HTTP | HTTPS, got "UDP"',
      ],
      [
        'health check port 0',
        ['targetGroups', 0, 'healthCheck'],
        { port: 0 },
        'targetGroups[0].healthCheck.port: expected an integer 1..65535, got 0',
      ],
      [
        'health check port word',
        ['targetGroups', 0, 'healthCheck'],
        { port: 'traffic' },
        'targetGroups[0].healthCheck.port: expected traffic-port or an integer 1..65535, got "traffic"',
      ],
      [
        'health check path relative',
        ['targetGroups', 0, 'healthCheck'],
        { path: 'health' },
        'targetGroups[0].healthCheck.path: expected a path that starts with / and has no spaces, got "health"',
      ],
      [
        'health check interval too short',
        ['targetGroups', 0, 'healthCheck'],
        { interval: '500ms' },
        'targetGroups[0].healthCheck.interval: expected a duration 1s..5m, got "500ms"',
      ],
      [
        'health check interval too long',
        ['targetGroups', 0, 'healthCheck'],
        { interval: '301s' },
        'targetGroups[0].healthCheck.interval: expected a duration 1s..5m, got "301s"',
      ],
      [
        'health check interval longer than any duration',
        ['targetGroups', 0, 'healthCheck'],
        { interval: '30d' },
        'targetGroups[0].healthCheck.interval: expected a duration 1s..5m, got "30d"',
      ],
      [
        'health check interval without unit',
        ['targetGroups', 0, 'healthCheck'],
        { interval: 10 },
        `targetGroups[0].healthCheck.interval: ${DURATION_HINT}, got 10`,
      ],
      [
        'health check timeout equal to interval',
        ['targetGroups', 0, 'healthCheck'],
        { interval: '10s', timeout: '10s' },
        'targetGroups[0].healthCheck.timeout: must be less than interval (10s), got 10s',
      ],
      [
        'health check timeout above the default interval',
        ['targetGroups', 0, 'healthCheck'],
        { timeout: '40s' },
        'targetGroups[0].healthCheck.timeout: must be less than interval (30s), got 40s',
      ],
      [
        'healthy threshold below 2',
        ['targetGroups', 0, 'healthCheck'],
        { healthyThreshold: 1 },
        'targetGroups[0].healthCheck.healthyThreshold: expected an integer 2..10, got 1',
      ],
      [
        'unhealthy threshold above 10',
        ['targetGroups', 0, 'healthCheck'],
        { unhealthyThreshold: 11 },
        'targetGroups[0].healthCheck.unhealthyThreshold: expected an integer 2..10, got 11',
      ],
      [
        'matcher range reversed',
        ['targetGroups', 0, 'healthCheck'],
        { matcher: '299-200' },
        'targetGroups[0].healthCheck.matcher: expected status codes such as "200", "200,204" or "200-299" (a range goes low-high), got "299-200"',
      ],
      [
        'matcher a word',
        ['targetGroups', 0, 'healthCheck'],
        { matcher: 'ok' },
        'targetGroups[0].healthCheck.matcher: expected status codes such as "200", "200,204" or "200-299", got "ok"',
      ],
      [
        'deregistration delay above 1h',
        ['targetGroups', 0, 'deregistrationDelay'],
        '2h',
        'targetGroups[0].deregistrationDelay: expected a duration 0s..1h, got "2h"',
      ],
      [
        'slow start between 0 and 30s',
        ['targetGroups', 0, 'slowStart'],
        '10s',
        'targetGroups[0].slowStart: expected a duration 0 or 30s..15m, got "10s"',
      ],
      [
        'slow start above 15m',
        ['targetGroups', 0, 'slowStart'],
        '16m',
        'targetGroups[0].slowStart: expected a duration 0 or 30s..15m, got "16m"',
      ],
      [
        'fail open',
        ['targetGroups', 0, 'failOpen'],
        'no',
        'targetGroups[0].failOpen: expected true or false, got "no"',
      ],
      [
        'connect timeout without unit',
        ['targetGroups', 0, 'timeouts'],
        { connect: '5' },
        `targetGroups[0].timeouts.connect: ${DURATION_HINT}, got "5"`,
      ],
      [
        'response timeout too long',
        ['targetGroups', 0, 'timeouts'],
        { response: '2d' },
        'targetGroups[0].timeouts.response: expected a duration 1ms..1d, got "2d"',
      ],
      [
        'shutdown grace period fractional',
        ['shutdownGracePeriod'],
        '1.5s',
        `shutdownGracePeriod: ${DURATION_HINT}, got "1.5s"`,
      ],
    ])('reports %s with its path', (_case, path, value, expected) => {
      expect(errorLines(parseConfig(baseWith(path, value), 'x.yaml'))).toEqual([expected]);
    });
  });

  describe('when a key is unknown', () => {
    it('names the key in the path and suggests the closest one', () => {
      const result = parseConfig(baseWith(['targetGroups', 0, 'targtes'], []), 'x.yaml');
      expect(errorLines(result)).toEqual(['targetGroups[0].targtes: unknown key (did you mean targets?)']);
    });

    it('lists the allowed keys when none is close', () => {
      const result = parseConfig(baseWith(['targetGroups', 0, 'timeouts'], { idle: '1s' }), 'x.yaml');
      expect(errorLines(result)).toEqual([
        'targetGroups[0].timeouts.idle: unknown key; allowed here: connect, response',
      ]);
    });

    it('reports each unknown key of one mapping separately', () => {
      const result = parseConfig(baseWith(['admin'], { adress: '127.0.0.1:1', port: 1 }), 'x.yaml');
      expect(errorLines(result)).toEqual([
        'admin.adress: unknown key (did you mean address?)',
        'admin.port: unknown key; allowed here: address, probeAddress',
      ]);
    });

    it('points at the key, with line and column', () => {
      const result = parseConfig('listners: []\nlisteners: []\n', 'x.yaml');
      expect(result).toEqual({
        ok: false,
        errors: [
          {
            code: 'FERRY_ERR_CONFIG_INVALID',
            path: 'listners',
            message: 'unknown key (did you mean listeners?)',
            line: 1,
            column: 1,
          },
          {
            code: 'FERRY_ERR_CONFIG_INVALID',
            path: 'listeners',
            message: 'at least one listener is required',
            line: 2,
            column: 12,
          },
        ],
      });
    });
  });

  describe('when a config has several mistakes', () => {
    it('reports all of them at once, in file order, with lines', async () => {
      const result = await parseConfigFile(fixture('many-errors.yaml'));
      if (result.ok) throw new Error('expected errors');
      expect(result.errors.map((error) => [error.line, `${error.path}: ${error.message}`])).toEqual([
        [2, 'workers: expected auto or an integer 1..64, got "many"'],
        [
          5,
          'listeners[0].protocol: expected one of HTTP | HTTPS | TCP | TLS | UDP | TCP_UDP | GENEVE, got "SCTP"',
        ],
        [
          7,
          'listeners[0].defaultAction.forward.targetGroup: no target group named "apii" (did you mean "api"?)',
        ],
        [13, 'targetGroups[0].targets[1].address: expected host:port (the port is missing), got "127.0.0.1"'],
        [14, 'targetGroups[0].healthCheck.timeout: must be less than interval (10s), got 10s'],
        [15, 'targetGroups[1].name: duplicate target group name "api" (also targetGroups[0].name)'],
        [16, 'targetGroups[1].targtes: unknown key (did you mean targets?)'],
      ]);
    });
  });

  describe('when the YAML itself is broken', () => {
    it('reports the syntax error with line and column', () => {
      // Inline, not a fixture file: biome checks YAML files in the repo and would reject a broken one.
      const text = 'listeners:\n  - name: web\n    address: 127.0.0.1:8080\n     defaultAction: {}\n';
      const result = parseConfig(text, 'x.yaml');
      if (result.ok) throw new Error('expected errors');
      expect(result.errors[0]).toEqual({
        code: 'FERRY_ERR_CONFIG_INVALID',
        path: '',
        message: 'YAML syntax: Nested mappings are not allowed in compact mappings',
        line: 3,
        column: 14,
      });
    });

    it('reports a duplicate key', () => {
      const result = parseConfig('workers: 1\nworkers: 2\n', 'x.yaml');
      expect(result).toEqual({
        ok: false,
        errors: [
          {
            code: 'FERRY_ERR_CONFIG_INVALID',
            path: '',
            message: 'YAML syntax: duplicate key (each key may appear once per mapping)',
            line: 2,
            column: 1,
          },
        ],
      });
    });

    it('reports more than one document', () => {
      expect(errorLines(parseConfig(`${BASE_YAML}---\n${BASE_YAML}`, 'x.yaml'))).toEqual([
        ': YAML syntax: more than one YAML document (---); a config is one document',
      ]);
    });

    it('reports an alias to a missing anchor', () => {
      expect(errorLines(parseConfig('workers: *count\n', 'x.yaml'))[0]).toMatch(/^: YAML/);
    });

    it('reports an unknown tag', () => {
      expect(errorLines(parseConfig('workers: !cores 2\n', 'x.yaml'))).toEqual([
        ': YAML syntax: Unresolved tag: !cores',
      ]);
    });
  });

  describe('when the input is not a config at all', () => {
    it('reports an empty file', () => {
      expect(errorLines(parseConfig('# nothing\n', 'x.yaml'))).toEqual([
        ': the config is empty; it needs at least `listeners`',
      ]);
    });

    it('reports a list at the top level', () => {
      expect(errorLines(parseConfig('- 1\n', 'x.yaml'))).toEqual([': expected a mapping, got a list']);
    });

    it('refuses text larger than CONFIG_BYTES_MAX', () => {
      expect(errorLines(parseConfig(`#${'x'.repeat(CONFIG_BYTES_MAX)}`, 'x.yaml'))).toEqual([
        `: the config is larger than ${CONFIG_BYTES_MAX} bytes`,
      ]);
    });
  });

  describe('when the input is arbitrary', () => {
    it('returns a result and never throws, for any text (property)', () => {
      fc.assert(
        fc.property(fc.string({ maxLength: 200 }), (text) => {
          expect(typeof parseConfig(text, 'x.yaml').ok).toBe('boolean');
        }),
      );
    });

    it('returns errors with paths, never throws, for any YAML value in any key of a valid config (property)', () => {
      const keyPaths: Path[] = [
        ['workers'],
        ['admin'],
        ['limits', 'maxTargets'],
        ['listeners', 0],
        ['listeners', 0, 'address'],
        ['listeners', 0, 'defaultAction'],
        ['targetGroups', 0, 'hash'],
        ['targetGroups', 0, 'targets'],
        ['targetGroups', 0, 'targets', 0],
        ['targetGroups', 0, 'healthCheck'],
        ['targetGroups', 0, 'timeouts'],
      ];
      fc.assert(
        fc.property(fc.constantFrom(...keyPaths), fc.jsonValue({ maxDepth: 3 }), (path, value) => {
          const result = parseConfig(baseWith(path, value), 'x.yaml');
          if (!result.ok) {
            for (const error of result.errors) expect(error.message.length).toBeGreaterThan(0);
          }
        }),
      );
    });
  });
});

describe('parseConfigFile', () => {
  describe('when the file cannot be read', () => {
    it('returns an error instead of throwing', async () => {
      const result = await parseConfigFile(fixture('missing.yaml'));
      expect(errorLines(result)).toEqual([
        `: cannot read the file: ENOENT: no such file or directory, stat '${fixture('missing.yaml')}'`,
      ]);
    });
  });
});

describe('loadConfigFile', () => {
  describe('when the file is valid', () => {
    it('resolves to the snapshot', async () => {
      const snapshot = await loadConfigFile(fixture('minimal.yaml'));
      expect(snapshot.sourceName).toBe(fixture('minimal.yaml'));
      expect(snapshot.listeners).toHaveLength(1);
    });
  });

  describe('when the file is invalid', () => {
    it('throws a ConfigLoadError with every error and FERRY_ERR_CONFIG_INVALID', async () => {
      const error = await loadConfigFile(fixture('many-errors.yaml')).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(ConfigLoadError);
      const loadError = error as ConfigLoadError;
      expect(loadError.code).toBe('FERRY_ERR_CONFIG_INVALID');
      expect(loadError.errors).toHaveLength(7);
      expect(loadError.message).toContain(
        `${fixture('many-errors.yaml')}: 7 errors\n  workers: expected auto`,
      );
    });
  });
});
