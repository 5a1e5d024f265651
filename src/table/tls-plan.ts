/**
 * @module src/table/tls-plan
 *
 * Projects the TLS keys of a ConfigSnapshot onto the topology: listener
 * certificates, security policy and client trust store; a group's upstream
 * TLS. Thread: main (config apply). Place in the flow: config -> **plan** ->
 * table -> Topology -> workers/tls.
 *
 * Every path is resolved here against the config file's folder, so workers
 * receive absolute paths and never need to know where the config lives.
 * Workers read the files themselves (see TopologyListenerTls for why).
 */
import type { TopologyListenerTls, TopologyUpstreamTls } from '../../proto/thread-messages.ts';
import {
  type ConfigSnapshot,
  type ListenerConfig,
  resolveConfigPath,
  type TargetGroupConfig,
} from '../config/index.ts';

/**
 * Where the sidecar's workload certificate lives (absolute paths), for
 * listeners and groups with `identity: true`: the files of `identity.files`,
 * or those the identity manager writes (src/identity). Null without an
 * identity block.
 */
export interface IdentityFiles {
  readonly spiffeId: string;
  readonly certPath: string;
  readonly keyPath: string;
  readonly bundlePath: string;
}

/** The TLS termination of an HTTPS or TLS listener, paths absolute; null for the others. */
export function listenerTlsPlan(
  snapshot: ConfigSnapshot,
  listener: ListenerConfig,
  identity: IdentityFiles | null,
): TopologyListenerTls | null {
  if ((listener.protocol !== 'HTTPS' && listener.protocol !== 'TLS') || listener.sslPolicy === null)
    return null;
  const mutual = listener.mutualAuthentication;
  const isIdentity = listener.identity && identity !== null;
  const isVerify = mutual.mode === 'verify';
  let clientTrustStorePath: string | null = null;
  if (isVerify && isIdentity) clientTrustStorePath = identity.bundlePath;
  else if (isVerify && mutual.trustStore !== null)
    clientTrustStorePath = resolveConfigPath(snapshot, mutual.trustStore);
  return {
    certificates: isIdentity
      ? [{ certPath: identity.certPath, keyPath: identity.keyPath }]
      : listener.certificates.map((certificate) => ({
          certPath: resolveConfigPath(snapshot, certificate.cert),
          keyPath: resolveConfigPath(snapshot, certificate.key),
        })),
    sslPolicy: listener.sslPolicy,
    clientTrustStorePath,
    peerIdentity:
      clientTrustStorePath === null
        ? null
        : { allowedIdentities: mutual.allowedIdentities, ownSpiffeId: identity?.spiffeId ?? null },
  };
}

/** A group's TLS to its targets, paths absolute; null for HTTP groups. */
export function upstreamTlsPlan(
  snapshot: ConfigSnapshot,
  group: TargetGroupConfig,
  identity: IdentityFiles | null,
): TopologyUpstreamTls | null {
  const tls = group.tls;
  if (tls === null) return null;
  if (tls.identity && identity !== null) {
    const trustDomain = identity.spiffeId.slice(0, identity.spiffeId.indexOf('/', 'spiffe://'.length));
    return {
      caPath: identity.bundlePath,
      serverName: null,
      certPath: identity.certPath,
      keyPath: identity.keyPath,
      isVerifyOn: true,
      // With identity and no patterns: any workload of the sidecar's own trust domain.
      expectedIdentities: tls.expectedIdentities ?? [`${trustDomain}/**`],
    };
  }
  const resolveOrNull = (path: string | null): string | null =>
    path === null ? null : resolveConfigPath(snapshot, path);
  return {
    expectedIdentities: tls.expectedIdentities,
    caPath: resolveOrNull(tls.ca),
    serverName: tls.serverName,
    certPath: resolveOrNull(tls.cert),
    keyPath: resolveOrNull(tls.key),
    isVerifyOn: tls.verify,
  };
}
