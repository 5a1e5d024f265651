/**
 * @module src/discovery/manager
 *
 * Every group's DNS discovery: one DnsWatcher per group with a
 * `discovery.dns` block, kept across reloads while the block is unchanged.
 * Thread: main. Place in the flow:
 *
 *   config -> **discovery** (watchers) -- changed answer --> onChange
 *   main: planFromConfig(config, discovered()) -> health.apply (the same
 *         path as a reload or `ferryctl register`/`deregister`)
 *
 * So a discovered target has exactly a registered target's lifecycle:
 * `initial` -> health checks -> `healthy`; one that leaves DNS drains over
 * its group's deregistrationDelay. A resolution that fails changes nothing
 * but the status (src/discovery/dns-resolve.ts says what a failure is).
 */
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { ConfigSnapshot } from '../config/index.ts';
import { type Clock, REAL_CLOCK } from '../shared/clock.ts';
import type { DiscoveredTargets } from '../table/index.ts';
import { type DiscoveryStatus, type DnsSpec, DnsWatcher } from './dns-watcher.ts';

export interface DiscoveryEvents {
  /** After every resolution (tests wait on it instead of sleeping). */
  resolution: [status: DiscoveryStatus];
}

export interface DiscoveryManagerOptions {
  readonly log: Logger;
  /** When to resolve again (TTL, backoff). Default REAL_CLOCK; tests advance a ManualClock. */
  readonly clock?: Clock;
  /** Called when some group's discovered targets changed; main re-applies the plan. */
  readonly onChange: () => void;
}

export class DiscoveryManager extends EventEmitter<DiscoveryEvents> {
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly onChange: () => void;
  private readonly watchers: Map<string, DnsWatcher>;
  private isStopped: boolean;

  constructor(options: DiscoveryManagerOptions) {
    super();
    this.log = options.log;
    this.clock = options.clock ?? REAL_CLOCK;
    this.onChange = options.onChange;
    this.watchers = new Map();
    this.isStopped = false;
  }

  /**
   * Watch the groups of `snapshot`: new or changed `discovery.dns` blocks
   * get a new watcher (resolved at once), removed ones stop (their targets
   * leave the plan and drain), unchanged ones keep their state. Resolves when
   * every new watcher has finished its first resolution (each bounded by the
   * resolver's timeout x tries x servers). Does not call onChange: the
   * caller applies the plan after this.
   */
  async apply(snapshot: ConfigSnapshot): Promise<void> {
    if (this.isStopped) return;
    const wanted = new Map<string, DnsSpec>();
    for (const group of snapshot.targetGroups)
      if (group.discovery !== null) wanted.set(group.name, group.discovery);
    const replaced = new Map<string, readonly DiscoveredTarget[]>();
    for (const [name, watcher] of this.watchers) {
      const spec = wanted.get(name);
      if (spec === undefined || JSON.stringify(spec) !== JSON.stringify(watcher.spec)) {
        watcher.stop();
        this.watchers.delete(name);
        if (spec !== undefined) replaced.set(name, watcher.targets());
      }
    }
    const started: Promise<void>[] = [];
    for (const [name, spec] of wanted) {
      if (this.watchers.has(name)) continue;
      const watcher = new DnsWatcher({
        targetGroup: name,
        spec,
        clock: this.clock,
        log: this.log,
        onResolved: (resolved, isChanged) => this.resolved(resolved, isChanged),
        seed: replaced.get(name) ?? [],
      });
      this.watchers.set(name, watcher);
      this.log.info(
        { targetGroup: name, name: spec.name, type: spec.type, servers: spec.servers ?? 'system' },
        'DNS discovery: watching',
      );
      started.push(watcher.start());
    }
    await Promise.all(started);
  }

  /** Discovered targets by group (the last good answer of each watcher). */
  discovered(): DiscoveredTargets {
    const byGroup = new Map<string, readonly DiscoveredTarget[]>();
    for (const [name, watcher] of this.watchers) byGroup.set(name, watcher.targets());
    return byGroup;
  }

  /** Every watcher's status, by group name. */
  status(): ReadonlyMap<string, DiscoveryStatus> {
    const byGroup = new Map<string, DiscoveryStatus>();
    for (const [name, watcher] of this.watchers) byGroup.set(name, watcher.status());
    return byGroup;
  }

  stop(): void {
    this.isStopped = true;
    for (const watcher of this.watchers.values()) watcher.stop();
    this.watchers.clear();
  }

  private resolved(watcher: DnsWatcher, isChanged: boolean): void {
    if (this.watchers.get(watcher.targetGroup) !== watcher) return;
    if (isChanged) {
      this.log.info(
        {
          targetGroup: watcher.targetGroup,
          name: watcher.spec.name,
          targets: watcher.targets().map((t) => t.address),
        },
        'DNS discovery: targets changed',
      );
      this.onChange();
    }
    this.emit('resolution', watcher.status());
  }
}

type DiscoveredTarget = ReturnType<DnsWatcher['targets']>[number];
