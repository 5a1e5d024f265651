/**
 * @module workers/route/pick
 *
 * What the **pick** phase produces, and where it lands: every protocol's
 * exchange (workers/upstream/exchange.ts) implements PickOutcome, and the one
 * pick entry point (Router.pick) writes the slot, the target, the group that
 * served and the reason into it. Thread: worker. Place in the flow:
 * route -> **pick** -> connect.
 *
 * Why an out-parameter and not a result object: a pick allocates nothing
 * (STYLE H1), and the exchange is the one object that lives exactly as long
 * as the request or flow the pick is for (STYLE §14). Router and TargetGroups
 * keep no per-pick state of their own, so two exchanges can never read each
 * other's result.
 */
import type { TopologyGroup, TopologyTarget } from '../../proto/thread-messages.ts';
import type { ExchangeCookies } from './sticky.ts';

/** Why a pick went where it did (for spans and logs); PICK_NONE means 503. */
export const PICK_NONE = 0;
export const PICK_BALANCED = 1;
export const PICK_FAIL_OPEN = 2;
/** The target a valid stickiness cookie named (workers/route/router.ts). */
export const PICK_STICKY = 3;
/**
 * The group had no routable target and its standby did (issue 10): a
 * healthy standby takes precedence over failing open to targets that fail
 * their connects, from the first request, before main's automatic failover
 * (`failover.after`) makes the switch official.
 */
export const PICK_STANDBY = 4;

/** How stickiness decided (for spans and logs): not sticky, cookie honoured, no cookie, cookie's target gone. */
export const STICKY_NONE = 0;
export const STICKY_HIT = 1;
export const STICKY_MISS = 2;
export const STICKY_REPICK = 3;

/** The fields a pick writes. Implemented by workers/upstream/exchange.ts. */
export interface PickOutcome {
  /** The picked slot, or NO_SLOT. */
  slot: number;
  /** The slot's target in this worker's topology; null when nothing (assigned) was picked. */
  target: TopologyTarget | null;
  /** The group that served: the asked one, or its standby after failover; null if unknown. */
  group: TopologyGroup | null;
  /** PICK_* */
  pickKind: number;
  /** STICKY_*: what stickiness did (STICKY_NONE when the serving group is not sticky). */
  stickyOutcome: number;
  /** Stickiness cookies the response must set (HTTP only; TCP flows leave them empty). */
  readonly cookies: ExchangeCookies;
}
