/**
 * @module workers/tls/upstream-tls
 *
 * TLS from Ferry to targets (target groups with `protocol: HTTPS`):
 * re-encryption, verification of the target's certificate against the
 * group's CA bundle and name, SNI, and the client certificate Ferry presents
 * to targets that require one (mTLS, the sidecar-to-sidecar case). Thread:
 * worker. Place in the flow: pick -> **connect** (workers/upstream calls
 * connectTls instead of net.connect).
 *
 * One UpstreamTlsOptions per distinct group setting, built the first time a
 * group is used (H2: never per request) and rebuilt when its PEM files
 * change. Its identity is what pooled connections remember: a socket made
 * with older options (other CA, rotated client certificate, or a group that
 * changed protocol on reload) is not reused.
 *
 * Fail closed: when the files cannot be read (they passed validation, then
 * vanished), the options carry a context that trusts no CA, so every
 * connection fails verification (502 FERRY_ERR_UPSTREAM_TLS) instead of
 * silently going out unverified or in clear text. The cause is logged.
 */
import net from 'node:net';
import tls, { type SecureContext } from 'node:tls';
import type { Logger } from 'pino';
import type { TopologyGroup, TopologyUpstreamTls } from '../../proto/thread-messages.ts';
import { compileSpiffePatterns, spiffeIdOfSan } from '../../src/shared/spiffe.ts';
import { PemWatch } from './pem-watch.ts';
import { readPem } from './policy.ts';

/** What a TLS connection to a target of one group needs; immutable, replaced as a whole on reload. */
export interface UpstreamTlsOptions {
  readonly secureContext: SecureContext;
  /** SNI and the verified name; undefined = node:tls default (the host when it is a name). */
  readonly servername: string | undefined;
  readonly rejectUnauthorized: boolean;
  /**
   * With `expectedIdentities`: checks the target's one SPIFFE URI SAN
   * against the patterns instead of the host name (issue 14); undefined =
   * node:tls's host-name check.
   */
  readonly checkServerIdentity: ((host: string, cert: tls.PeerCertificate) => Error | undefined) | undefined;
}

/** Only HTTP/1.1 is spoken to targets. */
const UPSTREAM_ALPN = ['http/1.1'];

/** Targets must speak TLS 1.2 or later, whatever the listener's policy. */
const UPSTREAM_MIN_VERSION = 'TLSv1.2';

function buildOptions(settings: TopologyUpstreamTls): UpstreamTlsOptions {
  const contextOptions: tls.SecureContextOptions = { minVersion: UPSTREAM_MIN_VERSION };
  if (settings.caPath !== null) contextOptions.ca = readPem(settings.caPath);
  if (settings.certPath !== null && settings.keyPath !== null) {
    contextOptions.cert = readPem(settings.certPath);
    contextOptions.key = readPem(settings.keyPath);
  }
  return {
    secureContext: tls.createSecureContext(contextOptions),
    servername: settings.serverName ?? undefined,
    rejectUnauthorized: settings.isVerifyOn,
    checkServerIdentity:
      settings.expectedIdentities === null ? undefined : spiffeIdentityCheck(settings.expectedIdentities),
  };
}

/**
 * A checkServerIdentity for SPIFFE peers: the certificate must carry
 * exactly one URI SAN, a SPIFFE ID matching one of `patterns`. The error's
 * code is node's ERR_TLS_CERT_ALTNAME_INVALID, so the exchange reports
 * FERRY_ERR_UPSTREAM_TLS as for a wrong host name. Built once per setting.
 */
function spiffeIdentityCheck(
  patterns: readonly string[],
): (host: string, cert: tls.PeerCertificate) => Error | undefined {
  const isExpected = compileSpiffePatterns(patterns);
  return (_host, cert) => {
    const id = spiffeIdOfSan(cert.subjectaltname);
    if (id !== null && isExpected(id)) return undefined;
    const error = new Error(
      `the target's SPIFFE ID ${id ?? '(none, or several URI SANs)'} is not among ${patterns.join(' ')}`,
    ) as NodeJS.ErrnoException;
    error.code = 'ERR_TLS_CERT_ALTNAME_INVALID';
    return error;
  };
}

/** Options that verify against an empty trust store: every handshake fails verification. */
function failClosedOptions(): UpstreamTlsOptions {
  return {
    secureContext: tls.createSecureContext({ ca: [], minVersion: UPSTREAM_MIN_VERSION }),
    servername: undefined,
    rejectUnauthorized: true,
    checkServerIdentity: undefined,
  };
}

function settingsKey(settings: TopologyUpstreamTls): string {
  return JSON.stringify([
    settings.caPath,
    settings.serverName,
    settings.certPath,
    settings.keyPath,
    settings.isVerifyOn,
    settings.expectedIdentities,
  ]);
}

function pathsOf(settings: TopologyUpstreamTls): string[] {
  const paths: string[] = [];
  for (const path of [settings.caPath, settings.certPath, settings.keyPath])
    if (path !== null) paths.push(path);
  return paths;
}

/** The options in service for one setting, with the watch that rebuilds them. */
class UpstreamTlsEntry {
  options: UpstreamTlsOptions;
  readonly watch: PemWatch;

