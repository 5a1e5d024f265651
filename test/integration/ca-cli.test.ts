/**
 * `ferry ca init` and `ferry ca issue` as a user runs them (child
 * processes), checked with openssl: the chain verifies against the bundle,
 * the leaf is an X.509-SVID (one SPIFFE URI SAN, cA=false, digitalSignature,
 * serverAuth + clientAuth, P-256), keys are 0600, and a CA is never
 * overwritten.
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openssl, runFerryCli } from '../helpers/ferry-ca.ts';

const ID = 'spiffe://ferry.local/ns/default/sa/web';
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-ca-cli-'));
  const result = await runFerryCli(['ca', 'init', '--dir', join(dir, 'ca'), '--trust-domain', 'ferry.local']);
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('ferry ca init', () => {
  it('writes the trust bundle and keys readable by their owner only', () => {
    for (const key of ['root.key', 'intermediate.key']) {
      expect(statSync(join(dir, 'ca', key)).mode & 0o777).toBe(0o600);
    }
    const bundle = openssl(['x509', '-in', join(dir, 'ca', 'bundle.pem'), '-noout', '-text']);
    expect(bundle).toMatch(/CA:TRUE/);
    expect(bundle).toMatch(/Certificate Sign, CRL Sign/);
    expect(bundle).toContain('URI:spiffe://ferry.local');
  });

  it('signs the intermediate with the root, so the bundle verifies it', () => {
    const out = openssl([
      'verify',
      '-CAfile',
      join(dir, 'ca', 'bundle.pem'),
      join(dir, 'ca', 'intermediate.pem'),
    ]);
    expect(out).toMatch(/: OK/);
  });

  describe('when the folder already holds a CA', () => {
    it('refuses with FERRY_ERR_CA_EXISTS and leaves every file as it was', async () => {
      const before = readFileSync(join(dir, 'ca', 'root.key'), 'utf8');
      const result = await runFerryCli([
        'ca',
        'init',
        '--dir',
        join(dir, 'ca'),
        '--trust-domain',
        'ferry.local',
      ]);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain('FERRY_ERR_CA_EXISTS');
      expect(readFileSync(join(dir, 'ca', 'root.key'), 'utf8')).toBe(before);
    });
  });

  describe('when the trust domain is not a name', () => {
    it('exits 2 with the usage', async () => {
      const result = await runFerryCli([
        'ca',
        'init',
        '--dir',
        join(dir, 'bad'),
        '--trust-domain',
        'Ferry Local',
      ]);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain('--trust-domain');
    });
  });
});

describe('ferry ca --help', () => {
  it.each(['init', 'issue', 'serve'])('prints the usage of ferry ca %s and exits 0', async (command) => {
    const result = await runFerryCli(['ca', command, '--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`ferry ca ${command}`);
  });
});

describe('ferry ca issue', () => {
  it('writes a chain that openssl verifies against the bundle, with the SPIFFE ID as its only URI SAN', async () => {
    const prefix = join(dir, 'web');
    const result = await runFerryCli([
      'ca',
      'issue',
      '--dir',
      join(dir, 'ca'),
      '--spiffe-id',
      ID,
      '--out',
      prefix,
      '--ttl',
      '1h',
    ]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(statSync(`${prefix}.key`).mode & 0o777).toBe(0o600);
    const verified = openssl([
      'verify',
      '-CAfile',
      join(dir, 'ca', 'bundle.pem'),
      '-untrusted',
      `${prefix}.pem`,
      `${prefix}.pem`,
    ]);
    expect(verified).toMatch(/: OK/);
    const text = openssl(['x509', '-in', `${prefix}.pem`, '-noout', '-text']);
    expect(text).toMatch(
      /X509v3 Subject Alternative Name: *\n *URI:spiffe:\/\/ferry\.local\/ns\/default\/sa\/web\n/,
    );
    expect(text).toMatch(/X509v3 Basic Constraints: critical\n *CA:FALSE/);
    expect(text).toMatch(/X509v3 Key Usage: critical\n *Digital Signature\n/);
    expect(text).toMatch(/TLS Web Server Authentication, TLS Web Client Authentication/);
    expect(text).toMatch(/NIST CURVE: P-256/);
    // The key is the certificate's: openssl's public keys of both agree.
    const fromKey = openssl(['pkey', '-in', `${prefix}.key`, '-pubout']);
    const fromCert = openssl(['x509', '-in', `${prefix}.pem`, '-noout', '-pubkey']);
    expect(fromKey).toBe(fromCert);
  });

  it('backdates NotBefore for clock skew and gives the lifetime asked for', async () => {
    const prefix = join(dir, 'skew');
    const startedMs = Date.now();
    const result = await runFerryCli([
      'ca',
      'issue',
      '--dir',
      join(dir, 'ca'),
      '--spiffe-id',
      ID,
      '--out',
      prefix,
      '--ttl',
      '2h',
    ]);
    expect(result.code).toBe(0);
    const dates = openssl(['x509', '-in', `${prefix}.pem`, '-noout', '-startdate', '-enddate']);
    const notBefore = Date.parse(/notBefore=(.*)/.exec(dates)![1]!);
    const notAfter = Date.parse(/notAfter=(.*)/.exec(dates)![1]!);
    expect(notBefore).toBeLessThan(startedMs - 30_000);
    expect(notAfter - notBefore).toBeGreaterThan(2 * 3600_000);
    expect(notAfter - startedMs).toBeLessThanOrEqual(2 * 3600_000 + 60_000);
  });

  describe('when the ID is outside the trust domain', () => {
    it('refuses with FERRY_ERR_CA_ID_FORBIDDEN and writes nothing', async () => {
      const prefix = join(dir, 'other');
      const result = await runFerryCli([
        'ca',
        'issue',
        '--dir',
        join(dir, 'ca'),
        '--spiffe-id',
        'spiffe://other.local/ns/a/sa/b',
        '--out',
        prefix,
      ]);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain('FERRY_ERR_CA_ID_FORBIDDEN');
      expect(() => statSync(`${prefix}.pem`)).toThrow();
    });
  });

  describe('when the folder holds no CA', () => {
    it('refuses with FERRY_ERR_CA_NOT_FOUND', async () => {
      const result = await runFerryCli([
        'ca',
        'issue',
        '--dir',
        join(dir, 'none'),
        '--spiffe-id',
        ID,
        '--out',
        join(dir, 'x'),
      ]);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain('FERRY_ERR_CA_NOT_FOUND');
    });
  });
});
