/**
 * @module workers/tls/listener-tls
 *
 * The **tls** phase of an HTTPS listener: TLS termination with the
 * listener's certificates, picked by SNI, under its security policy, with
 * client certificates when mTLS is on, and ALPN choosing HTTP/2 or
 * HTTP/1.1. Thread: worker. Place in the flow:
 *
 *   listen (net.Server, accept checks) ──raw socket──> **TlsTerminator.accept**
 *     ──handshake (SNI, policy, ALPN, client cert)──> onSecure(TLSSocket)
 *     ──> l7: HttpConnection (http/1.1, or no ALPN) | H2 session (h2)
 *
 * Why a tls.Server that never listens: accepting stays in workers/listen
 * (reusePort, the scheme/allowedSources checks before any TLS work), while
 * node:tls keeps everything it does well: client
 * certificate verification, `tlsClientError`, and a default context that can
 * be swapped in place. Raw sockets are handed to it with
 * `emit('connection')`, the documented way to feed a server a socket.
 *
 * Contexts are precomputed (H2): one SecureContext per certificate, built
 * when the listener is bound and again when a PEM file changes; the SNI
 * callback is one or two Map lookups. A reload builds the whole new set
 * first and swaps it in one assignment, so a handshake sees either the old
 * set or the new one; connections already open keep the certificate they
 * were made with. A set that does not build (a half-written file, a key that
 * does not match yet) is logged and the old set stays in service until the
 * files are right.
 *
 * SNI: exact names first, then a `*.` wildcard matching exactly the first
 * label, then the default (the first certificate). When two certificates
 * claim a name, the earlier one in the config wins.
 */
