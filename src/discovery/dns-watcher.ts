/**
 * @module src/discovery/dns-watcher
 *
 * One group's DNS name, kept resolved: when to ask (TTL within
 * minRefresh..maxRefresh, or a fixed period; backoff after failures), what
 * to keep (the last good answer, never emptied by a failure), and what to
 * report (last resolution, TTL, errors, staleness, counters). Thread: main.
 * Place in the flow: discovery manager -> **watcher** -> dns-resolve.ts ->
 * (on a changed answer) manager.onChange -> table plan -> health lifecycle.
 *
 * Timeline of one watcher (every "when" on the injected Clock, so tests
 * advance time instead of sleeping):
 *
 *   start ─ resolve ─┬─ ok:   targets = answer; next in clamp(TTL, min, max)
 *                    └─ fail: targets kept, stale; next in min x 2^(fails-1), at most max
 *
 * Bounded rate: one resolution in flight at a time, and the next one is
 * scheduled only when the previous has finished, at least minRefresh later.
 * A TTL of 0 therefore means one query (per record type) per minRefresh,
 * never a storm.
 */
import { Resolver } from 'node:dns/promises';
import type { Logger } from 'pino';
import type { DiscoveryStatus } from '../../proto/control/messages.ts';
import type { Clock, ClockTimer } from '../shared/clock.ts';
import { type DiscoveredTarget, type DnsQuery, resolveDns } from './dns-resolve.ts';
import { DNS_QUERY_TIMEOUT_MS, DNS_QUERY_TRIES } from './limits.ts';

/** The normalised `discovery.dns` block of a group. */
export interface DnsSpec extends DnsQuery {
  /** Fixed refresh period; null = follow the TTL. */
  readonly refreshMs: number | null;
  readonly minRefreshMs: number;
  readonly maxRefreshMs: number;
  /** Servers for dns.Resolver#setServers; null = the system's. */
  readonly servers: readonly string[] | null;
}

/** What a watcher shows (status page, `ferryctl targets`, /metrics): the control protocol's shape. */
export type { DiscoveryStatus };

export interface DnsWatcherOptions {
  readonly targetGroup: string;
  readonly spec: DnsSpec;
  readonly clock: Clock;
  readonly log: Logger;
  /** Called after every resolution, with whether the target set changed. */
  readonly onResolved: (watcher: DnsWatcher, isChanged: boolean) => void;
  /**
   * Targets to keep until the first good answer: the set of the watcher this
   * one replaces (its `discovery.dns` block changed), so a reload never
   * empties a group while the new name resolves or fails.
   */
  readonly seed?: readonly DiscoveredTarget[];
}

export class DnsWatcher {
  readonly targetGroup: string;
  readonly spec: DnsSpec;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly onResolved: DnsWatcherOptions['onResolved'];
  private readonly resolver: Resolver;
  /** The last good answer; null before the first. */
  private good: readonly DiscoveredTarget[] | null;
  private goodKey: string;
  private ttlS: number | null;
  private backupCount: number;
  private lastResolutionMs: number | null;
  private lastSuccessMs: number | null;
  private nextRefreshMs: number | null;
  private lastError: DiscoveryStatus['lastError'];
  private consecutiveFailures: number;
  private resolutionsTotal: number;
  private failuresTotal: number;
  private changesTotal: number;
  private timer: ClockTimer | null;
  private inFlight: Promise<void> | null;
  private isStopped: boolean;

  constructor(options: DnsWatcherOptions) {
    this.targetGroup = options.targetGroup;
    this.spec = options.spec;
    this.clock = options.clock;
    this.log = options.log;
    this.onResolved = options.onResolved;
    this.resolver = new Resolver({ timeout: DNS_QUERY_TIMEOUT_MS, tries: DNS_QUERY_TRIES });
    if (options.spec.servers !== null) this.resolver.setServers([...options.spec.servers]);
    const seed = options.seed ?? [];
    this.good = seed.length > 0 ? seed : null;
    this.goodKey = keyOf(seed);
    this.ttlS = null;
    this.backupCount = 0;
    this.lastResolutionMs = null;
    this.lastSuccessMs = null;
    this.nextRefreshMs = null;
    this.lastError = null;
    this.consecutiveFailures = 0;
    this.resolutionsTotal = 0;
    this.failuresTotal = 0;
    this.changesTotal = 0;
    this.timer = null;
    this.inFlight = null;
    this.isStopped = false;
  }

  /** The last good targets (empty before the first good answer). */
  targets(): readonly DiscoveredTarget[] {
    return this.good ?? [];
  }

