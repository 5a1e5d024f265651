/**
 * @module workers/l7/h2/exchange
 *
 * One HTTP/2 stream proxied to an HTTP/1.1 target (H2Exchange): readHead,
 * route, pick, connect and relay through undici, with its client deadlines
 * and retries. Thread: worker. The phase chart and the limits are in
 * ./index.ts.
 */
import http2, { type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { PassThrough } from 'node:stream';
import type { Dispatcher } from 'undici';
import { ERROR_CODES, type ErrorCode } from '../../../proto/error-codes.ts';
import { addWorker, WORKER_REQUESTS_TOTAL } from '../../../proto/table-layout.ts';
import type { TopologyListenerTimeouts } from '../../../proto/thread-messages.ts';
import { HTTP_HEAD_BYTES_MAX, HTTP_HEADER_COUNT_MAX } from '../../../src/shared/limits.ts';
import {
  BODY_CHUNKED,
  BODY_LENGTH,
  BODY_NONE,
  createRequestHead,
  createResponseHead,
  isDroppedRequestHeader,
  isHopByHop,
  type RequestHead,
} from '../../http/index.ts';
import { RECORD_STATUS_GATEWAY_FAILURE, type RequestRecord } from '../../record/index.ts';
import { redirectInputs, respondH2WithError } from '../../respond/index.ts';
import {
  ACTION_FIXED_RESPONSE,
  ACTION_FORWARD,
  type CompiledAction,
  matchListener,
} from '../../route/index.ts';
import type { WorkerRuntime } from '../../runtime.ts';
import type { PeerIdentity } from '../../tls/index.ts';
import { Exchange, isConnectErrorCode, isRetryBudgeted, upstreamErrorCode } from '../../upstream/index.ts';
import { type ListenerRuntime, UNDERSCORE_ALLOW, UNDERSCORE_REJECT } from '../listener-runtime.ts';

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

/** What a stream needs of its session (H2Session implements it; an interface keeps the two files out of a circle). */
export interface H2StreamOwner {
  readonly runtime: WorkerRuntime;
  readonly listener: ListenerRuntime;
  readonly remoteAddress: string;
  /** The verified caller on an mTLS listener; null otherwise. */
  readonly peer: PeerIdentity | null;
  readonly timeouts: TopologyListenerTimeouts;
  /** A new record for one stream's request, with the session's client and identity. */
  newRecord(): RequestRecord;
  /** The stream ended, however it ended. */
  streamEnded(exchange: H2Exchange): void;
}

// === Exchange (one stream) ===
export class H2Exchange implements Dispatcher.DispatchHandler {
  private readonly owner: H2StreamOwner;
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

  constructor(owner: H2StreamOwner, stream: ServerHttp2Stream, headers: IncomingHttpHeaders, raw: string[]) {
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
   * target that failed; the new pick is Router.pickAnother's. Returns false
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
    const isOnBudget = isRetryBudgeted(code, false);
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
    runtime.router.pickAnother(
      ex,
      this.groupIndex,
      this.req,
      this.owner.remoteAddress,
      runtime.nowMs,
      failedSlot,
    );
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
