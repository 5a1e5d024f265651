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
  TopologyGroup,
  TopologyHashKey,
  TopologyListener,
  TopologyListenerTls,
  TopologyUpstreamTls,
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
  /** Sticky sessions (target-group attribute); absent = off. */
  readonly stickiness?: TopologyGroup['stickiness'];
  /** TLS to the targets (`protocol: HTTPS`), paths resolved; absent or null = plain HTTP. */
  readonly upstreamTls?: TopologyUpstreamTls | null;
  readonly targets: readonly {
    readonly address: string;
    readonly host: string;
    readonly port: number;
    readonly weight: number;
  }[];
}

export interface TableListener {
  readonly name: string;
  readonly protocol: 'HTTP' | 'HTTPS' | 'TCP';
  readonly host: string;
  readonly port: number;
  /** Target group of the default forward action, or null for none. */
  readonly defaultTargetGroup: string | null;
  readonly addTargetHeader: boolean;
  /** Rules, default action and source checks, passed through to the workers; absent = forward to defaultTargetGroup. */
  readonly routing?: TopologyListener['routing'];
  /** TLS termination of an HTTPS listener, paths resolved; absent or null otherwise. */
  readonly tls?: TopologyListenerTls | null;
}

export interface TablePlan {
  readonly targetGroups: readonly TableTargetGroup[];
  readonly listeners: readonly TableListener[];
}

// === Projection from config ===

/** Listener ports as actually bound (port 0 resolved), by listener name. */
export type ResolvedPorts = ReadonlyMap<string, number>;

/**
 * `identity`: where the workload certificate is (src/identity), for
 * listeners and groups with `identity: true`; null without an identity block.
 */
export function planFromConfig(
  snapshot: ConfigSnapshot,
  ports: ResolvedPorts,
  identity: IdentityFiles | null = null,
): TablePlan {
  const groupsInUse = new Set(snapshot.listeners.flatMap((listener) => listener.forwardTargetGroups));
  // A standby takes its primary's traffic after a failover, so its targets are checked like a group in use.
  for (const group of snapshot.targetGroups)
    if (group.failover !== null) groupsInUse.add(group.failover.standby);
  return {
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
      upstreamTls: upstreamTlsPlan(snapshot, group, identity),
      stickiness: group.stickiness,
      targets: group.targets.map((target) => ({
        address: target.address,
        host: target.host,
        port: target.port,
        weight: target.weight,
      })),
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
    })),
  };
}