  constructor(settings: TopologyUpstreamTls, log: Logger) {
    this.options = UpstreamTlsEntry.load(settings, log, null);
    this.watch = new PemWatch(pathsOf(settings), () => {
      this.options = UpstreamTlsEntry.load(settings, log, this.options);
    });
  }

  /** Build from the files; on failure keep `previous` if there is one, else fail closed. */
  private static load(
    settings: TopologyUpstreamTls,
    log: Logger,
    previous: UpstreamTlsOptions | null,
  ): UpstreamTlsOptions {
    try {
      const options = buildOptions(settings);
      if (previous !== null) log.info({ phase: 'connect' }, 'upstream TLS files reloaded');
      return options;
    } catch (error) {
      log.error(
        { err: (error as Error).message, phase: 'connect' },
        previous === null
          ? 'upstream TLS files do not load; connections to these targets fail (FERRY_ERR_UPSTREAM_TLS)'
          : 'upstream TLS files changed but do not load; keeping the previous ones',
      );
      return previous ?? failClosedOptions();
    }
  }
}

/** Per-worker registry of upstream TLS options, by group setting. */
export class UpstreamTlsContexts {
  private readonly log: Logger;
  private readonly entriesByKey: Map<string, UpstreamTlsEntry>;
  /** Topology objects already resolved (a new topology brings new objects; the key keeps the same entry). */
  private readonly entriesBySettings: WeakMap<TopologyUpstreamTls, UpstreamTlsEntry>;

  constructor(log: Logger) {
    this.log = log;
    this.entriesByKey = new Map();
    this.entriesBySettings = new WeakMap();
  }

  /**
   * The TLS options for connections to the targets of `group`, or null when
   * the group speaks plain HTTP. After the first call per topology: one
   * WeakMap lookup, no allocation.
   */
  forGroup(group: TopologyGroup | null): UpstreamTlsOptions | null {
    const settings = group?.upstreamTls ?? null;
    if (settings === null) return null;
    let entry = this.entriesBySettings.get(settings);
    if (entry === undefined) {
      const key = settingsKey(settings);
      entry = this.entriesByKey.get(key);
      if (entry === undefined) {
        entry = new UpstreamTlsEntry(settings, this.log);
        this.entriesByKey.set(key, entry);
      }
      this.entriesBySettings.set(settings, entry);
    }
    return entry.options;
  }

  /** Stop every file watch (worker drain). */
  close(): void {
    for (const entry of this.entriesByKey.values()) entry.watch.close();
    this.entriesByKey.clear();
  }
}

/**
 * Open a TLS connection to a target; the socket emits 'secureConnect' when
 * the handshake and verification passed, 'error' otherwise (a code that
 * isTlsErrorCode recognises). Allocates the options object (once per connection).
 */
export function connectTls(host: string, port: number, options: UpstreamTlsOptions): tls.TLSSocket {
  const socket = tls.connect({
    host,
    port,
    secureContext: options.secureContext,
    rejectUnauthorized: options.rejectUnauthorized,
    ...(options.checkServerIdentity === undefined
      ? {}
      : { checkServerIdentity: options.checkServerIdentity }),
    ALPNProtocols: UPSTREAM_ALPN,
    // SNI must not carry an IP address (RFC 6066 §3); node:tls then verifies the IP against the certificate.
    ...(options.servername !== undefined
      ? { servername: options.servername }
      : net.isIP(host) === 0
        ? { servername: host }
        : {}),
  });
  socket.setNoDelay(true);
  return socket;
}

/** Verification failures node:tls reports by OpenSSL's X509_V_ERR name (without the prefix). */
const VERIFY_ERROR_CODES: ReadonlySet<string> = new Set([
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_CRL',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'UNABLE_TO_DECRYPT_CRL_SIGNATURE',
  'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY',
  'CERT_SIGNATURE_FAILURE',
  'CRL_SIGNATURE_FAILURE',
  'CERT_NOT_YET_VALID',
  'CERT_HAS_EXPIRED',
  'CRL_NOT_YET_VALID',
  'CRL_HAS_EXPIRED',
  'ERROR_IN_CERT_NOT_BEFORE_FIELD',
  'ERROR_IN_CERT_NOT_AFTER_FIELD',
  'ERROR_IN_CRL_LAST_UPDATE_FIELD',
  'ERROR_IN_CRL_NEXT_UPDATE_FIELD',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'CERT_CHAIN_TOO_LONG',
  'CERT_REVOKED',
  'INVALID_CA',
  'PATH_LENGTH_EXCEEDED',
  'INVALID_PURPOSE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'HOSTNAME_MISMATCH',
]);

/**
 * True when a socket error code means TLS failed (handshake, alert,
 * certificate verification, name check) rather than TCP. Called on the
 * failure path only.
 */
export function isTlsErrorCode(code: string): boolean {
  return (
    code.startsWith('ERR_SSL_') ||
    code.startsWith('ERR_TLS_') ||
    code.startsWith('ERR_OSSL_') ||
    VERIFY_ERROR_CODES.has(code)
  );
}
