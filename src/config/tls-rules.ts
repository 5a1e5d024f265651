/**
 * @module src/config/tls-rules
 *
 * The TLS rules that look across keys or outside the YAML: an HTTPS listener
 * needs certificates, TLS keys apply only where TLS is spoken, and every PEM
 * file named in the config is readable, parses, and (for a key) matches its
 * certificate. Thread: main (config time: start, reload, `ferry validate`).
 * Place in the flow: YAML -> schema.ts + rules.ts + **tls-rules.ts** ->
 * ConfigSnapshot.
 *
 * Why here and not at bind time: a certificate that does not load would
 * otherwise fail in every worker after Ferry had started; checked here, it is
 * one error with the config path (`listeners[0].certificates[1].key`) and
 * Ferry never half-starts. Like rules.ts it runs on the raw YAML data, so
 * these errors come out together with every other error, and it skips values
 * the schema already rejects.
 *
 * Files are read synchronously: this is config time, not the data plane, and
 * a config names a handful of small files. Each is read at most
 * PEM_FILE_BYTES_MAX bytes.
 */
import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { resolve } from 'node:path';
import { certificateDnsNames } from '../shared/cert-names.ts';
import { uriSansOf } from '../shared/spiffe.ts';
import { type ConfigError, type ConfigPath, formatConfigPath } from './config-error.ts';
import {
  invalidReporter,
  isObject,
  nonEmptyStringAt,
  objectsIn,
  type RawObject,
  type Report,
} from './rule-helpers.ts';

/** Largest PEM file read: far above any certificate chain or CA bundle, small enough that a wrong file fails fast. */
export const PEM_FILE_BYTES_MAX = 1024 * 1024;

/**
 * Check the TLS rules. Thread: main. Never throws; reads the PEM files the
 * config names (resolved against `configDir`). `raw` is the YAML document as
 * plain JS (any shape).
 */
export function checkTlsRules(raw: unknown, configDir: string): ConfigError[] {
  const errors: ConfigError[] = [];
  if (!isObject(raw)) return errors;
  const report = invalidReporter(errors);
  const files = new PemFiles(configDir);
  const hasIdentity = isObject(raw['identity']);
  checkIdentity(raw['identity'], files, report);
  const tcpListenerByGroup = new Map<string, string>();
  for (const { index, entry } of objectsIn(raw['listeners'])) {
    const protocol = nonEmptyStringAt(entry, 'protocol') ?? 'HTTP';
    if (protocol === 'TCP' || protocol === 'TLS' || protocol === 'UDP' || protocol === 'TCP_UDP') {
      const action = entry['defaultAction'];
      const forward = isObject(action) ? action['forward'] : undefined;
      const group = isObject(forward) ? nonEmptyStringAt(forward, 'targetGroup') : undefined;
      if (group !== undefined && !tcpListenerByGroup.has(group))
        tcpListenerByGroup.set(group, nonEmptyStringAt(entry, 'name') ?? `#${index}`);
    }
    checkListener(['listeners', index], protocol, entry, hasIdentity, files, report);
  }
  for (const { index, entry } of objectsIn(raw['targetGroups'])) {
    const tcpListener = tcpListenerByGroup.get(nonEmptyStringAt(entry, 'name') ?? '');
    checkTargetGroup(['targetGroups', index], entry, tcpListener, hasIdentity, files, report);
  }
  return errors;
}

// === Listeners ===
const LISTENER_TLS_KEYS = ['certificates', 'sslPolicy', 'mutualAuthentication', 'identity'] as const;
const NEEDS_IDENTITY_BLOCK =
  'needs the top-level identity block (identity: { spiffeId, issuer | files }): it names the workload certificate';

