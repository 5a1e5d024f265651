/**
 * @module src/failover/policy
 *
 * A group's `failover` attributes as the manager uses them, projected from
 * the config snapshot on start and every reload. Thread: main. Place in the
 * flow: config -> **failover policy** -> manager.
 */

/** A group's `failover` attributes (a projection of the config snapshot). */
export interface FailoverPolicy {
  readonly targetGroup: string;
  readonly standby: string;
  /** How long the group must have no routable target before an automatic failover. */
  readonly afterMs: number;
  readonly autoFailback: boolean;
}

/** Failover policies of every group of a snapshot that names a standby. */
export function failoverPoliciesFromConfig(snapshot: {
  readonly targetGroups: readonly {
    readonly name: string;
    readonly failover: {
      readonly standby: string;
      readonly afterMs: number;
      readonly autoFailback: boolean;
    } | null;
  }[];
}): FailoverPolicy[] {
  return snapshot.targetGroups.flatMap((group) =>
    group.failover === null
      ? []
      : [
          {
            targetGroup: group.name,
            standby: group.failover.standby,
            afterMs: group.failover.afterMs,
            autoFailback: group.failover.autoFailback,
          },
        ],
  );
}
