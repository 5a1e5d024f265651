/**
 * @module workers/l7/h2
 *
 * HTTP/2 on HTTPS listeners: a client that picks `h2` by ALPN gets an HTTP/2
 * session (node:http2, server side, over the already-terminated TLS socket),
 * and each stream is proxied to an HTTP/1.1 target through the same route,
 * pick, counters and record as HttpConnection. Thread: worker. Place in the flow:
 *
 *   accept ──> tls (ALPN h2) ──> H2Listener.accept ──> H2Session (one per connection)
 *     │  no stream within `timeouts.requestHeader` of the handshake: GOAWAY, closed (a client
 *     │  timeout, as an HTTP/1.1 connection that sent nothing); no stream open for `keepAlive`: GOAWAY
 *     stream ──> readHead (h2 headers -> RequestHead) ──> route ──> pick ──> connect+forward
 *       (undici Pool per target: workers/upstream/http-pool.ts) ──> relay (undici handler) ──> finish
 *     │             │              │        │            │                       │
 *     │             │              │        │            │                       └─ reset mid-body:
 *     │             │              │        │            │                          RST_STREAM INTERNAL_ERROR;
 *     │             │              │        │            │                          DOWNSTREAM_SEND_TIMEOUT (RST_STREAM
 *     │             │              │        │            │                          CANCEL: response bytes the client
 *     │             │              │        │            │                          did not let through within `send`)
 *     │             │              │        │            └─ UPSTREAM_CONNECT_REFUSED/_RESET/_TLS (502),
 *     │             │              │        │               UPSTREAM_CONNECT_TIMEOUT/_TIMEOUT (504); a refused or
 *     │             │              │        │               timed-out connect of a bodiless stream goes back to
 *     │             │              │        │               pick on another target (group `retries`, retryConnect)
 *     │             │              │        │               UPSTREAM_BAD_RESPONSE (502),
 *     │             │              │        │               HTTP_BODY_TIMEOUT (408, or RST_STREAM CANCEL once the
 *     │             │              │        │               response started: body below `requestBody` + minimum
 *     │             │              │        │               rate; the client's fault, no target penalty)
 *     │             │              │        └─ PICK_NO_TARGET (503)
 *     │             │              └─ ROUTE_NO_MATCH (404); redirect and fixedResponse answered here
 *     │             └─ HTTP_BAD_REQUEST (400: CONNECT), HTTP_HEADERS_TOO_LARGE (431, as HTTP/1.1;
 *     │                beyond H2_HEADER_LIST_BYTES_MAX nghttp2 resets the stream: ENHANCE_YOUR_CALM)
 *     └─ DRAINING: GOAWAY, open streams finish
 *
 * Why streams go to HTTP/1.1 targets through undici and not the raw pool:
 * see workers/upstream/http-pool.ts (translation is needed anyway; undici
 * does it with keep-alive and strict parsing). The h2 side is node:http2's
 * core API (no compat layer), and each stream is one H2Exchange object that
 * is its own undici dispatch handler (no closures per chunk).
 *
 * Limits: SETTINGS_MAX_CONCURRENT_STREAMS = H2_CONCURRENT_STREAMS_MAX, server
 * push off. A request head may hold HTTP_HEAD_BYTES_MAX bytes (measured on
 * its HTTP/1.1 form, so both protocols take the same heads) and
 * HTTP_HEADER_COUNT_MAX fields; readHead checks these and answers 431.
 * nghttp2's own header limits sit 4x higher (H2_HEADER_LIST_BYTES_MAX,
 * H2_HEADER_PAIRS_MAX): were they Ferry's, nghttp2 would reset the stream
 * before Ferry saw it, and clients retry a reset. They stay as the hard
 * bound on memory, with nghttp2's flood and rapid-reset protections.
 *
 * Client deadlines (issue 10) are the listener's `timeouts`, the values
 * HTTP/1.1 connections get, checked by the worker tick through the session,
 * which walks its open streams (no timer per stream; see H2Session). undici's
 * own timeouts bound the target only: it stops them while it writes a
 * request body or while the response is paused for the client.
 *
 * Headers to the target: `:authority` becomes Host; several `cookie` fields
 * are joined with "; " (RFC 9113 §8.2.3); connection-specific fields and
 * `expect` are dropped (the body is streamed as it comes, and a 100 is sent
 * to the client at once); X-Forwarded-For/-Proto (https)/-Port are set as on
 * HTTP/1.1. A request body without content-length goes chunked.
 */
