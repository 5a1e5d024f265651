/**
 * @module src/shared/limits
 *
 * Every bound Ferry enforces, in one place, with its unit in its name
 * (TigerStyle). Thread: both. Config can lower or raise the ones marked
 * "default"; the rest are hard bounds of the implementation.
 */

/** Default table capacities (config `limits`). */
export const DEFAULT_MAX_TARGETS = 1024;
export const DEFAULT_MAX_TARGET_GROUPS = 64;
/** Hard cap on worker threads. */
export const MAX_WORKERS = 64;

/** HTTP request/response head: total bytes and header count (431 / 502 beyond). */
export const HTTP_HEAD_BYTES_MAX = 16 * 1024;
export const HTTP_HEADER_COUNT_MAX = 100;
/** Time a client has to send a complete request head (408 beyond). */
export const HTTP_HEADER_TIMEOUT_MS = 10_000;
/** Idle keep-alive downstream connection lifetime. */
export const HTTP_KEEP_ALIVE_TIMEOUT_MS = 60_000;
/**
 * Request body deadline (issue 10, Apache's `RequestReadTimeout body=20,MinRate=500`):
 * the body must arrive within HTTP_REQUEST_BODY_TIMEOUT_MS, extended by one second
 * for every HTTP_REQUEST_BODY_MIN_RATE_BYTES_PER_S bytes received; 408 beyond.
 * 300 clients trickling 1 byte every 5 s are all cut 20-21 s after their head.
 */
export const HTTP_REQUEST_BODY_TIMEOUT_MS = 20_000;
export const HTTP_REQUEST_BODY_MIN_RATE_BYTES_PER_S = 500;
/**
 * Slow readers (NGINX `send_timeout`): once a write to the client is queued
 * (the client's kernel window is full), the client must take all of it within
 * this time or the connection is reset. A write is at most one upstream read
 * (UPSTREAM_READ_BUFFER_BYTES), so at the default this is a floor of about
 * 2 KiB/s; 100 readers taking a few bytes a second are all cut within 31 s.
 */
export const HTTP_SEND_TIMEOUT_MS = 30_000;
/**
 * Response bytes after the head, in the same upstream read, up to which the
 * head and they leave downstream as one latin1 string in one write (above
 * it: a corked writev of the head string and the body Buffer). Small enough
 * that the string copy costs less than the writev's chunk handling.
 */
export const INLINE_BODY_BYTES_MAX = 2048;
/** Chunk-size line length, including extensions. */
export const HTTP_CHUNK_LINE_BYTES_MAX = 4096;

/** Upstream: connect timeout (504 beyond) and time to response head (504 beyond). */
export const UPSTREAM_CONNECT_TIMEOUT_MS = 5_000;
export const UPSTREAM_RESPONSE_TIMEOUT_MS = 60_000;
/** Idle pooled upstream sockets kept per target per worker. */
export const UPSTREAM_IDLE_SOCKETS_MAX = 128;
/** Idle pooled upstream socket lifetime (shorter than typical server keep-alive of 60 s+). */
export const UPSTREAM_IDLE_TIMEOUT_MS = 4_000;
/** Read buffer of a plain-TCP upstream socket while it carries an exchange, reused from read to read (workers/upstream/socket-pool.ts). */
export const UPSTREAM_READ_BUFFER_BYTES = 64 * 1024;
/** Read buffers a worker keeps for reuse when their sockets go idle (workers/upstream/socket-pool.ts); more are left to the GC. */
export const UPSTREAM_READ_BUFFERS_FREE_MAX = 16;

/**
 * Retries on another target (issue 10, target-group `retries`): the most a
 * config may ask for, the default, and the retry budget (Envoy's
 * retry_budget): retries in flight on a worker may be at most
 * RETRY_BUDGET_PERCENT_DEFAULT % of its requests in flight, but always
 * RETRY_MIN_CONCURRENCY_DEFAULT, so retries cannot amplify an outage.
 */
export const RETRY_ATTEMPTS_MAX = 5;
export const RETRY_ATTEMPTS_DEFAULT = 2;
export const RETRY_BUDGET_PERCENT_DEFAULT = 20;
export const RETRY_MIN_CONCURRENCY_DEFAULT = 3;
/** Picks a retry makes to land on a target other than the one that failed (Envoy's host_selection_retry_max_attempts); then it takes what it got. */
export const RETRY_PICK_ATTEMPTS_MAX = 3;

/**
 * Connection caps (issue 10, `limits.maxConnections: auto`): descriptors kept
 * out of the downstream budget for upstream pools, health checks, the admin
 * and control ports, log files and Node itself. Each proxied connection
 * needs two descriptors (client and target), so auto is
 * (soft RLIMIT_NOFILE - reserve) / 2, at least MAX_CONNECTIONS_AUTO_MIN.
 */
export const MAX_CONNECTIONS_FD_RESERVE = 256;
export const MAX_CONNECTIONS_AUTO_MIN = 64;
/** Largest `maxConnections` a config may set. */
export const MAX_CONNECTIONS_CAP = 10_000_000;

/** Pick attempts before a picker gives up with NO_SLOT. */
export const PICK_ATTEMPTS_MAX = 8;
/** Seqlock read retries before a reader reports the table busy. */
export const SEQLOCK_RETRIES_MAX = 16;

