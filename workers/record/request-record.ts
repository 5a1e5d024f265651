/**
 * @module workers/record/request-record
 *
 * The record phase of one downstream HTTP connection: listener counters,
 * the access-log line and the spans of each request on it. Thread: worker.
 * Place in the flow: workers/l7 calls it at phase boundaries; one instance per
 * HttpConnection, reused by every request on that connection (H6: every
 * field is set in the constructor and reset per request, none added later).
 *
 *   accept ──> accepted()                     LISTENER_CONNECTIONS_TOTAL, ACTIVE +1
 *   readHead ─> requestStarted(req)           LISTENER_REQUESTS_TOTAL; SERVER span
 *   pick ────> picked(exchange, group asked) CLIENT span (traceparent for the upstream head)
 *   connect ─> upstreamSent(slot, isNew)      STATS_NEW_CONNECTIONS_TOTAL
 *   relay ───> responseStarted(status)
 *   finish ──> finished()                     line + spans end
 *   failures: upstreamFailed(code, …)         STATS_CONNECT_ERRORS_TOTAL; CLIENT span error
 *             refused(code)                   LISTENER_FERRY_*; line + spans end
 *             aborted()                       client went away mid-request
 *             clientTimedOut()                LISTENER_CLIENT_TIMEOUTS_TOTAL (head, body, send deadlines)
 *   close ───> closed()                       ACTIVE -1, processed bytes
 *
 * Target status classes and the response-time histogram are counted by
 * recordExchange (index.ts), which l7 calls for every exchange with a target.
 *
 * H4: with access logs and tracing off (`observer.isDetailed` false) only the
 * counters run: no clock reads, no strings, no objects.
 *
 * Times in the line (ALB's request/target/response processing times):
 *
 *   head parsed ──request──> head sent upstream ──target──> response head ──response──> last byte
 *
 * `durationMs` runs from head parsed to the end. Bytes are what the
 * connection read and wrote since the previous request's line.
 */
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { ERROR_CODES, type ErrorCode } from '../../proto/error-codes.ts';
import {
  addListener,
  addStats,
  LISTENER_ACTIVE_CONNECTIONS,
  LISTENER_BYTES_IN_TOTAL,
  LISTENER_BYTES_OUT_TOTAL,
  LISTENER_CLIENT_TIMEOUTS_TOTAL,
  LISTENER_CONNECTIONS_TOTAL,
  LISTENER_FERRY_4XX_TOTAL,
  LISTENER_FERRY_5XX_TOTAL,
  LISTENER_FERRY_502_TOTAL,
  LISTENER_FERRY_503_TOTAL,
  LISTENER_FERRY_504_TOTAL,
  LISTENER_REQUESTS_TOTAL,
  loadTarget,
  STATS_CONNECT_ERRORS_TOTAL,
  STATS_NEW_CONNECTIONS_TOTAL,
  TARGET_ACTIVE_CONNECTIONS,
  TARGET_IN_FLIGHT,
  TARGET_LATENCY_EWMA_US,
  TARGET_PEAK_EWMA_US,
  TARGET_WEIGHT,
} from '../../proto/table-layout.ts';
import type { TopologyGroup, TopologyListener, TopologyTarget } from '../../proto/thread-messages.ts';
import { monoUs } from '../../src/shared/clock.ts';
import type { RequestHead } from '../http/index.ts';
import {
  PICK_BALANCED,
  PICK_FAIL_OPEN,
  PICK_STANDBY,
  PICK_STICKY,
  type PickOutcome,
  STICKY_HIT,
  STICKY_MISS,
  STICKY_REPICK,
} from '../route/index.ts';
import { jsonMsBetween, jsonString, jsonStringOrNull } from './access-log.ts';
import type { Observer } from './observer.ts';
import {
  ATTR_CLIENT_ADDRESS,
  ATTR_CLIENT_PORT,
  ATTR_FERRY_ALGORITHM,
  ATTR_FERRY_CLIENT_SPIFFE_ID,
  ATTR_FERRY_LISTENER,
  ATTR_FERRY_PICK_REASON,
  ATTR_FERRY_RULE,
  ATTR_FERRY_TARGET,
  ATTR_FERRY_TARGET_GROUP,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_REQUEST_RESEND_COUNT,
  ATTR_LB_ALGORITHM,
  ATTR_LB_CANDIDATES,
  ATTR_LB_FAIL_OPEN,
  ATTR_LB_FAILOVER,
  ATTR_LB_PICK,
  ATTR_LB_STICKY,
  ATTR_LB_TARGET_CONNECTIONS,
  ATTR_LB_TARGET_IN_FLIGHT,
  ATTR_LB_TARGET_LATENCY_EWMA_US,
  ATTR_LB_TARGET_PEAK_EWMA_US,
  ATTR_LB_TARGET_WEIGHT,
  ATTR_NETWORK_PROTOCOL_VERSION,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  ATTR_URL_FULL,
  ATTR_URL_PATH,
  ATTR_URL_QUERY,
  ATTR_URL_SCHEME,
  ATTR_USER_AGENT_ORIGINAL,
  TraceSpan,
  type Tracing,
} from './tracing.ts';

