/**
 * @module workers/upstream/retry-budget
 *
 * The retry budget of one worker (issue 10; Envoy's retry_budget): retries
 * in flight may be at most a percentage of the requests in flight, with a
 * floor, so that when a target dies retries spread its requests over the
 * others instead of doubling the load on everything. Thread: worker. Place in
 * the flow: **connect** (a failure no target saw) -> retry -> pick again.
 *
 * Per worker, not per group or global: a worker's counts are plain integers
 * (no Atomics), and the kernel spreads connections over workers evenly
 * enough that each worker's share is the same ratio.
 */
import type { ErrorCode } from '../../proto/error-codes.ts';

/**
 * Whether a retry after `code` counts in the budget. A refused connect does
 * not: nothing listens there, so the target did no work and the retry moves,
 * not multiplies, its share (HAProxy's redispatch). The budget bounds the
 * retries that may add work to a struggling target: timeouts, resets and
 * replays (`isReplay`: the request may have reached it). Without this, losing
 * one of two targets under load (half the picks refused) spent a worker's
 * floor of 3 and answered 502 (issue 10's goal is 0 errors).
 */
export function isRetryBudgeted(code: ErrorCode, isReplay: boolean): boolean {
  return isReplay || code !== 'FERRY_ERR_UPSTREAM_CONNECT_REFUSED';
}

export class RetryBudget {
  /** Exchanges of this worker between take and drop (HTTP/1.1). */
  requestsInFlight: number;
  /** Of those, exchanges that are on a retry. */
  retriesInFlight: number;
  /** Retries the budget refused (a gauge for tests and the access log's story). */
  refusedTotal: number;

  constructor() {
    this.requestsInFlight = 0;
    this.retriesInFlight = 0;
    this.refusedTotal = 0;
  }

  /**
   * Whether one more retry fits: fewer than max(minConcurrency,
   * floor(requestsInFlight x percent / 100)) retries in flight. Counts a
   * refusal. Allocates nothing.
   */
  canRetry(percent: number, minConcurrency: number): boolean {
    const allowed = Math.max(minConcurrency, Math.floor((this.requestsInFlight * percent) / 100));
    if (this.retriesInFlight < allowed) return true;
    this.refusedTotal++;
    return false;
  }
}
