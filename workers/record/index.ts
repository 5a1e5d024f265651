/**
 * @module workers/record
 *
 * The **record** phase: after each upstream exchange, count it into the shared
 * table (requests, consecutive 5xx and gateway failures for outlier detection)
 * and feed the latency estimators the response-time pickers read. Thread:
 * worker. Place in the flow: finish -> **record**.
 *
 * Only Atomics on the target's own row: no messages, nothing allocated.
 */
import {
  addTarget,
  storeTarget,
  TARGET_CONSECUTIVE_5XX,
  TARGET_CONSECUTIVE_GATEWAY_FAILURES,
  TARGET_FAILURES_TOTAL,
  TARGET_REQUESTS_TOTAL,
  type TableView,
} from '../../proto/table-layout.ts';
import { recordLatency } from '../../src/shared/ewma.ts';

/**
 * Count one exchange with a target. `statusCode` is the target's status, or 0
 * when the target failed without answering (a gateway failure). `latencyUs`
 * is the time from dispatch to response head (or to the failure).
 */
export function recordExchange(
  view: TableView,
  slot: number,
  statusCode: number,
  latencyUs: number,
  nowMs: number,
): void {
  addTarget(view, slot, TARGET_REQUESTS_TOTAL, 1);
  const isGatewayFailure = statusCode === 0;
  const is5xx = statusCode >= 500;
  if (isGatewayFailure) {
    addTarget(view, slot, TARGET_FAILURES_TOTAL, 1);
    addTarget(view, slot, TARGET_CONSECUTIVE_GATEWAY_FAILURES, 1);
  } else {
    storeTarget(view, slot, TARGET_CONSECUTIVE_GATEWAY_FAILURES, 0);
    if (is5xx) addTarget(view, slot, TARGET_CONSECUTIVE_5XX, 1);
    else storeTarget(view, slot, TARGET_CONSECUTIVE_5XX, 0);
  }
  // 5xx, 429 and gateway failures count as slow for peak-EWMA (a fast error is not a fast target).
  recordLatency(view, slot, latencyUs, nowMs, isGatewayFailure || is5xx || statusCode === 429);
}