/** The rule name of a request that matched no listener rule (it took the default action); l7 reports the rule via routed(). */
const RULE_DEFAULT = 'default';

/** `ferry.pick_reason` / `pickReason`: why this target. */
export function pickReasonOf(pickKind: number, algorithm: string): string | null {
  if (pickKind === PICK_FAIL_OPEN) return 'fail_open';
  if (pickKind === PICK_STICKY) return 'sticky';
  if (pickKind === PICK_STANDBY) return 'standby';
  if (pickKind === PICK_BALANCED) return algorithm === 'hash' ? 'hash' : 'balanced';
  return null;
}

/** The 32-hex trace id of a `traceparent` value (version 00 layout), or null. */
function traceIdOfTraceparent(value: string): string | null {
  return value.length >= 55 && value.charCodeAt(2) === 45 /* - */ ? value.slice(3, 35) : null;
}

/** `ferry.lb.sticky` / `lb.sticky`: what stickiness did. */
function stickyName(stickyOutcome: number): string {
  if (stickyOutcome === STICKY_HIT) return 'hit';
  if (stickyOutcome === STICKY_MISS) return 'miss';
  if (stickyOutcome === STICKY_REPICK) return 'repick';
  return 'none';
}

function headerValue(req: RequestHead, name: string): string | null {
  for (let i = 0; i < req.headerCount; i++) if (req.headerNames[i] === name) return req.headerValues[i]!;
  return null;
}

export class RequestRecord {
  private readonly observer: Observer;
  private readonly listener: TopologyListener;
  /** LISTENER row, or -1 when the table has none (then nothing is counted per listener). */
  private readonly listenerIndex: number;
  private readonly socket: Socket;
  /** The client: the socket's peer, or the one a trusted PROXY header named (issue 13). */
  private readonly clientAddress: string;
  private readonly clientPort: number;
  /** `address:port` of the client, for the access log. */
  private readonly client: string;
  /** The verified caller's SPIFFE ID on an mTLS listener (issue 14); null otherwise. */
  private clientIdentity: string | null;
  private readonly scheme: string;
  /** This listener's access-log bindings (AccessLog.listenerPrefix); null while access logs are off. */
  private readonly logPrefix: string | null;

  // --- the current request ---
  /** Between the start of a request (or a refusal before one) and its line. */
  private isOpen: boolean;
  private req: RequestHead | null;
  private group: TopologyGroup | null;
  private target: TopologyTarget | null;
  private pickKind: number;
  /** STICKY_* of the pick. */
  private stickyOutcome: number;
  /** The group the route asked for; differs from `group` after a failover. */
  private requestedGroupIndex: number;
  /**
   * The picked target's score inputs, read from the table right after the
   * pick (what the balancer saw) — only when a span records or access logs
   * are on: integer loads into these fields, no object (STYLE H1, H4).
   */
  private hasLbInputs: boolean;
  private lbInFlight: number;
  private lbConnections: number;
  private lbLatencyEwmaUs: number;
  private lbPeakEwmaUs: number;
  private lbWeight: number;
  /** The listener is HTTP/2 (workers/l7/h2/): the access log's request line and the span's protocol version say 2. */
  private readonly isHttp2: boolean;
  /** The listener rule that matched (its priority as text), or RULE_DEFAULT. */
  private rule: string;
  private attempt: number;
  private targetStatus: number;
  private startUs: number;
  private sentUs: number;
  private headUs: number;
  /** This connection's SERVER and CLIENT spans, reused by each request (null while tracing is off). */
  private readonly serverSpan: TraceSpan | null;
  private readonly clientSpan: TraceSpan | null;
  private traceId: string | null;

