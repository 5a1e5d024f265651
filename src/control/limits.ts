/**
 * @module src/control/limits
 *
 * Every bound of the control port, units in the names (TigerStyle). Thread:
 * main (the server) and the ferryctl process (the client reads the reply
 * limit and the connect timeout). Kept here, not in src/shared/limits.ts,
 * because workers never see the control port.
 *
 * Each bound protects the main thread, which also owns health checks and the
 * table: a control client can cost it bounded memory (frame limit x in-flight
 * limit x connection limit) and bounded time, never an unbounded queue.
 */

/** Largest request frame payload the server reads; a longer length prefix is refused before any byte of it is buffered. */
export const CONTROL_REQUEST_BYTES_MAX = 1024 * 1024;
/** Largest reply payload the client reads (a `targets` reply for 65,536 targets is about 15 MiB). */
export const CONTROL_REPLY_BYTES_MAX = 64 * 1024 * 1024;
/** Requests one connection may have in flight; one more gets FERRY_ERR_CONTROL_BUSY (the connection stays). */
export const CONTROL_IN_FLIGHT_MAX = 16;
/** Control connections open at once; one more gets FERRY_ERR_CONTROL_TOO_MANY_CONNECTIONS and is closed. */
export const CONTROL_CONNECTIONS_MAX = 256;
/** Time a new connection has to send its `hello`. */
export const CONTROL_HELLO_TIMEOUT_MS = 5_000;
/** A connection with nothing in flight that sends no frame for this long is closed (FERRY_ERR_CONTROL_TIMEOUT). */
export const CONTROL_IDLE_TIMEOUT_MS = 60_000;
/** Reply bytes queued on a socket the client does not read; beyond it the connection is destroyed. */
export const CONTROL_WRITE_QUEUE_BYTES_MAX = 64 * 1024 * 1024;
/** Longest `op` name and `client` name accepted. */
export const CONTROL_NAME_LENGTH_MAX = 64;
/** Shortest and longest token accepted (in bytes of UTF-8); a shorter one is a config error, not a weak secret. */
export const CONTROL_TOKEN_BYTES_MIN = 16;
export const CONTROL_TOKEN_BYTES_MAX = 4096;
/** Largest request id (ids are unsigned 32-bit). */
export const CONTROL_REQUEST_ID_MAX = 0xffff_ffff;
/** Client: time to connect and complete the handshake. */
export const CONTROL_CONNECT_TIMEOUT_MS = 5_000;
/** Items accepted in one list argument (targets to register, addresses to deregister, attributes). */
export const CONTROL_LIST_ITEMS_MAX = 1024;
