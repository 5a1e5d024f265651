/**
 * @module src/failover
 *
 * Hot failover between target groups: the manager (commands, automatic
 * failover and failback) and the wait for every worker to observe a switch.
 * Thread: main. Place in the flow: config -> table <- health / **failover**
 * <- control port. Nothing outside src/failover/ imports its other files.
 */
export {
  FAILOVER_HEARTBEAT_STALE_MS,
  FAILOVER_OBSERVE_RECHECK_MS,
  FAILOVER_OBSERVE_WAIT_MS,
  FAILOVER_TICK_MS,
} from './limits.ts';
export {
  type FailoverEvents,
  FailoverManager,
  type FailoverManagerOptions,
  type FailoverSwitchEvent,
} from './manager.ts';
export { type ObservedOutcome, waitForWorkers, workersBehind } from './observe.ts';
export { type FailoverPolicy, failoverPoliciesFromConfig } from './policy.ts';