  // --- byte marks: the line's (per request) and the metric's (per tick) ---
  private logBytesIn: number;
  private logBytesOut: number;
  private metricBytesIn: number;
  private metricBytesOut: number;

  constructor(
    observer: Observer,
    listener: TopologyListener,
    socket: Socket,
    clientAddress: string,
    clientPort: number,
    isHttp2 = false,
  ) {
    this.observer = observer;
    this.isHttp2 = isHttp2;
    this.listener = listener;
    this.listenerIndex = observer.listenerIndexOf(listener);
    this.socket = socket;
    this.clientAddress = clientAddress;
    this.clientPort = clientPort;
    this.client = `${clientAddress}:${clientPort}`;
    this.clientIdentity = null;
    // `as string`: HTTPS listeners arrive with TLS termination (workers/tls); the record only needs the scheme.
    this.scheme = (listener.protocol as string) === 'HTTPS' ? 'https' : 'http';
    this.logPrefix =
      observer.accessLog?.listenerPrefix(this.scheme, listener.name, observer.workerIndex) ?? null;
    this.isOpen = false;
    this.req = null;
    this.group = null;
    this.target = null;
    this.pickKind = 0;
    this.stickyOutcome = 0;
    this.requestedGroupIndex = -1;
    this.hasLbInputs = false;
    this.lbInFlight = 0;
    this.lbConnections = 0;
    this.lbLatencyEwmaUs = 0;
    this.lbPeakEwmaUs = 0;
    this.lbWeight = 0;
    this.rule = RULE_DEFAULT;
    this.attempt = 0;
    this.targetStatus = 0;
    this.startUs = 0;
    this.sentUs = 0;
    this.headUs = 0;
    this.serverSpan = observer.tracing === null ? null : new TraceSpan();
    this.clientSpan = observer.tracing === null ? null : new TraceSpan();
    this.traceId = null;
    this.logBytesIn = 0;
    this.logBytesOut = 0;
    this.metricBytesIn = 0;
    this.metricBytesOut = 0;
  }

  /** True when tracing is on: l7 then replaces the caller's traceparent with upstreamHeaderLines(). */
  get isTracing(): boolean {
    return this.observer.tracing !== null;
  }

  // === accept / close ===
  accepted(): void {
    this.count(LISTENER_CONNECTIONS_TOTAL, 1);
    this.count(LISTENER_ACTIVE_CONNECTIONS, 1);
  }

  closed(): void {
    if (this.isOpen) this.finalize(499, 'FERRY_ERR_DOWNSTREAM_ABORTED');
    this.count(LISTENER_ACTIVE_CONNECTIONS, -1);
    this.flushBytes();
  }

  /** From the worker tick: move the bytes moved since the last tick into the listener's counters. */
  tick(): void {
    this.flushBytes();
  }

  // === readHead ===
  requestStarted(req: RequestHead): void {
    this.count(LISTENER_REQUESTS_TOTAL, 1);
    this.isOpen = true;
    this.req = req;
    this.group = null;
    this.target = null;
    this.pickKind = 0;
    this.stickyOutcome = 0;
    this.requestedGroupIndex = -1;
    this.hasLbInputs = false;
    this.rule = RULE_DEFAULT;
    this.attempt = 0;
    this.targetStatus = 0;
    this.sentUs = 0;
    this.headUs = 0;
    this.traceId = null;
    if (!this.observer.isDetailed) return;
    this.startUs = monoUs();
    const tracing = this.observer.tracing;
    if (tracing === null) {
      const traceparent = headerValue(req, 'traceparent');
      this.traceId = traceparent === null ? null : traceIdOfTraceparent(traceparent);
      return;
    }
    // Each attribute costs serialisation in every export (OTLP protobuf): only what the conventions
    // require or recommend and what is not already said elsewhere (network.peer.* equals client.*
    // here; the worker index is a resource attribute). What the route and pick decide is written
    // when the span ends (spanEnded), once, from this record's fields.
    const span = this.serverSpan!;
    tracing.startServer(span, req.method, req, this.startUs);
    this.traceId = span.traceId;
    if (!span.isRecording) return;
    const queryAt = req.target.indexOf('?');
    span.setString(ATTR_HTTP_REQUEST_METHOD, req.method);
    span.setString(ATTR_URL_SCHEME, this.scheme);
    span.setString(ATTR_URL_PATH, queryAt === -1 ? req.target : req.target.slice(0, queryAt));
    if (queryAt !== -1) span.setString(ATTR_URL_QUERY, req.target.slice(queryAt + 1));
    span.setString(ATTR_SERVER_ADDRESS, req.host);
    span.setNumber(ATTR_SERVER_PORT, this.listener.port);
    span.setString(ATTR_CLIENT_ADDRESS, this.clientAddress);
    span.setNumber(ATTR_CLIENT_PORT, this.clientPort);
    span.setString(
      ATTR_NETWORK_PROTOCOL_VERSION,
      this.isHttp2 ? '2' : req.versionMinor === 0 ? '1.0' : '1.1',
    );
    span.setString(ATTR_USER_AGENT_ORIGINAL, headerValue(req, 'user-agent') ?? '');
    span.setString(ATTR_FERRY_LISTENER, this.listener.name);
    if (this.clientIdentity !== null) span.setString(ATTR_FERRY_CLIENT_SPIFFE_ID, this.clientIdentity);
  }

