/**
 * @module proto/control/messages
 *
 * Every control operation: its name (the `op` of a request), the shape of its
 * `args` and of its `result`. Thread: main (src/control/handlers/<op>.ts
 * serves each one) and ferryctl. Contracts only; argument validation lives
 * with each handler, which must accept exactly these shapes (the contract
 * test test/contract/control-messages.test.ts round-trips each one through
 * msgpack and through the server's validators).
 *
 * Units are in the names (`…Ms`, `…Us`); times are epoch milliseconds;
 * counters named `…Total` are since start (table counters wrap at 2^31).
 * Names follow ELB: target group, target, state, reason, deregistration.
 */

/** Every op, in the order `ferryctl --help` lists them. Append new ops; never rename one. */
export const CONTROL_OPS = [
  'targets',
  'register',
  'deregister',
  'set-weight',
  'set-attributes',
  'failover',
  'failback',
  'failover-status',
  'drain',
  'reload',
  'stats',
  'undrain',
  'explain',
] as const;
export type ControlOp = (typeof CONTROL_OPS)[number];

// === targets ===
export interface TargetsArgs {
  /** Only this group; all groups when absent. */
  readonly targetGroup?: string;
}

export interface TargetRow {
  readonly address: string;
  /** ELB state: initial | healthy | unhealthy | draining | unused | unavailable. */
  readonly state: string;
  /** ELB reason code (`Target.Timeout`), null when none. */
  readonly reason: string | null;
  readonly description: string | null;
  readonly timeInStateMs: number;
  /** Open upstream connections, all workers. */
  readonly activeConnections: number;
  /** Requests dispatched and not finished, all workers. */
  readonly inFlight: number;
  /** Response-time EWMA in microseconds; null before the first measured response. */
  readonly latencyEwmaUs: number | null;
  readonly weight: { readonly configured: number; readonly effective: number };
  readonly isEjected: boolean;
  /** While draining: epoch ms the drain began and its deadline (deregistrationDelay). */
  readonly drain: { readonly sinceMs: number; readonly deadlineMs: number } | null;
  /** Where the target came from: config (the file), control (`register`), dns. Absent from older servers. */
  readonly source?: 'config' | 'control' | 'dns';
  /** The DNS name that discovered it (source dns), else null. */
  readonly discoveredBy?: string | null;
  /** The target's zone, or null. */
  readonly zone?: string | null;
}

/**
 * A group's DNS discovery as the status page and `ferryctl targets` show it
 * (src/discovery/dns-watcher.ts keeps it). Times are epoch ms.
 */
export interface DiscoveryStatus {
  readonly targetGroup: string;
  readonly name: string;
  readonly type: 'A' | 'AAAA' | 'ANY' | 'SRV';
  /** Servers asked; null = the system resolver's. */
  readonly servers: readonly string[] | null;
  /** pending: no answer yet; ok: the last resolution succeeded; stale: it failed and the last good set is kept. */
  readonly state: 'pending' | 'ok' | 'stale';
  /** True while a resolution is in flight (at most one per group). */
  readonly isResolving: boolean;
  readonly lastResolutionMs: number | null;
  readonly lastSuccessMs: number | null;
  /** TTL of the last good answer, seconds; null when it had no records. */
  readonly ttlS: number | null;
  readonly nextRefreshMs: number | null;
  readonly lastError: { readonly code: string; readonly message: string; readonly atMs: number } | null;
  readonly consecutiveFailures: number;
  readonly targetCount: number;
  /** SRV records of a higher priority value, not registered (docs/discovery.md). */
  readonly backupCount: number;
  readonly resolutionsTotal: number;
  readonly failuresTotal: number;
  /** Answers that changed the set of targets or their weights. */
  readonly changesTotal: number;
}

export interface TargetGroupRows {
  readonly name: string;
  /** The group whose targets take this group's traffic now: itself, or its standby after failover. */
  readonly routeTo: string;
  readonly algorithm: string;
  readonly targets: readonly TargetRow[];
  /** DNS discovery of the group; null (or absent, from older servers) when it has none. */
  readonly discovery?: DiscoveryStatus | null;
  /** Zone counters: picks sent out of Ferry's zone by `crossZone: disabled` and by `zoneAware` spill-over. */
  readonly zones?: { readonly crossZoneTotal: number; readonly spillTotal: number } | null;
}

export interface TargetsResult {
  readonly atMs: number;
  readonly targetGroups: readonly TargetGroupRows[];
}

