/**
 * @module workers/record
 *
 * The **record** phase: after each upstream exchange, count it into the shared
 * table (requests, consecutive 5xx and gateway failures for outlier detection,
 * the target's status class and response-time histogram for `/metrics`) and
 * feed the latency estimators the response-time pickers read. Thread:
 * worker. Place in the flow: finish -> **record**.
 *
 * Only Atomics on the target's own rows: no messages, nothing allocated.
 * Per-request observation beyond counters (access-log line, spans) lives in
 * request-record.ts and is built only while someone listens (H4).
 */
import {
  addResponseTime,
  addStats,
  addTarget,
  STATS_2XX_TOTAL,
  storeTarget,
  TARGET_CONSECUTIVE_5XX,
  TARGET_CONSECUTIVE_GATEWAY_FAILURES,
  TARGET_FAILURES_TOTAL,
  TARGET_REQUESTS_TOTAL,
  type TableView,
} from '../../proto/table-layout.ts';
import { recordLatency } from '../../src/shared/ewma.ts';

export { Observer } from './observer.ts';
export { RequestRecord } from './request-record.ts';
export { TcpRecord } from './tcp-record.ts';

/** `statusCode` for an exchange that failed before any answer (a gateway failure). */
export const RECORD_STATUS_GATEWAY_FAILURE = 0;
/** `statusCode` for a TCP connection that was established: no HTTP status, not a failure. */
export const RECORD_STATUS_TCP_CONNECTED = 1;

/**
 * Count one exchange with a target. `statusCode` is the target's HTTP status,
 * RECORD_STATUS_GATEWAY_FAILURE when the target failed without answering, or
 * RECORD_STATUS_TCP_CONNECTED for a layer-4 connection. `latencyUs` is the
 * time from dispatch to response head (or to the failure, or to connected).
 */
export function recordExchange(
  view: TableView,
  slot: number,
  statusCode: number,
  latencyUs: number,
  nowMs: number,
): void {
  addTarget(view, slot, TARGET_REQUESTS_TOTAL, 1);
  const isGatewayFailure = statusCode === RECORD_STATUS_GATEWAY_FAILURE;
  const is5xx = statusCode >= 500;
  if (isGatewayFailure) {
    addTarget(view, slot, TARGET_FAILURES_TOTAL, 1);
    addTarget(view, slot, TARGET_CONSECUTIVE_GATEWAY_FAILURES, 1);
  } else {
    storeTarget(view, slot, TARGET_CONSECUTIVE_GATEWAY_FAILURES, 0);
    if (is5xx) addTarget(view, slot, TARGET_CONSECUTIVE_5XX, 1);
    else storeTarget(view, slot, TARGET_CONSECUTIVE_5XX, 0);
  }
  if (statusCode >= 100) {
    // HTTP only: an answer's time goes into the histogram (ELB TargetResponseTime), a final
    // status into its class (HTTPCode_Target_2XX..5XX; STATS_2XX..5XX are consecutive cells).
    addResponseTime(view, slot, latencyUs);
    if (statusCode >= 200 && statusCode < 600)
      addStats(view, slot, STATS_2XX_TOTAL + ((statusCode / 100) | 0) - 2, 1);
  }
  // 5xx, 429 and gateway failures count as slow for peak-EWMA (a fast error is not a fast target).
  recordLatency(view, slot, latencyUs, nowMs, isGatewayFailure || is5xx || statusCode === 429);
}