  /** The connection's verified caller (workers/tls/peer-identity.ts), for access logs and spans. */
  identified(spiffeId: string | null): void {
    this.clientIdentity = spiffeId;
  }

  // === route ===
  /** The listener rule that decided the request (its priority as text, precomputed), or 'default'. */
  routed(rule: string): void {
    this.rule = rule;
  }

  // === pick ===
  /**
   * A target was picked: `out` is the exchange the one pick entry point
   * (Router.pick) wrote, `requestedGroupIndex` the group the route asked for
   * (the serving group differs after a failover). With a recording span or
   * access logs on, the picked target's score inputs are read from the table
   * now (what the balancer saw, before this request's in-flight count is
   * taken); otherwise nothing is read or built.
   */
  picked(out: PickOutcome, requestedGroupIndex: number): void {
    const group = out.group;
    const target = out.target!;
    this.group = group;
    this.target = target;
    this.pickKind = out.pickKind;
    this.stickyOutcome = out.stickyOutcome;
    this.requestedGroupIndex = requestedGroupIndex;
    const tracing = this.observer.tracing;
    const server = this.serverSpan;
    const isSpanRecording = server?.isOpen === true && server.isRecording;
    this.hasLbInputs = isSpanRecording || this.logPrefix !== null;
    if (this.hasLbInputs) {
      const view = this.observer.view;
      const slot = out.slot;
      this.lbInFlight = loadTarget(view, slot, TARGET_IN_FLIGHT);
      this.lbConnections = loadTarget(view, slot, TARGET_ACTIVE_CONNECTIONS);
      this.lbLatencyEwmaUs = loadTarget(view, slot, TARGET_LATENCY_EWMA_US);
      this.lbPeakEwmaUs = loadTarget(view, slot, TARGET_PEAK_EWMA_US);
      this.lbWeight = loadTarget(view, slot, TARGET_WEIGHT);
    }
    if (tracing === null || server === null || !server.isOpen) return;
    this.startClientSpan(tracing, server);
  }

  /**
   * The SERVER span's route and pick attributes, `ferry.lb.*` included
   * (docs/observability.md), written once when it ends: a retry's new pick
   * replaces the first's, as the record's fields do.
   */
  private writeServerDecision(span: TraceSpan): void {
    span.setString(ATTR_FERRY_RULE, this.req === null ? RULE_DEFAULT : this.rule);
    const group = this.group;
    const target = this.target;
    if (target === null) return;
    const algorithm = group?.algorithm ?? '';
    span.setString(ATTR_FERRY_TARGET_GROUP, group?.name ?? '');
    span.setString(ATTR_FERRY_TARGET, target.id);
    if (!this.hasLbInputs) return;
    span.setString(ATTR_LB_ALGORITHM, algorithm);
    span.setString(ATTR_LB_PICK, pickReasonOf(this.pickKind, algorithm) ?? '');
    span.setString(ATTR_LB_STICKY, stickyName(this.stickyOutcome));
    span.setNumber(ATTR_LB_CANDIDATES, group?.members.length ?? 0);
    span.setBool(ATTR_LB_FAILOVER, group !== null && group.groupIndex !== this.requestedGroupIndex);
    span.setBool(ATTR_LB_FAIL_OPEN, this.pickKind === PICK_FAIL_OPEN);
    span.setNumber(ATTR_LB_TARGET_IN_FLIGHT, this.lbInFlight);
    span.setNumber(ATTR_LB_TARGET_CONNECTIONS, this.lbConnections);
    span.setNumber(ATTR_LB_TARGET_LATENCY_EWMA_US, this.lbLatencyEwmaUs);
    span.setNumber(ATTR_LB_TARGET_PEAK_EWMA_US, this.lbPeakEwmaUs);
    span.setNumber(ATTR_LB_TARGET_WEIGHT, this.lbWeight);
  }

