/**
 * @module src/failover/preconditions
 *
 * What must hold before a commanded switch (the control port's `failover` /
 * `failback`), as pure checks over the table's routes: the group exists,
 * the standby is another group that routes to itself (workers follow one
 * hop), no group feeds this one, and the side that takes the traffic has a
 * routable target unless forced. Thread: main. Place in the flow: control
 * port -> **preconditions** -> manager's switch.
 *
 * Each check throws a ProxyError with the code the control port answers.
 */
import { ProxyError } from '../shared/errors.ts';

/** The table's view the checks need: where each group's traffic goes now. */
export interface RouteView {
  readonly groupNames: readonly string[];
  routeOf(groupName: string): string;
  isRoutable(groupName: string): boolean;
}

/** Throws FERRY_ERR_CONTROL_NOT_FOUND for a group the config does not have. */
export function requireGroup(routes: RouteView, name: string): void {
  if (!routes.groupNames.includes(name)) {
    throw new ProxyError(
      'FERRY_ERR_CONTROL_NOT_FOUND',
      `no target group named ${JSON.stringify(name)} (known: ${routes.groupNames.join(', ') || 'none'})`,
    );
  }
}

/**
 * The group a commanded failover of `targetGroup` switches to (`to`, or its
 * standby). Throws FERRY_ERR_CONTROL_NOT_FOUND, FERRY_ERR_CONTROL_CONFLICT
 * (no standby, itself, one hop broken either way) or
 * FERRY_ERR_CONTROL_STANDBY_UNAVAILABLE (no routable target, not forced).
 */
export function checkFailover(
  routes: RouteView,
  targetGroup: string,
  standby: string | undefined,
  isForced: boolean,
): string {
  requireGroup(routes, targetGroup);
  if (standby === undefined) {
    throw new ProxyError(
      'FERRY_ERR_CONTROL_CONFLICT',
      `target group ${targetGroup} has no failover.standby; name one with --to`,
    );
  }
  requireGroup(routes, standby);
  if (standby === targetGroup) {
    throw new ProxyError(
      'FERRY_ERR_CONTROL_CONFLICT',
      `${targetGroup} cannot fail over to itself; use failback`,
    );
  }
  const standbyRoute = routes.routeOf(standby);
  if (standbyRoute !== standby) {
    throw new ProxyError(
      'FERRY_ERR_CONTROL_CONFLICT',
      `target group ${standby} is itself failed over to ${standbyRoute}; workers follow one hop, so fail ${standby} back first`,
    );
  }
  const feeder = routes.groupNames.find(
    (name) => name !== targetGroup && routes.routeOf(name) === targetGroup,
  );
  if (feeder !== undefined) {
    throw new ProxyError(
      'FERRY_ERR_CONTROL_CONFLICT',
      `target group ${targetGroup} takes ${feeder}'s traffic after its failover; workers follow one hop, so fail ${feeder} back first`,
    );
  }
  if (!isForced && !routes.isRoutable(standby)) {
    throw new ProxyError(
      'FERRY_ERR_CONTROL_STANDBY_UNAVAILABLE',
      `standby ${standby} has no routable target (healthy, not ejected, weight > 0); --force switches anyway`,
    );
  }
  return standby;
}

/**
 * Checks before a commanded failback of `targetGroup`. Throws
 * FERRY_ERR_CONTROL_NOT_FOUND, or FERRY_ERR_CONTROL_STANDBY_UNAVAILABLE when
 * the group is failed over, has no routable target of its own and is not forced.
 */
export function checkFailback(routes: RouteView, targetGroup: string, isForced: boolean): void {
  requireGroup(routes, targetGroup);
  if (routes.routeOf(targetGroup) !== targetGroup && !isForced && !routes.isRoutable(targetGroup)) {
    throw new ProxyError(
      'FERRY_ERR_CONTROL_STANDBY_UNAVAILABLE',
      `target group ${targetGroup} has no routable target of its own; --force switches back anyway`,
    );
  }
}
