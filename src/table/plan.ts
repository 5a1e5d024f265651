/**
 * @module src/table/plan
 *
 * The table plan: what the table writer needs to know about target groups
 * and listeners (TablePlan), and its projection from a validated
 * ConfigSnapshot (planFromConfig). Thread: main. Place in the flow:
 * config -> **plan** -> table writer (index.ts) -> Topology -> workers.
 *
 * Kept apart from the writer so the writer does not depend on the config's
 * shape, only on targets, weights and group attributes. The plan's types
 * live here, beside the one function that builds them, and the writer
 * imports them from here: this file imports nothing from index.ts, so the
 * two do not form an import circle.
 */
import type {
  TopologyGeneve,
  TopologyGroup,
  TopologyHashKey,
  TopologyLayer4,
  TopologyListener,
  TopologyListenerProtocol,
  TopologyListenerTimeouts,
  TopologyListenerTls,
  TopologyRetries,
  TopologyUpstreamTls,
  TopologyZones,
} from '../../proto/thread-messages.ts';
import type { ConfigSnapshot } from '../config/index.ts';
import { type IdentityFiles, listenerTlsPlan, upstreamTlsPlan } from './tls-plan.ts';

// === Plan shape ===
/** What the table needs to know about a target group (a projection of the config snapshot). */
export interface TableTargetGroup {
  readonly name: string;
  readonly algorithm: string;
  readonly hashKey: TopologyHashKey;
  readonly failOpen: boolean;
  readonly isHealthCheckEnabled: boolean;
  /** False when no listener forwards to the group: its targets are `unused` (Target.NotInUse). Default true. */
  readonly isInUse?: boolean;
  readonly connectTimeoutMs: number;
  readonly responseTimeoutMs: number;
  /** `failover.standby`'s name; absent or null = none. */
  readonly standby?: string | null;
  /** Retries on another target; absent = RETRIES_DEFAULT. */
  readonly retries?: TopologyRetries;
  /** Sticky sessions (target-group attribute); absent = off. */
  readonly stickiness?: TopologyGroup['stickiness'];
  /** TLS to the targets (`protocol: HTTPS`), paths resolved; absent or null = plain HTTP. */
  readonly upstreamTls?: TopologyUpstreamTls | null;
  /** PROXY protocol v2 to the targets of layer-4 flows; absent = off. */
  readonly isProxyProtocolOn?: boolean;
  /** GENEVE appliance groups: flow stickiness and target failover; absent for others. */
  readonly geneve?: TopologyGeneve;
  /** Zone preference of the group's picks; absent or null = none. */
  readonly zones?: TopologyZones | null;
  readonly targets: readonly TableTargetPlan[];
}

/** Where a target came from: the config file, the control port (`register`), or a DNS name. */
export type TargetSource = 'config' | 'control' | 'dns';

/** One target of a group's plan. */
export interface TableTargetPlan {
  readonly address: string;
  readonly host: string;
  readonly port: number;
  readonly weight: number;
  /** The target's zone; absent or null = none. */
  readonly zone?: string | null;
  /** Where it came from; absent = config. */
  readonly source?: TargetSource;
  /** The DNS name that discovered it (source dns); absent otherwise. */
  readonly discoveredBy?: string;
}

/**
 * Targets found by discovery, by group name (src/discovery). They join the
 * group's configured targets; an address the config (or the control port)
 * already lists keeps its configured entry.
 */
export type DiscoveredTargets = ReadonlyMap<string, readonly TableTargetPlan[]>;

export interface TableListener {
  readonly name: string;
  readonly protocol: TopologyListenerProtocol;
  readonly host: string;
  readonly port: number;
  /** Target group of the default forward action, or null for none. */
  readonly defaultTargetGroup: string | null;
  readonly addTargetHeader: boolean;
  /** Rules, default action and source checks, passed through to the workers; absent = forward to defaultTargetGroup. */
  readonly routing?: TopologyListener['routing'];
  /** TLS termination of an HTTPS or TLS listener, paths resolved; absent or null otherwise. */
  readonly tls?: TopologyListenerTls | null;
  /** Layer-4 settings (TCP, TLS, UDP, TCP_UDP); absent = defaults. */
  readonly layer4?: TopologyLayer4;
  /** Client deadlines, passed through to the workers. */
  readonly timeouts: TopologyListenerTimeouts;
  readonly headersWithUnderscores?: TopologyListener['headersWithUnderscores'];
  readonly maxConnections?: number;
  readonly maxConnectionsTotal?: number;
}

export interface TablePlan {
  readonly targetGroups: readonly TableTargetGroup[];
  readonly listeners: readonly TableListener[];
  /** Ferry's own zone (`zone` / FERRY_ZONE); absent or null = none. */
  readonly localZone?: string | null;
}

// === Projection from config ===

/** `proxyProtocol.accept` as the mask workers/l4/proxy-protocol.ts reads (1 = v1, 2 = v2). */
const PROXY_ACCEPT_MASKS = { v1: 1, v2: 2, any: 3 } as const;

/** Listener ports as actually bound (port 0 resolved), by listener name. */
export type ResolvedPorts = ReadonlyMap<string, number>;

