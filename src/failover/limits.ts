/**
 * @module src/failover/limits
 *
 * Bounds of failover, units in the names. Thread: main. Workers never see
 * these: they only read the GROUP_ROUTE_TO pointer on each pick.
 */

/** Period of the automatic-failover check (reads 3 Int32 per target of each group that has a standby). */
export const FAILOVER_TICK_MS = 100;
/**
 * Longest a failover or failback waits for every live worker to observe it
 * before answering FERRY_ERR_CONTROL_NOT_OBSERVED. A busy worker observes on
 * its next pick, an idle one on its 250 ms tick (TICK_MS); past this, a
 * worker is stuck, and it will still read the new pointer on its next pick.
 */
export const FAILOVER_OBSERVE_WAIT_MS = 3_000;
/** While waiting for a worker's acknowledgement: longest single sleep before liveness is checked again. */
export const FAILOVER_OBSERVE_RECHECK_MS = 250;
/** A worker whose heartbeat is older than this is stuck or gone, and not waited for (as src/health/drain.ts). */
export const FAILOVER_HEARTBEAT_STALE_MS = 2_000;