import { createHash, X509Certificate } from 'node:crypto';
import type net from 'node:net';
import tls, { type SecureContext, type SecureContextOptions, type TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import type { TopologyListener, TopologyListenerTls } from '../../proto/thread-messages.ts';
import { HTTPS_ALPN_PROTOCOLS } from '../../proto/tls-policies.ts';
import { certificateDnsNames, isWildcardName } from '../../src/shared/cert-names.ts';
import { PemWatch } from './pem-watch.ts';
import { policyContextOptions, readPem, tlsPolicyOf } from './policy.ts';

/** One listener's built certificates: the default's options (for the server) and the SNI lookup. */
export class ListenerCertificates {
  /** Options of the default certificate, for tls.Server#setSecureContext. */
  readonly defaultOptions: SecureContextOptions;
  /** Exact DNS name (lower case) -> context; names of the default certificate map to null (keep the default). */
  readonly exact: ReadonlyMap<string, SecureContext | null>;
  /** `example.com` for `*.example.com` -> context (null = the default). */
  readonly wildcard: ReadonlyMap<string, SecureContext | null>;

  constructor(
    defaultOptions: SecureContextOptions,
    exact: ReadonlyMap<string, SecureContext | null>,
    wildcard: ReadonlyMap<string, SecureContext | null>,
  ) {
    this.defaultOptions = defaultOptions;
    this.exact = exact;
    this.wildcard = wildcard;
  }

  /**
   * The context for an SNI name, or null for the default. Hot-ish (once per
   * handshake): lower-cases and slices the name, nothing else.
   */
  pick(servername: string): SecureContext | null {
    const name = servername.toLowerCase();
    const exact = this.exact.get(name);
    if (exact !== undefined) return exact;
    const dot = name.indexOf('.');
    if (dot <= 0) return null;
    return this.wildcard.get(name.slice(dot + 1)) ?? null;
  }
}

/** The session-id context of a listener: stable across workers and restarts, distinct per listener (≤ 32 chars). */
function sessionIdContextOf(listenerName: string): string {
  return createHash('sha256').update(`ferry-listener:${listenerName}`).digest('hex').slice(0, 32);
}

/**
 * Read the listener's PEM files and build every context. Throws when a file
 * cannot be read or a key does not match its certificate (node:tls says which).
 * Config time and reload only; allocates.
 */
export function loadListenerCertificates(
  settings: TopologyListenerTls,
  listenerName: string,
): ListenerCertificates {
  const policyOptions = policyContextOptions(tlsPolicyOf(settings.sslPolicy));
  const ca = settings.clientTrustStorePath === null ? undefined : readPem(settings.clientTrustStorePath);
  const sessionIdContext = sessionIdContextOf(listenerName);
  const exact = new Map<string, SecureContext | null>();
  const wildcard = new Map<string, SecureContext | null>();
  let defaultOptions: SecureContextOptions | null = null;
  for (const [index, certificate] of settings.certificates.entries()) {
    const cert = readPem(certificate.certPath);
    const key = readPem(certificate.keyPath);
    const options: SecureContextOptions = { ...policyOptions, cert, key, sessionIdContext };
    if (ca !== undefined) options.ca = ca; // every context verifies client certificates the same way
    // Built for every certificate, the default too: createSecureContext is where a key that does not match throws.
    const context = tls.createSecureContext(options);
    const isDefault = index === 0;
    if (isDefault) defaultOptions = options;
    for (const name of certificateDnsNames(new X509Certificate(cert))) {
      const map = isWildcardName(name) ? wildcard : exact;
      const key = isWildcardName(name) ? name.slice(2) : name;
      if (!map.has(key)) map.set(key, isDefault ? null : context);
    }
  }
  if (defaultOptions === null) throw new Error('an HTTPS listener needs at least one certificate');
  return new ListenerCertificates(defaultOptions, exact, wildcard);
}

/** Called with each connection whose handshake completed. */
export type OnSecureConnection = (socket: TLSSocket) => void;

/**
 * TLS termination for one HTTPS listener in one worker. Made when the
 * listener is bound; `close()` when its server closes.
 */
export class TlsTerminator {
  private readonly listener: TopologyListener;
  private readonly settings: TopologyListenerTls;
  private readonly log: Logger;
  private readonly server: tls.Server;
  private readonly watch: PemWatch;
  private certificates: ListenerCertificates;

  /** Throws when the certificates cannot be loaded (config validation makes that rare: files changed since). */
  constructor(
    listener: TopologyListener,
    settings: TopologyListenerTls,
    log: Logger,
    onSecure: OnSecureConnection,
    alpnProtocols: readonly string[] = HTTPS_ALPN_PROTOCOLS,
  ) {
    this.listener = listener;
    this.settings = settings;
    this.log = log;
    this.certificates = loadListenerCertificates(settings, listener.name);
    const isClientCertRequired = settings.clientTrustStorePath !== null;
    this.server = tls.createServer({
      ...this.certificates.defaultOptions,
      SNICallback: (servername, done) => done(null, this.certificates.pick(servername) ?? undefined),
      // HTTPS: h2 and http/1.1; a TLS listener: its alpnPolicy (none at all for None).
      ...(alpnProtocols.length === 0 ? {} : { ALPNProtocols: [...alpnProtocols] }),
      requestCert: isClientCertRequired,
      rejectUnauthorized: isClientCertRequired,
      // The handshake deadline rides the worker tick (workers/listen PendingHandshake,
      // `timeouts.tlsHandshake`): node's own is a timer per socket, and it did not
      // bound a client that sent nothing or a trickled ClientHello (issue 10).
      handshakeTimeout: 0,
    });
    this.server.on('secureConnection', onSecure);
    this.server.on('tlsClientError', (error: NodeJS.ErrnoException) => {
      // A failed handshake (wrong version, no shared cipher, no or bad client certificate, timeout).
      // node:tls has destroyed the socket; there is no HTTP exchange to answer.
      if (this.log.isLevelEnabled('debug'))
        this.log.debug({ listener: listener.name, code: error.code, phase: 'tls' }, 'TLS handshake failed');
    });
    const paths = settings.certificates.flatMap((certificate) => [certificate.certPath, certificate.keyPath]);
    if (settings.clientTrustStorePath !== null) paths.push(settings.clientTrustStorePath);
    this.watch = new PemWatch(paths, () => this.reload());
  }

  /** Start the handshake on an accepted raw socket. */
  accept(socket: net.Socket): void {
    this.server.emit('connection', socket);
  }

  /**
   * Re-read the PEM files and swap in the new contexts; on failure keep the
   * old ones and log why. Returns whether the new set is in service.
   */
  reload(): boolean {
    let next: ListenerCertificates;
    try {
      next = loadListenerCertificates(this.settings, this.listener.name);
    } catch (error) {
      this.log.warn(
        { listener: this.listener.name, err: (error as Error).message, phase: 'tls' },
        'certificate files changed but do not load; still serving the previous certificates',
      );
      return false;
    }
    this.server.setSecureContext(next.defaultOptions);
    this.certificates = next;
    this.log.info({ listener: this.listener.name, phase: 'tls' }, 'certificates reloaded');
    return true;
  }

  close(): void {
    this.watch.close();
  }
}

/**
 * The raw TCP socket under a server-side TLSSocket, for a reset (RST):
 * TLSSocket#resetAndDestroy throws (its handle is the TLS wrap, not TCP).
 * node:tls keeps the wrapped socket as `_parent`; if that ever changes, the
 * TLSSocket itself is returned and the caller falls back to destroy().
 */
export function rawSocketOf(socket: net.Socket): net.Socket {
  const parent = (socket as { _parent?: unknown })._parent;
  return typeof parent === 'object' && parent !== null && 'resetAndDestroy' in parent
    ? (parent as net.Socket)
    : socket;
}