function checkListener(
  at: ConfigPath,
  protocol: string,
  listener: RawObject,
  hasIdentity: boolean,
  files: PemFiles,
  report: Report,
): void {
  if (protocol !== 'HTTPS' && protocol !== 'TLS') {
    for (const key of LISTENER_TLS_KEYS) {
      if (listener[key] !== undefined)
        report([...at, key], `applies only to HTTPS and TLS listeners; this listener is ${protocol}`);
    }
    return;
  }
  const certificates = listener['certificates'];
  const isIdentity = listener['identity'] === true;
  if (isIdentity && !hasIdentity) report([...at, 'identity'], NEEDS_IDENTITY_BLOCK);
  if (isIdentity && certificates !== undefined) {
    report(
      [...at, 'certificates'],
      'a listener with identity: true serves the workload certificate; drop certificates (or identity)',
    );
  } else if (
    !isIdentity &&
    (certificates === undefined || (Array.isArray(certificates) && certificates.length === 0))
  ) {
    report(
      [...at, 'certificates'],
      `${protocol === 'HTTPS' ? 'an' : 'a'} ${protocol} listener needs at least one certificate: certificates: [ { cert: site.crt, key: site.key } ]`,
    );
  }
  for (const { index, entry } of objectsIn(certificates)) {
    const certPath = nonEmptyStringAt(entry, 'cert');
    const keyPath = nonEmptyStringAt(entry, 'key');
    if (certPath === undefined || keyPath === undefined) continue; // the schema reports it
    const pair = files.pair([...at, 'certificates', index], certPath, keyPath, report);
    if (pair !== null && index > 0 && certificateDnsNames(pair).length === 0) {
      report(
        [...at, 'certificates', index, 'cert'],
        `${files.resolve(certPath)} names no DNS host (no subjectAltName DNS entry or CN), so SNI can never pick it; only the first (default) certificate may lack one`,
      );
    }
  }
  const mutual = listener['mutualAuthentication'];
  if (!isObject(mutual)) return;
  const mode = nonEmptyStringAt(mutual, 'mode') ?? 'off';
  const trustStore = nonEmptyStringAt(mutual, 'trustStore');
  if (mode !== 'verify' && mutual['allowedIdentities'] !== undefined) {
    report([...at, 'mutualAuthentication', 'allowedIdentities'], 'applies only when mode is verify');
  }
  if (mode === 'verify' && isIdentity && mutual['trustStore'] !== undefined) {
    report(
      [...at, 'mutualAuthentication', 'trustStore'],
      'a listener with identity: true verifies clients against the identity trust bundle; drop trustStore',
    );
  } else if (mode === 'verify' && isIdentity) {
    // The identity trust bundle is the trust store.
  } else if (mode === 'verify' && trustStore === undefined && mutual['trustStore'] === undefined) {
    report(
      [...at, 'mutualAuthentication', 'trustStore'],
      'is required when mode is verify: the CA certificates client certificates must chain to',
    );
  } else if (mode === 'off' && mutual['trustStore'] !== undefined) {
    report([...at, 'mutualAuthentication', 'trustStore'], 'applies only when mode is verify');
  } else if (trustStore !== undefined) {
    files.caBundle([...at, 'mutualAuthentication', 'trustStore'], trustStore, report);
  }
}

