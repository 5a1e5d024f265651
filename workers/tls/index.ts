/**
 * @module workers/tls
 *
 * TLS in a worker, both directions. Thread: worker. Place in the flow:
 *
 *   listen ──> **tls** (TlsTerminator: HTTPS listeners; SNI, policy, ALPN, mTLS) ──> l7 / l7/h2
 *   pick ──> **connect** (connectTls: HTTPS target groups; CA, SNI, client certificate) ──> forward
 *
 * Certificates come from PEM files named (by absolute path) in the topology;
 * each worker reads them itself and re-reads them when they change (PemWatch),
 * so a worker restarted later starts on the current files and no private key
 * crosses threads. Main has validated every file at config time.
 */
export {
  ListenerCertificates,
  loadListenerCertificates,
  type OnSecureConnection,
  rawSocketOf,
  TlsTerminator,
} from './listener-tls.ts';
export { type PeerIdentity, PeerIdentityCheck } from './peer-identity.ts';
export { PemWatch } from './pem-watch.ts';
export { policyContextOptions, tlsPolicyOf } from './policy.ts';
export { connectTls, isTlsErrorCode, UpstreamTlsContexts, type UpstreamTlsOptions } from './upstream-tls.ts';
