/**
 * The mesh-identity keys (issue 14): the top-level `identity` block, a
 * listener's `identity: true` and `allowedIdentities`, a group's
 * `tls.identity` and `expectedIdentities`; every mistake reported with its
 * path, and the plan that puts the workload certificate on listeners and
 * upstream pools.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConfigError } from '../../../../src/config/config-error.ts';
import { parseConfig } from '../../../../src/config/parse.ts';
import { planFromConfig } from '../../../../src/table/plan.ts';
import { createPki, type TestPki } from '../../../helpers/certs.ts';

let pki: TestPki;

beforeAll(() => {
  pki = createPki('identity-config');
  pki.write('token', 'secret-token\n');
  pki.write('empty-token', '\n');
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

const ISSUER_BLOCK = `identity:
  spiffeId: spiffe://ferry.local/ns/default/sa/web
  issuer: { address: 127.0.0.1:9443, tokenFile: token, trustBundle: identity-config-ca.crt }
`;

function config(identityBlock: string, listenerLines: string, groupLines = ''): string {
  return `${identityBlock}listeners:
  - name: inbound
    protocol: HTTPS
    address: 127.0.0.1:0
    defaultAction: { forward: { targetGroup: app } }
${listenerLines}
targetGroups:
  - name: app
    targets: [ { address: 127.0.0.1:9001 } ]
${groupLines}
`;
}

const IDENTITY_FILES = {
  spiffeId: 'spiffe://ferry.local/ns/default/sa/web',
  certPath: '/run/ferry/svid.pem',
  keyPath: '/run/ferry/svid.key',
  bundlePath: '/run/ferry/bundle.pem',
};

describe('identity config', () => {
  describe('when it is valid', () => {
    it('serves the workload certificate and verifies callers against the bundle, by ID pattern', () => {
      const result = parse(
        config(
          ISSUER_BLOCK,
          '    identity: true\n    mutualAuthentication: { mode: verify, allowedIdentities: ["spiffe://ferry.local/ns/default/sa/*"] }',
          '    protocol: HTTPS\n    tls: { identity: true, expectedIdentities: ["spiffe://ferry.local/ns/default/sa/payments"] }',
        ),
      );
      if (!result.ok) throw new Error(JSON.stringify(result.errors));
      expect(result.snapshot.identity).toEqual({
        spiffeId: 'spiffe://ferry.local/ns/default/sa/web',
        issuer: {
          address: '127.0.0.1:9443',
          host: '127.0.0.1',
          port: 9443,
          tokenFile: 'token',
          trustBundle: 'identity-config-ca.crt',
        },
        files: null,
        dir: null,
      });
      const plan = planFromConfig(result.snapshot, new Map(), new Map(), new Set(), IDENTITY_FILES);
      expect(plan.listeners[0]!.tls).toEqual({
        certificates: [{ certPath: IDENTITY_FILES.certPath, keyPath: IDENTITY_FILES.keyPath }],
        sslPolicy: 'tls12',
        clientTrustStorePath: IDENTITY_FILES.bundlePath,
        peerIdentity: {
          allowedIdentities: ['spiffe://ferry.local/ns/default/sa/*'],
          ownSpiffeId: IDENTITY_FILES.spiffeId,
        },
      });
      expect(plan.targetGroups[0]!.upstreamTls).toEqual({
        caPath: IDENTITY_FILES.bundlePath,
        serverName: null,
        certPath: IDENTITY_FILES.certPath,
        keyPath: IDENTITY_FILES.keyPath,
        isVerifyOn: true,
        expectedIdentities: ['spiffe://ferry.local/ns/default/sa/payments'],
      });
    });

    it('expects any ID of its own trust domain from an identity group without patterns', () => {
      const result = parse(
        config(ISSUER_BLOCK, '    identity: true', '    protocol: HTTPS\n    tls: { identity: true }'),
      );
      if (!result.ok) throw new Error(JSON.stringify(result.errors));
      const plan = planFromConfig(result.snapshot, new Map(), new Map(), new Set(), IDENTITY_FILES);
      expect(plan.targetGroups[0]!.upstreamTls?.expectedIdentities).toEqual(['spiffe://ferry.local/**']);
      expect(plan.listeners[0]!.tls?.peerIdentity).toBeNull();
    });
  });

  describe('when it is wrong', () => {
    it.each([
      [
        'a SPIFFE ID without a path',
        ISSUER_BLOCK.replace('spiffe://ferry.local/ns/default/sa/web', 'spiffe://ferry.local'),
        '    identity: true',
        '',
        'identity.spiffeId: expected a SPIFFE ID such as spiffe://ferry.local/ns/default/sa/web: "spiffe://ferry.local" has no path (a workload ID names a workload: /ns/NS/sa/NAME)',
      ],
      [
        'both issuer and files',
        `${ISSUER_BLOCK}  files: { cert: a.pem, key: a.key, bundle: b.pem }\n`,
        '    identity: true',
        '',
        'identity: needs exactly one of issuer (Ferry’s issuing service) and files (certificates another system writes)',
      ],
      [
        'an empty token file',
        ISSUER_BLOCK.replace('tokenFile: token', 'tokenFile: empty-token'),
        '    identity: true',
        '',
        'identity.issuer.tokenFile: <dir>/empty-token is empty: it must hold the token',
      ],
      [
        'identity: true without the identity block',
        '',
        '    identity: true',
        '',
        'listeners[0].identity: needs the top-level identity block (identity: { spiffeId, issuer | files }): it names the workload certificate',
      ],
      [
        'identity: true beside certificates',
        ISSUER_BLOCK,
        '    identity: true\n    certificates: [ { cert: x.crt, key: x.key } ]',
        '',
        'listeners[0].certificates: a listener with identity: true serves the workload certificate; drop certificates (or identity)',
      ],
      [
        'allowedIdentities without verify',
        ISSUER_BLOCK,
        '    identity: true\n    mutualAuthentication: { allowedIdentities: ["spiffe://ferry.local/ns/a/sa/b"] }',
        '',
        'listeners[0].mutualAuthentication.allowedIdentities: applies only when mode is verify',
      ],
      [
        'a pattern that is not a SPIFFE ID',
        ISSUER_BLOCK,
        '    identity: true\n    mutualAuthentication: { mode: verify, allowedIdentities: ["web.default.svc"] }',
        '',
        'listeners[0].mutualAuthentication.allowedIdentities[0]: expected a SPIFFE ID pattern such as spiffe://ferry.local/ns/default/sa/*: "web.default.svc" must start with spiffe://',
      ],
      [
        'a group with identity and its own CA',
        ISSUER_BLOCK,
        '    identity: true',
        '    protocol: HTTPS\n    tls: { identity: true, ca: identity-config-ca.crt }',
        'targetGroups[0].tls.ca: does not apply with identity: true (the workload certificate, the trust bundle and SPIFFE IDs are used)',
      ],
    ])('reports %s with its path', (_label, identityBlock, listenerLines, groupLines, expected) => {
      expect(errorsOf(config(identityBlock, listenerLines, groupLines))).toContain(expected);
    });

    it('reports identity files whose certificate names another SPIFFE ID', () => {
      const leaf = pki.issue('dns-only', { dnsNames: ['web.test'] });
      const block = `identity:
  spiffeId: spiffe://ferry.local/ns/default/sa/web
  files: { cert: ${leaf.certPath}, key: ${leaf.keyPath}, bundle: identity-config-ca.crt }
`;
      expect(errorsOf(config(block, '    identity: true'))).toContain(
        `identity.files.cert: ${leaf.certPath.replaceAll(pki.dir, '<dir>')} must carry exactly one URI SAN, spiffe://ferry.local/ns/default/sa/web (identity.spiffeId); it has none`,
      );
    });
  });
});