/** Graceful shutdown: time in-flight requests get after SIGTERM. */
export const SHUTDOWN_GRACE_MS = 10_000;
/** Coarse timer tick for per-request deadlines (one timer per worker, not per request). */
export const TICK_MS = 250;
/** Longest single wait of a worker on HEADER_GENERATION (it re-arms); a stopped watch ends within it. */
export const GENERATION_WAIT_MS = 1_000;

/**
 * Listener rules (issue 5). Config validation enforces these, so the worker's
 * match loops are bounded by them: rules x values x (text length x pattern length).
 */
export const ROUTE_RULES_MAX = 100;
/** Values in one condition list (hostHeader, pathPattern, one header's values, ...). */
export const ROUTE_CONDITION_VALUES_MAX = 32;
/** Header conditions in one rule. */
export const ROUTE_HEADER_CONDITIONS_MAX = 8;
/** Characters in one wildcard pattern (ALB's 128). */
export const ROUTE_PATTERN_LENGTH_MAX = 128;
/** Target groups one forward action may weigh (ALB's 5). */
export const FORWARD_TARGET_GROUPS_MAX = 5;
/** Largest weight of a target group in a forward action (ALB's 999). */
export const FORWARD_WEIGHT_MAX = 999;
/** Bytes of a fixedResponse body (ALB's 1 KiB). */
export const FIXED_RESPONSE_BODY_BYTES_MAX = 1024;
/** CIDR blocks in one `allowedSources`, `internalSources` or `sourceIp` list. */
export const SOURCE_CIDRS_MAX = 256;
/** Stickiness duration bounds (ELB's 1 s .. 7 days). */
export const STICKINESS_DURATION_MS_MIN = 1_000;
export const STICKINESS_DURATION_MS_MAX = 7 * 24 * 3_600_000;

/** HTTPS listeners: time a client has to finish its TLS handshake before the connection is closed. */
export const TLS_HANDSHAKE_TIMEOUT_MS = 10_000;
/**
 * Longest wait for a layer-4 preamble (a PROXY protocol header, a ClientHello
 * to read SNI from) before the connection is refused or takes the default
 * action (HAProxy's `tcp-request inspect-delay`, here fixed).
 */
export const L4_PREAMBLE_TIMEOUT_MS = 5_000;
/** Datagrams a new UDP flow queues while its upstream socket connects; more are dropped and counted. */
export const UDP_FLOW_QUEUE_MAX = 64;
/**
 * How often each worker stats the PEM files it uses, to pick up replaced
 * certificates. Polling (not inotify) because certificates are usually
 * replaced by rename or by a Kubernetes secret's symlink swap, which a watch
 * on the old file never sees; a stat per file per second costs nothing.
 */
export const TLS_FILE_POLL_INTERVAL_MS = 1_000;
/** Quiet time after a PEM file changes before the set is re-read (a cert and its key are rarely written at the same instant). */
export const TLS_RELOAD_SETTLE_MS = 200;
/** HTTP/2 downstream: streams one client connection may have open at once (SETTINGS_MAX_CONCURRENT_STREAMS). */
export const H2_CONCURRENT_STREAMS_MAX = 128;
/**
 * HTTP/2 downstream: the hard bound on one request's header block that
 * nghttp2 enforces before Ferry sees the stream (SETTINGS_MAX_HEADER_LIST_SIZE,
 * counted as RFC 9113 §6.5.2 does: name + value + 32 per field, and
 * node:http2's maxHeaderListPairs, pseudo-headers included). Set 4x above
 * Ferry's own HTTP_HEAD_BYTES_MAX / HTTP_HEADER_COUNT_MAX so a head over
 * those reaches the worker and gets the same 431 as on HTTP/1.1 (issue 10);
 * beyond these the stream is reset with ENHANCE_YOUR_CALM, so a stream holds
 * at most 64 KiB of decoded header while it opens (128 streams: 8 MiB, under
 * node:http2's 10 MB maxSessionMemory).
 */
export const H2_HEADER_LIST_BYTES_MAX = 4 * HTTP_HEAD_BYTES_MAX;
export const H2_HEADER_PAIRS_MAX = 4 * (HTTP_HEADER_COUNT_MAX + 4);
/** HTTP/2 downstream: upstream connections per target per worker for proxied streams (more requests queue). */
export const H2_UPSTREAM_CONNECTIONS_MAX = 128;

/** A target group's retries when config says nothing (proto TopologyRetries' shape). */
export const RETRIES_DEFAULT = {
  attempts: RETRY_ATTEMPTS_DEFAULT,
  isOnConnectFailure: true,
  isOnStaleConnection: true,
  budgetPercent: RETRY_BUDGET_PERCENT_DEFAULT,
  minConcurrency: RETRY_MIN_CONCURRENCY_DEFAULT,
} as const;

/** A listener's client deadlines when config says nothing (proto TopologyListenerTimeouts' shape; for tests and benches that build topologies by hand). */
export const LISTENER_TIMEOUTS_DEFAULT = {
  requestHeaderMs: HTTP_HEADER_TIMEOUT_MS,
  requestBodyMs: HTTP_REQUEST_BODY_TIMEOUT_MS,
  requestBodyMinRateBytesPerS: HTTP_REQUEST_BODY_MIN_RATE_BYTES_PER_S,
  sendMs: HTTP_SEND_TIMEOUT_MS,
  tlsHandshakeMs: TLS_HANDSHAKE_TIMEOUT_MS,
  keepAliveMs: HTTP_KEEP_ALIVE_TIMEOUT_MS,
} as const;
