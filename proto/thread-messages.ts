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
  /** TLS to the targets (`protocol: HTTPS`); null for plain HTTP (and TCP). */
  readonly upstreamTls: TopologyUpstreamTls | null;
}

/** One certificate of an HTTPS listener: absolute PEM file paths (resolved by main against the config folder). */
export interface TopologyCertificate {
  readonly certPath: string;
  readonly keyPath: string;
}

/**
 * TLS termination settings of an HTTPS listener. Paths only: each worker
 * reads the PEM files itself when it binds the listener and again when they
 * change (workers/tls), so a worker restarted later reads the current files,
 * and no private key crosses threads. Main has already checked at config time
 * that every file is readable and every key matches its certificate.
 */
export interface TopologyListenerTls {
  /** [0] is the default certificate (clients without SNI, or whose name matches none). */
  readonly certificates: readonly TopologyCertificate[];
  /** A name in proto/tls-policies.ts. */
  readonly sslPolicy: string;
  /** CA bundle client certificates must chain to (mTLS, `mutualAuthentication: verify`); null = none asked. */
  readonly clientTrustStorePath: string | null;
}

/** TLS from Ferry to the targets of a group (`protocol: HTTPS`); paths absolute, read by each worker. */
export interface TopologyUpstreamTls {
  /** CA bundle the target's certificate must chain to; null = Node's bundled public CAs. */
  readonly caPath: string | null;
  /** SNI and the name verified in the target's certificate; null = the target's host when it is a name. */
  readonly serverName: string | null;
  /** Client certificate and key Ferry presents to targets (mTLS); both or neither. */
  readonly certPath: string | null;
  readonly keyPath: string | null;
  /** False only when the config turns verification off (`tls.verify: false`). */
  readonly isVerifyOn: boolean;
}

export interface TopologyListener {
  readonly name: string;
  readonly protocol: 'HTTP' | 'HTTPS' | 'TCP';
  readonly host: string;
  readonly port: number;
  /** Group index of the default forward action. */
  readonly defaultGroupIndex: number;
  /** Add `x-ferry-target: host:port` to responses. */
  readonly isTargetHeaderOn: boolean;
  /** TLS termination (protocol HTTPS); null for HTTP and TCP. */
  readonly tls: TopologyListenerTls | null;
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