  /** Resolve now (unless a resolution is in flight) and keep refreshing. Resolves when this resolution is done. */
  start(): Promise<void> {
    return this.resolveNow();
  }

  /** Stop refreshing; a resolution in flight is cancelled and reports nothing. */
  stop(): void {
    this.isStopped = true;
    if (this.timer !== null) this.clock.clearTimer(this.timer);
    this.timer = null;
    this.nextRefreshMs = null;
    this.resolver.cancel();
  }

  status(): DiscoveryStatus {
    return {
      targetGroup: this.targetGroup,
      name: this.spec.name,
      type: this.spec.type,
      servers: this.spec.servers,
      state:
        this.good === null && this.consecutiveFailures === 0
          ? 'pending'
          : this.consecutiveFailures > 0
            ? 'stale'
            : 'ok',
      isResolving: this.inFlight !== null,
      lastResolutionMs: this.lastResolutionMs,
      lastSuccessMs: this.lastSuccessMs,
      ttlS: this.ttlS,
      nextRefreshMs: this.nextRefreshMs,
      lastError: this.lastError,
      consecutiveFailures: this.consecutiveFailures,
      targetCount: this.good?.length ?? 0,
      backupCount: this.backupCount,
      resolutionsTotal: this.resolutionsTotal,
      failuresTotal: this.failuresTotal,
      changesTotal: this.changesTotal,
    };
  }

  private resolveNow(): Promise<void> {
    if (this.isStopped) return Promise.resolve();
    if (this.inFlight !== null) return this.inFlight;
    this.timer = null;
    this.nextRefreshMs = null;
    this.inFlight = this.resolve().finally(() => {
      this.inFlight = null;
    });
    return this.inFlight;
  }

  private async resolve(): Promise<void> {
    const result = await resolveDns(this.resolver, this.spec);
    if (this.isStopped) return;
    const nowMs = this.clock.nowMs();
    this.lastResolutionMs = nowMs;
    this.resolutionsTotal++;
    let isChanged = false;
    let delayMs: number;
    if (result.ok) {
      const key = keyOf(result.targets);
      isChanged = this.good === null ? result.targets.length > 0 : key !== this.goodKey;
      if (isChanged) this.changesTotal++;
      if (this.consecutiveFailures > 0) {
        this.log.info({ targetGroup: this.targetGroup, name: this.spec.name }, 'DNS discovery recovered');
      }
      this.good = result.targets;
      this.goodKey = key;
      this.ttlS = result.ttlS;
      this.backupCount = result.backupCount;
      this.lastSuccessMs = nowMs;
      this.consecutiveFailures = 0;
      delayMs = this.refreshDelayMs(result.ttlS);
    } else {
      this.failuresTotal++;
      this.consecutiveFailures++;
      this.lastError = { code: result.code, message: result.message, atMs: nowMs };
      delayMs = this.backoffMs();
      this.log.warn(
        {
          targetGroup: this.targetGroup,
          name: this.spec.name,
          code: result.code,
          keptTargets: this.good?.length ?? 0,
          retryInMs: delayMs,
        },
        'DNS discovery failed; keeping the last good targets',
      );
    }
    this.nextRefreshMs = nowMs + delayMs;
    this.timer = this.clock.setTimeout(() => {
      void this.resolveNow();
    }, delayMs);
    this.onResolved(this, isChanged);
  }

  /** After a good answer: the fixed period, or the TTL, kept within minRefresh..maxRefresh. */
  private refreshDelayMs(ttlS: number | null): number {
    const { refreshMs, minRefreshMs, maxRefreshMs } = this.spec;
    if (refreshMs !== null) return Math.max(minRefreshMs, refreshMs);
    const ttlMs = ttlS === null ? minRefreshMs : ttlS * 1000;
    return Math.min(maxRefreshMs, Math.max(minRefreshMs, ttlMs));
  }

  /** After a failure: minRefresh doubling per consecutive failure, at most maxRefresh. */
  private backoffMs(): number {
    const { minRefreshMs, maxRefreshMs } = this.spec;
    const exponent = Math.min(20, this.consecutiveFailures - 1);
    return Math.min(maxRefreshMs, minRefreshMs * 2 ** exponent);
  }
}

/** Identity of a target set: addresses and weights, in the answer's (sorted) order. */
function keyOf(targets: readonly DiscoveredTarget[]): string {
  return targets.map((t) => `${t.address}*${t.weight}*${t.zone ?? ''}`).join(',');
}