  /** The access-log line's `lb` object: the same facts as the span's `ferry.lb.*`; built only for a line written. */
  /** The pick decision as a JSON object (`lb` in the access log), `null` when there was no pick. */
  private lbJson(): string {
    const group = this.group;
    if (group === null || this.target === null || !this.hasLbInputs) return 'null';
    return (
      `{"algorithm":${jsonString(group.algorithm)}` +
      `,"pick":${jsonString(pickReasonOf(this.pickKind, group.algorithm) ?? '')}` +
      `,"sticky":"${stickyName(this.stickyOutcome)}"` +
      `,"candidates":${group.members.length}` +
      `,"failover":${group.groupIndex !== this.requestedGroupIndex}` +
      `,"failOpen":${this.pickKind === PICK_FAIL_OPEN}` +
      `,"inFlight":${this.lbInFlight},"connections":${this.lbConnections}` +
      `,"latencyEwmaUs":${this.lbLatencyEwmaUs},"peakEwmaUs":${this.lbPeakEwmaUs},"weight":${this.lbWeight}}`
    );
  }

  /** `traceparent`/`tracestate` lines for the upstream head ('' without tracing). */
  upstreamHeaderLines(): string {
    const tracing = this.observer.tracing;
    const span = this.clientSpan;
    return tracing === null || span?.isOpen !== true ? '' : tracing.headerLines(span);
  }

  /** The same trace context as [name, value, …] fields (HTTP/2 streams' upstream requests). */
  pushUpstreamHeaderFields(out: string[]): void {
    const tracing = this.observer.tracing;
    const span = this.clientSpan;
    if (tracing !== null && span?.isOpen === true) tracing.pushHeaderFields(out, span);
  }

  /**
   * A pooled socket turned out stale and the request goes again on a new
   * connection: the first attempt's CLIENT span ends failed, a new one starts
   * (l7 rebuilds the head, so the target sees the new span as its parent).
   */
  retried(): void {
    this.attempt++;
    const tracing = this.observer.tracing;
    const server = this.serverSpan;
    if (tracing === null || server === null || !server.isOpen || !this.clientSpan!.isOpen) return;
    tracing.end(this.clientSpan!, 0, 'FERRY_ERR_UPSTREAM_RESET', true, monoUs());
    this.startClientSpan(tracing, server);
  }

  // === connect ===
  /** The request head went to the target on `slot`; `isNewConnection` when that socket was just opened. */
  upstreamSent(slot: number, isNewConnection: boolean): void {
    if (isNewConnection) addStats(this.observer.view, slot, STATS_NEW_CONNECTIONS_TOTAL, 1);
    if (this.observer.isDetailed && this.sentUs === 0) this.sentUs = monoUs();
  }

  // === relay ===
  responseStarted(statusCode: number): void {
    this.targetStatus = statusCode;
    if (this.observer.isDetailed) this.headUs = monoUs();
  }

  // === finish ===
  finished(): void {
    this.finalize(this.targetStatus, null);
  }

  /** A WebSocket upgrade was accepted: the request is over (the tunnel is not a request). */
  tunnelOpened(): void {
    this.targetStatus = 101;
    this.finalize(101, null);
  }

  // === failures ===
  /**
   * The exchange with the target failed. `isConnectError` when the
   * connection was never established (ELB TargetConnectionErrorCount). When
   * the response head had already gone downstream the connection is reset
   * and this is the end of the request; otherwise refused() follows.
   */
  upstreamFailed(code: ErrorCode, slot: number, isConnectError: boolean, isResponseHeadSent: boolean): void {
    if (isConnectError && slot >= 0) addStats(this.observer.view, slot, STATS_CONNECT_ERRORS_TOTAL, 1);
    const tracing = this.observer.tracing;
    if (tracing !== null && this.clientSpan!.isOpen)
      tracing.end(this.clientSpan!, this.targetStatus, code, true, monoUs());
    if (isResponseHeadSent) this.finalize(this.targetStatus, code);
  }