/**
 * The table plan of a snapshot, with `discovered` targets merged into their
 * groups (after the configured ones, duplicates dropped). `controlAddresses`
 * names the `group/address` keys the control port registered, so they show
 * as such. Thread: main. Pure; allocates the plan.
 * `identity`: where the workload certificate is (src/identity), for
 * listeners and groups with `identity: true`; null without an identity block.
 */
export function planFromConfig(
  snapshot: ConfigSnapshot,
  ports: ResolvedPorts,
  discovered: DiscoveredTargets = new Map(),
  controlAddresses: ReadonlySet<string> = new Set(),
  identity: IdentityFiles | null = null,
): TablePlan {
  const groupsInUse = new Set(snapshot.listeners.flatMap((listener) => listener.forwardTargetGroups));
  // A standby takes its primary's traffic after a failover, so its targets are checked like a group in use.
  for (const group of snapshot.targetGroups)
    if (group.failover !== null) groupsInUse.add(group.failover.standby);
  return {
    localZone: snapshot.zone,
    targetGroups: snapshot.targetGroups.map((group) => ({
      name: group.name,
      algorithm: group.algorithm,
      hashKey:
        group.hash === null
          ? { kind: 'source_ip', name: '' }
          : {
              kind: group.hash.kind,
              name:
                group.hash.kind === 'header'
                  ? (group.hash.name ?? '').toLowerCase()
                  : (group.hash.name ?? ''),
            },
      failOpen: group.failOpen,
      isHealthCheckEnabled: group.healthCheck.enabled,
      isInUse: groupsInUse.has(group.name),
      connectTimeoutMs: group.timeouts.connectMs,
      responseTimeoutMs: group.timeouts.responseMs,
      retries: group.retries,
      standby: group.failover?.standby ?? null,
      upstreamTls: upstreamTlsPlan(snapshot, group, identity),
      isProxyProtocolOn: group.proxyProtocol === 'v2',
      ...(group.geneve === null ? {} : { geneve: group.geneve }),
      stickiness: group.stickiness,
      zones: zonesOf(snapshot.zone, group),
      targets: mergeTargets(
        group.targets.map((target) => ({
          address: target.address,
          host: target.host,
          port: target.port,
          weight: target.weight,
          zone: target.zone,
          source: controlAddresses.has(`${group.name}/${target.address}`) ? 'control' : 'config',
        })),
        discovered.get(group.name) ?? [],
      ),
    })),
    listeners: snapshot.listeners.map((listener) => ({
      name: listener.name,
      protocol: listener.protocol,
      host: listener.host,
      port: ports.get(listener.name) ?? listener.port,
      // TCP listeners forward to exactly this group; HTTP(S) listeners route by `routing`.
      defaultTargetGroup:
        listener.defaultAction.type === 'forward'
          ? (listener.defaultAction.targetGroups[0]?.name ?? null)
          : null,
      addTargetHeader: listener.addTargetHeader,
      routing: {
        rules: listener.rules,
        defaultAction: listener.defaultAction,
        scheme: listener.scheme,
        allowedSources: listener.allowedSources,
        internalSources: listener.internalSources,
      },
      tls: listenerTlsPlan(snapshot, listener, identity),
      layer4: {
        tcpIdleTimeoutMs: listener.tcpIdleTimeoutMs,
        udpIdleTimeoutMs: listener.udpIdleTimeoutMs,
        alpnProtocols: listener.alpnProtocols,
        proxyProtocol:
          listener.proxyProtocol === null
            ? null
            : {
                acceptMask: PROXY_ACCEPT_MASKS[listener.proxyProtocol.accept],
                trustedSources: listener.proxyProtocol.trustedSources,
              },
        maxUdpFlows: snapshot.limits.maxUdpFlows,
      },
      timeouts: listener.timeouts,
      headersWithUnderscores: listener.headersWithUnderscores,
      maxConnections: listener.maxConnections ?? 0,
      maxConnectionsTotal: snapshot.maxConnectionsTotal,
    })),
  };
}

/** Configured targets first, then discovered ones whose address is not already there. */
function mergeTargets(
  configured: readonly TableTargetPlan[],
  discovered: readonly TableTargetPlan[],
): TableTargetPlan[] {
  if (discovered.length === 0) return [...configured];
  const seen = new Set(configured.map((target) => target.address));
  const merged = [...configured];
  for (const target of discovered) {
    if (seen.has(target.address)) continue;
    seen.add(target.address);
    merged.push(target);
  }
  return merged;
}

/** The zone preference of a group's picks, or null when Ferry has no zone or the group asks for none. */
function zonesOf(
  localZone: string | null,
  group: ConfigSnapshot['targetGroups'][number],
): TopologyZones | null {
  if (localZone === null) return null;
  if (!group.isCrossZone) return { mode: 'local_only', overprovisioningPercent: 100, minTargets: 1 };
  if (group.zoneAware === null) return null;
  return {
    mode: 'spill',
    overprovisioningPercent: group.zoneAware.overprovisioningPercent,
    minTargets: group.zoneAware.minTargets,
  };
}
