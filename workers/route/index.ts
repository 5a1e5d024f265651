/**
 * @module workers/route
 *
 * The **route** and **pick** phases' public surface: compiled listener rules
 * and their allocation-free match, stickiness and weighted forwarding
 * (Router), target groups with failover and fail-open (TargetGroups), and
 * the hash key of a request. Thread: worker.
 */
export { ACTION_FIXED_RESPONSE, ACTION_FORWARD, CidrTable, type CompiledAction } from './compile.ts';
export { FLOW_PROTOCOL_TCP, FLOW_PROTOCOL_UDP, FlowTuple, flowKeyHash } from './flow-tuple.ts';
export { matchCidr, matchFlow, matchListener } from './match.ts';
export {
  PICK_BALANCED,
  PICK_FAIL_OPEN,
  PICK_NONE,
  PICK_STANDBY,
  PICK_STICKY,
  type PickOutcome,
  STICKY_HIT,
  STICKY_MISS,
  STICKY_NONE,
  STICKY_REPICK,
} from './pick.ts';
export { Router } from './router.ts';
export { isSourceAllowed, refuseSource, SourceFilter, SourceFilters } from './source-filter.ts';
export { CookieAttributes, cookieAttributesFor, ExchangeCookies } from './sticky.ts';
export { TargetGroups } from './target-groups.ts';