// === register ===
export interface RegisterArgs {
  readonly targetGroup: string;
  /** `host:port` with an optional weight (default 1, as in config). */
  readonly targets: readonly { readonly address: string; readonly weight?: number }[];
}

export interface RegisterResult {
  readonly targetGroup: string;
  readonly registered: readonly {
    readonly address: string;
    readonly weight: number;
    readonly state: string;
  }[];
}

// === deregister ===
export interface DeregisterArgs {
  readonly targetGroup: string;
  readonly addresses: readonly string[];
}

export interface DeregisterResult {
  readonly targetGroup: string;
  /** Each target now draining: requests in flight to it, and when its drain ends at the latest. */
  readonly draining: readonly {
    readonly address: string;
    readonly inFlight: number;
    readonly deadlineMs: number;
  }[];
}

// === set-weight ===
export interface SetWeightArgs {
  readonly targetGroup: string;
  readonly address: string;
  /** 0..1000 (WEIGHT_MAX); 0 takes no new traffic. */
  readonly weight: number;
}

export interface SetWeightResult {
  readonly targetGroup: string;
  readonly address: string;
  readonly previous: number;
  readonly weight: { readonly configured: number; readonly effective: number };
}

// === set-attributes ===
export interface SetAttributesArgs {
  readonly targetGroup: string;
  /**
   * Target-group keys as in the config, dotted for nested ones
   * (`algorithm`, `deregistrationDelay`, `slowStart`, `hash.key`,
   * `failOpen`, `failover.after`, `stickiness` …), each value as YAML would
   * read it (`30s`, `true`, `least_connections`). `on`/`off` mean true/false.
   */
  readonly attributes: Readonly<Record<string, string>>;
}

export interface SetAttributesResult {
  readonly targetGroup: string;
  /** Each attribute as it was and as it is now (values as written in config). */
  readonly changed: readonly { readonly key: string; readonly from: unknown; readonly to: unknown }[];
}

// === failover / failback ===
export interface FailoverArgs {
  readonly targetGroup: string;
  /** Default: the group's `failover.standby`. */
  readonly to?: string;
  /** Switch even when the standby has no routable target (its requests then fail open or get 503). */
  readonly force?: boolean;
}

export interface FailbackArgs {
  readonly targetGroup: string;
  /** Switch back even when the group's own targets have no routable one. */
  readonly force?: boolean;
}

/** What a failover or failback did. The reply is sent only once every live worker has observed it. */
export interface SwitchResult {
  readonly targetGroup: string;
  readonly from: string;
  readonly to: string;
  /** False when the group already routed there (nothing was written). */
  readonly isChanged: boolean;
  /** HEADER_GENERATION that carried the switch. */
  readonly generation: number;
  /** Microseconds from the store to the moment every live worker had observed it. */
  readonly observedUs: number;
  /** Live workers that acknowledged. */
  readonly workerCount: number;
}

// === failover-status ===
export interface FailoverStatusArgs {
  readonly targetGroup?: string;
}

export interface FailoverGroupStatus {
  readonly targetGroup: string;
  /** `failover.standby` from config, or null. */
  readonly standby: string | null;
  readonly routeTo: string;
  /** primary: routes to itself; manual: switched by a command; auto: switched because the primary had no healthy target. */
  readonly mode: 'primary' | 'manual' | 'auto';
  readonly sinceMs: number;
  readonly afterMs: number | null;
  readonly autoFailback: boolean;
  readonly isPrimaryRoutable: boolean;
  readonly isStandbyRoutable: boolean | null;
  /** Epoch ms since the primary has had no routable target, or null. */
  readonly unroutableSinceMs: number | null;
  readonly switchesTotal: number;
  readonly lastSwitch: FailoverSwitchRecord | null;
}

export interface FailoverSwitchRecord {
  readonly atMs: number;
  readonly from: string;
  readonly to: string;
  /** command (failover/failback), auto-failover, auto-failback, reload (a standby was removed). */
  readonly trigger: 'command' | 'auto-failover' | 'auto-failback' | 'reload';
  readonly observedUs: number;
}

export interface FailoverStatusResult {
  readonly groups: readonly FailoverGroupStatus[];
  readonly switchesTotal: number;
  readonly autoFailoversTotal: number;
  readonly autoFailbacksTotal: number;
}

// === drain ===
export interface DrainArgs {
  /** Longest wait for in-flight requests; default the config's shutdownGracePeriod. */
  readonly graceMs?: number;
  /** How long to keep serving with /readyz at 503 before listeners close; default the config's drainDelay. */
  readonly delayMs?: number;
}