import http2, { type IncomingHttpHeaders, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import { PassThrough } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import type { Dispatcher } from 'undici';
import { ERROR_CODES, type ErrorCode } from '../../proto/error-codes.ts';
import { addWorker, WORKER_REQUESTS_TOTAL } from '../../proto/table-layout.ts';
import type { TopologyListenerTimeouts } from '../../proto/thread-messages.ts';
import {
  H2_CONCURRENT_STREAMS_MAX,
  H2_HEADER_LIST_BYTES_MAX,
  H2_HEADER_PAIRS_MAX,
  HTTP_HEAD_BYTES_MAX,
  HTTP_HEADER_COUNT_MAX,
  RETRY_PICK_ATTEMPTS_MAX,
} from '../../src/shared/limits.ts';
import {
  BODY_CHUNKED,
  BODY_LENGTH,
  BODY_NONE,
  createRequestHead,
  createResponseHead,
  isDroppedRequestHeader,
  isHopByHop,
  type RequestHead,
} from '../http/index.ts';
import { RECORD_STATUS_GATEWAY_FAILURE, RequestRecord } from '../record/index.ts';
import { redirectInputs, respondH2WithError } from '../respond/index.ts';
import { ACTION_FIXED_RESPONSE, ACTION_FORWARD, type CompiledAction, matchListener } from '../route/index.ts';
import type { LiveConnection, WorkerRuntime } from '../runtime.ts';
import { type PeerIdentity, rawSocketOf } from '../tls/index.ts';
import { Exchange, isConnectErrorCode, upstreamErrorCode } from '../upstream/index.ts';
import { type ListenerRuntime, UNDERSCORE_ALLOW, UNDERSCORE_REJECT } from './listener-runtime.ts';

/** Bytes of an HTTP/1.1 request line besides method and target: " " and " HTTP/1.1\r\n". */
const REQUEST_LINE_FRAMING_BYTES = 12;
/** Bytes of an HTTP/1.1 field line besides name and value: ": " and "\r\n". */
const FIELD_LINE_FRAMING_BYTES = 4;
/** RST_STREAM INTERNAL_ERROR: the response cannot be completed (RFC 9113 §7). */
const NGHTTP2_INTERNAL_ERROR = http2.constants.NGHTTP2_INTERNAL_ERROR;
/**
 * RST_STREAM CANCEL: a client deadline cut the stream (issue 10). CANCEL ("the
 * stream is no longer needed", RFC 9113 §7) rather than INTERNAL_ERROR, which
 * a failed target gets, so the two read apart in a client's logs; not
 * REFUSED_STREAM, which tells a client to retry (the target may have acted).
 */
const NGHTTP2_CANCEL = http2.constants.NGHTTP2_CANCEL;
/** RST_STREAM NO_ERROR after a complete response: stop sending the request body (RFC 9113 §8.1). */
const NGHTTP2_NO_ERROR = http2.constants.NGHTTP2_NO_ERROR;

/** Request fields not forwarded: hop-by-hop and X-Forwarded-* (hop-by-hop.ts), or set by undici from the request itself. */
function isDroppedH2RequestHeader(name: string): boolean {
  switch (name) {
    case 'expect':
    case 'host':
    case 'content-length':
    case 'cookie':
      return true;
    default:
      return isDroppedRequestHeader(name);
  }
}

/** Sort an undici or socket error into a Ferry code (the failure path only). */
function h2UpstreamErrorCode(error: Error): ErrorCode {
  const code = (error as NodeJS.ErrnoException).code ?? '';
  const causeCode = ((error as { cause?: NodeJS.ErrnoException }).cause?.code as string | undefined) ?? '';
  return upstreamErrorCode(code, causeCode);
}

/**
 * Whether a head is over the limits HTTP/1.1 heads have (HTTP_HEAD_BYTES_MAX
 * on its HTTP/1.1 form: request line, `host` from :authority, each field
 * line, the empty line; HTTP_HEADER_COUNT_MAX fields, `host` included).
 * Bounded by H2_HEADER_PAIRS_MAX, which nghttp2 enforced already.
 */
function isOverHeadLimits(req: RequestHead, raw: string[]): boolean {
  let bytes = req.method.length + req.target.length + REQUEST_LINE_FRAMING_BYTES + 2;
  let fieldCount = 0;
  if (req.host !== '') {
    fieldCount++; // readHead's `host` field: the head arrays hold HTTP_HEADER_COUNT_MAX in all
    bytes += 4 + req.host.length + FIELD_LINE_FRAMING_BYTES;
  }
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.charCodeAt(0) === 0x3a) continue; // pseudo-header: counted above
    fieldCount++;
    bytes += name.length + raw[i + 1]!.length + FIELD_LINE_FRAMING_BYTES;
  }
  return fieldCount > HTTP_HEADER_COUNT_MAX || bytes > HTTP_HEAD_BYTES_MAX;
}

// === Listener ===
/** The HTTP/2 side of one HTTPS listener in one worker: a node:http2 server that never listens. */
export class H2Listener {
  private readonly server: http2.Http2Server;
  /**
   * The TLS socket being handed over: node:http2 emits 'session' synchronously
   * inside emit('connection'), and the session's own `socket` is a proxy that
   * throws once the session ends, so the record keeps the real one.
   */
  private acceptingSocket: TLSSocket | null;
  /** The client of the socket being handed over (its peer, or what a trusted PROXY header named). */
  private acceptingAddress: string;
  private acceptingPort: number;

