/**
 * The worker's TLS pieces without a listener (workers/tls): the SNI lookup
 * built from certificate files, what a policy turns into, which socket
 * errors count as TLS failures, and a reload that does not load keeping the
 * certificates in service.
 */
import { copyFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import tls from 'node:tls';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TopologyListener } from '../../../../proto/thread-messages.ts';
import { TLS_POLICIES } from '../../../../proto/tls-policies.ts';
import {
  isTlsErrorCode,
  loadListenerCertificates,
  policyContextOptions,
  TlsTerminator,
} from '../../../../workers/tls/index.ts';
import { createPki, type TestCert, type TestPki } from '../../../helpers/certs.ts';

let pki: TestPki;
let site: TestCert;
let api: TestCert;
let apps: TestCert;
let shared: TestCert;

beforeAll(() => {
  pki = createPki('unit');
  site = pki.issue('site', { dnsNames: ['site.test', 'www.site.test'] });
  api = pki.issue('api', { dnsNames: ['api.test', 'API2.test'] });
  apps = pki.issue('apps', { dnsNames: ['*.apps.test'] });
  shared = pki.issue('shared', { dnsNames: ['api.test', 'only-shared.test'] });
});

afterAll(() => pki?.cleanup());

function settingsOf(certs: readonly TestCert[]) {
  return {
    certificates: certs.map((cert) => ({ certPath: cert.certPath, keyPath: cert.keyPath })),
    sslPolicy: 'tls12',
    clientTrustStorePath: null,
    peerIdentity: null,
  };
}

describe('loadListenerCertificates', () => {
  describe('pick', () => {
    const certificates = () => loadListenerCertificates(settingsOf([site, api, apps, shared]), 'web');

    it('returns null (the default) for the default certificate’s own names', () => {
      expect(certificates().pick('www.site.test')).toBeNull();
    });

    it('matches exact names case-blind, the earlier certificate winning a shared name', () => {
      const built = certificates();
      const apiContext = built.pick('api.test');
      expect(apiContext).not.toBeNull();
      expect(built.pick('API2.TEST')).toBe(apiContext);
      expect(built.pick('only-shared.test')).not.toBe(apiContext);
    });

    it('matches a wildcard for exactly one label', () => {
      const built = certificates();
      expect(built.pick('x.apps.test')).not.toBeNull();
      expect(built.pick('apps.test')).toBeNull();
      expect(built.pick('x.y.apps.test')).toBeNull();
    });
  });

  it('throws when a key does not match its certificate', () => {
    expect(() =>
      loadListenerCertificates(
        {
          certificates: [{ certPath: site.certPath, keyPath: api.keyPath }],
          sslPolicy: 'tls12',
          clientTrustStorePath: null,
          peerIdentity: null,
        },
        'web',
      ),
    ).toThrow();
  });
});

describe('policyContextOptions', () => {
  it('gives tls12 TLS 1.2..1.3 with the ECDHE-AEAD set and no renegotiation', () => {
    const options = policyContextOptions(TLS_POLICIES.tls12);
    expect(options).toMatchObject({ minVersion: 'TLSv1.2', maxVersion: 'TLSv1.3', honorCipherOrder: true });
    expect(options.ciphers?.split(':')).toEqual([
      ...TLS_POLICIES.tls12.tls13Suites,
      ...TLS_POLICIES.tls12.tls12Suites,
    ]);
    for (const suite of TLS_POLICIES.tls12.tls12Suites)
      expect(suite).toMatch(/^ECDHE-(ECDSA|RSA)-(AES\d+-GCM|CHACHA20-POLY1305)/);
    expect(() => tls.createSecureContext(options)).not.toThrow();
  });

  it('gives tls13 TLS 1.3 only', () => {
    const options = policyContextOptions(TLS_POLICIES.tls13);
    expect(options).toMatchObject({ minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3' });
    expect(() => tls.createSecureContext(options)).not.toThrow();
  });
});

describe('TLS_POLICIES', () => {
  it('are documented in docs/tls.md, every suite of every policy in its row', () => {
    const docs = readFileSync(new URL('../../../../docs/tls.md', import.meta.url), 'utf8');
    for (const [name, policy] of Object.entries(TLS_POLICIES)) {
      const row = docs.split('\n').find((line) => line.startsWith(`| \`${name}\``));
      expect(row, `a table row for ${name}`).toBeDefined();
      for (const suite of [...policy.tls13Suites, ...policy.tls12Suites])
        expect(row).toContain(`\`${suite}\``);
    }
  });
});

describe('isTlsErrorCode', () => {
  it.each([
    'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    'DEPTH_ZERO_SELF_SIGNED_CERT',
    'CERT_HAS_EXPIRED',
    'ERR_TLS_CERT_ALTNAME_INVALID',
    'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED',
    'ERR_SSL_WRONG_VERSION_NUMBER',
  ])('counts %s as TLS', (code) => {
    expect(isTlsErrorCode(code)).toBe(true);
  });

  it.each(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EOF', 'EPIPE'])('leaves %s to TCP', (code) => {
    expect(isTlsErrorCode(code)).toBe(false);
  });
});

describe('TlsTerminator', () => {
  describe('when the files change into a pair that does not load', () => {
    it('keeps serving the previous certificates, and takes the next good pair', () => {
      const certPath = join(pki.dir, 'live.crt');
      const keyPath = join(pki.dir, 'live.key');
      copyFileSync(site.certPath, certPath);
      copyFileSync(site.keyPath, keyPath);
      const listener = { name: 'live' } as TopologyListener;
      const settings = {
        certificates: [{ certPath, keyPath }],
        sslPolicy: 'tls12',
        clientTrustStorePath: null,
        peerIdentity: null,
      };
      const terminator = new TlsTerminator(listener, settings, pino({ level: 'silent' }), () => {});
      try {
        copyFileSync(api.certPath, certPath); // the certificate first, its key not yet
        expect(terminator.reload()).toBe(false);
        copyFileSync(api.keyPath, keyPath);
        expect(terminator.reload()).toBe(true);
      } finally {
        terminator.close();
      }
    });
  });
});