export interface DrainResult {
  /** From the drain's start (including drainDelayMs) to its end. */
  readonly durationMs: number;
  /** How long Ferry kept serving, /readyz at 503, before it stopped accepting (config drainDelay). */
  readonly drainDelayMs: number;
  /** Downstream connections and upstream requests open when the drain began. */
  readonly connectionsAtStart: number;
  readonly inFlightAtStart: number;
  /** Requests still in flight when it ended (0 when every worker finished within the grace period). */
  readonly inFlightAtEnd: number;
  readonly isComplete: boolean;
  /** True when `undrain` ended it during the drain delay: Ferry serves again (the counts are 0). */
  readonly isCancelled: boolean;
}

// === undrain ===
export type UndrainArgs = Readonly<Record<string, never>>;

export interface UndrainResult {
  /** `undrained`: serving and ready again; `not-draining`: nothing to undo. */
  readonly outcome: 'undrained' | 'not-draining';
}

// === reload ===
export type ReloadArgs = Readonly<Record<string, never>>;

export interface ReloadDiff {
  readonly targetGroupsAdded: readonly string[];
  readonly targetGroupsRemoved: readonly string[];
  /** Groups whose attributes (not targets) changed. */
  readonly targetGroupsChanged: readonly string[];
  readonly targetsAdded: readonly { readonly targetGroup: string; readonly address: string }[];
  readonly targetsRemoved: readonly { readonly targetGroup: string; readonly address: string }[];
  readonly weightsChanged: readonly {
    readonly targetGroup: string;
    readonly address: string;
    readonly from: number;
    readonly to: number;
  }[];
}

export interface ReloadResult {
  readonly source: string;
  readonly isChanged: boolean;
  readonly diff: ReloadDiff;
}

// === stats ===
export type StatsArgs = Readonly<Record<string, never>>;

export interface StatsResult {
  readonly atMs: number;
  readonly uptimeMs: number;
  readonly config: string;
  readonly generation: number;
  readonly workerRestartsTotal: number;
  readonly workers: readonly {
    readonly index: number;
    readonly isLive: boolean;
    readonly activeConnections: number;
    readonly requestsTotal: number;
    readonly observedGeneration: number;
  }[];
  readonly targetGroups: readonly {
    readonly name: string;
    readonly routeTo: string;
    readonly failOpenRequestsTotal: number;
    readonly noTargetRequestsTotal: number;
  }[];
  readonly targets: readonly {
    readonly targetGroup: string;
    readonly address: string;
    readonly requestsTotal: number;
    readonly failuresTotal: number;
    readonly inFlight: number;
    readonly activeConnections: number;
  }[];
  readonly failover: {
    readonly switchesTotal: number;
    readonly autoFailoversTotal: number;
    readonly autoFailbacksTotal: number;
  };
  readonly control: {
    readonly connectionsOpen: number;
    readonly connectionsTotal: number;
    readonly connectionsRefusedTotal: number;
    readonly requestsTotal: number;
    readonly authFailuresTotal: number;
    readonly frameErrorsTotal: number;
  };
}

// === explain ===
export interface ExplainArgs {
  readonly targetGroup: string;
  /** The target's `host:port` as registered. */
  readonly address: string;
}

/**
 * Why a target is (not) taking traffic: `because` lists stable codes, most
 * important first (EXPLAIN_CODES); `summary` says the same in one sentence.
 */
export const EXPLAIN_CODES = [
  /** Healthy and picked by its group's algorithm. */
  'healthy',
  /** Checks are off for its group: routable without checking (ELB `unavailable`). */
  'health_checks_disabled',
  /** Registered, no check answered yet. */
  'registration_in_progress',
  /** Checked, not yet healthyThreshold passes in a row. */
  'initial_health_checking',
  /** unhealthyThreshold checks failed in a row (reason: Timeout, ResponseCodeMismatch, FailedHealthChecks). */
  'failed_health_checks',
  /** Outlier detection took it out until `outlier.ejectedUntilMs`. */
  'outlier_ejected',
  /** Deregistered: finishing in-flight requests until `drain.deadlineMs`. */
  'draining',
  /** No listener forwards to its group (ELB Target.NotInUse). */
  'not_in_use',
  /** Its effective weight is 0 (set-weight 0): no new picks. */
  'weight_zero',
  /** Newly healthy: its weight ramps up until `slowStart.untilMs`. */
  'slow_start',
  /** Its group failed over: the group's traffic goes to `failedOverTo`. */
  'group_failed_over',
  /** No target of its group is healthy and failOpen is on: traffic goes to every target, this one too. */
  'fail_open',
] as const;
export type ExplainCode = (typeof EXPLAIN_CODES)[number];

