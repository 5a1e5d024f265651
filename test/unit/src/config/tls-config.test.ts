/**
 * The TLS keys of the config (src/config/tls-schema.ts, tls-rules.ts):
 * HTTPS listeners with certificates, sslPolicy and mutualAuthentication,
 * HTTPS target groups with `tls`; every PEM file checked at validation, each
 * error with its config path (issue 5, "Bad input"). Parsed from YAML, as
 * `ferry validate` does, with files made by the test.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConfigError } from '../../../../src/config/config-error.ts';
import { parseConfig } from '../../../../src/config/parse.ts';
import { planFromConfig } from '../../../../src/table/plan.ts';
import { createPki, type TestCert, type TestPki } from '../../../helpers/certs.ts';

let pki: TestPki;
let site: TestCert;
let other: TestCert;

beforeAll(() => {
  pki = createPki('config');
  site = pki.issue('site', { dnsNames: ['site.test'] });
  other = pki.issue('other', { dnsNames: ['other.test'] });
  mkdirSync(join(pki.dir, 'tls'));
  pki.write('tls/garbage.pem', 'not a pem file\n');
  pki.issue('ip-only', { ips: ['10.0.0.1'], commonName: 'no dots' });
  pki.write(
    'tls/encrypted.key',
    '-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n',
  );
});

afterAll(() => pki?.cleanup());

function parse(yaml: string) {
  return parseConfig(yaml, join(pki.dir, 'ferry.yaml'), { configDir: pki.dir, availableParallelism: 2 });
}

function errorsOf(yaml: string): string[] {
  const result = parse(yaml);
  if (result.ok) return [];
  return result.errors.map(
    (error: ConfigError) => `${error.path}: ${error.message.replaceAll(pki.dir, '<dir>')}`,
  );
}

/** A config with one listener (given as YAML lines after `name`) forwarding to group `app` (lines after `name`). */
function config(listenerLines: string, groupLines = ''): string {
  return `listeners:
  - name: web
    address: 127.0.0.1:0
    defaultAction: { forward: { targetGroup: app } }
${listenerLines}
targetGroups:
  - name: app
    targets: [ { address: 127.0.0.1:9001 } ]
${groupLines}
`;
}

describe('HTTPS listener config', () => {
  describe('when it is valid', () => {
    it('fills in the tls12 policy and no client certificates, and resolves paths against the config folder', () => {
      const result = parse(
        config(`    protocol: HTTPS
    certificates: [ { cert: site.crt, key: site.key }, { cert: "${other.certPath}", key: "${other.keyPath}" } ]`),
      );
      if (!result.ok) throw new Error(JSON.stringify(result.errors));
      const listener = result.snapshot.listeners[0]!;
      expect(listener.sslPolicy).toBe('tls12');
      expect(listener.mutualAuthentication).toEqual({
        mode: 'off',
        trustStore: null,
        allowedIdentities: null,
      });
      const plan = planFromConfig(result.snapshot, new Map());
      expect(plan.listeners[0]!.tls).toEqual({
        certificates: [
          { certPath: site.certPath, keyPath: site.keyPath },
          { certPath: other.certPath, keyPath: other.keyPath },
        ],
        sslPolicy: 'tls12',
        clientTrustStorePath: null,
        peerIdentity: null,
      });
    });

    it('keeps sslPolicy tls13 and the mTLS trust store', () => {
      const result = parse(
        config(`    protocol: HTTPS
    sslPolicy: tls13
    certificates: [ { cert: site.crt, key: site.key } ]
    mutualAuthentication: { mode: verify, trustStore: config-ca.crt }`),
      );
      if (!result.ok) throw new Error(JSON.stringify(result.errors));
      const plan = planFromConfig(result.snapshot, new Map());
      expect(plan.listeners[0]!.tls).toMatchObject({
        sslPolicy: 'tls13',
        clientTrustStorePath: pki.ca.certPath,
      });
    });
  });

  describe('when it is wrong', () => {
    it.each([
      [
        'no certificates',
        '    protocol: HTTPS',
        'listeners[0].certificates: an HTTPS listener needs at least one certificate: certificates: [ { cert: site.crt, key: site.key } ]',
      ],
      [
        'an unknown sslPolicy',
        '    protocol: HTTPS\n    sslPolicy: tls11\n    certificates: [ { cert: site.crt, key: site.key } ]',
        'listeners[0].sslPolicy: expected one of tls12 | tls13, got "tls11"',
      ],
      [
        'a certificate file that does not exist',
        '    protocol: HTTPS\n    certificates: [ { cert: missing.crt, key: site.key } ]',
        'listeners[0].certificates[0].cert: cannot read <dir>/missing.crt: no such file',
      ],
      [
        'a key that does not match its certificate',
        '    protocol: HTTPS\n    certificates: [ { cert: site.crt, key: other.key } ]',
        'listeners[0].certificates[0].key: <dir>/other.key does not match the certificate in listeners[0].certificates[0].cert (<dir>/site.crt)',
      ],
      [
        'a file that is not PEM',
        '    protocol: HTTPS\n    certificates: [ { cert: tls/garbage.pem, key: site.key } ]',
        'listeners[0].certificates[0].cert: <dir>/tls/garbage.pem holds no PEM certificate (-----BEGIN CERTIFICATE-----)',
      ],
      [
        'an encrypted key',
        '    protocol: HTTPS\n    certificates: [ { cert: site.crt, key: tls/encrypted.key } ]',
        'listeners[0].certificates[0].key: <dir>/tls/encrypted.key is an encrypted key; Ferry needs it unencrypted (protect the file instead)',
      ],
      [
        'a certificate SNI can never pick',
        '    protocol: HTTPS\n    certificates: [ { cert: site.crt, key: site.key }, { cert: ip-only.crt, key: ip-only.key } ]',
        'listeners[0].certificates[1].cert: <dir>/ip-only.crt names no DNS host (no subjectAltName DNS entry or CN), so SNI can never pick it; only the first (default) certificate may lack one',
      ],
      [
        'mTLS without a trust store',
        '    protocol: HTTPS\n    certificates: [ { cert: site.crt, key: site.key } ]\n    mutualAuthentication: { mode: verify }',
        'listeners[0].mutualAuthentication.trustStore: is required when mode is verify: the CA certificates client certificates must chain to',
      ],
      [
        'TLS keys on an HTTP listener',
        '    protocol: HTTP\n    sslPolicy: tls12',
        'listeners[0].sslPolicy: applies only to HTTPS and TLS listeners; this listener is HTTP',
      ],
      [
        'a path that is not a string',
        '    protocol: HTTPS\n    certificates: [ { cert: 42, key: site.key } ]',
        'listeners[0].certificates[0].cert: expected a path to a PEM file, got 42',
      ],
    ])('reports %s with its path', (_name, listenerLines, expected) => {
      expect(errorsOf(config(listenerLines))).toEqual([expected]);
    });

    it('reports an unreadable key with its path', () => {
      // A folder where the key should be: unreadable as a file for every user, root included
      // (a chmod 000 file would still be readable when the tests run as root, as CI does).
      expect(
        errorsOf(config('    protocol: HTTPS\n    certificates: [ { cert: site.crt, key: tls } ]')),
      ).toEqual(['listeners[0].certificates[0].key: cannot read <dir>/tls: is a folder, not a file']);
    });

    it('reports every TLS error at once, with the other errors', () => {
      const errors = errorsOf(
        config(
          '    protocol: HTTPS\n    sslPolicy: ssl3\n    certificates: [ { cert: nope.crt, key: other.key } ]',
          '    protocol: HTTP\n    tls: { ca: site.crt }\n    algorithm: fastest',
        ),
      );
      expect(errors).toEqual([
        'listeners[0].sslPolicy: expected one of tls12 | tls13, got "ssl3"',
        'listeners[0].certificates[0].cert: cannot read <dir>/nope.crt: no such file',
        'targetGroups[0].tls: applies only when protocol is HTTPS (this group uses HTTP)',
        'targetGroups[0].algorithm: expected one of round_robin | least_connections | least_outstanding_requests | response_time | peak_ewma | hash | random | weighted_random, got "fastest"',
      ]);
    });
  });
});

