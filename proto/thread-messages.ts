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
  readonly kind: 'source_ip' | 'header' | 'cookie' | 'query' | 'path' | 'source_ip_dest_ip' | 'five_tuple';
  /** Header/cookie/query name (lower-cased for headers); '' for source_ip and path. */
  readonly name: string;
}

export interface TopologyTarget {
  readonly slot: number;
  /** Stable identity: the configured `host:port`. */
  readonly id: string;
  readonly host: string;
  readonly port: number;
  /** The target's zone ('' = none); absent in topologies made before zones (tests). */
  readonly zone?: string;
  /** True when `zone` is Ferry's own zone (`zone` / FERRY_ZONE); absent = false. */
  readonly isLocalZone?: boolean;
}

/**
 * How a group's picks treat zones (workers/balance/zone-aware.ts); absent or
 * null when zones play no part (Ferry has no zone, or the group has
 * `crossZone: enabled` and no `zoneAware`).
 */
export interface TopologyZones {
  /** local_only: `crossZone: disabled`; spill: `zoneAware` (Envoy locality spill-over). */
  readonly mode: 'local_only' | 'spill';
  /** zoneAware.overprovisioningFactor x 100 (140 for 1.4); unused for local_only. */
  readonly overprovisioningPercent: number;
  /** Below this many members zone-aware picks ignore zones (spill only). */
  readonly minTargets: number;
}

/**
 * Retries on another target (config `targetGroups[].retries`, issue 10). Only
 * failures before any request byte reached a target are retried on another
 * one (connect refused, reset or timed out); a reused keep-alive socket that
 * turns out dead retries an idempotent bodiless request on a new connection.
 */
export interface TopologyRetries {
  /** Retries after the first try, 0..5. */
  readonly attempts: number;
  readonly isOnConnectFailure: boolean;
  readonly isOnStaleConnection: boolean;
  /** Retries in flight per worker, as a percentage of its requests in flight. */
  readonly budgetPercent: number;
  /** Retries in flight per worker always allowed, whatever the percentage. */
  readonly minConcurrency: number;
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
  /** Sticky sessions (target-group attribute); absent = off. */
  readonly stickiness?: TopologyStickiness;
  /** Zone preference; absent or null = none. */
  readonly zones?: TopologyZones | null;
  /** Send a PROXY protocol v2 header to targets before a layer-4 flow's bytes; absent = off. */
  readonly isProxyProtocolOn?: boolean;
  /** GENEVE appliance groups (GWLB); absent for others. */
  readonly geneve?: TopologyGeneve;
  /** Group index of `failover.standby` (issue 10: picked before failing open); absent or -1 = none. */
  readonly standbyGroupIndex?: number;
  /** Retries (issue 10); absent = RETRIES_DEFAULT (src/shared/limits.ts). */
  readonly retries?: TopologyRetries;
}

/** A GENEVE appliance group's flow attributes (GWLB's stickiness type and target failover). */
export interface TopologyGeneve {
  /** Inner-packet fields a flow is: 5 (five_tuple), 3 (three_tuple), 2 (two_tuple). */
  readonly stickiness: number;
  /** When a flow's appliance turns unhealthy: false keeps the flow there (no_rebalance), true re-picks it (rebalance). */
  readonly isRebalancedOnUnhealthy: boolean;
  /** When a flow's appliance is deregistered (draining): the same choice. */
  readonly isRebalancedOnDeregistration: boolean;
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
  /**
   * What a verified client's certificate is checked for, once per
   * connection (workers/tls/peer-identity.ts); null when no client
   * certificate is asked. The caller's SPIFFE ID goes to the application in
   * `x-forwarded-client-cert` either way.
   */
  readonly peerIdentity: TopologyPeerIdentity | null;
}

/** Authorization by SPIFFE ID on an mTLS listener (issue 14). */
export interface TopologyPeerIdentity {
  /** Patterns (src/shared/spiffe.ts) the client's one URI SAN must match; null = any verified client. */
  readonly allowedIdentities: readonly string[] | null;
  /** This sidecar's own SPIFFE ID (the `By=` of x-forwarded-client-cert); null without an identity block. */
  readonly ownSpiffeId: string | null;
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
  /**
   * SPIFFE ID patterns the target's certificate must carry as its one URI
   * SAN, checked instead of the host name; null = host-name verification.
   */
  readonly expectedIdentities: readonly string[] | null;
}

