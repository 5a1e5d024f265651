/**
 * The layer-4 keys of the config (issue 13): TLS, UDP and TCP_UDP listeners,
 * alpnPolicy, idleTimeout, proxyProtocol in and out, sni rules on TCP
 * listeners and flow hash keys: their defaults, and a clear error with its
 * path wherever one does not fit the listener or group.
 */
import { describe, expect, it } from 'vitest';
import { formatConfigErrors, parseConfig } from '../../../../src/config/index.ts';

function parse(listeners: string, groups = '  - { name: g, targets: [ { address: "127.0.0.1:9001" } ] }') {
  return parseConfig(`listeners:\n${listeners}\ntargetGroups:\n${groups}\n`, '<test>');
}

function errorsOf(result: ReturnType<typeof parse>): string[] {
  if (result.ok) return [];
  return formatConfigErrors(result.errors)
    .split('\n')

    .map((line) => line.trim())
    .filter((line) => line !== '');
}

const FORWARD = 'defaultAction: { forward: { targetGroup: g } }';

describe('layer-4 listener config', () => {
  describe('when valid', () => {
    it('fills ELB idle timeouts: 350s for TCP, 120s for UDP, and no ALPN or PROXY', () => {
      const result = parse(`  - { name: l, protocol: TCP_UDP, address: "127.0.0.1:0", ${FORWARD} }`);
      if (!result.ok) throw new Error(formatConfigErrors(result.errors));
      expect(result.snapshot.listeners[0]).toMatchObject({
        tcpIdleTimeoutMs: 350_000,
        udpIdleTimeoutMs: 120_000,
        alpnProtocols: [],
        proxyProtocol: null,
      });
      expect(result.snapshot.targetGroups[0]!.healthCheck.protocol).toBe('TCP');
    });

    it('takes alpnPolicy, idleTimeout and proxyProtocol where they apply', () => {
      const result = parse(
        `  - name: l
    protocol: TCP
    address: "127.0.0.1:0"
    idleTimeout: 10m
    proxyProtocol: { accept: any, trustedSources: [ 10.0.0.0/8 ] }
    rules: [ { priority: 1, conditions: { sni: [ "*.example.com" ] }, action: { forward: { targetGroup: g } } } ]
    ${FORWARD}`,
        '  - { name: g, proxyProtocol: v2, algorithm: hash, hash: { key: five_tuple } }',
      );
      if (!result.ok) throw new Error(formatConfigErrors(result.errors));
      const listener = result.snapshot.listeners[0]!;
      expect(listener.tcpIdleTimeoutMs).toBe(600_000);
      expect(listener.proxyProtocol).toEqual({ accept: 'any', trustedSources: ['10.0.0.0/8'] });
      expect(listener.rules[0]!.conditions.sni).toEqual(['*.example.com']);
      expect(result.snapshot.targetGroups[0]).toMatchObject({
        proxyProtocol: 'v2',
        hash: { kind: 'five_tuple' },
      });
    });
  });

  describe('when a key does not fit', () => {
    it('reports each with its path', () => {
      expect(
        errorsOf(
          parse(
            `  - { name: web, protocol: HTTP, address: "127.0.0.1:0", idleTimeout: 1m, alpnPolicy: None, ${FORWARD} }
  - { name: dns, protocol: UDP, address: "127.0.0.1:0", proxyProtocol: { accept: v2, trustedSources: [ 10.0.0.1 ] }, ${FORWARD} }
  - { name: tls, protocol: TLS, address: "127.0.0.1:0", ${FORWARD} }
  - name: h
    protocol: HTTP
    address: "127.0.0.1:0"
    rules: [ { priority: 1, conditions: { sni: [ a.test ] }, action: { forward: { targetGroup: g } } } ]
    ${FORWARD}`,
            '  - { name: g, proxyProtocol: v2, algorithm: hash, hash: { key: source_ip_dest_ip } }',
          ),
        ),
      ).toEqual([
        'listeners[0].idleTimeout: applies only to TCP, TLS, UDP and TCP_UDP listeners; this listener is HTTP (line 2, column 71)',
        'listeners[0].alpnPolicy: applies only to TLS listeners; this listener is HTTP (line 2, column 87)',
        'listeners[1].proxyProtocol: applies to HTTP, HTTPS, TCP and TCP_UDP listeners (a UDP datagram carries no PROXY header); this listener is UDP (line 3, column 72)',
        'listeners[2].certificates: a TLS listener needs at least one certificate: certificates: [ { cert: site.crt, key: site.key } ] (line 4, column 5)',
        'listeners[3].rules[0].conditions.sni: applies only to TCP listeners (TLS passthrough); this HTTP listener routes on hostHeader (line 8, column 48)',
        'targetGroups[0].proxyProtocol: applies only to groups that layer-4 listeners forward to, but HTTP listener "web" forwards to this group (line 11, column 31)',
        'targetGroups[0].hash.key: source_ip_dest_ip hashes layer-4 flows, but HTTP listener "web" forwards to this group; use source_ip or a request key (line 11, column 65)',
      ]);
    });

    it('refuses an idleTimeout above ELB’s 6000 s and other actions on TCP rules', () => {
      expect(
        errorsOf(
          parse(`  - name: t
    protocol: TCP
    address: "127.0.0.1:0"
    idleTimeout: 2h
    rules: [ { priority: 1, conditions: { sni: [ a.test ], hostHeader: [ a.test ] }, action: { fixedResponse: { statusCode: 200 } } } ]
    ${FORWARD}`),
        ).map((line) => line.replace(/ \(line.*\)$/, '')),
      ).toEqual([
        'listeners[0].idleTimeout: expected a duration 1s..1h40m, got "2h"',
        'listeners[0].rules[0].conditions.hostHeader: a TCP listener sees no HTTP request: its rules match only sni and sourceIp',
        'listeners[0].rules[0].action.fixedResponse: a TCP listener forwards connections: use forward with one targetGroup',
      ]);
    });
  });
});
