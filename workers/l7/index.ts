/**
 * @module workers/l7
 *
 * The HTTP/1.1 proxy: one HttpConnection per downstream socket, carrying its
 * requests one at a time (pipelined requests wait their turn) to pooled
 * upstream sockets, with Ferry's own strict framing (parse-request-head,
 * parse-response-head, chunked-scanner). Thread: worker.
 *
 * Life of a request (each phase is a method of the same name; `record` lives
 * in workers/record, error responses in workers/respond):
 *
 *   accept ──> proxy-in ──> tls ──> readHead ... (HTTP/1.1 over TLS, the chart below); ALPN h2: workers/l7/h2/
 *     │          │          └─ HTTPS listeners only (workers/tls): a failed handshake closes the connection, no
 *     │          │             HTTP answer being possible (no certificate on an mTLS listener, TLS 1.1);
 *     │          │             mTLS: the caller's SPIFFE ID is read once (workers/tls/peer-identity.ts);
 *     │          │             TLS_HANDSHAKE_TIMEOUT (closed, counted): `timeouts.tlsHandshake` from accept, on the tick
 *     │          └─ trusted PROXY senders only (workers/listen/proxy-preamble.ts): the client the header
 *     │             names replaces the socket's peer; PROXY_PROTOCOL_MALFORMED / _TIMEOUT (closed, counted)
 *     └─ LISTENER_CONNECTION_LIMIT (503 + Retry-After on HTTP, else closed): limits.maxConnections or the
 *        listener's maxConnections reached (workers/listen/connection-limit.ts)
 *
 *   accept ──> readHead ──> route ──> pick ──> connect ──> forward ──> relay ──> finish ──> record
 *     │           │           │         │          │           │          │          │
 *     │           │           │         │          │           │          │          └─ keep-alive: back to readHead
 *     │           │           │         │          │           │          └─ UPSTREAM_BAD_RESPONSE (502; also chunked to a 1.0 request),
 *     │           │           │         │          │           │             UPSTREAM_RESET mid-body (client connection reset),
 *     │           │           │         │          │           │             DOWNSTREAM_ABORTED, DOWNSTREAM_SEND_TIMEOUT (reset:
 *     │           │           │         │          │           │             the client did not take a queued write within `timeouts.send`)
 *     │           │           │         │          │           └─ HTTP_BAD_REQUEST (bad chunked body, 400),
 *     │           │           │         │          │              HTTP_BODY_TIMEOUT (408: body below `timeouts.requestBody`
 *     │           │           │         │          │              + minimum rate; the client's fault, no target penalty),
 *     │           │           │         │          │              UPSTREAM_TIMEOUT (504), DOWNSTREAM_ABORTED
 *     │           │           │         │          └─ UPSTREAM_CONNECT_REFUSED / _RESET (502),
 *     │           │           │         │             UPSTREAM_CONNECT_TIMEOUT (504; includes the TLS handshake),
 *     │           │           │         │             UPSTREAM_TLS (502; HTTPS groups: verification or handshake failed),
 *     │           │           │         │             INTERNAL_RESOURCES (503: local EMFILE, never the target's fault);
 *     │           │           │         │             refused/reset/timed out before the head was written: retried on
 *     │           │           │         │             another target through pick (group `retries`, retry budget)
 *     │           │           │         └─ PICK_NO_TARGET (503); sticky target (cookie) first, else the balancer,
 *     │           │           │            then the standby of a group with no routable target, then fail-open
 *     │           │           ├─ IDENTITY_FORBIDDEN (403): mTLS caller outside allowedIdentities
 *     │           │           └─ ROUTE_NO_MATCH (404); rules by priority, then the default action:
 *     │           │              forward -> pick | redirect, fixedResponse -> answered here (keep-alive kept)
 *     │           └─ HTTP_BAD_REQUEST (400; also an `_` header name when the listener rejects them;
 *     │              dropped by default; an absolute-form target that is not http(s)://host —
 *     │              one that is becomes origin-form with its authority as Host), HTTP_HEADERS_TOO_LARGE (431), HTTP_VERSION (505; the h2c
 *     │              preface gets SETTINGS + GOAWAY HTTP_1_1_REQUIRED), HTTP_HEADER_TIMEOUT (408,
 *     │              from accept; a new connection that sent nothing is closed quietly)
 *     └─ DRAINING: new connections are not accepted while draining; idle keep-alive
 *        connections close when the drain begins, busy ones when their exchange finishes;
 *        source not allowed (scheme internal, allowedSources): reset at accept (workers/listen)
 *
 * The exchange (workers/upstream/exchange.ts, one per connection, reset per
 * request) holds what `pick` chose and the serving group's timeouts; its
 * in-flight count (TARGET_IN_FLIGHT and this worker's ledger) is taken in
 * `connect` and dropped exactly once in `endExchange`, whatever the path:
 * success, upstream error, client abort or timeout. HTTP/2 streams (workers/l7/h2/)
 * and layer-4 flows (workers/l4: TCP, TLS, UDP, GENEVE) carry the same
 * exchange and the same pick; their phases and codes (PROXY_PROTOCOL_*,
 * TLS_CLIENT_HELLO, FLOW_IDLE_TIMEOUT, UDP_FLOW_TABLE_FULL) are charted atop
 * workers/l4/tcp-flow.ts, udp-listener.ts and geneve-listener.ts.
 *
 * Record (workers/record): `this.rec` hears each phase boundary (accept,
 * readHead, pick, connect, relay, finish, refuse, abort, close) and counts
 * listener and target metrics on every path; the access-log line and the
 * SERVER/CLIENT spans are built only while access logs or tracing are on.
 * With tracing on, the caller's traceparent/tracestate are replaced by ours.
 *
 * Deadlines (one per connection, checked by the worker tick; the listener's
 * `timeouts`): the head from accept (408), connect (504), the request body
 * with its minimum rate (408), then the response timeout, restarted by each
 * response byte, so it counts from the end of the request; after Ferry ends
 * its side, a linger bound for the client to close. Beside the one deadline,
 * the send deadline: queued bytes the client has not taken within
 * `timeouts.send` reset the connection (slow reader).
 *
 * Upgrades (`Upgrade: websocket`) are forwarded; after a 101 both sockets are
 * piped raw (a tunnel) and the upstream socket is never pooled again. Other
 * upgrades are dropped as hop-by-hop.
 * `Expect: 100-continue` is forwarded; the target's 100 reaches the client as
 * an interim response before the final one.
 */
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { ErrorCode } from '../../proto/error-codes.ts';
import { addWorker, NO_SLOT, WORKER_REQUESTS_TOTAL } from '../../proto/table-layout.ts';
import type { TopologyListenerTimeouts } from '../../proto/thread-messages.ts';
import { HTTP_HEAD_BYTES_MAX, INLINE_BODY_BYTES_MAX } from '../../src/shared/limits.ts';
import {
  BODY_CHUNKED,
  BODY_LENGTH,
  BODY_NONE,
  BODY_UNTIL_CLOSE,
  ChunkedScanner,
  createRequestHead,
  createResponseHead,
  isDroppedRequestHeader,
  isHopByHop,
  latin1,
  NEED_MORE,
  PARSE_ERR_TOO_LARGE,
  PARSE_ERR_VERSION,
  parseRequestHead,
  parseResponseHead,
  type RequestHead,
  type ResponseHead,
} from '../http/index.ts';
import { RECORD_STATUS_GATEWAY_FAILURE, RequestRecord } from '../record/index.ts';
import { type RedirectInputs, redirectInputs, respondWithError } from '../respond/index.ts';
import { ACTION_FIXED_RESPONSE, ACTION_FORWARD, type CompiledAction, matchListener } from '../route/index.ts';
import type { LiveConnection, WorkerRuntime } from '../runtime.ts';
import { type PeerIdentity, rawSocketOf, type UpstreamTlsOptions } from '../tls/index.ts';
import {
  Exchange,
  isRetryBudgeted,
  type UpstreamOwner,
  type UpstreamSocket,
  upstreamErrorCode,
} from '../upstream/index.ts';
import { type ListenerRuntime, UNDERSCORE_ALLOW, UNDERSCORE_REJECT } from './listener-runtime.ts';

