/**
 * @module proto/error-codes
 *
 * The registry of Ferry's stable error codes. Append-only: a code, once
 * shipped, keeps its name and meaning (test/contract/error-codes.test.ts
 * snapshots the list). Each entry says what went wrong in one sentence, the
 * HTTP status of the synthetic response the data plane sends, where the fault
 * lies (`source`, after Pingora) and whether a retry elsewhere could succeed.
 *
 * Thread: both. Users see these codes in the `x-ferry-error` response header,
 * in access logs and in control-port replies.
 */

export type ErrorSource = 'downstream' | 'upstream' | 'internal' | 'config';

export interface ErrorCodeInfo {
  readonly doc: string;
  readonly status: number;
  readonly source: ErrorSource;
  readonly retryable: boolean;
}

export const ERROR_CODES = {
  // --- downstream: the client sent something we refuse ---
  FERRY_ERR_HTTP_BAD_REQUEST: {
    doc: 'The request is not valid HTTP/1.1 framing (RFC 9112) and was not forwarded.',
    status: 400,
    source: 'downstream',
    retryable: false,
  },
  FERRY_ERR_HTTP_HEADERS_TOO_LARGE: {
    doc: 'The request head exceeds the header size or count limit.',
    status: 431,
    source: 'downstream',
    retryable: false,
  },
  FERRY_ERR_HTTP_HEADER_TIMEOUT: {
    doc: 'The client did not send a complete request head before the header-read deadline.',
    status: 408,
    source: 'downstream',
    retryable: false,
  },
  FERRY_ERR_HTTP_VERSION: {
    doc: 'The request uses an HTTP version other than 1.0 or 1.1.',
    status: 505,
    source: 'downstream',
    retryable: false,
  },
  FERRY_ERR_DOWNSTREAM_ABORTED: {
    doc: 'The client closed the connection before the response was complete.',
    status: 499,
    source: 'downstream',
    retryable: false,
  },
  // --- pick: no target could be chosen ---
  FERRY_ERR_PICK_NO_TARGET: {
    doc: 'The target group has no routable target (none healthy and fail-open off, or none registered).',
    status: 503,
    source: 'internal',
    retryable: true,
  },
  FERRY_ERR_ROUTE_NO_MATCH: {
    doc: 'No listener rule matched and the listener has no default action.',
    status: 404,
    source: 'config',
    retryable: false,
  },
  // --- upstream: the target failed ---
  FERRY_ERR_UPSTREAM_CONNECT_REFUSED: {
    doc: 'The target refused the connection.',
    status: 502,
    source: 'upstream',
    retryable: true,
  },
  FERRY_ERR_UPSTREAM_RESET: {
    doc: 'The target reset or closed the connection before a complete response.',
    status: 502,
    source: 'upstream',
    retryable: true,
  },
  FERRY_ERR_UPSTREAM_CONNECT_TIMEOUT: {
    doc: 'The connection to the target was not established within the connect timeout.',
    status: 504,
    source: 'upstream',
    retryable: true,
  },
  FERRY_ERR_UPSTREAM_TIMEOUT: {
    doc: 'The target did not answer within the response timeout.',
    status: 504,
    source: 'upstream',
    retryable: false,
  },
  FERRY_ERR_UPSTREAM_BAD_RESPONSE: {
    doc: 'The target sent a response with invalid or ambiguous framing; it was not forwarded.',
    status: 502,
    source: 'upstream',
    retryable: false,
  },
  // --- internal ---
  FERRY_ERR_INTERNAL_BUG: {
    doc: 'An unexpected error inside Ferry; the worker logged it.',
    status: 500,
    source: 'internal',
    retryable: false,
  },
  FERRY_ERR_LISTENER_DRAINING: {
    doc: 'Ferry is shutting down or draining and accepts no new requests on this connection.',
    status: 503,
    source: 'internal',
    retryable: true,
  },
  // --- config ---
  FERRY_ERR_CONFIG_INVALID: {
    doc: 'The configuration failed validation; every error is listed with its path.',
    status: 400,
    source: 'config',
    retryable: false,
  },
  FERRY_ERR_CONFIG_CAPACITY: {
    doc: 'The configuration needs more table slots (targets, groups, workers) than the limits allow.',
    status: 400,
    source: 'config',
    retryable: false,
  },
  FERRY_ERR_LISTEN_FAILED: {
    doc: 'A listener could not bind its address (in use, not permitted, or not local).',
    status: 500,
    source: 'config',
    retryable: false,
  },
  // --- control port (src/control, ferryctl) ---
  FERRY_ERR_CONTROL_BAD_FRAME: {
    doc: 'A control frame was malformed, truncated, larger than the frame limit or not valid msgpack, so the connection was closed.',
    status: 400,
    source: 'downstream',
    retryable: false,
  },
  FERRY_ERR_CONTROL_VERSION: {
    doc: 'The control handshake asked for a protocol version this Ferry does not speak.',
    status: 400,
    source: 'downstream',
    retryable: false,
  },
  FERRY_ERR_CONTROL_UNAUTHORIZED: {
    doc: 'The control connection did not open with a handshake carrying the right token, so it was closed.',
    status: 401,
    source: 'downstream',
    retryable: false,
  },
  FERRY_ERR_CONTROL_UNKNOWN_OP: {
    doc: 'The control request names an operation this Ferry does not serve.',
    status: 404,
    source: 'downstream',
    retryable: false,
  },
  FERRY_ERR_CONTROL_BAD_ARGS: {
    doc: 'The control request is not an {id, op, args} map or its arguments do not have the shape its operation needs.',
    status: 400,
    source: 'downstream',
    retryable: false,
  },
  FERRY_ERR_CONTROL_BUSY: {
    doc: 'The control connection already has the maximum number of requests in flight.',
    status: 429,
    source: 'downstream',
    retryable: true,
  },
  FERRY_ERR_CONTROL_TOO_MANY_CONNECTIONS: {
    doc: 'The control port already holds its maximum number of connections, so this one was closed.',
    status: 503,
    source: 'downstream',
    retryable: true,
  },
  FERRY_ERR_CONTROL_TIMEOUT: {
    doc: 'The control connection sent no handshake, or nothing at all, within its time limit and was closed.',
    status: 408,
    source: 'downstream',
    retryable: true,
  },
  FERRY_ERR_CONTROL_NOT_FOUND: {
    doc: 'The control request names a target group or target that is not registered.',
    status: 404,
    source: 'downstream',
    retryable: false,
  },
  FERRY_ERR_CONTROL_CONFLICT: {
    doc: 'The control request does not fit the current state (the target is already registered, the group has no standby, Ferry is draining).',
    status: 409,
    source: 'downstream',
    retryable: false,
  },
  FERRY_ERR_CONTROL_STANDBY_UNAVAILABLE: {
    doc: 'The standby target group has no routable target, so failing over to it would lose requests (force overrides).',
    status: 503,
    source: 'upstream',
    retryable: true,
  },
  FERRY_ERR_CONTROL_NOT_OBSERVED: {
    doc: 'The change is in the shared table but not every live worker acknowledged it within the wait limit.',
    status: 504,
    source: 'internal',
    retryable: false,
  },
  FERRY_ERR_CONTROL_TOKEN_REQUIRED: {
    doc: 'The control port is configured on a non-loopback address with no token (tokenFile or FERRY_CONTROL_TOKEN), so Ferry refuses to start.',
    status: 500,
    source: 'config',
    retryable: false,
  },
  FERRY_ERR_CONTROL_UNREACHABLE: {
    doc: 'The control client could not connect to the control port (Ferry is not running there, or the address is wrong).',
    status: 503,
    source: 'internal',
    retryable: true,
  },
  FERRY_ERR_UPSTREAM_TLS: {
    doc: "TLS to the target failed: its certificate did not verify against the group's CA or name, or the handshake was refused (protocol, cipher, or a client certificate it required).",
    status: 502,
    source: 'upstream',
    retryable: false,
  },
  FERRY_ERR_PROXY_PROTOCOL_MALFORMED: {
    doc: 'A trusted source sent a PROXY protocol header that is malformed, truncated, of a version the listener does not accept, or longer than the limit; the connection was closed unforwarded.',
    status: 400,
    source: 'downstream',
    retryable: false,
  },
  FERRY_ERR_PROXY_PROTOCOL_UNTRUSTED: {
    doc: "A PROXY protocol header came from a source outside the listener's proxyProtocol.trustedSources; the connection was closed unforwarded.",
    status: 400,
    source: 'downstream',
    retryable: false,
  },
  FERRY_ERR_PROXY_PROTOCOL_TIMEOUT: {
    doc: 'A trusted source did not send a complete PROXY protocol header before the preamble deadline; the connection was closed unforwarded.',
    status: 408,
    source: 'downstream',
    retryable: false,
  },
  FERRY_ERR_TLS_CLIENT_HELLO: {
    doc: 'The first bytes on a TCP listener with sni rules were TLS but not a readable ClientHello (malformed, oversized, or incomplete by the deadline); the connection took the default action.',
    status: 400,
    source: 'downstream',
    retryable: false,
  },
  FERRY_ERR_FLOW_IDLE_TIMEOUT: {
    doc: "A layer-4 flow carried no bytes either way for the listener's idleTimeout and was closed.",
    status: 408,
    source: 'downstream',
    retryable: false,
  },
  FERRY_ERR_UDP_FLOW_TABLE_FULL: {
    doc: "A datagram would have started a new UDP flow but the worker's flow table holds limits.maxUdpFlows flows; it was dropped.",
    status: 503,
    source: 'internal',
    retryable: true,
  },
  FERRY_ERR_SIMULATE_BAD_TRACE: {
    doc: 'The trace given to `ferry simulate` could not be read: a line is neither a CSV row with the expected columns nor a Ferry access-log line, or a value is out of range (the message names the line and column).',
    status: 400,
    source: 'config',
    retryable: false,
  },
  FERRY_ERR_SIMULATE_BAD_ARGS: {
    doc: 'The arguments of `ferry simulate` name an unknown algorithm, target or what-if, or a config without the target group it needs.',
    status: 400,
    source: 'config',
    retryable: false,
  },
  // --- issue 10: slow and idle clients (the client's fault, never counted against a target) ---
  FERRY_ERR_HTTP_BODY_TIMEOUT: {
    doc: "The client sent its request body slower than the listener's requestBody deadline and minimum rate allow.",
    status: 408,
    source: 'downstream',
    retryable: false,
  },
  FERRY_ERR_DOWNSTREAM_SEND_TIMEOUT: {
    doc: "The client did not take a queued part of its response within the listener's send deadline, so the connection was reset.",
    status: 408,
    source: 'downstream',
    retryable: false,
  },
  FERRY_ERR_TLS_HANDSHAKE_TIMEOUT: {
    doc: "The client did not finish its TLS handshake within the listener's tlsHandshake deadline, so the connection was closed.",
    status: 408,
    source: 'downstream',
    retryable: false,
  },
  // --- issue 10: floods and local limits ---
  FERRY_ERR_LISTENER_CONNECTION_LIMIT: {
    doc: "The listener's or the process's maxConnections was reached, so the new connection was refused at accept.",
    status: 503,
    source: 'internal',
    retryable: true,
  },
  FERRY_ERR_INTERNAL_RESOURCES: {
    doc: 'Ferry ran out of a local resource (file descriptors, socket buffers) opening a connection to the target; never counted against the target.',
    status: 503,
    source: 'internal',
    retryable: true,
  },
  // --- mesh identity (issue 14): the built-in CA and workload certificates ---
  FERRY_ERR_CA_EXISTS: {
    doc: 'The `ferry ca init` command found CA files in the folder already and wrote nothing (it never overwrites a CA).',
    status: 409,
    source: 'config',
    retryable: false,
  },
  FERRY_ERR_CA_NOT_FOUND: {
    doc: 'The CA folder lacks a file the command needs (ca.json, the intermediate certificate or its key).',
    status: 500,
    source: 'config',
    retryable: false,
  },
  FERRY_ERR_CA_UNAUTHORIZED: {
    doc: 'The issuing service got no token or a token it does not know, and issued nothing.',
    status: 401,
    source: 'downstream',
    retryable: false,
  },
  FERRY_ERR_CA_BAD_CSR: {
    doc: 'The certificate request is not a valid PKCS#10 CSR with one SPIFFE URI SAN and a P-256 key signed by itself, so nothing was issued.',
    status: 400,
    source: 'downstream',
    retryable: false,
  },
  FERRY_ERR_CA_ID_FORBIDDEN: {
    doc: "The CSR asks for a SPIFFE ID outside the trust domain or outside the token's allowed ID patterns, so nothing was issued.",
    status: 403,
    source: 'downstream',
    retryable: false,
  },
  FERRY_ERR_CA_BODY_TOO_LARGE: {
    doc: 'The request body to the issuing service exceeds its size limit and was not read further.',
    status: 413,
    source: 'downstream',
    retryable: false,
  },
  FERRY_ERR_CA_BAD_REQUEST: {
    doc: 'The request to the issuing service has the wrong method, path or body shape (it takes POST /v1/certificate with JSON {"csr": PEM}).',
    status: 400,
    source: 'downstream',
    retryable: false,
  },
  FERRY_ERR_IDENTITY_FORBIDDEN: {
    doc: "The caller's verified SPIFFE ID is not among the listener's allowed identities, so the request was refused.",
    status: 403,
    source: 'downstream',
    retryable: false,
  },
  FERRY_ERR_IDENTITY_UNAVAILABLE: {
    doc: 'The sidecar could not get its workload certificate from the issuer (unreachable, refused, or an answer that does not verify).',
    status: 503,
    source: 'upstream',
    retryable: true,
  },
} as const satisfies Record<string, ErrorCodeInfo>;

export type ErrorCode = keyof typeof ERROR_CODES;
