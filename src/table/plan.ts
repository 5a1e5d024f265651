/**
 * @module src/table/plan
 *
 * Projects a validated ConfigSnapshot onto what the table writer needs.
 * Thread: main. Kept apart from the writer so the writer does not depend on
 * the config's shape, only on targets, weights and group attributes.
 */
import type { ConfigSnapshot } from '../config/index.ts';
import type { TablePlan } from './index.ts';
import { listenerTlsPlan, upstreamTlsPlan } from './tls-plan.ts';

/** Listener ports as actually bound (port 0 resolved), by listener name. */
export type ResolvedPorts = ReadonlyMap<string, number>;

export function planFromConfig(snapshot: ConfigSnapshot, ports: ResolvedPorts): TablePlan {
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
      upstreamTls: upstreamTlsPlan(snapshot, group),
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
      tls: listenerTlsPlan(snapshot, listener),
    })),
  };
}