// === Connection phases ===
/** Waiting for (the rest of) a request head. */
const PHASE_HEAD = 0;
/** Head forwarded; streaming the request body upstream. */
const PHASE_BODY = 1;
/** Request complete; waiting for / relaying the response. */
const PHASE_RESPONSE = 2;
/** After a 101: raw bytes both ways. */
const PHASE_TUNNEL = 3;
const PHASE_CLOSED = 4;

/** The HTTP/2 connection preface (RFC 9113 §3.4). */
const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
/**
 * The answer to an h2c prior-knowledge client: an empty SETTINGS frame (the
 * server preface), then GOAWAY (last stream 0, HTTP_1_1_REQUIRED = 0xd).
 * Frame header: length (24 bits), type, flags, stream id (31 bits).
 */
const H2C_REFUSAL = Buffer.from([
  0,
  0,
  0,
  0x04,
  0,
  0,
  0,
  0,
  0, // SETTINGS, no parameters
  0,
  0,
  8,
  0x07,
  0,
  0,
  0,
  0,
  0, // GOAWAY, 8 bytes of payload, stream 0
  0,
  0,
  0,
  0, // last stream id 0
  0,
  0,
  0,
  0x0d, // HTTP_1_1_REQUIRED
]);

/** True when `name` is listed in a Connection header's tokens (also hop-by-hop). */
function isConnectionToken(tokens: string, name: string): boolean {
  if (tokens === '') return false;
  let start = 0;
  while (start <= tokens.length) {
    let end = tokens.indexOf(',', start);
    if (end === -1) end = tokens.length;
    if (end - start === name.length && tokens.startsWith(name, start)) return true;
    start = end + 1;
  }
  return false;
}

/**
 * Only WebSocket upgrades are tunnelled (issue 2). Any other protocol a client
 * asks to switch to (h2c, TLS/1.0) is dropped with the other hop-by-hop
 * fields and the request is served as plain HTTP/1.1, as Envoy does without
 * an upgrade_config: an h2c upgrade would also need HTTP2-Settings, which is
 * hop-by-hop and never reaches the target. `upgrade` is lower-cased.
 */
function isWebSocketUpgrade(upgrade: string): boolean {
  if (upgrade === 'websocket') return true;
  if (upgrade === '') return false;
  let start = 0;
  while (start <= upgrade.length) {
    let end = upgrade.indexOf(',', start);
    if (end === -1) end = upgrade.length;
    if (upgrade.slice(start, end).trim() === 'websocket') return true;
    start = end + 1;
  }
  return false;
}

/** Idempotent methods (RFC 9110 §9.2.2): safe to send again after a stale pooled socket. */
function isIdempotent(method: string): boolean {
  switch (method) {
    case 'GET':
    case 'HEAD':
    case 'OPTIONS':
    case 'TRACE':
    case 'PUT':
    case 'DELETE':
      return true;
    default:
      return false;
  }
}

/**
 * The transfer codings of a chunked message, as received (the parser checked
 * that chunked is last and only once). The body is relayed byte for byte, so
 * codings before chunked (`gzip, chunked`) must travel with it: writing only
 * `chunked` handed the next hop a gzip body it did not know to decode.
 */
function joinCodings(codings: string, value: string): string {
  return codings === '' ? value : `${codings}, ${value}`;
}

/** A redirect's request values (the Location's placeholders); null for other actions. */
function redirectInputsOf(
  action: CompiledAction,
  req: RequestHead,
  routes: { readonly protocol: string; readonly host: string; readonly port: number },
): RedirectInputs | null {
  return action.redirect === null ? null : redirectInputs(req, routes.protocol, routes.host, routes.port);
}

function concat(head: Buffer | null, tail: Buffer): Buffer {
  return head === null || head.length === 0 ? tail : Buffer.concat([head, tail]);
}

export class HttpConnection implements UpstreamOwner, LiveConnection {
  private readonly runtime: WorkerRuntime;
  private readonly listener: ListenerRuntime;
  private readonly socket: Socket;
  private readonly remoteAddress: string;
  /** Record phase: counters, access-log line, spans (workers/record). */
  private readonly rec: RequestRecord;
  /** The verified caller on an mTLS listener (workers/tls/peer-identity.ts); null otherwise. */
  private readonly peer: PeerIdentity | null;
  private phase: number;
  /** Downstream bytes not yet consumed (a partial head, or pipelined requests). */
  private pending: Buffer | null;
  private readonly req: RequestHead;
  private readonly reqChunks: ChunkedScanner;
  private reqBodyRemaining: number;
  private isRequestDone: boolean;
  /** The request head has been written to the current upstream socket. */
  private isUpstreamHeadSent: boolean;

  // --- the current exchange ---
  /** Pick result, deadlines and the in-flight count (workers/upstream/exchange.ts); reused per request. */
  private readonly ex: Exchange;
  private up: UpstreamSocket | null;
  /** Retries this request has made (stale keep-alive socket or another target). */
  private attempt: number;
  /** The target group the route chose (before failover), for a retry's new pick. */
  private groupIndex: number;
  /** This exchange counts in the worker's retry budget: as a request, and as a retry. */
  private isBudgetRequest: boolean;
  private isBudgetRetry: boolean;
  /** The request head as forwarded upstream, kept for a retry on a stale pooled socket. */
  private upstreamHead: string;
  /** TLS to the picked target's group (HTTPS groups), null for plain HTTP. */
  private upstreamTls: UpstreamTlsOptions | null;

  // --- the response ---
  private upPending: Buffer | null;
  private readonly res: ResponseHead;
  private readonly resChunks: ChunkedScanner;
  private resBodyRemaining: number;
  private isResponseHeadSent: boolean;
  /** The response head while it waits to leave with the first body bytes ('' once written). */
  private headText: string;
  private isUpstreamReusable: boolean;
  private isCloseAfterResponse: boolean;

  // --- the single deadline the tick checks ---
  /** The listener's client deadlines (config `timeouts`; issue 10). */
  private readonly timeouts: TopologyListenerTimeouts;
  private deadlineMs: number;
  /** Error to answer with when the deadline passes; null = close quietly (idle keep-alive). */
  private deadlineCode: ErrorCode | null;
  /** True while the head deadline runs from accept (a new connection); false once a request was served (keep-alive). */
  private isFirstHead: boolean;
  /** Request body deadline: the table clock when the window opened and body bytes received since (issue 10). */
  private bodyStartMs: number;
  private bodyBytes: number;
  /** Send deadline (slow reader): when queued downstream bytes must have drained; 0 = nothing queued. */
  private sendDeadlineMs: number;
  /** readHead on a later tick, after Ferry answered a request itself (no recursion through pipelined requests). */
  private readonly readHeadNext: () => void;

