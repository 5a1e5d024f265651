/**
 * @module src/health/manager/policy
 *
 * The health attributes of each target group, projected once from the config
 * snapshot so the manager's parts never read the snapshot itself. Thread:
 * main. Changes when a config attribute that health acts on is added.
 */
import type { ConfigSnapshot, HealthCheckConfig, OutlierDetectionConfig } from '../../config/index.ts';

/** The health attributes of one target group (a projection of the config snapshot). */
export interface GroupPolicy {
  readonly name: string;
  /** Balancing algorithm, as configured; shown in the read model, not used for health decisions. */
  readonly algorithm: string;
  /** False when no listener forwards to the group: its targets are `unused` and not checked. */
  readonly isInUse: boolean;
  readonly healthCheck: HealthCheckConfig;
  readonly outlierDetection: OutlierDetectionConfig;
  readonly deregistrationDelayMs: number;
  readonly slowStartMs: number;
  readonly failOpen: boolean;
}

/** Policies of every group of a snapshot. */
export function policiesFromConfig(snapshot: ConfigSnapshot): GroupPolicy[] {
  const inUse = new Set(snapshot.listeners.flatMap((listener) => listener.forwardTargetGroups));
  // A standby takes its primary's traffic after a failover, so its targets are checked like a group in use.
  for (const group of snapshot.targetGroups) if (group.failover !== null) inUse.add(group.failover.standby);
  return snapshot.targetGroups.map((group) => ({
    name: group.name,
    algorithm: group.algorithm,
    isInUse: inUse.has(group.name),
    healthCheck: group.healthCheck,
    outlierDetection: group.outlierDetection,
    deregistrationDelayMs: group.deregistrationDelayMs,
    slowStartMs: group.slowStartMs,
    failOpen: group.failOpen,
  }));
}