  /** Ferry answers with a synthetic error (workers/respond): count it and end the request. */
  refused(code: ErrorCode): void {
    const status = ERROR_CODES[code].status;
    if (status >= 400 && status < 500) this.count(LISTENER_FERRY_4XX_TOTAL, 1);
    else if (status >= 500 && status < 600) {
      this.count(LISTENER_FERRY_5XX_TOTAL, 1);
      if (status === 502) this.count(LISTENER_FERRY_502_TOTAL, 1);
      else if (status === 503) this.count(LISTENER_FERRY_503_TOTAL, 1);
      else if (status === 504) this.count(LISTENER_FERRY_504_TOTAL, 1);
    }
    // A head that never parsed (400, 431, 505, 408) is still a request (ELB counts those) and gets its line.
    if (!this.isOpen) {
      this.count(LISTENER_REQUESTS_TOTAL, 1);
      this.isOpen = true;
      this.req = null;
      this.group = null;
      this.target = null;
      this.targetStatus = 0;
      this.startUs = 0;
      this.sentUs = 0;
      this.headUs = 0;
      this.traceId = null;
    }
    this.finalize(status, code);
  }

  /** The client went away mid-request. */
  /** A client deadline cut the connection (head, body or send; issue 10): the client's fault, never a target's. */
  clientTimedOut(): void {
    this.count(LISTENER_CLIENT_TIMEOUTS_TOTAL, 1);
  }

  aborted(): void {
    if (this.isOpen) this.finalize(499, 'FERRY_ERR_DOWNSTREAM_ABORTED');
  }

  // === the line and the spans ===
  private finalize(status: number, code: ErrorCode | null): void {
    if (!this.isOpen) return;
    this.isOpen = false;
    if (!this.observer.isDetailed) return;
    const endUs = monoUs();
    const isError = code !== null || status >= 500;
    const tracing = this.observer.tracing;
    if (tracing !== null) {
      const client = this.clientSpan!;
      if (client.isOpen)
        tracing.end(client, this.targetStatus, code, code !== null || this.targetStatus >= 400, endUs);
      const server = this.serverSpan!;
      if (server.isOpen) {
        if (server.isRecording) this.writeServerDecision(server);
        tracing.end(server, status === 499 ? 0 : status, code, isError, endUs);
      }
    }
    const accessLog = this.observer.accessLog;
    const logPrefix = this.logPrefix;
    if (accessLog === null || logPrefix === null) return;
    const bytesIn = this.socket.bytesRead;
    const bytesOut = this.socket.bytesWritten ?? this.logBytesOut;
    const receivedBytes = bytesIn - this.logBytesIn;
    const sentBytes = bytesOut - this.logBytesOut;
    this.logBytesIn = bytesIn;
    this.logBytesOut = bytesOut;
    if (!isError && !accessLog.isSampled()) return;
    accessLog.write(logPrefix, this.line(status, code, endUs, receivedBytes, sentBytes));
  }