export interface ExplainCheck {
  readonly atMs: number;
  readonly durationMs: number;
  readonly statusCode: number | null;
  /** pass | status | timeout | error */
  readonly outcome: string;
  readonly reason: string | null;
  readonly description: string | null;
}

export interface ExplainResult {
  readonly atMs: number;
  readonly targetGroup: string;
  readonly address: string;
  readonly slot: number;
  readonly algorithm: string;
  /** True when the target takes new requests or connections now. */
  readonly isInRotation: boolean;
  readonly because: readonly ExplainCode[];
  readonly summary: string;
  readonly state: string;
  readonly reason: string | null;
  readonly description: string | null;
  readonly stateSinceMs: number;
  readonly healthCheck: {
    readonly enabled: boolean;
    readonly protocol: string;
    /** A port number, or `traffic-port`. */
    readonly port: number | string;
    readonly path: string;
    readonly intervalMs: number;
    readonly timeoutMs: number;
    readonly healthyThreshold: number;
    readonly unhealthyThreshold: number;
    readonly matcher: string;
    readonly consecutiveSuccesses: number;
    readonly consecutiveFailures: number;
    /** Checks by outcome since registration (as `ferry_target_health_checks_total`). */
    readonly outcomesTotal: {
      readonly pass: number;
      readonly status: number;
      readonly timeout: number;
      readonly error: number;
    };
  };
  /** Newest first, up to 10. */
  readonly recentChecks: readonly ExplainCheck[];
  readonly outlier: {
    readonly isEjected: boolean;
    readonly ejectedUntilMs: number | null;
    /** Times ejected, decaying: the next ejection lasts baseEjectionTime × (multiplier + 1), capped. */
    readonly multiplier: number;
    readonly ejectionsTotal: number;
    readonly consecutive5xx: number;
    readonly consecutiveGatewayFailures: number;
    /** Newest first, up to 5: cause (consecutive5xx | consecutiveGatewayFailures), count and backoff. */
    readonly ejections: readonly {
      readonly atMs: number;
      readonly trigger: string;
      readonly count: number;
      readonly multiplier: number;
      readonly durationMs: number;
    }[];
  };
  readonly weight: { readonly configured: number; readonly effective: number };
  readonly slowStart: { readonly sinceMs: number; readonly untilMs: number; readonly percent: number } | null;
  readonly drain: { readonly sinceMs: number; readonly deadlineMs: number; readonly inFlight: number } | null;
  readonly load: {
    readonly inFlight: number;
    readonly activeConnections: number;
    readonly latencyEwmaUs: number | null;
  };
  /** The group taking this group's traffic when it failed over; null when it serves itself. */
  readonly failedOverTo: string | null;
  /** Listener rules and default actions whose forward reaches this target's group (directly or as a failover standby). */
  readonly routes: readonly {
    readonly listener: string;
    /** The rule's priority, or null for the listener's default action. */
    readonly rulePriority: number | null;
    /** The group the action names (another group when this one is its standby). */
    readonly targetGroup: string;
  }[];
  /** Its share of its group's requests over the last `windowMs` (null when Ferry keeps no history). */
  readonly traffic: {
    readonly windowMs: number;
    readonly requests: number;
    readonly groupRequests: number;
    /** 0..100, one decimal; null when the group had no requests. */
    readonly sharePercent: number | null;
  } | null;
  /** Newest first, up to 10. */
  readonly transitions: readonly {
    readonly atMs: number;
    readonly from: string | null;
    readonly to: string;
    readonly reason: string | null;
  }[];
}

/** Args and result of each op, for typed clients and handlers. */
export interface ControlOpShapes {
  targets: { args: TargetsArgs; result: TargetsResult };
  register: { args: RegisterArgs; result: RegisterResult };
  deregister: { args: DeregisterArgs; result: DeregisterResult };
  'set-weight': { args: SetWeightArgs; result: SetWeightResult };
  'set-attributes': { args: SetAttributesArgs; result: SetAttributesResult };
  failover: { args: FailoverArgs; result: SwitchResult };
  failback: { args: FailbackArgs; result: SwitchResult };
  'failover-status': { args: FailoverStatusArgs; result: FailoverStatusResult };
  drain: { args: DrainArgs; result: DrainResult };
  reload: { args: ReloadArgs; result: ReloadResult };
  stats: { args: StatsArgs; result: StatsResult };
  undrain: { args: UndrainArgs; result: UndrainResult };
  explain: { args: ExplainArgs; result: ExplainResult };
}
