/**
 * @module src/telemetry/history
 *
 * Per-second history of request rates and response times, for the status
 * page: what a series' totals moved between two history ticks, divided by
 * the time between them. Thread: main. Place in the flow: collector poll
 * (one tick per METRICS_POLL_MS) -> **history** -> rings -> status.ts.
 *
 * Why ticks and not polls: a scrape polls too (so `/metrics` is current),
 * but only the timer's poll is a tick; rates are per tick, whatever scrapes
 * polled in between, and the history stays at one point per second.
 *
 * Each series (series.ts) carries one of the history records below; they
 * hold the totals at the last tick and the rings of points.
 */
import { Ring } from './ring.ts';

/** Per-second history points kept per listener, group and target (5 minutes). */
export const HISTORY_POINTS = 300;

/** A request rate: listeners and targets. */
export interface RateHistory {
  readonly requestRate: Ring;
  /** Requests per second over the last tick. */
  lastRate: number;
  /** The requests total at the last tick. */
  tickRequests: number;
}

/** A target's rate and mean response time. */
export interface TargetHistory extends RateHistory {
  readonly latencyMs: Ring;
  /** Mean response time (ms) over the last tick; null when nothing was answered. */
  lastLatencyMs: number | null;
  /** Response-time sum (100 µs units) and response count at the last tick. */
  tickSum: number;
  tickCount: number;
}

/** A group's rate: the sum of its targets' rates at the same tick. */
export interface GroupHistory {
  readonly requestRate: Ring;
  lastRate: number;
}

export function newRateHistory(): RateHistory {
  return { requestRate: new Ring(HISTORY_POINTS), lastRate: 0, tickRequests: 0 };
}

export function newTargetHistory(): TargetHistory {
  return {
    requestRate: new Ring(HISTORY_POINTS),
    latencyMs: new Ring(HISTORY_POINTS),
    lastRate: 0,
    lastLatencyMs: null,
    tickRequests: 0,
    tickSum: 0,
    tickCount: 0,
  };
}

export function newGroupHistory(): GroupHistory {
  return { requestRate: new Ring(HISTORY_POINTS), lastRate: 0 };
}

/** Record a listener's rate for one tick of `elapsedS` seconds. */
export function tickRate(history: RateHistory, requestsTotal: number, elapsedS: number): void {
  history.lastRate = (requestsTotal - history.tickRequests) / elapsedS;
  history.tickRequests = requestsTotal;
  history.requestRate.push(history.lastRate);
}

/**
 * Record a target's rate and mean response time for one tick; returns the
 * rate, which the caller adds into the group's. `answeredTotal` is the
 * response-time count (histogram buckets summed), `sum100usTotal` their sum.
 */
export function tickTarget(
  history: TargetHistory,
  requestsTotal: number,
  answeredTotal: number,
  sum100usTotal: number,
  elapsedS: number,
): number {
  const rate = (requestsTotal - history.tickRequests) / elapsedS;
  const answered = answeredTotal - history.tickCount;
  history.lastRate = rate;
  history.lastLatencyMs = answered > 0 ? ((sum100usTotal - history.tickSum) * 0.1) / answered : null;
  history.tickRequests = requestsTotal;
  history.tickSum = sum100usTotal;
  history.tickCount = answeredTotal;
  history.requestRate.push(rate);
  history.latencyMs.push(history.lastLatencyMs ?? 0);
  return rate;
}

/** Record a group's rate for one tick: the sum of its targets' `tickTarget` results. */
export function tickGroup(history: GroupHistory, rate: number): void {
  history.lastRate = rate;
  history.requestRate.push(rate);
}