  /** The line's fields as JSON members (`,"name":value`; AccessLog.write frames them). */
  private line(
    status: number,
    code: ErrorCode | null,
    endUs: number,
    receivedBytes: number,
    sentBytes: number,
  ): string {
    const req = this.req;
    const target = this.target;
    const group = this.group;
    const tls = this.scheme === 'https' ? (this.socket as TLSSocket) : null;
    return (
      `,"client":${jsonString(this.client)}` +
      `,"clientIdentity":${jsonStringOrNull(this.clientIdentity)}` +
      `,"upstream":${target === null ? 'null' : jsonString(target.id)}` +
      `,"targetGroup":${group === null ? 'null' : jsonString(group.name)}` +
      `,"pickReason":${group === null ? 'null' : jsonStringOrNull(pickReasonOf(this.pickKind, group.algorithm))}` +
      `,"status":${status}` +
      `,"targetStatus":${this.targetStatus === 0 ? 'null' : this.targetStatus}` +
      `,"requestProcessingMs":${jsonMsBetween(this.startUs, this.sentUs)}` +
      `,"targetProcessingMs":${jsonMsBetween(this.sentUs, this.headUs)}` +
      `,"responseProcessingMs":${jsonMsBetween(this.headUs, endUs)}` +
      `,"durationMs":${jsonMsBetween(this.startUs, endUs)}` +
      `,"receivedBytes":${receivedBytes},"sentBytes":${sentBytes}` +
      `,"request":${req === null ? '"- - -"' : jsonString(this.requestLine(req))}` +
      `,"userAgent":${req === null ? 'null' : jsonStringOrNull(headerValue(req, 'user-agent'))}` +
      `,"tlsProtocol":${tls === null ? 'null' : jsonStringOrNull(tls.getProtocol())}` +
      `,"tlsCipher":${tls === null ? 'null' : jsonStringOrNull(tls.getCipher()?.name ?? null)}` +
      `,"traceId":${jsonStringOrNull(this.traceId)}` +
      `,"rule":${req === null ? 'null' : jsonString(this.rule)}` +
      `,"lb":${this.lbJson()}` +
      `,"code":${jsonStringOrNull(code)}` +
      `,"phase":${jsonString(this.phase(code))}`
    );
  }

  /** ALB's `request` field: method, absolute URL, protocol. */
  private requestLine(req: RequestHead): string {
    const version = this.isHttp2 ? 'HTTP/2.0' : req.versionMinor === 0 ? 'HTTP/1.0' : 'HTTP/1.1';
    const url = req.target.startsWith('/') ? `${this.scheme}://${req.host}${req.target}` : req.target;
    return `${req.method} ${url} ${version}`;
  }

  /** The phase the request ended in (STYLE §4 names). */
  private phase(code: ErrorCode | null): string {
    if (code === null) return 'finish';
    if (this.req === null) return 'readHead';
    if (this.target === null) return code === 'FERRY_ERR_ROUTE_NO_MATCH' ? 'route' : 'pick';
    if (this.sentUs === 0) return 'connect';
    if (this.headUs === 0) return 'forward';
    return 'relay';
  }

  /** Start the CLIENT span of this attempt (a child of `server`), ending one still open as failed. */
  private startClientSpan(tracing: Tracing, server: TraceSpan): void {
    const span = this.clientSpan!;
    const nowUs = monoUs();
    if (span.isOpen) tracing.end(span, 0, 'FERRY_ERR_UPSTREAM_RESET', true, nowUs);
    const req = this.req!;
    tracing.startClient(span, req.method, server, nowUs);
    if (!span.isRecording) return;
    const target = this.target!;
    const group = this.group;
    const algorithm = group?.algorithm ?? '';
    span.setString(ATTR_HTTP_REQUEST_METHOD, req.method);
    span.setString(ATTR_SERVER_ADDRESS, target.host);
    span.setNumber(ATTR_SERVER_PORT, target.port);
    span.setString(ATTR_URL_FULL, `http://${target.id}${req.target}`);
    span.setString(ATTR_FERRY_TARGET_GROUP, group?.name ?? '');
    span.setString(ATTR_FERRY_TARGET, target.id);
    span.setString(ATTR_FERRY_ALGORITHM, algorithm);
    span.setString(ATTR_FERRY_PICK_REASON, pickReasonOf(this.pickKind, algorithm) ?? '');
    if (this.attempt > 0) span.setNumber(ATTR_HTTP_REQUEST_RESEND_COUNT, this.attempt);
  }

  private count(field: number, delta: number): void {
    if (this.listenerIndex >= 0)
      addListener(this.observer.view, this.observer.workerIndex, this.listenerIndex, field, delta);
  }

  private flushBytes(): void {
    const socket = this.socket;
    const bytesIn = socket.bytesRead;
    const bytesOut = socket.bytesWritten ?? this.metricBytesOut;
    if (bytesIn !== this.metricBytesIn) {
      this.count(LISTENER_BYTES_IN_TOTAL, (bytesIn - this.metricBytesIn) | 0);
      this.metricBytesIn = bytesIn;
    }
    if (bytesOut !== this.metricBytesOut) {
      this.count(LISTENER_BYTES_OUT_TOTAL, (bytesOut - this.metricBytesOut) | 0);
      this.metricBytesOut = bytesOut;
    }
  }
}