/** Layer-4 listener settings (NLB): idle timeouts, ALPN of a TLS listener, PROXY protocol in. */
export interface TopologyLayer4 {
  /** A TCP or TLS flow idle (no bytes either way) this long is closed. */
  readonly tcpIdleTimeoutMs: number;
  /** A UDP flow idle this long is forgotten (its upstream socket closed). */
  readonly udpIdleTimeoutMs: number;
  /** ALPN protocols a TLS listener offers, in preference order; empty = none. */
  readonly alpnProtocols: readonly string[];
  /** PROXY protocol in: versions accepted (mask of 1 = v1, 2 = v2) and who may send it; null = off. */
  readonly proxyProtocol: { readonly acceptMask: number; readonly trustedSources: readonly string[] } | null;
  /** Flows each worker tracks at once on a UDP listener (limits.maxUdpFlows). */
  readonly maxUdpFlows: number;
}

export type TopologyListenerProtocol = 'HTTP' | 'HTTPS' | 'TCP' | 'TLS' | 'UDP' | 'TCP_UDP' | 'GENEVE';

/** Client-side deadlines of an HTTP/HTTPS listener (config `listeners[].timeouts`), checked on the worker tick. */
export interface TopologyListenerTimeouts {
  /** From accept (or a later request's first byte) to a complete head: 408, or a quiet close if nothing came. */
  readonly requestHeaderMs: number;
  /** Request body: this long from its head, plus 1 s per `requestBodyMinRateBytesPerS` bytes received: 408. */
  readonly requestBodyMs: number;
  readonly requestBodyMinRateBytesPerS: number;
  /** A queued write to the client must be taken whole within this time, else reset. */
  readonly sendMs: number;
  /** HTTPS: accept to finished handshake. */
  readonly tlsHandshakeMs: number;
  /** Idle keep-alive connection between requests. */
  readonly keepAliveMs: number;
}

export interface TopologyListener {
  readonly name: string;
  readonly protocol: TopologyListenerProtocol;
  readonly host: string;
  readonly port: number;
  /** Group index of the default forward action. */
  readonly defaultGroupIndex: number;
  /** Add `x-ferry-target: host:port` to responses. */
  readonly isTargetHeaderOn: boolean;
  /** TLS termination (protocol HTTPS); null for HTTP and TCP. */
  readonly tls: TopologyListenerTls | null;
  /** Rules, default action and source checks (workers/route, workers/listen); absent = forward everything to defaultGroupIndex from any source. */
  readonly routing?: TopologyRouting;
  /** Layer-4 settings (TCP, TLS, UDP, TCP_UDP listeners); absent = ELB defaults, no PROXY protocol. */
  readonly layer4?: TopologyLayer4;
  /** Client deadlines (issue 10). */
  readonly timeouts: TopologyListenerTimeouts;
  /** Connection caps checked at accept (issue 10): this listener's over all workers, and the process's; 0 = none. */
  readonly maxConnections?: number;
  readonly maxConnectionsTotal?: number;
  /** Request header names with `_` (issue 10): dropped (default), allowed, or the request rejected with 400. */
  readonly headersWithUnderscores?: 'drop' | 'allow' | 'reject';
}

// === Routing and stickiness (issue 5) ===
// As validated and normalised by src/config (routing.ts); each worker compiles
// them into allocation-free matchers when a topology arrives (workers/route/compile.ts).

/** Target-group stickiness (ELB's `stickiness.*` attributes). */
export interface TopologyStickiness {
  readonly enabled: boolean;
  /** lb_cookie: Ferry's own cookie from the first response; app_cookie: once the application sets `cookieName`. */
  readonly type: 'lb_cookie' | 'app_cookie';
  /** How long a session stays on its target after its last request. */
  readonly durationMs: number;
  /** The application's cookie (app_cookie); '' for lb_cookie. */
  readonly cookieName: string;
}

/** Forward to one group, or to several by weight (0..999) with optional group-level stickiness. */
export interface TopologyForwardAction {
  readonly type: 'forward';
  readonly targetGroups: readonly { readonly name: string; readonly weight: number }[];
  /** Keep a client on the group it got (a cookie of its own); only meaningful with several groups. */
  readonly stickiness: { readonly enabled: boolean; readonly durationMs: number };
}