  constructor(runtime: WorkerRuntime, listener: ListenerRuntime) {
    this.server = http2.createServer({
      settings: {
        maxConcurrentStreams: H2_CONCURRENT_STREAMS_MAX,
        maxHeaderListSize: H2_HEADER_LIST_BYTES_MAX,
        enablePush: false,
      },
      maxHeaderListPairs: H2_HEADER_PAIRS_MAX,
    });
    this.acceptingSocket = null;
    this.acceptingAddress = '';
    this.acceptingPort = 0;
    this.server.on('session', (session: ServerHttp2Session) => {
      const socket = this.acceptingSocket;
      if (socket === null) {
        session.destroy();
        return;
      }
      new H2Session(runtime, listener, session, socket, this.acceptingAddress, this.acceptingPort).start();
    });
  }

  /** Run HTTP/2 on a TLS socket whose ALPN chose `h2`; the client as HttpConnection takes it. */
  accept(socket: TLSSocket, clientAddress: string, clientPort: number): void {
    this.acceptingSocket = socket;
    this.acceptingAddress = clientAddress;
    this.acceptingPort = clientPort;
    try {
      this.server.emit('connection', socket);
    } finally {
      this.acceptingSocket = null;
    }
  }
}

// === Session ===
/**
 * One downstream HTTP/2 connection: its streams, idle deadlines and drain.
 *
 * Deadlines (issue 10), all on the worker tick, none a timer:
 *
 *   handshake done ──(no stream within requestHeader)──> GOAWAY, closed; a client timeout
 *        │
 *        └─ streams ──> each H2Exchange's own: request body + minimum rate (408 or
 *                       RST_STREAM CANCEL), send (RST_STREAM CANCEL); a stream reset for
 *                       `send` that the client does not even let close within `send`
 *                       (it reads nothing at all) takes the session down (TCP reset)
 *             └─ no stream open for keepAlive ──> GOAWAY, closed (not counted)
 *
 * A session that GOAWAY did not close (the client reads nothing, so the
 * frame never goes out) is destroyed a `requestHeader` later, as an
 * HTTP/1.1 connection's linger.
 */
export class H2Session implements LiveConnection {
  readonly runtime: WorkerRuntime;
  readonly listener: ListenerRuntime;
  readonly session: ServerHttp2Session;
  readonly socket: TLSSocket;
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** The verified caller on an mTLS listener (workers/tls/peer-identity.ts); null otherwise. */
  readonly peer: PeerIdentity | null;
  /** The listener's client deadlines (config `timeouts`), the same HTTP/1.1 connections get. */
  readonly timeouts: TopologyListenerTimeouts;
  /** Connection-level record (accepted, bytes, closed); each stream has its own for its request. */
  private readonly rec: RequestRecord;
  /** Streams open on this session, walked by the tick (at most H2_CONCURRENT_STREAMS_MAX). */
  private readonly exchanges: Set<H2Exchange>;
  /** False until the first stream: the idle bound is `requestHeader` before, `keepAlive` after. */
  private hasOpenedStream: boolean;
  private idleSinceMs: number;
  /** Closing for idleness: GOAWAY went, and the session is destroyed at idleCloseDeadlineMs if still open. */
  private isIdleClosing: boolean;
  private idleCloseDeadlineMs: number;
  private isClosed: boolean;

  constructor(
    runtime: WorkerRuntime,
    listener: ListenerRuntime,
    session: ServerHttp2Session,
    socket: TLSSocket,
    clientAddress: string,
    clientPort: number,
  ) {
    this.runtime = runtime;
    this.listener = listener;
    this.session = session;
    this.socket = socket;
    this.remoteAddress = clientAddress;
    this.remotePort = clientPort;
    this.rec = new RequestRecord(
      runtime.observer,
      listener.listener,
      this.socket,
      clientAddress,
      clientPort,
      true,
    );
    this.peer = listener.peerCheck === null ? null : listener.peerCheck.of(socket);
    this.timeouts = listener.listener.timeouts;
    this.exchanges = new Set();
    this.hasOpenedStream = false;
    this.idleSinceMs = runtime.nowMs;
    this.isIdleClosing = false;
    this.idleCloseDeadlineMs = 0;
    this.isClosed = false;
  }

  start(): void {
    const session = this.session;
    this.runtime.add(this);
    this.rec.accepted();
    session.on(
      'stream',
      (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, _flags: number, raw: string[]) => {
        this.hasOpenedStream = true;
        const exchange = new H2Exchange(this, stream, headers, raw);
        this.exchanges.add(exchange);
        exchange.start();
      },
    );
    session.on('error', () => {}); // 'close' follows
    session.on('close', () => {
      this.isClosed = true;
      this.rec.closed();
      this.runtime.remove(this);
    });
    if (this.runtime.isDraining) session.close();
  }

  /** A stream of this session ended, however it ended. */
  streamEnded(exchange: H2Exchange): void {
    this.exchanges.delete(exchange);
    if (this.exchanges.size === 0) this.idleSinceMs = this.runtime.nowMs;
  }

