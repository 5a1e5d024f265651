/**
 * @module src/health/manager/scheduler
 *
 * When active checks run: one timer per checked target on the injected
 * clock, at most HEALTH_CHECKS_IN_FLIGHT_MAX checks at once (the rest wait in
 * a FIFO queue), and jitter so targets started together drift apart: a
 * target's next check is due interval × (1 ± HEALTH_CHECK_JITTER_FRACTION)
 * after the start of its last one, the first follow-up after 0.5..1
 * interval. Also the "first round" a caller may wait for at start. Thread:
 * main.
 *
 *   start / enqueue --> (cap free?) run --> checker.check (real I/O, own timeout)
 *                                       --> onResult(record, result, startedMs)
 *                                       --> timer(next due) --> enqueue
 *                   --> (cap full)  queue --> run when a check ends
 *
 * What a result means is not decided here: `onResult` (the façade) judges it.
 */
import type { HealthCheckConfig } from '../../config/index.ts';
import type { CheckResult, HealthChecker } from '../checker.ts';
import { createHttpChecker } from '../http-checker.ts';
import { HEALTH_CHECK_JITTER_FRACTION, HEALTH_CHECKS_IN_FLIGHT_MAX } from '../limits.ts';
import { createTcpChecker } from '../tcp-checker.ts';
import type { HealthContext } from './context.ts';
import { isCheckedState, type TargetRecord } from './registry.ts';

/** Interval used when a record's group has no policy any more (its checks are about to stop). */
const FALLBACK_INTERVAL_MS = 30_000;

export interface CheckSchedulerOptions {
  /** Uniform [0, 1) source for jitter. */
  readonly random: () => number;
  /** Called with each result of a check that still counts (not stopped, restarted or forgotten meanwhile). */
  readonly onResult: (record: TargetRecord, result: CheckResult, startedMs: number) => void;
}

export class CheckScheduler {
  private readonly context: HealthContext;
  private readonly random: () => number;
  private readonly onResult: CheckSchedulerOptions['onResult'];
  private readonly checkers: Map<string, HealthChecker>;
  private readonly abort: AbortController;
  private readonly queue: TargetRecord[];
  private checksInFlight: number;
  private isRunning: boolean;
  private readonly firstRound: Set<TargetRecord>;
  private resolveFirstRound: (() => void) | null;

  constructor(context: HealthContext, options: CheckSchedulerOptions) {
    this.context = context;
    this.random = options.random;
    this.onResult = options.onResult;
    this.checkers = new Map();
    this.abort = new AbortController();
    this.queue = [];
    this.checksInFlight = 0;
    this.isRunning = false;
    this.firstRound = new Set();
    this.resolveFirstRound = null;
  }

  /** Build the checkers of the policies just applied (a check in flight keeps its old one). */
  configure(): void {
    this.checkers.clear();
    for (const policy of this.context.policies.values())
      this.checkers.set(policy.name, createChecker(policy.healthCheck));
  }

  /** True when the record's group is in use with checks on and its state is one checks move. */
  isChecked(record: TargetRecord): boolean {
    const policy = this.context.policies.get(record.target.groupName);
    return policy?.isInUse === true && policy.healthCheck.enabled && isCheckedState(record.state);
  }