/** Answer with a redirect; each part may hold `#{protocol}` `#{host}` `#{port}` `#{path}` `#{query}`. */
export interface TopologyRedirectAction {
  readonly type: 'redirect';
  /** `HTTP`, `HTTPS` or `#{protocol}`. */
  readonly protocol: string;
  readonly host: string;
  /** A port number as text, or `#{port}`. */
  readonly port: string;
  /** Starts with `/`; `#{path}` is the request path without its leading `/` (as ALB). */
  readonly path: string;
  /** Without `?`; empty = none. */
  readonly query: string;
  readonly statusCode: 301 | 302;
}

/** Answer with a fixed response. */
export interface TopologyFixedResponseAction {
  readonly type: 'fixedResponse';
  readonly statusCode: number;
  readonly contentType: string;
  readonly body: string;
}

export type TopologyAction = TopologyForwardAction | TopologyRedirectAction | TopologyFixedResponseAction;

/** One rule's conditions. An empty list is no condition; values in one list OR, lists AND. */
export interface TopologyRuleConditions {
  /** Wildcard patterns (`*`, `?`), case-insensitive, against the Host without its port. */
  readonly hostHeader: readonly string[];
  /** Wildcard patterns, case-sensitive, against the path (no query). */
  readonly pathPattern: readonly string[];
  /** Each entry must match (AND): a header `name` (lower-case) with a value matching any of `values` (case-insensitive wildcards). */
  readonly httpHeader: readonly { readonly name: string; readonly values: readonly string[] }[];
  /** Exact, case-sensitive method names. */
  readonly httpRequestMethod: readonly string[];
  /** Any pair matches: a parameter named `key` (any name when null), case-insensitive, whose raw value matches the wildcard `value`. */
  readonly queryString: readonly { readonly key: string | null; readonly value: string }[];
  /** Canonical CIDR blocks (IPv4 and IPv6) the client address must fall in. */
  readonly sourceIp: readonly string[];
  /** TCP listeners (TLS passthrough): wildcard patterns, case-insensitive, against the ClientHello's SNI. */
  readonly sni?: readonly string[];
}

export interface TopologyRule {
  /** 1..50000, unique per listener; lower is evaluated first. */
  readonly priority: number;
  readonly conditions: TopologyRuleConditions;
  readonly action: TopologyAction;
}

/** A listener's routing and accept checks. */
export interface TopologyRouting {
  /** Sorted by priority. */
  readonly rules: readonly TopologyRule[];
  readonly defaultAction: TopologyAction;
  readonly scheme: 'internet-facing' | 'internal';
  /** CIDR blocks a client must come from (any listener); empty = any. */
  readonly allowedSources: readonly string[];
  /** Extra CIDR blocks an `internal` listener treats as private, besides loopback and RFC 1918 / fc00::/7. */
  readonly internalSources: readonly string[];
}

export interface Topology {
  /** HEADER_GENERATION value this topology was published with. */
  readonly generation: number;
  readonly groups: readonly TopologyGroup[];
  readonly listeners: readonly TopologyListener[];
  /**
   * Key that authenticates stickiness cookies (base64, 32 random bytes made by
   * main at boot), so every worker, and a restarted one, accepts the cookies
   * any other worker set. Absent: stickiness cookies are neither set nor honoured.
   */
  readonly stickinessKey?: string;
}

/** workerData handed to each worker at spawn. */
export interface WorkerBootData {
  readonly tableBuffer: SharedArrayBuffer;
  readonly workerIndex: number;
  readonly topology: Topology;
  readonly logLevel: string;
  /** `pretty` (pino-pretty, for terminals) or JSON lines when absent. */
  readonly logFormat?: 'json' | 'pretty';
  readonly shutdownGraceMs: number;
}

export type MainToWorker =
  | { readonly type: 'topology'; readonly topology: Topology }
  | { readonly type: 'drain' };

export type WorkerToMain =
  | { readonly type: 'ready' }
  | { readonly type: 'listen-failed'; readonly code: string; readonly message: string }
  | { readonly type: 'drained' }
  /**
   * A batch of encoded OTLP spans (each a tagged ScopeSpans.spans entry;
   * workers/record/tracing.ts), transferred; main wraps it in the worker's
   * resource and exports it (src/telemetry/span-export.ts).
   * `droppedSpanCount`: spans the worker dropped since its previous batch.
   */
  | {
      readonly type: 'spans';
      readonly bytes: Uint8Array;
      readonly spanCount: number;
      readonly droppedSpanCount: number;
    };