  newRecord(): RequestRecord {
    const rec = new RequestRecord(
      this.runtime.observer,
      this.listener.listener,
      this.socket,
      this.remoteAddress,
      this.remotePort,
      true,
    );
    if (this.peer !== null) rec.identified(this.peer.spiffeId);
    return rec;
  }

  tick(nowMs: number): void {
    this.rec.tick();
    if (this.isClosed) return;
    for (const exchange of this.exchanges) {
      if (exchange.tick(nowMs)) {
        // A stream reset for `send` has not closed a `send` later: the client
        // reads nothing at all, so no frame (not even the reset) reaches it.
        rawSocketOf(this.socket).resetAndDestroy();
        this.session.destroy();
        return;
      }
    }
    if (this.isIdleClosing) {
      if (nowMs - this.idleCloseDeadlineMs >= 0) this.session.destroy();
      return;
    }
    if (this.exchanges.size !== 0) return;
    if (!this.hasOpenedStream) {
      // As an HTTP/1.1 connection that sent nothing (a partial HEADERS block
      // opens no stream either): closed quietly, counted against the client.
      if (nowMs - this.idleSinceMs < this.timeouts.requestHeaderMs) return;
      this.rec.clientTimedOut();
    } else if (nowMs - this.idleSinceMs < this.timeouts.keepAliveMs) return;
    this.isIdleClosing = true;
    this.idleCloseDeadlineMs = nowMs + this.timeouts.requestHeaderMs;
    this.session.close();
  }

  /** GOAWAY: no new streams; the open ones finish, then the session closes. */
  drain(): void {
    if (!this.isClosed) this.session.close();
  }
}

// === Exchange (one stream) ===
class H2Exchange implements Dispatcher.DispatchHandler {
  private readonly owner: H2Session;
  private readonly runtime: WorkerRuntime;
  private readonly stream: ServerHttp2Stream;
  private readonly req: RequestHead;
  private readonly rec: RequestRecord;
  /** Pick result, timeouts and the in-flight count (workers/upstream/exchange.ts). */
  private readonly ex: Exchange;
  /** Request fields for the target, as a flat [name, value, …] list. */
  private readonly upstreamHeaders: string[];
  /** Length of upstreamHeaders before connect adds an attempt's own fields (trace context, length). */
  private upstreamHeadersBase: number;
  /** The target group the route chose (before failover), for a retry's new pick; -1 before pick. */
  private groupIndex: number;
  /** Retries on another target so far (group `retries.attempts` bounds them). */
  private attempt: number;
  /** This stream counts in the worker's retry budget as a retry (a connect timeout's). */
  private isBudgetRetry: boolean;
  /** The head is over HTTP_HEAD_BYTES_MAX or HTTP_HEADER_COUNT_MAX (431); readHead filled nothing else. */
  private isHeadTooLarge: boolean;
  private isResponseStarted: boolean;
  private isDone: boolean;
  private controller: Dispatcher.DispatchController | null;
  /** What undici reads the request body from; null without a body. */
  private body: PassThrough | null;
  // --- client deadlines (issue 10), checked by the session's tick ---
  /** A request-body window is open: the body's head reached the target and its end has not come. */
  private isBodyWindowOpen: boolean;
  /** Table clock when the window opened, and body bytes received since (Apache MinRate, as HTTP/1.1). */
  private bodyStartMs: number;
  private bodyBytes: number;
  /** When queued response bytes must have gone to the client; 0 = none queued since the last drain. */
  private sendDeadlineMs: number;
  /** A send deadline reset the stream, at sendCutAtMs (table clock; see H2Session.tick). */
  private isSendCut: boolean;
  private sendCutAtMs: number;
  private readonly resumeUpstream: () => void;
  private readonly countBodyBytes: (chunk: Buffer) => void;

  constructor(owner: H2Session, stream: ServerHttp2Stream, headers: IncomingHttpHeaders, raw: string[]) {
    this.owner = owner;
    this.runtime = owner.runtime;
    this.stream = stream;
    this.req = createRequestHead();
    this.rec = owner.newRecord();
    this.ex = new Exchange(owner.runtime.view, owner.runtime.workerIndex);
    this.upstreamHeaders = [];
    this.upstreamHeadersBase = -1;
    this.groupIndex = -1;
    this.attempt = 0;
    this.isBudgetRetry = false;
    this.isHeadTooLarge = false;
    this.isResponseStarted = false;
    this.isDone = false;
    this.controller = null;
    this.body = null;
    this.isBodyWindowOpen = false;
    this.bodyStartMs = 0;
    this.bodyBytes = 0;
    this.sendDeadlineMs = 0;
    this.isSendCut = false;
    this.sendCutAtMs = 0;
    this.resumeUpstream = () => {
      this.sendDeadlineMs = 0; // the client took everything queued: the send deadline starts over
      this.controller?.resume();
    };
    this.countBodyBytes = (chunk: Buffer) => {
      this.bodyBytes += chunk.length;
    };
    this.readHead(headers, raw);
  }

