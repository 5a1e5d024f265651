/**
 * @module proto/thread-messages
 *
 * What main and workers say to each other by postMessage. Thread: both.
 * None of this is on the hot path: topology goes to workers when config is
 * applied; everything per-request lives in the shared table.
 *
 * Topology is the workers' read-only picture of the config: which listeners
 * to bind, which group each forwards to, and which slot holds which target.
 * Live state (health, weights, counters, failover) is in the table.
 */

/** Hash key source for the `hash` algorithm. */
export interface TopologyHashKey {
  readonly kind: 'source_ip' | 'header' | 'cookie' | 'query' | 'path';
  /** Header/cookie/query name (lower-cased for headers); '' for source_ip and path. */
  readonly name: string;
}

export interface TopologyTarget {
  readonly slot: number;
  /** Stable identity: the configured `host:port`. */
  readonly id: string;
  readonly host: string;
  readonly port: number;
}

export interface TopologyGroup {
  readonly groupIndex: number;
  readonly name: string;
  readonly algorithm: string;
  readonly hashKey: TopologyHashKey;
  readonly members: readonly TopologyTarget[];
  readonly connectTimeoutMs: number;
  readonly responseTimeoutMs: number;
  /**
   * `hash` groups: the Maglev lookup table main built in its piscina pool, as
   * member indices (into `members`) in a SharedArrayBuffer, for exactly these
   * member weights; null when not (yet) built: the worker then builds its own.
   */
  readonly hashTable: { readonly buffer: SharedArrayBuffer; readonly weights: readonly number[] } | null;
}

export interface TopologyListener {
  readonly name: string;
  readonly protocol: 'HTTP' | 'TCP';
  readonly host: string;
  readonly port: number;
  /** Group index of the default forward action. */
  readonly defaultGroupIndex: number;
  /** Add `x-ferry-target: host:port` to responses. */
  readonly isTargetHeaderOn: boolean;
}

export interface Topology {
  /** HEADER_GENERATION value this topology was published with. */
  readonly generation: number;
  readonly groups: readonly TopologyGroup[];
  readonly listeners: readonly TopologyListener[];
}

/** workerData handed to each worker at spawn. */
export interface WorkerBootData {
  readonly tableBuffer: SharedArrayBuffer;
  readonly workerIndex: number;
  readonly topology: Topology;
  readonly logLevel: string;
  readonly shutdownGraceMs: number;
}

export type MainToWorker =
  | { readonly type: 'topology'; readonly topology: Topology }
  | { readonly type: 'drain' };

export type WorkerToMain =
  | { readonly type: 'ready' }
  | { readonly type: 'listen-failed'; readonly code: string; readonly message: string }
  | { readonly type: 'drained' };
