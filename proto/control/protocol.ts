/**
 * @module proto/control/protocol
 *
 * The control port's wire contract: version, frame format, the request and
 * reply envelopes, the handshake, and where clients look for the port and
 * its token. Thread: main (src/control serves it) and the `ferryctl` process
 * (src/control/client.ts speaks it). Contracts only: constants and shapes,
 * no I/O, no msgpack code (that is src/control/codec.ts).
 *
 * Frame (one message per frame, both directions):
 *
 *   0        4                          4 + N
 *   +--------+--------------------------+
 *   | N (u32 |  N bytes: one msgpack    |
 *   |  BE)   |  value (a map)           |
 *   +--------+--------------------------+
 *
 * N is the payload length in bytes, unsigned 32-bit big-endian, 1..the
 * server's frame limit (src/control/limits.ts; 1 MiB). The payload is plain
 * MessagePack (https://msgpack.org/): maps with string keys, strings,
 * integers, floats, booleans, nil and arrays. No extension types and no
 * msgpackr records, so any MessagePack library can speak the protocol;
 * the server rejects what does not fit the shapes below.
 *
 * Conversation:
 *
 *   client                                   server
 *     | -- {id, op:"hello", args:{version, token, client}} --> |
 *     | <-- {id, result:{version, server, ops}} -------------- |  (or error, then close)
 *     | -- {id:1, op:"targets", args:{}} -------------------> |
 *     | -- {id:2, op:"stats", args:{}} ---------------------> |  (pipelining allowed, bounded)
 *     | <-- {id:2, result:{...}} ----------------------------- |  (replies in completion order)
 *     | <-- {id:1, result:{...}} ----------------------------- |
 *
 * The first frame must be `hello`; anything else first is refused with
 * FERRY_ERR_CONTROL_UNAUTHORIZED and the connection closes. A reply whose
 * `id` is nil is about the connection, not a request (a frame that could not
 * be read, too many connections, idle timeout); the server closes right after
 * sending it. Every message is documented in proto/control/README.md.
 */

// === Version ===
/** The protocol version this build speaks. Bump on any incompatible change to a frame, envelope or op shape. */
export const CONTROL_PROTOCOL_VERSION = 1;
/** Versions the server accepts in `hello`. */
export const CONTROL_PROTOCOL_VERSIONS = [1] as const;

// === Frame ===
/** Bytes of the length prefix. */
export const FRAME_HEADER_BYTES = 4;
/** The length prefix is an unsigned 32-bit big-endian integer (DataView.getUint32(0, false)). */
export const FRAME_LENGTH_IS_BIG_ENDIAN = true;

// === Where the port is ===
/** Address ferryctl tries when nothing else says (loopback only, like the config default). */
export const CONTROL_ADDRESS_DEFAULT = '127.0.0.1:9900';
/** `unix:/path/to/socket` names a Unix domain socket instead of host:port. */
export const CONTROL_UNIX_PREFIX = 'unix:';
/** Environment variable ferryctl reads the address from. */
export const CONTROL_ADDRESS_ENV = 'FERRY_CONTROL';
/** Environment variable Ferry and ferryctl read the token from (when no token file is given). */
export const CONTROL_TOKEN_ENV = 'FERRY_CONTROL_TOKEN';

// === Envelopes ===
/** A request: `id` is chosen by the client (0..2^32-1), unique among its requests in flight. */
export interface ControlRequest<Args = unknown> {
  readonly id: number;
  readonly op: string;
  readonly args: Args;
}

/** One precise problem, e.g. a config error with its path (reload, set-attributes). */
export interface ControlErrorDetail {
  /** Where: a config path (`targetGroups[0].algorithm`) or an argument path (`args.weight`). */
  readonly path: string;
  readonly message: string;
}

/** The error half of a reply: a stable FERRY_ERR_* code (proto/error-codes.ts), one line of text, and details when there are several problems. */
export interface ControlErrorBody {
  readonly code: string;
  readonly message: string;
  readonly details?: readonly ControlErrorDetail[];
}

export interface ControlResultReply<Result = unknown> {
  /** The request's id. */
  readonly id: number;
  readonly result: Result;
}

export interface ControlErrorReply {
  /** The request's id, or null when the error is about the connection (then the server closes it). */
  readonly id: number | null;
  readonly error: ControlErrorBody;
}

export type ControlReply<Result = unknown> = ControlResultReply<Result> | ControlErrorReply;

// === Handshake ===
/** The op of the first frame on every connection. */
export const HELLO_OP = 'hello';

export interface HelloArgs {
  /** A version from CONTROL_PROTOCOL_VERSIONS. */
  readonly version: number;
  /** The control token; null when the client has none (accepted only when Ferry has no token). */
  readonly token: string | null;
  /** Who is calling, for logs (`ferryctl/0.1.0`); at most 64 characters. */
  readonly client: string;
}

export interface HelloResult {
  readonly version: number;
  /** `ferry/<package version>`. */
  readonly server: string;
  /** Every op this server serves (CONTROL_OPS). */
  readonly ops: readonly string[];
}