  start(): void {
    const stream = this.stream;
    stream.on('error', () => {}); // 'close' follows
    stream.on('close', () => this.onStreamClose());
    if (this.isHeadTooLarge) {
      this.refuse('FERRY_ERR_HTTP_HEADERS_TOO_LARGE'); // as HttpConnection: before the request counts
      return;
    }
    addWorker(this.runtime.view, this.runtime.workerIndex, WORKER_REQUESTS_TOTAL, 1);
    this.rec.requestStarted(this.req);
    if (this.req.errorReason !== '') {
      this.refuse('FERRY_ERR_HTTP_BAD_REQUEST'); // readHead found a header name it rejects
      return;
    }
    if (this.req.method === 'CONNECT') {
      this.req.errorReason = 'CONNECT is not supported';
      this.refuse('FERRY_ERR_HTTP_BAD_REQUEST');
      return;
    }
    if (this.req.isExpectContinue) stream.additionalHeaders({ ':status': 100 });
    this.route();
  }

  // === readHead ===
  /** Fill the RequestHead the router, hash keys and record read, and the target's header list. */
  private readHead(headers: IncomingHttpHeaders, raw: string[]): void {
    const req = this.req;
    req.method = String(headers[':method'] ?? 'GET');
    req.target = String(headers[':path'] ?? '/');
    req.host = String(headers[':authority'] ?? headers.host ?? '');
    req.versionMinor = 1;
    req.isKeepAlive = true;
    req.connectionTokens = '';
    req.upgrade = '';
    req.errorReason = '';
    req.isExpectContinue = false;
    if (isOverHeadLimits(req, raw)) {
      this.isHeadTooLarge = true;
      return;
    }
    const names = req.headerNames;
    const values = req.headerValues;
    let count = 0;
    names[count] = 'host';
    values[count++] = req.host;
    let cookie = '';
    let forwardedFor = '';
    const isTracing = this.rec.isTracing;
    const out = this.upstreamHeaders;
    const underscoreAction = this.owner.listener.underscoreAction;
    out.push('host', req.host);
    for (let i = 0; i + 1 < raw.length; i += 2) {
      const name = raw[i]!;
      const value = raw[i + 1]!;
      if (name.charCodeAt(0) === 0x3a) continue; // pseudo-header
      if (name === 'cookie') {
        cookie = cookie === '' ? value : `${cookie}; ${value}`;
        continue;
      }
      if (name === 'host') continue;
      if (underscoreAction !== UNDERSCORE_ALLOW && name.indexOf('_') !== -1) {
        // Issue 10: dropped, or the stream refused with 400 when the listener says reject.
        if (underscoreAction === UNDERSCORE_REJECT)
          req.errorReason = `header name with an underscore: ${name}`;
        continue;
      }
      names[count] = name;
      values[count++] = value;
      if (name === 'expect') req.isExpectContinue = value.toLowerCase() === '100-continue';
      if (name === 'x-forwarded-for')
        forwardedFor = forwardedFor === '' ? value : `${forwardedFor}, ${value}`;
      if (isDroppedH2RequestHeader(name)) continue;
      if (isTracing && (name === 'traceparent' || name === 'tracestate')) continue;
      out.push(name, value);
    }
    if (cookie !== '') {
      names[count] = 'cookie';
      values[count++] = cookie;
      out.push('cookie', cookie);
    }
    req.headerCount = count;
    const remote = this.owner.remoteAddress;
    out.push('x-forwarded-for', forwardedFor === '' ? remote : `${forwardedFor}, ${remote}`);
    out.push('x-forwarded-proto', 'https', 'x-forwarded-port', String(this.owner.listener.listener.port));
    const peer = this.owner.peer;
    if (peer !== null) out.push('x-forwarded-client-cert', peer.forwardedClientCert);
    const lengthText = headers['content-length'];
    if (this.stream.endAfterHeaders) {
      req.bodyKind = BODY_NONE;
      req.contentLength = -1;
    } else if (typeof lengthText === 'string' && /^\d{1,15}$/.test(lengthText)) {
      req.bodyKind = BODY_LENGTH;
      req.contentLength = Number(lengthText);
    } else {
      req.bodyKind = BODY_CHUNKED;
      req.contentLength = -1;
    }
  }