// === Target groups ===
function checkTargetGroup(
  at: ConfigPath,
  group: RawObject,
  tcpListener: string | undefined,
  hasIdentity: boolean,
  files: PemFiles,
  report: Report,
): void {
  const protocol = nonEmptyStringAt(group, 'protocol') ?? 'HTTP';
  const tls = group['tls'];
  if (protocol === 'HTTPS' && tcpListener !== undefined) {
    report(
      [...at, 'protocol'],
      `HTTPS needs HTTP or HTTPS listeners, but TCP listener ${JSON.stringify(tcpListener)} forwards to this group (it relays bytes as they come)`,
    );
  }
  if (tls === undefined) return;
  if (protocol !== 'HTTPS') {
    report([...at, 'tls'], `applies only when protocol is HTTPS (this group uses ${protocol})`);
    return;
  }
  if (!isObject(tls)) return;
  if (tls['identity'] === true) {
    if (!hasIdentity) report([...at, 'tls', 'identity'], NEEDS_IDENTITY_BLOCK);
    for (const key of ['ca', 'cert', 'key', 'serverName'] as const) {
      if (tls[key] !== undefined)
        report(
          [...at, 'tls', key],
          'does not apply with identity: true (the workload certificate, the trust bundle and SPIFFE IDs are used)',
        );
    }
    return;
  }
  const ca = nonEmptyStringAt(tls, 'ca');
  if (ca !== undefined) files.caBundle([...at, 'tls', 'ca'], ca, report);
  const certPath = nonEmptyStringAt(tls, 'cert');
  const keyPath = nonEmptyStringAt(tls, 'key');
  if (certPath !== undefined && keyPath === undefined && tls['key'] === undefined) {
    report([...at, 'tls', 'key'], 'is required with cert: the private key of the client certificate');
  } else if (keyPath !== undefined && certPath === undefined && tls['cert'] === undefined) {
    report([...at, 'tls', 'cert'], 'is required with key: the client certificate Ferry presents');
  } else if (certPath !== undefined && keyPath !== undefined) {
    files.pair([...at, 'tls'], certPath, keyPath, report);
  }
}

// === Identity ===
function checkIdentity(identity: unknown, files: PemFiles, report: Report): void {
  if (!isObject(identity)) return;
  const at: ConfigPath = ['identity'];
  const issuer = identity['issuer'];
  const fileSet = identity['files'];
  if ((issuer === undefined) === (fileSet === undefined)) {
    report(
      at,
      'needs exactly one of issuer (Ferry’s issuing service) and files (certificates another system writes)',
    );
    return;
  }
  if (fileSet !== undefined && identity['dir'] !== undefined)
    report([...at, 'dir'], 'applies only with issuer (files are read where they are)');
  if (isObject(issuer)) {
    const bundle = nonEmptyStringAt(issuer, 'trustBundle');
    if (bundle !== undefined) files.caBundle([...at, 'issuer', 'trustBundle'], bundle, report);
    const tokenFile = nonEmptyStringAt(issuer, 'tokenFile');
    if (tokenFile !== undefined) {
      const text = files.read([...at, 'issuer', 'tokenFile'], tokenFile, report);
      if (text !== null && text.trim() === '')
        report(
          [...at, 'issuer', 'tokenFile'],
          `${files.resolve(tokenFile)} is empty: it must hold the token`,
        );
    }
  }
  if (isObject(fileSet)) {
    const bundle = nonEmptyStringAt(fileSet, 'bundle');
    if (bundle !== undefined) files.caBundle([...at, 'files', 'bundle'], bundle, report);
    const certPath = nonEmptyStringAt(fileSet, 'cert');
    const keyPath = nonEmptyStringAt(fileSet, 'key');
    const spiffeId = nonEmptyStringAt(identity, 'spiffeId');
    if (certPath === undefined || keyPath === undefined) return;
    const certificate = files.pair([...at, 'files'], certPath, keyPath, report);
    if (certificate !== null && spiffeId !== undefined) {
      const uris = uriSansOf(certificate.subjectAltName);
      if (uris.length !== 1 || uris[0] !== spiffeId)
        report(
          [...at, 'files', 'cert'],
          `${files.resolve(certPath)} must carry exactly one URI SAN, ${spiffeId} (identity.spiffeId); it has ${uris.length === 0 ? 'none' : uris.join(', ')}`,
        );
    }
  }
}

