/**
 * Certificates for tests, generated when the test runs (no key is ever
 * committed): a throw-away CA per test file and leaf certificates it signs,
 * with the DNS and IP names a test needs. Made with the `openssl` CLI (on
 * every Debian machine): one `req` per certificate, EC P-256 keys, so a
 * whole set takes a few tens of milliseconds.
 *
 * Files live in a temp folder the caller removes with `cleanup()`.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestCert {
  readonly certPath: string;
  readonly keyPath: string;
  readonly cert: string;
  readonly key: string;
}

export interface IssueOptions {
  /** subjectAltName DNS entries, e.g. ['api.example.com', '*.example.com']. */
  readonly dnsNames?: readonly string[];
  /** subjectAltName IP entries, e.g. ['127.0.0.1']. */
  readonly ips?: readonly string[];
  /** Key usage for a client certificate (clientAuth) instead of a server one. */
  readonly isClient?: boolean;
  /** Subject CN; default the file name. */
  readonly commonName?: string;
}

export interface TestPki {
  /** The temp folder holding every file. */
  readonly dir: string;
  /** The CA certificate (PEM) and its path: what a verifier trusts. */
  readonly ca: TestCert;
  /** A leaf certificate signed by this CA, written as `<name>.crt` / `<name>.key`. */
  issue(name: string, options?: IssueOptions): TestCert;
  /** Write a file into the folder (a test's own PEM, a broken file). Returns its path. */
  write(name: string, text: string): string;
  cleanup(): void;
}

function openssl(args: readonly string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function newKey(path: string): void {
  openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', path]);
}

function readCert(certPath: string, keyPath: string): TestCert {
  return { certPath, keyPath, cert: readFileSync(certPath, 'utf8'), key: readFileSync(keyPath, 'utf8') };
}

/** A new CA in a new temp folder. */
export function createPki(label = 'ca'): TestPki {
  const dir = mkdtempSync(join(tmpdir(), `ferry-pki-${label}-`));
  const caKey = join(dir, `${label}-ca.key`);
  const caCert = join(dir, `${label}-ca.crt`);
  newKey(caKey);
  openssl([
    'req',
    '-x509',
    '-new',
    '-key',
    caKey,
    '-out',
    caCert,
    '-days',
    '2',
    '-subj',
    `/CN=Ferry test CA ${label}`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  const ca = readCert(caCert, caKey);
  return {
    dir,
    ca,
    issue(name, options = {}) {
      const keyPath = join(dir, `${name}.key`);
      const certPath = join(dir, `${name}.crt`);
      newKey(keyPath);
      const altNames = [
        ...(options.dnsNames ?? []).map((dns) => `DNS:${dns}`),
        ...(options.ips ?? []).map((ip) => `IP:${ip}`),
      ];
      const args = [
        'req',
        '-x509',
        '-new',
        '-key',
        keyPath,
        '-CA',
        caCert,
        '-CAkey',
        caKey,
        '-out',
        certPath,
        '-days',
        '2',
        '-subj',
        `/CN=${options.commonName ?? name}`,
        '-addext',
        'basicConstraints=critical,CA:FALSE',
        '-addext',
        `extendedKeyUsage=${options.isClient === true ? 'clientAuth' : 'serverAuth'}`,
      ];
      if (altNames.length > 0) args.push('-addext', `subjectAltName=${altNames.join(',')}`);
      openssl(args);
      return readCert(certPath, keyPath);
    },
    write(name, text) {
      const path = join(dir, name);
      writeFileSync(path, text);
      return path;
    },
    cleanup() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
