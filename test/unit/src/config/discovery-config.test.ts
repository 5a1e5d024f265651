/**
 * The discovery and zone keys (src/config/discovery-schema.ts): defaults,
 * normalised shapes, and every bad value reported with its config path,
 * including FERRY_ZONE, which overrides `zone`.
 */
import { describe, expect, it } from 'vitest';
import { parseDocument } from 'yaml';
import { type ConfigResult, type ConfigSnapshot, parseConfig } from '../../../../src/config/parse.ts';
import { planFromConfig } from '../../../../src/table/index.ts';

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

function baseWith(...edits: [Path, unknown][]): string {
  const doc = parseDocument(BASE_YAML);
  for (const [path, value] of edits) doc.setIn(path, value);
  return doc.toString();
}

function parse(yaml: string, env: Record<string, string> = {}): ConfigResult {
  return parseConfig(yaml, '<test>', { env });
}

function snapshotOf(result: ConfigResult): ConfigSnapshot {
  if (!result.ok) throw new Error(`expected a valid config, got:\n${JSON.stringify(result.errors, null, 2)}`);
  return result.snapshot;
}

function errorLines(result: ConfigResult): string[] {
  if (result.ok) throw new Error('expected errors, got a valid config');
  return result.errors.map((error) => `${error.path}: ${error.message}`);
}

const DNS = ['targetGroups', 0, 'discovery', 'dns'];

describe('targetGroups[].discovery.dns', () => {
  describe('when only name and port are given', () => {
    it('fills type A, refresh ttl, minRefresh 1s, maxRefresh 60s and the system servers', () => {
      const group = snapshotOf(parse(baseWith([DNS, { name: 'api.default.svc.cluster.local', port: 8080 }])))
        .targetGroups[0]!;
      expect(group.discovery).toEqual({
        name: 'api.default.svc.cluster.local',
        type: 'A',
        port: 8080,
        refreshMs: null,
        minRefreshMs: 1_000,
        maxRefreshMs: 60_000,
        servers: null,
        zone: null,
      });
    });
  });

  it('normalises servers to what dns.Resolver#setServers takes and a fixed refresh to ms', () => {
    const group = snapshotOf(
      parse(
        baseWith([
          DNS,
          {
            name: 'api.test.',
            port: 80,
            refresh: '30s',
            servers: ['127.0.0.1:5353', '[::1]:53', '10.0.0.2'],
          },
        ]),
      ),
    ).targetGroups[0]!;
    expect(group.discovery).toMatchObject({
      name: 'api.test',
      refreshMs: 30_000,
      servers: ['127.0.0.1:5353', '[::1]:53', '10.0.0.2'],
    });
  });

  it('reports every bad value with its path, all at once', () => {
    const lines = errorLines(
      parse(
        baseWith([
          DNS,
          { name: 'bad name!', type: 'MX', refresh: 'often', minRefresh: '10ms', servers: ['dns.local:53'] },
        ]),
      ),
    );
    expect(lines).toEqual(
      expect.arrayContaining([
        'targetGroups[0].discovery.dns.name: expected a DNS name such as api.default.svc.cluster.local, got "bad name!"',
        'targetGroups[0].discovery.dns.type: expected one of A | AAAA | ANY | SRV, got "MX"',
        'targetGroups[0].discovery.dns.refresh: expected ttl or a duration such as 30s, got "often"',
        'targetGroups[0].discovery.dns.minRefresh: expected a duration 100ms..1h, got "10ms"',
        'targetGroups[0].discovery.dns.servers[0]: expected an IP address with an optional port (127.0.0.1:5353, [::1]:53), got "dns.local:53"',
      ]),
    );
  });

  it('requires port for A, AAAA and ANY, refuses it for SRV, and keeps maxRefresh at least minRefresh', () => {
    expect(errorLines(parse(baseWith([DNS, { name: 'api.test', type: 'ANY' }])))).toEqual([
      'targetGroups[0].discovery.dns.port: is required for type ANY (A/AAAA records carry no port)',
    ]);
    expect(
      errorLines(parse(baseWith([DNS, { name: '_http._tcp.api.test', type: 'SRV', port: 80 }]))),
    ).toEqual([
      'targetGroups[0].discovery.dns.port: must be left out for type SRV (each SRV record carries its own port)',
    ]);
    expect(
      errorLines(parse(baseWith([DNS, { name: 'api.test', port: 80, minRefresh: '10s', maxRefresh: '5s' }]))),
    ).toEqual(['targetGroups[0].discovery.dns.maxRefresh: must be at least minRefresh (10s), got 5s']);
  });
});

describe('zones', () => {
  it('takes FERRY_ZONE over zone, and reports a bad FERRY_ZONE under its own name', () => {
    const yaml = baseWith([['zone'], 'zone-a']);
    expect(snapshotOf(parse(yaml)).zone).toBe('zone-a');
    expect(snapshotOf(parse(yaml, { FERRY_ZONE: 'zone-b' })).zone).toBe('zone-b');
    expect(errorLines(parse(yaml, { FERRY_ZONE: 'bad zone' }))).toEqual([
      "FERRY_ZONE: expected a zone name (1..63 letters, digits, '.', '_' or '-', starting with a letter or digit), got \"bad zone\"",
    ]);
  });

  it('reports bad zone values with their paths', () => {
    const lines = errorLines(
      parse(
        baseWith(
          [['targetGroups', 0, 'targets', 0, 'zone'], ''],
          [['targetGroups', 0, 'crossZone'], 'off'],
          [['targetGroups', 0, 'zoneAware'], { overprovisioningFactor: 0.5, minTargets: 0 }],
        ),
      ),
    );
    expect(lines).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^targetGroups\[0\]\.targets\[0\]\.zone: expected a zone name/),
        'targetGroups[0].crossZone: expected one of enabled | disabled, got "off"',
        'targetGroups[0].zoneAware.overprovisioningFactor: expected a number 1..10, got 0.5',
        'targetGroups[0].zoneAware.minTargets: expected an integer 1..65536, got 0',
      ]),
    );
  });

  it('gives the workers a zone preference only when Ferry has a zone and the group asks for one', () => {
    const plan = (edits: [Path, unknown][], env: Record<string, string> = {}) =>
      planFromConfig(snapshotOf(parse(baseWith(...edits), env)), new Map()).targetGroups[0]!.zones;
    expect(plan([[['targetGroups', 0, 'crossZone'], 'disabled']])).toBeNull();
    expect(plan([[['targetGroups', 0, 'crossZone'], 'disabled']], { FERRY_ZONE: 'a' })).toEqual({
      mode: 'local_only',
      overprovisioningPercent: 100,
      minTargets: 1,
    });
    expect(plan([[['targetGroups', 0, 'zoneAware'], {}]], { FERRY_ZONE: 'a' })).toEqual({
      mode: 'spill',
      overprovisioningPercent: 140,
      minTargets: 6,
    });
    expect(plan([[['targetGroups', 0, 'zoneAware'], { enabled: false }]], { FERRY_ZONE: 'a' })).toBeNull();
  });
});