  /**
   * `clientAddress`/`clientPort`: the socket's peer (unmapped), or the client
   * a trusted PROXY header named (workers/listen/proxy-preamble.ts).
   */
  constructor(
    runtime: WorkerRuntime,
    listener: ListenerRuntime,
    socket: Socket,
    clientAddress: string,
    clientPort: number,
  ) {
    this.runtime = runtime;
    this.listener = listener;
    this.socket = socket;
    this.remoteAddress = clientAddress;
    this.rec = new RequestRecord(runtime.observer, listener.listener, socket, clientAddress, clientPort);
    this.peer = listener.peerCheck === null ? null : listener.peerCheck.of(socket as TLSSocket);
    if (this.peer !== null) this.rec.identified(this.peer.spiffeId);
    this.phase = PHASE_HEAD;
    this.pending = null;
    this.req = createRequestHead();
    this.reqChunks = new ChunkedScanner();
    this.reqBodyRemaining = 0;
    this.isRequestDone = false;
    this.isUpstreamHeadSent = false;
    this.ex = new Exchange(runtime.view, runtime.workerIndex);
    this.up = null;
    this.attempt = 0;
    this.groupIndex = -1;
    this.isBudgetRequest = false;
    this.isBudgetRetry = false;
    this.upstreamHead = '';
    this.upstreamTls = null;
    this.upPending = null;
    this.res = createResponseHead();
    this.resChunks = new ChunkedScanner();
    this.resBodyRemaining = 0;
    this.isResponseHeadSent = false;
    this.headText = '';
    this.isUpstreamReusable = true;
    this.isCloseAfterResponse = false;
    this.timeouts = listener.listener.timeouts;
    // The head deadline runs from accept (issue 10): a connection that sends
    // nothing is closed quietly at it, one that sends part of a head gets 408.
    this.deadlineMs = runtime.nowMs + this.timeouts.requestHeaderMs;
    this.deadlineCode = null;
    this.isFirstHead = true;
    this.bodyStartMs = 0;
    this.bodyBytes = 0;
    this.sendDeadlineMs = 0;
    this.readHeadNext = () => {
      if (this.phase === PHASE_HEAD) this.readHead();
    };
  }