// === Files ===
/** Why a file could not be read, in words. */
function readFailure(error: NodeJS.ErrnoException): string {
  switch (error.code) {
    case 'ENOENT':
      return 'no such file';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'is a folder, not a file';
    default:
      return error.code ?? error.message;
  }
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/** Reads each PEM file once per validation, resolved against the config folder. */
class PemFiles {
  private readonly configDir: string;
  private readonly texts: Map<string, { text: string } | { failure: string }>;

  constructor(configDir: string) {
    this.configDir = configDir;
    this.texts = new Map();
  }

  resolve(path: string): string {
    return resolve(this.configDir, path);
  }

  /** The file's text, or null after reporting why it cannot be used. */
  read(at: ConfigPath, path: string, report: Report): string | null {
    const absolute = this.resolve(path);
    let entry = this.texts.get(absolute);
    if (entry === undefined) {
      entry = readBounded(absolute);
      this.texts.set(absolute, entry);
    }
    if ('failure' in entry) {
      report(at, `cannot read ${absolute}: ${entry.failure}`);
      return null;
    }
    return entry.text;
  }

  /** A certificate and its key; reports unreadable, unparsable or mismatched files. Returns the certificate when all is well. */
  pair(at: ConfigPath, certPath: string, keyPath: string, report: Report): X509Certificate | null {
    const certificate = this.certificate([...at, 'cert'], certPath, report);
    const key = this.privateKey([...at, 'key'], keyPath, report);
    if (certificate === null || key === null) return null;
    if (!certificate.checkPrivateKey(key)) {
      report(
        [...at, 'key'],
        `${this.resolve(keyPath)} does not match the certificate in ${formatConfigPath([...at, 'cert'])} (${this.resolve(certPath)})`,
      );
      return null;
    }
    return certificate;
  }

  /** A CA bundle: at least one certificate, every one of them parsable. */
  caBundle(at: ConfigPath, path: string, report: Report): void {
    const text = this.read(at, path, report);
    if (text === null) return;
    const blocks = text.match(PEM_CERTIFICATE) ?? [];
    if (blocks.length === 0) {
      report(at, `${this.resolve(path)} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
      return;
    }
    for (const [index, block] of blocks.entries()) {
      try {
        new X509Certificate(block);
      } catch (error) {
        report(
          at,
          `${this.resolve(path)}: certificate ${index + 1} does not parse (${(error as Error).message})`,
        );
        return;
      }
    }
  }

  private certificate(at: ConfigPath, path: string, report: Report): X509Certificate | null {
    const text = this.read(at, path, report);
    if (text === null) return null;
    const first = text.match(PEM_CERTIFICATE)?.[0];
    if (first === undefined) {
      report(at, `${this.resolve(path)} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
      return null;
    }
    try {
      return new X509Certificate(first);
    } catch (error) {
      report(at, `${this.resolve(path)} does not parse as a certificate (${(error as Error).message})`);
      return null;
    }
  }

  private privateKey(at: ConfigPath, path: string, report: Report): KeyObject | null {
    const text = this.read(at, path, report);
    if (text === null) return null;
    if (text.includes('ENCRYPTED')) {
      report(
        at,
        `${this.resolve(path)} is an encrypted key; Ferry needs it unencrypted (protect the file instead)`,
      );
      return null;
    }
    try {
      return createPrivateKey(text);
    } catch (error) {
      report(at, `${this.resolve(path)} does not parse as a PEM private key (${(error as Error).message})`);
      return null;
    }
  }
}

/** Read a file of at most PEM_FILE_BYTES_MAX bytes. */
function readBounded(path: string): { text: string } | { failure: string } {
  let fd: number | null = null;
  try {
    fd = openSync(path, 'r');
    const { size } = fstatSync(fd);
    if (size > PEM_FILE_BYTES_MAX) return { failure: `larger than ${PEM_FILE_BYTES_MAX} bytes` };
    const buffer = Buffer.alloc(size);
    let offset = 0;
    while (offset < size) {
      const count = readSync(fd, buffer, offset, size - offset, offset);
      if (count === 0) break;
      offset += count;
    }
    return { text: buffer.subarray(0, offset).toString('utf8') };
  } catch (error) {
    return { failure: readFailure(error as NodeJS.ErrnoException) };
  } finally {
    if (fd !== null) closeSync(fd);
  }
}
