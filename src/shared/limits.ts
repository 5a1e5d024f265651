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
/** Chunk-size line length, including extensions. */
export const HTTP_CHUNK_LINE_BYTES_MAX = 4096;

/** Upstream: connect timeout (504 beyond) and time to response head (504 beyond). */
export const UPSTREAM_CONNECT_TIMEOUT_MS = 5_000;
export const UPSTREAM_RESPONSE_TIMEOUT_MS = 60_000;
/** Idle pooled upstream sockets kept per target per worker. */
export const UPSTREAM_IDLE_SOCKETS_MAX = 128;
/** Idle pooled upstream socket lifetime (shorter than typical server keep-alive of 60 s+). */
export const UPSTREAM_IDLE_TIMEOUT_MS = 4_000;

/** Pick attempts before a picker gives up with NO_SLOT. */
export const PICK_ATTEMPTS_MAX = 8;
/** Seqlock read retries before a reader reports the table busy. */
export const SEQLOCK_RETRIES_MAX = 16;

/** Graceful shutdown: time in-flight requests get after SIGTERM. */
export const SHUTDOWN_GRACE_MS = 10_000;
/** Coarse timer tick for per-request deadlines (one timer per worker, not per request). */
export const TICK_MS = 250;