  // === accept ===
  /** Wire the downstream socket. One set of listeners per connection, for its whole life. */
  accept(): void {
    const socket = this.socket;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onDownstreamData(chunk));
    socket.on('drain', () => {
      this.sendDeadlineMs = 0; // the client took everything queued: the send deadline starts over
      if (this.up !== null && this.phase !== PHASE_CLOSED) this.up.socket.resume();
      else if (this.phase === PHASE_HEAD) this.socket.resume(); // paused by answerLocally
    });
    socket.on('error', () => {}); // 'close' follows; the cause changes nothing we do
    socket.on('end', () => this.onDownstreamEnd());
    socket.on('close', () => this.onDownstreamClose());
    this.runtime.add(this);
    this.rec.accepted();
  }

  private onDownstreamData(chunk: Buffer): void {
    switch (this.phase) {
      case PHASE_HEAD:
        this.pending = concat(this.pending, chunk);
        this.readHead();
        return;
      case PHASE_BODY:
        if (this.isUpstreamHeadSent) this.forwardBody(chunk);
        else this.pending = concat(this.pending, chunk);
        return;
      case PHASE_RESPONSE:
        // Pipelined bytes: keep them for after this response, but bound what we hold.
        this.pending = concat(this.pending, chunk);
        if (this.pending.length > HTTP_HEAD_BYTES_MAX) this.socket.pause();
        return;
      case PHASE_TUNNEL:
        if (this.up !== null && !this.up.socket.write(chunk)) this.socket.pause();
        return;
      default:
        return;
    }
  }

  // === readHead ===
  private readHead(): void {
    const pending = this.pending;
    if (pending === null || pending.length === 0) return;
    // 'P': maybe the HTTP/2 connection preface (h2c prior knowledge), which gets an HTTP/2 answer.
    if (pending[0] === 0x50 && this.isFirstHead && this.answerH2cPreface(pending)) return;
    const consumed = parseRequestHead(pending, 0, pending.length, this.req);
    if (consumed === NEED_MORE) {
      if (this.deadlineCode !== 'FERRY_ERR_HTTP_HEADER_TIMEOUT') {
        // A new connection's head deadline already runs from accept; a keep-alive one's starts now.
        if (!this.isFirstHead) this.deadlineMs = this.runtime.nowMs + this.timeouts.requestHeaderMs;
        this.deadlineCode = 'FERRY_ERR_HTTP_HEADER_TIMEOUT';
      }
      return;
    }
    this.isFirstHead = false;
    if (this.listener.underscoreAction !== UNDERSCORE_ALLOW && !this.dropUnderscoreHeaders()) return;
    if (consumed < 0) {
      const code: ErrorCode =
        consumed === PARSE_ERR_TOO_LARGE
          ? 'FERRY_ERR_HTTP_HEADERS_TOO_LARGE'
          : consumed === PARSE_ERR_VERSION
            ? 'FERRY_ERR_HTTP_VERSION'
            : 'FERRY_ERR_HTTP_BAD_REQUEST';
      this.refuse(code);
      return;
    }
    this.pending = consumed === pending.length ? null : pending.subarray(consumed);
    addWorker(this.runtime.view, this.runtime.workerIndex, WORKER_REQUESTS_TOTAL, 1);
    this.rec.requestStarted(this.req);
    if (this.req.method === 'CONNECT') {
      this.req.errorReason = 'CONNECT is not supported';
      this.refuse('FERRY_ERR_HTTP_BAD_REQUEST');
      return;
    }
    this.route();
  }

  /**
   * Header names with `_` (issue 10): compacted out of the parsed head in
   * place (drop: routing, hash keys and the target never see them, as with
   * NGINX's `underscores_in_headers off`), or the request refused (reject).
   * Returns false when refused. Allocates nothing.
   */
  private dropUnderscoreHeaders(): boolean {
    const req = this.req;
    const names = req.headerNames;
    const values = req.headerValues;
    let kept = 0;
    for (let i = 0; i < req.headerCount; i++) {
      const name = names[i]!;
      if (name.indexOf('_') !== -1) {
        if (this.listener.underscoreAction === UNDERSCORE_REJECT) {
          addWorker(this.runtime.view, this.runtime.workerIndex, WORKER_REQUESTS_TOTAL, 1);
          this.rec.requestStarted(req);
          req.errorReason = `header name with an underscore: ${name}`;
          this.refuse('FERRY_ERR_HTTP_BAD_REQUEST');
          return false;
        }
        continue;
      }
      if (kept !== i) {
        names[kept] = name;
        values[kept] = values[i]!;
      }
      kept++;
    }
    req.headerCount = kept;
    return true;
  }

  /**
   * h2c prior knowledge on an HTTP/1.1 listener (issue 10; docs/tls.md: h2c
   * is not offered): a client that opens with the HTTP/2 preface cannot read
   * an HTTP/1.1 answer, so it gets what RFC 9113 gives it to understand, an
   * empty SETTINGS frame and GOAWAY with HTTP_1_1_REQUIRED, and the
   * connection closes (curl: "HTTP/1.1 required"). Returns true when handled
   * (or when more bytes are needed to tell).
   */
  private answerH2cPreface(pending: Buffer): boolean {
    const prefaceLength = H2_PREFACE.length;
    const compared = Math.min(pending.length, prefaceLength);
    if (pending.compare(H2_PREFACE, 0, compared, 0, compared) !== 0) return false;
    if (compared < prefaceLength) {
      // Its first 18 bytes would parse as an HTTP/2.0 head (505): wait for the rest, under the head deadline.
      this.deadlineCode = 'FERRY_ERR_HTTP_HEADER_TIMEOUT';
      return true;
    }
    this.rec.refused('FERRY_ERR_HTTP_VERSION');
    this.pending = null;
    this.startLinger();
    this.socket.end(H2C_REFUSAL);
    return true;
  }

  // === route ===
  /**
   * Listener rules (workers/route/match.ts): the first matching rule's
   * action by priority, else the default action. Forward picks a target
   * group (by weight, or the one a group-stickiness cookie names) and goes
   * on to pick; redirect and fixedResponse are answered here.
   */
  private route(): void {
    const router = this.runtime.router;
    const routes = router.listener(this.listener.listener.name);
    this.ex.reset();
    if (this.peer !== null && !this.peer.isAllowed) {
      this.refuse('FERRY_ERR_IDENTITY_FORBIDDEN');
      return;
    }
    if (routes === undefined) {
      this.refuse('FERRY_ERR_ROUTE_NO_MATCH');
      return;
    }
    const actionIndex = matchListener(routes, this.req, this.remoteAddress);
    const action = routes.actions[actionIndex]!;
    this.rec.routed(routes.actionLabels[actionIndex]!);
    if (action.kind !== ACTION_FORWARD) {
      this.answerLocally(action, redirectInputsOf(action, this.req, routes));
      return;
    }
    const groupIndex = router.pickForwardGroup(action, this.req, this.ex.cookies);
    if (groupIndex < 0) {
      this.refuse('FERRY_ERR_ROUTE_NO_MATCH');
      return;
    }
    this.pick(groupIndex);
  }

  /**
   * Answer a redirect or fixed response (workers/respond/local.ts). The
   * connection stays open when the request allows: keep-alive and no body
   * to skip (a request with a body closes it; reading and dropping the body
   * is not worth its framing risk here).
   */
  private answerLocally(action: CompiledAction, inputs: RedirectInputs | null): void {
    const req = this.req;
    const hasBody = req.bodyKind === BODY_CHUNKED || (req.bodyKind === BODY_LENGTH && req.contentLength > 0);
    const isClose = !req.isKeepAlive || hasBody || this.runtime.isDraining;
    let status: number;
    let response: Buffer | string;
    if (action.kind === ACTION_FIXED_RESPONSE) {
      status = action.fixed!.statusCode;
      response = action.fixed!.bytes(req.method === 'HEAD', isClose, req.versionMinor);
    } else {
      status = action.redirect!.statusCode;
      response = action.redirect!.response(inputs!, isClose, req.versionMinor);
    }
    this.rec.responseStarted(status);
    this.rec.finished();
    const socket = this.socket;
    if (isClose) {
      this.pending = null;
      this.startLinger();
      if (typeof response === 'string') socket.end(response, 'latin1');
      else socket.end(response);
      return;
    }
    const isFlushed =
      typeof response === 'string' ? socket.write(response, 'latin1') : socket.write(response);
    if (!isFlushed) socket.pause(); // the 'drain' handler resumes reading
    this.deadlineMs = this.runtime.nowMs + this.timeouts.keepAliveMs;
    this.deadlineCode = null;
    if (this.pending !== null) process.nextTick(this.readHeadNext);
  }

  // === pick ===
  private pick(groupIndex: number): void {
    const ex = this.ex;
    this.groupIndex = groupIndex;
    this.runtime.router.pick(ex, groupIndex, this.req, this.remoteAddress, this.runtime.nowMs);
    if (ex.target === null) {
      this.refuse('FERRY_ERR_PICK_NO_TARGET');
      return;
    }
    this.upstreamTls = this.runtime.upstreamTls.forGroup(ex.group);
    this.rec.picked(ex, groupIndex);
    this.upstreamHead = this.buildUpstreamHead();
    this.connect();
  }

  // === connect ===
  private connect(): void {
    const runtime = this.runtime;
    this.ex.take();
    if (!this.isBudgetRequest) {
      this.isBudgetRequest = true;
      runtime.retryBudget.requestsInFlight++;
    }
    this.phase = PHASE_BODY;
    this.isRequestDone = false;
    this.isUpstreamHeadSent = false;
    this.isResponseHeadSent = false;
    this.isUpstreamReusable = true;
    this.upPending = null;
    this.res.statusCode = 0;
    this.reqBodyRemaining = this.req.bodyKind === BODY_LENGTH ? this.req.contentLength : 0;
    this.reqChunks.reset();
    this.deadlineMs = runtime.readClock() + this.ex.connectTimeoutMs;
    this.deadlineCode = 'FERRY_ERR_UPSTREAM_CONNECT_TIMEOUT';
    this.acquireUpstream();
  }

  private acquireUpstream(): void {
    const ex = this.ex;
    const target = ex.target!;
    const up = this.runtime.pool.acquire(ex.slot, target.host, target.port, this, this.upstreamTls);
    this.up = up;
    if (up.isConnected) this.onUpstreamConnect(up);
    // Hold downstream bytes until a new connection is ready; onUpstreamConnect releases them.
    // A pooled socket is ready at once: no pause()/resume() pair, whose resume costs a
    // nextTick per request (PROFILE: 1.5-2% at 9 B).
    else this.socket.pause();
  }

  /**
   * The retry after a stale pooled socket: always a new connection, since the
   * other idle sockets to the target are as likely to be stale (the target
   * closed idle connections it thought unused), and there is only one retry.
   */
  private connectFresh(): void {
    const ex = this.ex;
    const target = ex.target!;
    this.rec.retried();
    if (this.rec.isTracing) this.upstreamHead = this.buildUpstreamHead(); // the new attempt's traceparent
    // Nothing is on the new connection yet: should it fail to connect, the retry may go to another target.
    this.isUpstreamHeadSent = false;
    this.deadlineMs = this.runtime.readClock() + ex.connectTimeoutMs;
    this.deadlineCode = 'FERRY_ERR_UPSTREAM_CONNECT_TIMEOUT';
    this.up = this.runtime.pool.connect(ex.slot, target.host, target.port, this, this.upstreamTls);
  }

  onUpstreamConnect(up: UpstreamSocket): void {
    if (up !== this.up) return;
    this.deadlineMs = this.runtime.nowMs + this.ex.responseTimeoutMs;
    this.deadlineCode = 'FERRY_ERR_UPSTREAM_TIMEOUT';
    // Cork only when body bytes follow the head in this call (one writev for both); a lone
    // head is one plain write, without the corked buffer's bookkeeping (PROFILE: 1-2% at 9 B).
    const isCorked = this.pending !== null && !this.isRequestDone;
    if (isCorked) up.socket.cork();
    up.socket.write(this.upstreamHead, 'latin1');
    this.isUpstreamHeadSent = true;
    this.rec.upstreamSent(this.ex.slot, !up.isReused);
    if (this.isRequestDone) {
      // A retry (bodiless request): whatever is pending is the next pipelined request.
    } else if (this.pending !== null) {
      const body = this.pending;
      this.pending = null;
      this.openBodyWindow();
      this.forwardBody(body);
    } else if (
      this.req.bodyKind === BODY_NONE ||
      (this.req.bodyKind === BODY_LENGTH && this.reqBodyRemaining === 0)
    ) {
      // `Content-Length: 0` too: no body byte will come to finish it, and
      // waiting would close the connection after every such request.
      this.finishRequest(null);
    } else {
      this.openBodyWindow();
    }
    if (isCorked) up.socket.uncork();
    // Keep reading while waiting for the response, so a client abort is seen at once
    // (resume() of a flowing socket costs nothing: it was paused only while connecting).
    if (up.socket.writableNeedDrain) this.socket.pause();
    else this.socket.resume();
  }

  // === forward ===
  /** Stream request-body bytes upstream; bytes past the body's end are the next (pipelined) request. */
  private forwardBody(chunk: Buffer): void {
    const up = this.up;
    if (up === null) return;
    let bodyEnd: number;
    switch (this.req.bodyKind) {
      case BODY_LENGTH:
        bodyEnd = Math.min(this.reqBodyRemaining, chunk.length);
        this.reqBodyRemaining -= bodyEnd;
        if (this.reqBodyRemaining > 0) bodyEnd = -1;
        break;
      case BODY_CHUNKED:
        bodyEnd = this.reqChunks.scan(chunk, 0, chunk.length);
        if (bodyEnd === -2) {
          this.req.errorReason = this.reqChunks.errorReason;
          this.failExchange('FERRY_ERR_HTTP_BAD_REQUEST', false);
          return;
        }
        break;
      default:
        bodyEnd = 0;
    }
    if (bodyEnd === -1) {
      // The body deadline (issue 10): the client must keep up the listener's
      // minimum rate. Unless the target is the slow side: while it does not
      // take what was written, the client is paused and the target's response
      // timeout runs instead (onUpstreamDrain opens a new body window).
      if (up.socket.write(chunk)) this.extendBodyWindow(chunk.length);
      else {
        this.socket.pause();
        this.deadlineMs = this.runtime.nowMs + this.ex.responseTimeoutMs;
        this.deadlineCode = 'FERRY_ERR_UPSTREAM_TIMEOUT';
      }
      return;
    }
    if (bodyEnd > 0) up.socket.write(chunk.subarray(0, bodyEnd));
    this.finishRequest(bodyEnd === chunk.length ? null : chunk.subarray(bodyEnd));
  }

  private finishRequest(rest: Buffer | null): void {
    this.isRequestDone = true;
    this.phase = PHASE_RESPONSE;
    // The response timeout counts from the end of the request (a long upload is not a slow target).
    this.deadlineMs = this.runtime.nowMs + this.ex.responseTimeoutMs;
    this.deadlineCode = 'FERRY_ERR_UPSTREAM_TIMEOUT';
    if (rest !== null) this.pending = concat(this.pending, rest);
  }

  /**
   * Open a request-body window (issue 10, Apache's RequestReadTimeout
   * body=…,MinRate=…): the body has `requestBodyMs` from now, plus one second
   * per `requestBodyMinRateBytesPerS` bytes that arrive. A client below the
   * rate gets 408 FERRY_ERR_HTTP_BODY_TIMEOUT, counted against the client.
   */
  private openBodyWindow(): void {
    this.bodyStartMs = this.runtime.nowMs;
    this.bodyBytes = 0;
    this.deadlineMs = this.bodyStartMs + this.timeouts.requestBodyMs;
    this.deadlineCode = 'FERRY_ERR_HTTP_BODY_TIMEOUT';
  }

  /** Count `byteCount` body bytes into the window; integer ms, no allocation. */
  private extendBodyWindow(byteCount: number): void {
    const rate = this.timeouts.requestBodyMinRateBytesPerS;
    this.bodyBytes += byteCount;
    const earnedMs = rate === 0 ? 0 : Math.floor((this.bodyBytes * 1000) / rate);
    this.deadlineMs = this.bodyStartMs + this.timeouts.requestBodyMs + earnedMs;
    this.deadlineCode = 'FERRY_ERR_HTTP_BODY_TIMEOUT';
  }

  onUpstreamDrain(up: UpstreamSocket): void {
    if (up !== this.up) return;
    if (this.phase === PHASE_BODY) {
      this.openBodyWindow(); // the target took the body: the client's clock runs again
      this.socket.resume();
    } else if (this.phase === PHASE_TUNNEL) this.socket.resume();
  }

  // === relay ===
  /**
   * Returns whether `chunk` is still referenced after the call: for plain-TCP
   * targets it is a view of the socket's reused read buffer (workers/upstream
   * socket-pool, UPSTREAM_READ_BUFFER_BYTES). Every write of it happens in this call, and
   * a write the kernel takes at once leaves writableLength at 0 (also for the
   * corked writev below), so writableLength > 0 afterwards is exactly "a write
   * still holds the bytes". Nothing else may keep a view past this call (see
   * upPending in relayHead).
   */
  onUpstreamData(up: UpstreamSocket, chunk: Buffer): boolean {
    if (up !== this.up) return false;
    if (this.phase === PHASE_TUNNEL) {
      if (!this.socket.write(chunk)) up.socket.pause();
      return this.isReadBufferHeld(up);
    }
    this.deadlineMs = this.runtime.nowMs + this.ex.responseTimeoutMs;
    if (this.isResponseHeadSent) {
      this.relayBody(chunk, 0);
      return this.isReadBufferHeld(up);
    }
    const buf = concat(this.upPending, chunk);
    this.upPending = null;
    this.relayHead(buf, 0);
    return this.isReadBufferHeld(up);
  }

  /**
   * Whether `up`'s read buffer must be left to a queued downstream write (the
   * pool then hands `up` another one). Not when `up` is paused for that very
   * write: a paused socket reads nothing (onread sockets stop their handle),
   * and only the downstream 'drain' resumes it, when every queued write is
   * done, so the same buffer can take the next read as it is. A streamed body
   * whose reads fill the buffer (64 KiB > the 16 KiB write high-water mark)
   * pauses on every write the kernel does not take whole: without this, each
   * such read cost a fresh 64 KiB buffer. Once the exchange ended (`up` is
   * no longer this.up: released or dropped) a queued write keeps the buffer.
   */
  private isReadBufferHeld(up: UpstreamSocket): boolean {
    return this.socket.writableLength > 0 && !(up === this.up && up.socket.isPaused());
  }

  /** Parse response heads from buf[start..]: interim 1xx are relayed and parsing goes on. */
  private relayHead(buf: Buffer, start: number): void {
    let offset = start;
    for (;;) {
      const consumed = parseResponseHead(buf, offset, buf.length, this.res, this.req.method);
      if (consumed === NEED_MORE) {
        // A copy, not a view: buf may be the upstream socket's reused read buffer, which its
        // next read overwrites (test/integration/upstream-errors: a head split across reads).
        this.upPending = Buffer.from(buf.subarray(offset));
        return;
      }
      if (consumed < 0) {
        this.failExchange('FERRY_ERR_UPSTREAM_BAD_RESPONSE', true);
        return;
      }
      offset += consumed;
      const status = this.res.statusCode;
      if (status === 101) {
        this.openTunnel(buf.subarray(offset));
        return;
      }
      if (status >= 100 && status < 200) {
        this.socket.write(this.buildResponseHead(true), 'latin1');
        continue;
      }
      const socket = this.socket;
      if (this.res.bodyKind === BODY_CHUNKED && this.req.versionMinor === 0) {
        // The request went upstream as HTTP/1.0, so the target must not use
        // chunked (RFC 9112 §6.1), and the client could not read it.
        this.failExchange('FERRY_ERR_UPSTREAM_BAD_RESPONSE', true);
        return;
      }
      const head = this.startResponse();
      // Head and the first body bytes leave in one write. Measured (node --cpu-prof, wrk -c64,
      // 9-byte bodies) the write syscalls were ~40% of a worker's time with a head write plus a
      // body write per response. A small rest (INLINE_BODY_BYTES_MAX) joins the head as one
      // latin1 string, one write and no chunk array; a larger one gets a corked writev
      // (uncork() is a no-op if finish() ended the socket: end() flushes corked data itself).
      const isInline = buf.length - offset <= INLINE_BODY_BYTES_MAX;
      if (isInline) this.headText = head;
      else {
        socket.cork();
        socket.write(head, 'latin1');
      }
      // A `Content-Length: 0` body is complete with its head: no later byte would finish it.
      const isBodyComplete =
        this.res.bodyKind === BODY_NONE || (this.res.bodyKind === BODY_LENGTH && this.resBodyRemaining === 0);
      if (offset < buf.length || isBodyComplete) this.relayBody(buf, offset);
      this.flushHead();
      if (!isInline && socket.writableCorked > 0) socket.uncork();
      return;
    }
  }

  /** Count the response, decide keep-alive and framing; returns the head to write downstream. */
  private startResponse(): string {
    const res = this.res;
    this.ex.recordOutcome(res.statusCode, this.runtime.nowMs);
    this.rec.responseStarted(res.statusCode);
    this.isCloseAfterResponse =
      !this.req.isKeepAlive ||
      res.bodyKind === BODY_UNTIL_CLOSE ||
      this.runtime.isDraining ||
      !this.isRequestDone;
    if (!res.isKeepAlive || !this.isRequestDone) this.isUpstreamReusable = false;
    this.resBodyRemaining = res.bodyKind === BODY_LENGTH ? res.contentLength : 0;
    this.resChunks.reset();
    this.isResponseHeadSent = true;
    return this.buildResponseHead(false);
  }

  /**
   * Write downstream a body piece, with the response head in front of it
   * when the head is still held (`headText`): one latin1 string, one write.
   * Returns what socket.write returns.
   */
  private writeBody(chunk: Buffer): boolean {
    const head = this.headText;
    if (head === '') return this.socket.write(chunk);
    this.headText = '';
    return this.socket.write(head + latin1(chunk, 0, chunk.length), 'latin1');
  }

  /** Write the held response head (a response whose body had no bytes in its first read). */
  private flushHead(): void {
    const head = this.headText;
    if (head === '') return;
    this.headText = '';
    // After failExchange cut the connection there is nothing to write to.
    if (this.phase !== PHASE_CLOSED) this.socket.write(head, 'latin1');
  }

  /** Relay response-body bytes buf[start..] downstream, and finish when the body ends. */
  private relayBody(buf: Buffer, start: number): void {
    const up = this.up!;
    let bodyEnd: number;
    switch (this.res.bodyKind) {
      case BODY_LENGTH: {
        const take = Math.min(this.resBodyRemaining, buf.length - start);
        this.resBodyRemaining -= take;
        bodyEnd = this.resBodyRemaining > 0 ? -1 : start + take;
        break;
      }
      case BODY_CHUNKED:
        bodyEnd = this.resChunks.scan(buf, start, buf.length);
        if (bodyEnd === -2) {
          // The head already went downstream: all we can do is cut the connection.
          this.failExchange('FERRY_ERR_UPSTREAM_BAD_RESPONSE', true);
          return;
        }
        break;
      case BODY_UNTIL_CLOSE:
        bodyEnd = -1;
        break;
      default:
        bodyEnd = start;
    }
    if (bodyEnd === -1) {
      const ok = this.writeBody(start === 0 ? buf : buf.subarray(start));
      if (!ok) up.socket.pause();
      return;
    }
    if (bodyEnd > start)
      this.writeBody(start === 0 && bodyEnd === buf.length ? buf : buf.subarray(start, bodyEnd));
    this.flushHead();
    if (bodyEnd < buf.length) this.isUpstreamReusable = false; // bytes past the response: never trust this socket again
    this.finish();
  }

  private openTunnel(rest: Buffer): void {
    if (!isWebSocketUpgrade(this.req.upgrade)) {
      // A 101 to a request that asked for no (forwarded) upgrade.
      this.failExchange('FERRY_ERR_UPSTREAM_BAD_RESPONSE', true);
      return;
    }
    this.ex.recordOutcome(101, this.runtime.readClock());
    this.rec.tunnelOpened();
    this.isResponseHeadSent = true;
    this.isUpstreamReusable = false;
    this.phase = PHASE_TUNNEL;
    this.deadlineCode = null;
    this.deadlineMs = Number.MAX_SAFE_INTEGER;
    this.socket.write(this.buildResponseHead(true), 'latin1');
    if (rest.length > 0) this.socket.write(rest);
    const early = this.pending;
    this.pending = null;
    if (early !== null) this.up!.socket.write(early);
    this.socket.resume();
  }

  // === finish ===
  /** The response is complete: release the exchange and go back to reading heads (or close). */
  private finish(): void {
    const up = this.up;
    this.rec.finished();
    this.endExchange();
    if (up !== null) {
      if (this.isUpstreamReusable && this.isRequestDone) this.runtime.pool.release(up, this.runtime.nowMs);
      else {
        up.owner = null;
        up.socket.destroy();
      }
    }
    // Draining: a connection whose exchange was in flight when the drain began (its head went out
    // keep-alive) closes now instead of idling until the client's keep-alive timeout; drain()
    // only closed the connections idle at that moment. A pipelined head already read is served.
    const isDrainedIdle = this.runtime.isDraining && (this.pending === null || this.pending.length === 0);
    if (this.isCloseAfterResponse || isDrainedIdle) {
      this.endDownstream();
      return;
    }
    this.phase = PHASE_HEAD;
    this.deadlineMs = this.runtime.nowMs + this.timeouts.keepAliveMs;
    this.deadlineCode = null;
    this.socket.resume();
    if (this.pending !== null) this.readHead();
  }

  /** Drop the in-flight count (exactly once: workers/upstream/exchange.ts) and forget the upstream socket. */
  private endExchange(): void {
    this.ex.drop();
    this.up = null;
    this.attempt = 0;
    const budget = this.runtime.retryBudget;
    if (this.isBudgetRequest) budget.requestsInFlight--;
    if (this.isBudgetRetry) budget.retriesInFlight--;
    this.isBudgetRequest = false;
    this.isBudgetRetry = false;
  }

  onUpstreamClose(up: UpstreamSocket, errno: string): void {
    if (up !== this.up) return;
    if (this.phase === PHASE_TUNNEL) {
      this.endExchange();
      this.endDownstream();
      return;
    }
    if (this.isResponseHeadSent && this.res.bodyKind === BODY_UNTIL_CLOSE && errno === 'EOF') {
      // A clean close is how such a body ends; a reset is not (failExchange below).
      this.isUpstreamReusable = false;
      this.finish();
      return;
    }
    const hasNoResponseBytes = !this.isResponseHeadSent && this.upPending === null;
    const code = upstreamErrorCode(errno, '');
    if (!up.isConnected && this.retryOnAnotherTarget(code, false)) return;
    const retries = this.ex.retries;
    // The request may have reached the target, so only idempotent bodiless
    // requests are sent again (RFC 9112 §9.3.1.1, RFC 9110 §9.2.2).
    const isReplayable =
      hasNoResponseBytes &&
      this.req.bodyKind === BODY_NONE &&
      isIdempotent(this.req.method) &&
      retries.isOnStaleConnection &&
      this.attempt < retries.attempts;
    if (isReplayable && up.isReused && this.attempt === 0) {
      // A pooled socket the target had (most likely) already closed: once, on a new connection to it.
      this.attempt++;
      this.connectFresh();
      return;
    }
    // A new connection that died before answering: the target is going away; another one.
    if (isReplayable && this.retryOnAnotherTarget(code, true)) return;
    // Local exhaustion (EMFILE) is never the target's failure (issue 10).
    this.failExchange(code, code !== 'FERRY_ERR_INTERNAL_RESOURCES');
  }

  /**
   * Retry on another target (issue 10, group `retries`): for a connect
   * that failed (refused, reset, timed out) before the head was written, so
   * no target saw a byte of this request, whatever its method; or, with
   * `isReplay`, an idempotent bodiless request whose new connection died
   * before any response byte (the caller checked that). Body bytes
   * that came meanwhile are still in `pending` (the client is paused while
   * connecting, so at most one read of them). The failure counts against the
   * target that failed, as without a retry; the new pick is
   * Router.pickAnother's (another slot when it can). Returns false (nothing
   * done) when retries are off, spent, or over the worker's budget (which a
   * refused connect does not spend: isRetryBudgeted).
   */
  private retryOnAnotherTarget(code: ErrorCode, isReplay: boolean): boolean {
    if (
      code !== 'FERRY_ERR_UPSTREAM_CONNECT_REFUSED' &&
      code !== 'FERRY_ERR_UPSTREAM_RESET' &&
      code !== 'FERRY_ERR_UPSTREAM_CONNECT_TIMEOUT'
    )
      return false;
    if (this.groupIndex < 0) return false;
    if (!isReplay && this.isUpstreamHeadSent) return false;
    const ex = this.ex;
    const retries = ex.retries;
    if (this.attempt >= retries.attempts) return false;
    if (!isReplay && !retries.isOnConnectFailure) return false;
    const isOnBudget = isRetryBudgeted(code, isReplay);
    const budget = this.runtime.retryBudget;
    if (isOnBudget && !this.isBudgetRetry && !budget.canRetry(retries.budgetPercent, retries.minConcurrency))
      return false;
    const up = this.up;
    const failedSlot = ex.slot;
    this.rec.upstreamFailed(code, failedSlot, up === null || !up.isConnected, false);
    ex.recordOutcome(RECORD_STATUS_GATEWAY_FAILURE, this.runtime.readClock());
    ex.drop();
    if (up !== null) {
      up.owner = null;
      up.socket.destroy();
    }
    this.up = null;
    this.attempt++;
    if (isOnBudget && !this.isBudgetRetry) {
      this.isBudgetRetry = true;
      budget.retriesInFlight++;
    }
    this.runtime.router.pickAnother(
      ex,
      this.groupIndex,
      this.req,
      this.remoteAddress,
      this.runtime.nowMs,
      failedSlot,
    );
    if (ex.target === null) {
      this.endExchange();
      this.refuse(code);
      return true;
    }
    this.upstreamTls = this.runtime.upstreamTls.forGroup(ex.group);
    this.rec.retried();
    this.rec.picked(ex, this.groupIndex);
    if (this.rec.isTracing) this.upstreamHead = this.buildUpstreamHead(); // the new attempt's traceparent
    this.connect();
    return true;
  }

  // === failure paths ===
  /**
   * End the exchange with an error. `isUpstreamFault` counts a gateway failure
   * against the target. Before a response head went downstream the client
   * gets a synthetic error response; after, the connection is cut.
   */
  private failExchange(code: ErrorCode, isUpstreamFault: boolean): void {
    const up = this.up;
    const ex = this.ex;
    this.rec.upstreamFailed(
      code,
      ex.slot,
      isUpstreamFault && up !== null && !up.isConnected,
      this.isResponseHeadSent,
    );
    if (isUpstreamFault && !this.isResponseHeadSent && ex.slot !== NO_SLOT) {
      ex.recordOutcome(RECORD_STATUS_GATEWAY_FAILURE, this.runtime.readClock());
    }
    this.endExchange();
    if (up !== null) {
      up.owner = null;
      up.socket.destroy();
    }
    if (this.isResponseHeadSent) {
      // Reset rather than close: after a close-delimited head a FIN would tell
      // the client the (truncated) body was complete.
      this.phase = PHASE_CLOSED;
      rawSocketOf(this.socket).resetAndDestroy(); // under TLS, the TCP socket below it
      return;
    }
    this.refuse(code);
  }

  /** Answer with a synthetic error and close (workers/respond). */
  private refuse(code: ErrorCode): void {
    this.rec.refused(code);
    this.pending = null;
    this.startLinger();
    respondWithError(this.socket, code, this.req.method === 'HEAD');
  }

  /** End our side of the downstream connection; the client has DOWNSTREAM_LINGER_MS to close its side. */
  private endDownstream(): void {
    this.startLinger();
    this.socket.end();
  }

  /**
   * After Ferry ends its side, the time the client gets to read what is
   * queued and close its own side before the socket is destroyed: a
   * half-open client must not hold a connection (and a drain) forever. The
   * same bound a client has to send a head.
   */
  private startLinger(): void {
    this.phase = PHASE_CLOSED;
    this.deadlineMs = this.runtime.nowMs + this.timeouts.requestHeaderMs;
    this.deadlineCode = null;
  }

  private onDownstreamEnd(): void {
    // The client half-closed. Mid-exchange that is an abort (as NGINX's proxy_ignore_client_abort off).
    if (this.phase === PHASE_HEAD) this.socket.end();
    else if (this.phase !== PHASE_CLOSED) this.abort();
  }

  private onDownstreamClose(): void {
    if (this.phase !== PHASE_CLOSED) this.abort();
    this.runtime.remove(this);
    this.rec.closed();
  }

  /** The client went away: drop the upstream socket (it may be mid-response) and the counters. */
  private abort(): void {
    this.rec.aborted();
    const up = this.up;
    this.endExchange();
    if (up !== null) {
      up.owner = null;
      up.socket.destroy();
    }
    this.phase = PHASE_CLOSED;
    this.socket.destroy();
  }

  // === deadlines and drain ===
  tick(nowMs: number): void {
    this.rec.tick();
    if (this.isSendTooSlow(nowMs)) {
      this.cutSlowReader();
      return;
    }
    if (nowMs - this.deadlineMs < 0) return;
    if (this.phase === PHASE_CLOSED) {
      // The linger is over and the client still holds its side open: a client
      // that does not read (a response that fit in the kernel's buffers leaves
      // Ferry's queue empty, so only this bound sees it) or does not close.
      this.rec.clientTimedOut();
      this.socket.destroy();
      return;
    }
    const code = this.deadlineCode;
    if (code === null) {
      // An idle keep-alive connection, or a new one that sent nothing (closed quietly, counted).
      if (this.isFirstHead) this.rec.clientTimedOut();
      this.endDownstream();
    } else if (code === 'FERRY_ERR_HTTP_HEADER_TIMEOUT') {
      this.rec.clientTimedOut();
      this.refuse(code);
    } else if (code === 'FERRY_ERR_HTTP_BODY_TIMEOUT') {
      // The client's fault: no gateway failure, no latency sample for the target.
      this.rec.clientTimedOut();
      this.failExchange(code, false);
    } else if (code === 'FERRY_ERR_UPSTREAM_CONNECT_TIMEOUT' && this.retryOnAnotherTarget(code, false)) {
      // retried on another target
    } else {
      this.failExchange(code, true);
    }
  }

  /**
   * Slow reader (issue 10, NGINX send_timeout): bytes queued for the client
   * that it has not taken whole within `timeouts.sendMs`. The 'drain' handler
   * clears the deadline whenever the queue empties, so a client that keeps
   * reading never meets it. Also after Ferry ended its side (linger) and in
   * keep-alive, where the tail of a response may still be queued.
   */
  private isSendTooSlow(nowMs: number): boolean {
    if (this.socket.writableLength === 0) {
      this.sendDeadlineMs = 0;
      return false;
    }
    if (this.sendDeadlineMs === 0) {
      this.sendDeadlineMs = nowMs + this.timeouts.sendMs;
      return false;
    }
    return nowMs - this.sendDeadlineMs >= 0;
  }

  /** Reset a slow reader's connection; the exchange (if any) ends without blaming its target. */
  private cutSlowReader(): void {
    const code: ErrorCode = 'FERRY_ERR_DOWNSTREAM_SEND_TIMEOUT';
    this.rec.clientTimedOut();
    const up = this.up;
    if (up !== null) {
      this.rec.upstreamFailed(code, this.ex.slot, false, this.isResponseHeadSent);
      this.endExchange();
      up.owner = null;
      up.socket.destroy();
    }
    this.phase = PHASE_CLOSED;
    rawSocketOf(this.socket).resetAndDestroy();
  }

  drain(): void {
    if (this.phase === PHASE_HEAD && (this.pending === null || this.pending.length === 0)) {
      this.endDownstream();
    }
    // Otherwise the exchange finishes: startResponse sees runtime.isDraining (`connection: close`),
    // or, when the head went out before the drain, finish() closes the connection.
  }

  // === head building ===
  private buildUpstreamHead(): string {
    const req = this.req;
    const version = req.versionMinor === 0 ? 'HTTP/1.0' : 'HTTP/1.1';
    let head = `${req.method} ${req.target} ${version}\r\n`;
    let forwardedFor = '';
    let codings = '';
    const isTracing = this.rec.isTracing;
    for (let i = 0; i < req.headerCount; i++) {
      const name = req.headerNames[i]!;
      if (name === 'x-forwarded-for') {
        forwardedFor = forwardedFor === '' ? req.headerValues[i]! : `${forwardedFor}, ${req.headerValues[i]}`;
        continue;
      }
      if (name === 'transfer-encoding') {
        codings = joinCodings(codings, req.headerValues[i]!);
        continue;
      }
      // Framing is written below from what Ferry parsed, whatever Connection
      // lists: `Connection: content-length` once stripped the length but not
      // the body, which the target then read as the next request (smuggling).
      if (name === 'content-length' || isDroppedRequestHeader(name)) continue;
      // Our CLIENT span is the target's parent: the caller's context continues through the SERVER span.
      if (isTracing && (name === 'traceparent' || name === 'tracestate')) continue;
      // Host is required in HTTP/1.1 and never hop-by-hop.
      if (name !== 'host' && isConnectionToken(req.connectionTokens, name)) continue;
      head += `${name}: ${req.headerValues[i]}\r\n`;
    }
    head += `x-forwarded-for: ${forwardedFor === '' ? this.remoteAddress : `${forwardedFor}, ${this.remoteAddress}`}\r\n`;
    head += this.listener.forwardedLines;
    if (this.peer !== null) head += this.peer.forwardedClientCertLine;
    if (isTracing) head += this.rec.upstreamHeaderLines();
    if (req.bodyKind === BODY_LENGTH) head += `content-length: ${req.contentLength}\r\n`;
    else if (req.bodyKind === BODY_CHUNKED) head += `transfer-encoding: ${codings}\r\n`;
    if (isWebSocketUpgrade(req.upgrade)) head += `connection: upgrade\r\nupgrade: ${req.upgrade}\r\n`;
    else if (req.versionMinor === 0) head += 'connection: keep-alive\r\n';
    return `${head}\r\n`;
  }

  private buildResponseHead(isInterimOrUpgrade: boolean): string {
    const res = this.res;
    let head = `HTTP/1.1 ${res.statusCode} ${res.reason}\r\n`;
    let codings = '';
    for (let i = 0; i < res.headerCount; i++) {
      const name = res.headerNames[i]!;
      if (name === 'transfer-encoding') {
        codings = joinCodings(codings, res.headerValues[i]!);
        continue;
      }
      // A length that frames the body is written below, from what Ferry parsed (as for requests).
      if (name === 'content-length' && res.bodyKind === BODY_LENGTH) continue;
      if (isHopByHop(name) || isConnectionToken(res.connectionTokens, name)) continue;
      head += `${name}: ${res.headerValues[i]}\r\n`;
    }
    if (res.statusCode === 101) return `${head}connection: upgrade\r\nupgrade: ${res.upgrade}\r\n\r\n`;
    if (isInterimOrUpgrade) return `${head}\r\n`;
    if (res.bodyKind === BODY_LENGTH) head += `content-length: ${res.contentLength}\r\n`;
    else if (res.bodyKind === BODY_CHUNKED) head += `transfer-encoding: ${codings}\r\n`;
    const cookies = this.ex.cookies;
    if (!cookies.isEmpty)
      head += this.runtime.router.responseCookieLines(cookies, res, this.listener.cookieAttributes);
    if (this.listener.listener.isTargetHeaderOn) head += `x-ferry-target: ${this.ex.target!.id}\r\n`;
    if (this.isCloseAfterResponse) head += 'connection: close\r\n';
    else if (this.req.versionMinor === 0) head += 'connection: keep-alive\r\n';
    return `${head}\r\n`;
  }
}

export { H2Listener } from './h2/index.ts';
export { ListenerRuntime } from './listener-runtime.ts';