describe('HTTPS target group config', () => {
  it('defaults the health check to HTTPS and resolves the tls paths', () => {
    const result = parse(
      config(
        '',
        '    protocol: HTTPS\n    tls: { ca: config-ca.crt, serverName: api.internal, cert: site.crt, key: site.key }',
      ),
    );
    if (!result.ok) throw new Error(JSON.stringify(result.errors));
    expect(result.snapshot.targetGroups[0]!.healthCheck.protocol).toBe('HTTPS');
    const plan = planFromConfig(result.snapshot, new Map());
    expect(plan.targetGroups[0]!.upstreamTls).toEqual({
      caPath: pki.ca.certPath,
      serverName: 'api.internal',
      certPath: site.certPath,
      keyPath: site.keyPath,
      isVerifyOn: true,
      expectedIdentities: null,
    });
  });

  it('verifies against the public CAs when no ca is given', () => {
    const result = parse(config('', '    protocol: HTTPS'));
    if (!result.ok) throw new Error(JSON.stringify(result.errors));
    expect(planFromConfig(result.snapshot, new Map()).targetGroups[0]!.upstreamTls).toEqual({
      caPath: null,
      serverName: null,
      certPath: null,
      keyPath: null,
      isVerifyOn: true,
      expectedIdentities: null,
    });
  });

  it.each([
    [
      'a client certificate without its key',
      '    tls: { cert: site.crt }',
      'targetGroups[0].tls.key: is required with cert: the private key of the client certificate',
    ],
    [
      'a CA bundle with no certificate',
      '    tls: { ca: site.key }',
      'targetGroups[0].tls.ca: <dir>/site.key holds no PEM certificate (-----BEGIN CERTIFICATE-----)',
    ],
    [
      'a client key that does not match',
      '    tls: { cert: site.crt, key: other.key }',
      'targetGroups[0].tls.key: <dir>/other.key does not match the certificate in targetGroups[0].tls.cert (<dir>/site.crt)',
    ],
    [
      'a serverName that is not a DNS name',
      '    tls: { serverName: "api internal" }',
      'targetGroups[0].tls.serverName: expected a DNS name such as api.internal, got "api internal"',
    ],
  ])('reports %s with its path', (_name, tlsLine, expected) => {
    expect(errorsOf(config('', `    protocol: HTTPS\n${tlsLine}`))).toEqual([expected]);
  });

  it('refuses HTTPS for a group a TCP listener relays to', () => {
    const yaml = `listeners:
  - { name: db, protocol: TCP, address: 127.0.0.1:0, defaultAction: { forward: { targetGroup: pg } } }
targetGroups:
  - { name: pg, protocol: HTTPS, targets: [ { address: 127.0.0.1:5432 } ] }
`;
    expect(errorsOf(yaml)).toEqual([
      'targetGroups[0].protocol: HTTPS needs HTTP or HTTPS listeners, but TCP listener "db" forwards to this group (it relays bytes as they come)',
    ]);
  });
});