  /** Start checking every checked record; resolves once each has had its first check (or stopped). */
  start(): Promise<void> {
    this.isRunning = true;
    for (const record of this.context.registry.all()) {
      if (!this.isChecked(record)) continue;
      this.firstRound.add(record);
      this.enqueue(record);
    }
    if (this.firstRound.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.resolveFirstRound = resolve;
    });
  }

  /** Stop every timer and the queue, and abort checks in flight; their results are dropped. */
  stop(): void {
    this.isRunning = false;
    for (const record of this.context.registry.all()) this.stopChecks(record);
    this.queue.length = 0;
    this.abort.abort();
    this.settleFirstRound(null);
  }

  /** Health checks running right now (at most HEALTH_CHECKS_IN_FLIGHT_MAX), and those waiting their turn. */
  load(): { readonly running: number; readonly queued: number } {
    return { running: this.checksInFlight, queued: this.queue.length };
  }

  /** Check the record now (or as soon as the cap allows), if it is checked and checking runs. */
  enqueue(record: TargetRecord): void {
    if (!this.isRunning || record.schedule.isQueued || !this.isChecked(record)) return;
    if (this.checksInFlight >= HEALTH_CHECKS_IN_FLIGHT_MAX) {
      record.schedule.isQueued = true;
      this.queue.push(record);
      return;
    }
    void this.run(record);
  }

  /** Drop the record's timer, queue place and any result in flight. */
  stopChecks(record: TargetRecord): void {
    const schedule = record.schedule;
    this.settleFirstRound(record);
    if (schedule.timer !== null) this.context.clock.clearTimer(schedule.timer);
    schedule.timer = null;
    schedule.epoch++;
    if (schedule.isQueued) {
      const index = this.queue.indexOf(record);
      if (index >= 0) this.queue.splice(index, 1);
      schedule.isQueued = false;
    }
  }

  private schedule(record: TargetRecord, delayMs: number): void {
    const { clock } = this.context;
    if (record.schedule.timer !== null) clock.clearTimer(record.schedule.timer);
    record.schedule.timer = clock.setTimeout(() => {
      record.schedule.timer = null;
      this.enqueue(record);
    }, delayMs);
  }

  private async run(record: TargetRecord): Promise<void> {
    const { clock, registry, policies } = this.context;
    const checker = this.checkers.get(record.target.groupName);
    if (checker === undefined) return;
    const epoch = record.schedule.epoch;
    const startedMs = clock.nowMs();
    this.checksInFlight++;
    let result: CheckResult;
    try {
      result = await checker.check({ host: record.target.host, port: record.target.port }, this.abort.signal);
    } finally {
      this.checksInFlight--;
      this.startQueued();
    }
    if (!this.isRunning || !registry.isCurrent(record) || record.schedule.epoch !== epoch) return;
    this.onResult(record, result, startedMs);
    this.settleFirstRound(record);
    if (!this.isChecked(record)) return;
    const intervalMs = policies.get(record.target.groupName)?.healthCheck.intervalMs ?? FALLBACK_INTERVAL_MS;
    const factor =
      record.checksTotal === 1
        ? 0.5 + 0.5 * this.random()
        : 1 - HEALTH_CHECK_JITTER_FRACTION + 2 * HEALTH_CHECK_JITTER_FRACTION * this.random();
    this.schedule(record, Math.max(0, Math.round(intervalMs * factor) - (clock.nowMs() - startedMs)));
  }

  private startQueued(): void {
    while (this.checksInFlight < HEALTH_CHECKS_IN_FLIGHT_MAX && this.queue.length > 0) {
      const next = this.queue.shift()!;
      next.schedule.isQueued = false;
      if (this.isRunning && this.isChecked(next)) void this.run(next);
    }
  }

  private settleFirstRound(record: TargetRecord | null): void {
    if (record !== null) this.firstRound.delete(record);
    else this.firstRound.clear();
    if (this.firstRound.size === 0 && this.resolveFirstRound !== null) {
      const resolve = this.resolveFirstRound;
      this.resolveFirstRound = null;
      resolve();
    }
  }
}

/**
 * The checker for a group's check config. Its timeout is real time on
 * purpose: it bounds real I/O (a socket that never answers), which no
 * injected clock can speed up.
 */
function createChecker(config: HealthCheckConfig): HealthChecker {
  if (config.protocol === 'TCP') return createTcpChecker({ port: config.port, timeoutMs: config.timeoutMs });
  return createHttpChecker({
    protocol: config.protocol,
    port: config.port,
    path: config.path,
    timeoutMs: config.timeoutMs,
    matcher: config.matcher,
  });
}
