/**
 * @module workers/route
 *
 * The **route** and **pick** phases' public surface: compiled listener rules
 * and their allocation-free match, stickiness and weighted forwarding
 * (Router), target groups with failover and fail-open (TargetGroups), and
 * the hash key of a request. Thread: worker.
 */
export { ACTION_FIXED_RESPONSE, ACTION_FORWARD, CidrTable, type CompiledAction } from './compile.ts';
export { matchCidr, matchListener } from './match.ts';
export {
  PICK_BALANCED,
  PICK_FAIL_OPEN,
  PICK_NONE,
  PICK_STANDBY,
  PICK_STICKY,
  type PickOutcome,
} from './pick.ts';
export { Router } from './router.ts';
export { ExchangeCookies } from './sticky.ts';
export { TargetGroups } from './target-groups.ts';