  // === route ===
  private route(): void {
    const router = this.runtime.router;
    const routes = router.listener(this.owner.listener.listener.name);
    if (this.owner.peer !== null && !this.owner.peer.isAllowed) {
      this.refuse('FERRY_ERR_IDENTITY_FORBIDDEN');
      return;
    }
    if (routes === undefined) {
      this.refuse('FERRY_ERR_ROUTE_NO_MATCH');
      return;
    }
    const actionIndex = matchListener(routes, this.req, this.owner.remoteAddress);
    const action = routes.actions[actionIndex]!;
    this.rec.routed(routes.actionLabels[actionIndex]!);
    if (action.kind !== ACTION_FORWARD) {
      this.answerLocally(action, routes);
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
   * A redirect or fixed response, written as HTTP/2 fields: the status, the
   * fields and body HTTP/1.1 clients get (workers/respond/local.ts) without
   * their connection framing.
   */
  private answerLocally(
    action: CompiledAction,
    routes: { readonly protocol: string; readonly host: string; readonly port: number },
  ): void {
    const isHead = this.req.method === 'HEAD';
    let statusCode: number;
    let headers: Record<string, string>;
    let body: Buffer | null = null;
    if (action.kind === ACTION_FIXED_RESPONSE) {
      const fixed = action.fixed!;
      statusCode = fixed.statusCode;
      headers = {
        ':status': String(statusCode),
        'content-type': fixed.contentType,
        'content-length': String(fixed.body.length),
      };
      if (!isHead && fixed.body.length > 0) body = fixed.body;
    } else {
      const redirect = action.redirect!;
      statusCode = redirect.statusCode;
      const inputs = redirectInputs(this.req, routes.protocol, routes.host, routes.port);
      headers = { ':status': String(statusCode), location: redirect.location(inputs), 'content-length': '0' };
    }
    this.rec.responseStarted(statusCode);
    this.isDone = true;
    if (this.stream.destroyed) return;
    this.stream.respond(headers, { endStream: body === null });
    if (body !== null) this.stream.end(body);
    this.rec.finished();
  }

  // === pick ===
  private pick(groupIndex: number): void {
    const runtime = this.runtime;
    const ex = this.ex;
    this.groupIndex = groupIndex;
    runtime.router.pick(ex, groupIndex, this.req, this.owner.remoteAddress, runtime.nowMs);
    if (ex.target === null || ex.group === null) {
      this.refuse('FERRY_ERR_PICK_NO_TARGET');
      return;
    }
    this.rec.picked(ex, groupIndex);
    const tls = runtime.upstreamTls.forGroup(ex.group);
    const pool = runtime.httpPools.poolFor(ex.slot, ex.target, ex.group, tls);
    this.connect(pool);
  }

  // === connect + forward ===
  private connect(pool: Dispatcher): void {
    this.ex.take();
    const headers = this.upstreamHeaders;
    // A retry starts from the request's own fields: this attempt adds its trace context and length.
    if (this.upstreamHeadersBase < 0) this.upstreamHeadersBase = headers.length;
    else headers.length = this.upstreamHeadersBase;
    if (this.rec.isTracing) this.rec.pushUpstreamHeaderFields(headers);
    const req = this.req;
    if (req.bodyKind === BODY_LENGTH) headers.push('content-length', String(req.contentLength));
    this.rec.upstreamSent(this.ex.slot, false);
    pool.dispatch(
      {
        path: req.target,
        method: req.method as Dispatcher.HttpMethod,
        headers,
        body: req.bodyKind === BODY_NONE ? null : this.requestBody(),
      },
      this,
    );
  }

  /**
   * The request body as undici reads it: a PassThrough the stream pipes into
   * (with backpressure), because undici destroys the body stream when it is
   * done, and destroying the Http2Stream itself would end the response too.
   */
  private requestBody(): PassThrough {
    const body = new PassThrough();
    this.body = body;
    this.stream.pipe(body);
    this.stream.on('data', this.countBodyBytes);
    return body;
  }

  // === relay (undici DispatchHandler) ===
  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.isDone) {
      controller.abort(new Error('downstream stream closed'));
      return;
    }
    // The head goes to the target now: the body's window opens (as HTTP/1.1's, from the head sent).
    if (this.body !== null && !this.stream.readableEnded) this.openBodyWindow(this.runtime.nowMs);
  }

  onResponseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: IncomingHttpHeaders,
  ): void {
    this.ex.recordOutcome(statusCode, this.runtime.nowMs);
    this.rec.responseStarted(statusCode);
    this.isResponseStarted = true;
    const stream = this.stream;
    if (stream.destroyed || stream.closed) {
      controller.abort(new Error('downstream stream closed'));
      return;
    }
    const res = createResponseHead();
    res.statusCode = statusCode;
    const out: Record<string, string | string[]> = { ':status': String(statusCode) };
    let count = 0;
    for (const name of Object.keys(headers)) {
      const value = headers[name];
      if (value === undefined || isHopByHop(name)) continue;
      out[name] = value;
      for (const one of Array.isArray(value) ? value : [value]) {
        res.headerNames[count] = name;
        res.headerValues[count++] = one;
      }
    }
    res.headerCount = count;
    const cookies = this.ex.cookies;
    if (!cookies.isEmpty) {
      const setCookies: string[] = [];
      const existing = out['set-cookie'];
      if (existing !== undefined) setCookies.push(...(Array.isArray(existing) ? existing : [existing]));
      this.runtime.router.pushResponseCookies(setCookies, cookies, res, this.owner.listener.cookieAttributes);
      out['set-cookie'] = setCookies;
    }
    if (this.owner.listener.listener.isTargetHeaderOn) out['x-ferry-target'] = this.ex.target!.id;
    try {
      stream.respond(out);
    } catch (error) {
      // A field node:http2 refuses (an invalid value the target sent), or the stream closed meanwhile.
      this.runtime.log.warn(
        { err: (error as Error).message, phase: 'relay' },
        'h2 stream: response head not sent',
      );
      controller.abort(error as Error);
      if (!stream.destroyed) stream.close(NGHTTP2_INTERNAL_ERROR);
    }
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.stream.destroyed) return;
    if (!this.stream.write(chunk)) {
      controller.pause();
      this.stream.once('drain', this.resumeUpstream);
    }
  }

  onResponseEnd(): void {
    this.endExchange();
    this.isDone = true;
    if (!this.stream.destroyed) this.stream.end();
    this.rec.finished();
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    const wasDownstreamGone = this.isDone;
    this.endExchange();
    if (wasDownstreamGone) return; // the client went away first: recorded in onStreamClose
    const code = h2UpstreamErrorCode(error);
    const log = this.runtime.log;
    if (log.isLevelEnabled('debug')) {
      log.debug(
        { code, err: error.message, cause: (error as { code?: string }).code, phase: 'relay' },
        'h2 stream: upstream failed',
      );
    }
    const isUpstreamFault = code !== 'FERRY_ERR_HTTP_BAD_REQUEST';
    if (!this.isResponseStarted && this.retryConnect(code)) return;
    this.rec.upstreamFailed(code, this.ex.slot, isConnectErrorCode(code), this.isResponseStarted);
    if (isUpstreamFault && !this.isResponseStarted) {
      this.ex.recordOutcome(RECORD_STATUS_GATEWAY_FAILURE, this.runtime.readClock());
    }
    if (this.isResponseStarted) {
      this.isDone = true;
      if (!this.stream.destroyed) this.stream.close(NGHTTP2_INTERNAL_ERROR);
      return;
    }
    this.refuse(code);
  }

  /**
   * Retry on another target (issue 10, group `retries`, as HttpConnection
   * does): for a stream whose connection to the target was refused or timed
   * out, so no target saw it, and without a body (undici has begun to read a
   * body by then, and Ferry keeps no copy to send again). A refused connect
   * does not spend the worker's retry budget, a timeout does (see
   * HttpConnection.retryOnAnotherTarget). The failure counts against the
   * target that failed; the new pick goes through Router.pick, up to
   * RETRY_PICK_ATTEMPTS_MAX times to land on another slot. Returns false
   * (nothing done) when the stream cannot or may not be retried.
   */
  private retryConnect(code: ErrorCode): boolean {
    if (code !== 'FERRY_ERR_UPSTREAM_CONNECT_REFUSED' && code !== 'FERRY_ERR_UPSTREAM_CONNECT_TIMEOUT')
      return false;
    const ex = this.ex;
    const retries = ex.retries;
    if (this.req.bodyKind !== BODY_NONE || this.groupIndex < 0) return false;
    if (!retries.isOnConnectFailure || this.attempt >= retries.attempts) return false;
    const runtime = this.runtime;
    const budget = runtime.retryBudget;
    const isOnBudget = code !== 'FERRY_ERR_UPSTREAM_CONNECT_REFUSED';
    if (isOnBudget && !this.isBudgetRetry && !budget.canRetry(retries.budgetPercent, retries.minConcurrency))
      return false;
    const failedSlot = ex.slot;
    this.rec.upstreamFailed(code, failedSlot, true, false);
    ex.recordOutcome(RECORD_STATUS_GATEWAY_FAILURE, runtime.readClock());
    this.attempt++;
    if (isOnBudget && !this.isBudgetRetry) {
      this.isBudgetRetry = true;
      budget.retriesInFlight++;
    }
    for (let i = 0; i < RETRY_PICK_ATTEMPTS_MAX; i++) {
      runtime.router.pick(ex, this.groupIndex, this.req, this.owner.remoteAddress, runtime.nowMs);
      if (ex.slot !== failedSlot) break;
    }
    if (ex.target === null || ex.group === null) {
      this.leaveBudget();
      this.refuse(code);
      return true;
    }
    this.rec.retried();
    this.rec.picked(ex, this.groupIndex);
    const tls = runtime.upstreamTls.forGroup(ex.group);
    this.connect(runtime.httpPools.poolFor(ex.slot, ex.target, ex.group, tls));
    return true;
  }

  // === finish ===
  /** Drop the in-flight count (exactly once: workers/upstream/exchange.ts). */
  private endExchange(): void {
    this.ex.drop();
    this.leaveBudget();
  }

  /** This stream no longer counts as a retry in the worker's budget. */
  private leaveBudget(): void {
    if (!this.isBudgetRetry) return;
    this.isBudgetRetry = false;
    this.runtime.retryBudget.retriesInFlight--;
  }

  /** Answer with a synthetic error (workers/respond). */
  private refuse(code: ErrorCode): void {
    this.isDone = true;
    this.rec.refused(code);
    respondH2WithError(this.stream, code, this.req.method === 'HEAD');
  }

  private onStreamClose(): void {
    this.owner.streamEnded(this);
    if (this.isDone) return;
    // The client reset the stream (or the session went) before the response was complete.
    this.isDone = true;
    this.rec.aborted();
    const controller = this.controller;
    if (controller !== null && !controller.aborted)
      controller.abort(new Error(ERROR_CODES.FERRY_ERR_DOWNSTREAM_ABORTED.doc));
    this.endExchange();
  }

  // === deadlines (issue 10) ===
  /**
   * The stream's client deadlines, from the session's tick (H5: no timer per
   * stream). Returns true when the session must go: this stream was reset
   * for `send` a `send` ago and has still not closed. Allocates nothing.
   */
  tick(nowMs: number): boolean {
    if (this.isSendCut) return nowMs - this.sendCutAtMs >= this.owner.timeouts.sendMs;
    if (this.isSendTooSlow(nowMs)) {
      this.cutSlowReader(nowMs);
      return false;
    }
    if (this.isBodyWindowOpen) this.checkBodyWindow(nowMs);
    return false;
  }

  /**
   * Open a request-body window (Apache's RequestReadTimeout body=…,MinRate=…,
   * as HttpConnection): the body has `requestBody` from now, plus one second
   * per `requestBodyMinRate` bytes that arrive.
   */
  private openBodyWindow(nowMs: number): void {
    this.isBodyWindowOpen = true;
    this.bodyStartMs = nowMs;
    this.bodyBytes = 0;
  }

  private checkBodyWindow(nowMs: number): void {
    if (this.stream.readableEnded) {
      this.isBodyWindowOpen = false; // the whole body is in: undici's response timeout runs from here
      return;
    }
    if (this.body?.writableNeedDrain) {
      // The target is the slow side: it does not take what was written, so the
      // pipe stopped reading the stream (and HTTP/2 flow control stopped the
      // client). The client's clock starts over when the target takes it; undici's
      // timeouts bound the target meanwhile.
      this.openBodyWindow(nowMs);
      return;
    }
    const timeouts = this.owner.timeouts;
    const rate = timeouts.requestBodyMinRateBytesPerS;
    const earnedMs = rate === 0 ? 0 : Math.floor((this.bodyBytes * 1000) / rate);
    if (nowMs - (this.bodyStartMs + timeouts.requestBodyMs + earnedMs) < 0) return;
    this.cutSlowBody();
  }

  /**
   * 408 FERRY_ERR_HTTP_BODY_TIMEOUT (RST_STREAM CANCEL once the response
   * started): the client's fault, so no gateway failure and no latency sample
   * for the target; the upstream request is aborted (undici closes its
   * connection, the target sees the request cut).
   */
  private cutSlowBody(): void {
    const code: ErrorCode = 'FERRY_ERR_HTTP_BODY_TIMEOUT';
    const stream = this.stream;
    this.isBodyWindowOpen = false;
    const log = this.runtime.log;
    if (log.isLevelEnabled('debug'))
      log.debug({ code, phase: 'forward' }, 'h2 stream: request body too slow');
    this.rec.clientTimedOut();
    this.abortUpstream(code);
    if (this.body !== null) stream.unpipe(this.body);
    stream.off('data', this.countBodyBytes);
    if (this.isResponseStarted) {
      if (!stream.destroyed) stream.close(NGHTTP2_CANCEL);
      return;
    }
    this.refuse(code);
    // The response is complete and the body is not: tell the client to stop sending it
    // (node:http2 sends the reset once the response is written).
    if (!stream.destroyed) stream.close(NGHTTP2_NO_ERROR);
  }

  /**
   * Slow reader (NGINX send_timeout, as HttpConnection): response bytes queued
   * for the client, which it has not let through (its stream window stays at
   * 0) within `send`. The 'drain' handler clears the deadline whenever the
   * queue empties. Also after the response ended, while its tail is queued.
   */
  private isSendTooSlow(nowMs: number): boolean {
    if (this.stream.writableLength === 0) {
      this.sendDeadlineMs = 0;
      return false;
    }
    if (this.sendDeadlineMs === 0) {
      this.sendDeadlineMs = nowMs + this.owner.timeouts.sendMs;
      return false;
    }
    return nowMs - this.sendDeadlineMs >= 0;
  }

  /** RST_STREAM CANCEL for a slow reader; the exchange (if live) ends without blaming its target. */
  private cutSlowReader(nowMs: number): void {
    this.isSendCut = true;
    this.sendCutAtMs = nowMs;
    this.isBodyWindowOpen = false;
    this.rec.clientTimedOut();
    if (!this.isDone) this.abortUpstream('FERRY_ERR_DOWNSTREAM_SEND_TIMEOUT');
    if (!this.stream.destroyed) this.stream.close(NGHTTP2_CANCEL);
  }

  /**
   * End the exchange for a client deadline: recorded as the client's failure
   * (no gateway failure, no response-time sample), the in-flight count
   * dropped, the upstream request aborted. isDone first, so the
   * onResponseError the abort brings returns at once.
   */
  private abortUpstream(code: ErrorCode): void {
    this.isDone = true;
    this.rec.upstreamFailed(code, this.ex.slot, false, this.isResponseStarted);
    const controller = this.controller;
    if (controller !== null && !controller.aborted) controller.abort(new Error(ERROR_CODES[code].doc));
    this.endExchange();
  }
}
