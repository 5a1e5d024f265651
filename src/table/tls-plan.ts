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

/** The TLS termination of an HTTPS or TLS listener, paths absolute; null for the others. */
export function listenerTlsPlan(
  snapshot: ConfigSnapshot,
  listener: ListenerConfig,
): TopologyListenerTls | null {
  if ((listener.protocol !== 'HTTPS' && listener.protocol !== 'TLS') || listener.sslPolicy === null)
    return null;
  const trustStore = listener.mutualAuthentication.trustStore;
  return {
    certificates: listener.certificates.map((certificate) => ({
      certPath: resolveConfigPath(snapshot, certificate.cert),
      keyPath: resolveConfigPath(snapshot, certificate.key),
    })),
    sslPolicy: listener.sslPolicy,
    clientTrustStorePath:
      listener.mutualAuthentication.mode === 'verify' && trustStore !== null
        ? resolveConfigPath(snapshot, trustStore)
        : null,
  };
}

/** A group's TLS to its targets, paths absolute; null for HTTP groups. */
export function upstreamTlsPlan(
  snapshot: ConfigSnapshot,
  group: TargetGroupConfig,
): TopologyUpstreamTls | null {
  const tls = group.tls;
  if (tls === null) return null;
  const resolveOrNull = (path: string | null): string | null =>
    path === null ? null : resolveConfigPath(snapshot, path);
  return {
    caPath: resolveOrNull(tls.ca),
    serverName: tls.serverName,
    certPath: resolveOrNull(tls.cert),
    keyPath: resolveOrNull(tls.key),
    isVerifyOn: tls.verify,
  };
}
