/**
 * @module workers/l4/tcp-flow
 *
 * One TCP flow on a layer-4 listener (TCP, TLS, the TCP half of TCP_UDP):
 * read the preamble, route, pick, connect, relay, close. Thread: worker.
 *
 *   accept ──> preamble ──────────────────────────────> route ──> pick ──> connect ──> relay ──> finish
 *              (only when the listener needs it)         (sni      (Router   (PROXY v2    (pipe both ways,
 *              1. PROXY header from a trusted source     rules or  .pick,    header out,  half-close, idle
 *                 (FERRY_ERR_PROXY_PROTOCOL_*: close)    default)  flow key) peeked bytes timeout on the
 *              2. ClientHello SNI peek                                         first)       coarse tick)
 *                 (FERRY_ERR_TLS_CLIENT_HELLO: default)
 *
 * The preamble is bounded in bytes (PROXY_HEADER_BYTES_MAX +
 * CLIENT_HELLO_BYTES_MAX) and in time (L4_PREAMBLE_TIMEOUT_MS, checked on the
 * worker's tick). Bytes read during it are forwarded untouched, first, once
 * the target is connected: SNI passthrough never changes a byte of the
 * ClientHello.
 *
 * Trust: a listener with `proxyProtocol` reads a header only from its
 * `trustedSources`, and such a source must send one. From any other source a
 * connection whose first bytes look like a PROXY header is refused (a client
 * must not be able to claim someone else's address); other bytes pass.
 *
 * A flow counts as one in-flight exchange on its target (workers/upstream
 * Exchange: take at connect, drop once at close), so least_connections
 * balances TCP the way HAProxy's leastconn does. Backpressure both ways is
 * `pipe`'s: a side that cannot keep up pauses the other.
 */
import net from 'node:net';
import type { ErrorCode } from '../../proto/error-codes.ts';
import {
  addLedger,
  addListener,
  addTarget,
  LEDGER_CONNECTIONS,
  LISTENER_PROXY_REFUSED_TOTAL,
  LISTENER_SNI_PEEK_FAILED_TOTAL,
  LISTENER_SOURCE_REFUSED_TOTAL,
  TARGET_ACTIVE_CONNECTIONS,
} from '../../proto/table-layout.ts';
import type { TopologyListener } from '../../proto/thread-messages.ts';
import { unmappedAddress } from '../../src/shared/ip.ts';
import { L4_PREAMBLE_TIMEOUT_MS } from '../../src/shared/limits.ts';
import { RECORD_STATUS_GATEWAY_FAILURE, RECORD_STATUS_TCP_CONNECTED, TcpRecord } from '../record/index.ts';
import {
  FLOW_PROTOCOL_TCP,
  FlowTuple,
  isSourceAllowed,
  matchFlow,
  type SourceFilter,
} from '../route/index.ts';
import type { LiveConnection, WorkerRuntime } from '../runtime.ts';
import { Exchange, upstreamErrorCode } from '../upstream/index.ts';
import {
  CLIENT_HELLO_BYTES_MAX,
  type ClientHelloOut,
  PEEK_MALFORMED,
  PEEK_NEED_MORE,
  PEEK_NOT_TLS,
  PEEK_SNI,
  PEEK_TOO_LARGE,
  peekClientHello,
} from './client-hello.ts';
import {
  encodeProxyV2,
  PROXY_HEADER_BYTES_MAX,
  PROXY_MALFORMED,
  PROXY_NEED_MORE,
  ProxyHeader,
  type ProxyTrust,
  readProxyHeader,
} from './proxy-protocol.ts';

/** What a layer-4 listener decides once, at bind (H2): PROXY trust, SNI peeking, idle timeout. */
export class Layer4Listener {
  readonly listener: TopologyListener;
  /** Who may send a PROXY header, and which versions. */
  readonly proxy: ProxyTrust;
  readonly tcpIdleTimeoutMs: number;

  constructor(listener: TopologyListener, proxy: ProxyTrust) {
    this.listener = listener;
    this.proxy = proxy;
    this.tcpIdleTimeoutMs = listener.layer4?.tcpIdleTimeoutMs ?? TCP_IDLE_TIMEOUT_MS_FALLBACK;
  }
}

/** ELB's TCP idle timeout, for a topology that does not say (older main, tests). */
const TCP_IDLE_TIMEOUT_MS_FALLBACK = 350_000;

const STATE_PREAMBLE = 0;
const STATE_CONNECTING = 1;
const STATE_RELAY = 2;
const STATE_CLOSED = 3;

/** Scratch for the peer address (H1). */
const _peerWords = new Int32Array(4);
/** First bytes of a PROXY header of either version: CR LF (v2) or "PROXY " (v1). */
const V2_PREFIX = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V1_PREFIX = Buffer.from('PROXY ', 'latin1');

export class TcpFlow implements LiveConnection {
  private readonly runtime: WorkerRuntime;
  private readonly l4: Layer4Listener;
  private readonly client: net.Socket;
  private readonly filter: SourceFilter;
  /** The flow's pick and in-flight count (workers/upstream/exchange.ts). */
  private readonly ex: Exchange;
  readonly flow: FlowTuple;
  private readonly header: ProxyHeader;
  private readonly hello: ClientHelloOut;
  private state: number;
  /** Bytes read before the pick, forwarded first (PROXY header excluded). */
  private pending: Buffer;
  private isProxyDone: boolean;
  private readonly isTrustedSource: boolean;
  private readonly needsPeek: boolean;
  /** SNI and ALPN known for this flow (PROXY v2 TLVs): from the peek or the TLS handshake. */
  private serverName: string;
  private readonly alpn: string;
  private upstream: net.Socket | null;
  private record: TcpRecord | null;
  /** Preamble or connect deadline on the table clock. */
  private deadlineMs: number;
  private lastBytes: number;
  private lastActivityMs: number;
  private readonly onPreambleData: (chunk: Buffer) => void;

  /**
   * `tlsServerName`/`tlsAlpn`: what a TLS listener's handshake negotiated
   * ('' for plain TCP). Precondition: the source passed the accept checks
   * (workers/listen) unless a PROXY header will carry the real one.
   */
  constructor(
    runtime: WorkerRuntime,
    l4: Layer4Listener,
    client: net.Socket,
    filter: SourceFilter,
    tlsServerName: string,
    tlsAlpn: string,
  ) {
    this.runtime = runtime;
    this.l4 = l4;
    this.client = client;
    this.filter = filter;
    this.ex = new Exchange(runtime.view, runtime.workerIndex);
    const flow = new FlowTuple();
    flow.protocol = FLOW_PROTOCOL_TCP;
    flow.sourceAddress = unmappedAddress(client.remoteAddress ?? '');
    flow.sourcePort = client.remotePort ?? 0;
    flow.destinationAddress = unmappedAddress(client.localAddress ?? '');
    flow.destinationPort = client.localPort ?? 0;
    this.flow = flow;
    this.header = new ProxyHeader();
    this.hello = { serverName: '' };
    this.state = STATE_PREAMBLE;
    this.pending = EMPTY;
    this.isProxyDone = l4.proxy.acceptMask === 0;
    this.isTrustedSource = l4.proxy.isTrusted(flow.sourceAddress);
    const routes = runtime.router.listener(l4.listener.name);
    this.needsPeek = tlsServerName === '' && routes !== undefined && routes.hasSniConditions;
    this.serverName = tlsServerName;
    this.alpn = tlsAlpn;
    this.upstream = null;
    this.record = null;
    this.deadlineMs = 0;
    this.lastBytes = 0;
    this.lastActivityMs = runtime.nowMs;
    this.onPreambleData = (chunk) => this.preambleData(chunk);
  }

  /** Start the flow: straight to the pick, or read the preamble first. */
  start(): void {
    const { runtime, client } = this;
    runtime.add(this);
    client.on('error', () => {});
    client.on('close', () => this.close());
    if (this.isProxyDone && !this.needsPeek) {
      this.route();
      return;
    }
    this.deadlineMs = runtime.nowMs + L4_PREAMBLE_TIMEOUT_MS;
    client.on('data', this.onPreambleData);
  }

  // === preamble ===
  private preambleData(chunk: Buffer): void {
    if (this.state !== STATE_PREAMBLE) return;
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    this.advancePreamble(false);
  }

  /** Read what the preamble needs from `pending`; `isDeadline` when the peek deadline passed. */
  private advancePreamble(isDeadline: boolean): void {
    if (!this.isProxyDone) {
      const pending = this.pending;
      if (this.isTrustedSource) {
        const status = readProxyHeader(pending, pending.length, this.l4.proxy.acceptMask, this.header);
        if (status === PROXY_NEED_MORE) {
          if (pending.length >= PROXY_HEADER_BYTES_MAX)
            this.refuseProxy('FERRY_ERR_PROXY_PROTOCOL_MALFORMED');
          else if (isDeadline) this.refuseProxy('FERRY_ERR_PROXY_PROTOCOL_TIMEOUT');
          return;
        }
        if (status === PROXY_MALFORMED) {
          this.refuseProxy('FERRY_ERR_PROXY_PROTOCOL_MALFORMED');
          return;
        }
        const header = this.header;
        if (header.hasAddresses) {
          const flow = this.flow;
          flow.sourceAddress = header.sourceAddress;
          flow.sourcePort = header.sourcePort;
          flow.destinationAddress = header.destinationAddress;
          flow.destinationPort = header.destinationPort;
          // allowedSources and scheme apply to the client the header names, not to the sender.
          if (!isSourceAllowed(this.filter, flow.sourceAddress)) {
            this.countListener(LISTENER_SOURCE_REFUSED_TOTAL);
            this.destroy();
            return;
          }
        }
        this.pending = pending.subarray(header.headerBytes);
      } else {
        const look = proxyPrefixOf(pending);
        if (look === PREFIX_FULL) {
          this.refuseProxy('FERRY_ERR_PROXY_PROTOCOL_UNTRUSTED');
          return;
        }
        // Too few bytes to tell yet: wait for more (at the deadline they pass as client bytes).
        if ((look === PREFIX_PARTIAL || pending.length === 0) && !isDeadline) return;
      }
      this.isProxyDone = true;
    }
    if (this.needsPeek) {
      const pending = this.pending;
      const status = peekClientHello(pending, pending.length, this.hello);
      if (status === PEEK_NEED_MORE && !isDeadline && pending.length < CLIENT_HELLO_BYTES_MAX) return;
      if (status === PEEK_SNI) this.serverName = this.hello.serverName;
      else if (
        status === PEEK_MALFORMED ||
        status === PEEK_TOO_LARGE ||
        (status === PEEK_NEED_MORE && pending.length > 0)
      ) {
        // Not readable: count it, log it, and let the default action have the bytes as they are.
        this.countListener(LISTENER_SNI_PEEK_FAILED_TOTAL);
        this.logUnreadableHello();
      } else if (status !== PEEK_NOT_TLS && status !== PEEK_NEED_MORE) {
        // PEEK_NO_SNI: the default action, like a hello without SNI on NLB.
      }
    }
    this.client.off('data', this.onPreambleData);
    this.client.pause();
    this.route();
  }

  private refuseProxy(code: ErrorCode): void {
    refuseProxyHeader(this.runtime, this.l4.listener, this.client, code);
    this.close();
  }

  private logUnreadableHello(): void {
    const log = this.runtime.log;
    if (log.isLevelEnabled('info'))
      log.info(
        {
          listener: this.l4.listener.name,
          client: `${this.client.remoteAddress ?? ''}:${this.client.remotePort ?? 0}`,
          code: 'FERRY_ERR_TLS_CLIENT_HELLO',
          phase: 'accept',
        },
        'unreadable ClientHello; taking the default action',
      );
  }

  // === route, pick ===
  private route(): void {
    const { runtime, l4, ex } = this;
    this.state = STATE_CONNECTING;
    // The group index comes from the current topology (a reload may reorder groups), not the one bound at boot.
    const routes = runtime.router.listener(l4.listener.name);
    const flow = this.flow;
    let groupIndex = -1;
    if (routes !== undefined) {
      const actionIndex = matchFlow(routes, this.serverName, flow.sourceAddress);
      groupIndex = routes.actions[actionIndex]?.groupIndices[0] ?? -1;
    }
    if (groupIndex >= 0) runtime.router.pick(ex, groupIndex, null, flow.sourceAddress, runtime.nowMs, flow);
    const target = ex.target;
    if (target === null) {
      runtime.observer.connectionRejected(l4.listener);
      this.destroy();
      return;
    }
    this.record = new TcpRecord(
      runtime.observer,
      l4.listener,
      this.client,
      flow,
      ex.group,
      target,
      ex.slot,
      ex.pickKind,
    );
    this.connect(target.host, target.port);
  }

  // === connect, relay ===
  private connect(host: string, port: number): void {
    const { runtime, client, ex } = this;
    const slot = ex.slot;
    ex.take();
    this.deadlineMs = runtime.readClock() + ex.connectTimeoutMs;
    const upstream = net.connect({ host, port, noDelay: true, allowHalfOpen: true });
    this.upstream = upstream;
    upstream.on('connect', () => {
      if (this.state !== STATE_CONNECTING) return;
      this.state = STATE_RELAY;
      this.lastActivityMs = runtime.nowMs;
      addTarget(runtime.view, slot, TARGET_ACTIVE_CONNECTIONS, 1);
      addLedger(runtime.view, runtime.workerIndex, slot, LEDGER_CONNECTIONS, 1);
      ex.recordOutcome(RECORD_STATUS_TCP_CONNECTED, runtime.readClock());
      this.record!.connected();
      if (ex.group?.isProxyProtocolOn === true) {
        const flow = this.flow;
        upstream.write(
          encodeProxyV2(
            flow.sourceAddress,
            flow.sourcePort,
            flow.destinationAddress,
            flow.destinationPort,
            false,
            this.alpn,
            this.serverName,
          ),
        );
      }
      if (this.pending.length > 0) upstream.write(this.pending);
      this.pending = EMPTY;
      client.pipe(upstream);
      upstream.pipe(client);
      client.resume();
    });
    upstream.on('error', (error: NodeJS.ErrnoException) => {
      if (this.state === STATE_CONNECTING) {
        const code = upstreamErrorCode(error.code ?? '', '');
        // Local exhaustion (EMFILE) is never the target's failure (issue 10).
        if (code !== 'FERRY_ERR_INTERNAL_RESOURCES')
          ex.recordOutcome(RECORD_STATUS_GATEWAY_FAILURE, runtime.readClock());
        this.record!.connectFailed(code);
      }
    });
    upstream.on('close', () => this.close());
  }

  private destroy(): void {
    this.client.destroy();
    this.close();
  }

  private close(): void {
    if (this.state === STATE_CLOSED) return;
    const wasRelaying = this.state === STATE_RELAY;
    this.state = STATE_CLOSED;
    const { runtime, ex } = this;
    if (wasRelaying) {
      addTarget(runtime.view, ex.slot, TARGET_ACTIVE_CONNECTIONS, -1);
      addLedger(runtime.view, runtime.workerIndex, ex.slot, LEDGER_CONNECTIONS, -1);
    }
    ex.drop();
    runtime.remove(this);
    this.client.destroy();
    this.upstream?.destroy();
    this.record?.closed();
  }

  tick(nowMs: number): void {
    const state = this.state;
    if (state === STATE_PREAMBLE) {
      if (nowMs - this.deadlineMs >= 0) this.advancePreamble(true);
      return;
    }
    if (state === STATE_CONNECTING) {
      if (this.upstream !== null && nowMs - this.deadlineMs >= 0) {
        this.ex.recordOutcome(RECORD_STATUS_GATEWAY_FAILURE, nowMs);
        this.record?.connectFailed('FERRY_ERR_UPSTREAM_CONNECT_TIMEOUT');
        this.destroy();
      }
      return;
    }
    if (state !== STATE_RELAY) return;
    // Idle: no byte either way since the last change, read from the socket's own counters (no per-chunk work).
    const client = this.client;
    const bytes = client.bytesRead + client.bytesWritten;
    if (bytes !== this.lastBytes) {
      this.lastBytes = bytes;
      this.lastActivityMs = nowMs;
    } else if (nowMs - this.lastActivityMs >= this.l4.tcpIdleTimeoutMs) {
      this.record?.connectFailed('FERRY_ERR_FLOW_IDLE_TIMEOUT');
      this.destroy();
    }
  }

  drain(): void {
    // A byte stream has no message boundary to stop at: it runs until either side closes or the grace period ends.
  }

  private countListener(field: number): void {
    const runtime = this.runtime;
    const listenerIndex = runtime.observer.listenerIndexOf(this.l4.listener);
    if (listenerIndex >= 0) addListener(runtime.view, runtime.workerIndex, listenerIndex, field, 1);
  }
}

const EMPTY = Buffer.alloc(0);

/**
 * A PROXY header refused (untrusted, malformed, missing or late; issue 13):
 * counted (LISTENER_PROXY_REFUSED_TOTAL), logged with its code, and the
 * connection closed before anything is forwarded. TCP flows and HTTP/HTTPS
 * connections (workers/listen/proxy-preamble.ts) alike.
 */
export function refuseProxyHeader(
  runtime: WorkerRuntime,
  listener: TopologyListener,
  socket: net.Socket,
  code: ErrorCode,
): void {
  const listenerIndex = runtime.observer.listenerIndexOf(listener);
  if (listenerIndex >= 0)
    addListener(runtime.view, runtime.workerIndex, listenerIndex, LISTENER_PROXY_REFUSED_TOTAL, 1);
  const log = runtime.log;
  if (log.isLevelEnabled('info'))
    log.info(
      {
        listener: listener.name,
        client: `${socket.remoteAddress ?? ''}:${socket.remotePort ?? 0}`,
        code,
        phase: 'accept',
      },
      'PROXY protocol header refused; connection closed',
    );
  socket.destroy();
}

/** Whether a socket peer may send this listener a PROXY header. Never allocates. */
const PREFIX_NONE = 0;
const PREFIX_PARTIAL = 1;
const PREFIX_FULL = 2;

/** Whether the bytes so far start a PROXY header of either version: not, maybe (too short to tell), or yes. */
function proxyPrefixOf(bytes: Buffer): number {
  if (bytes.length === 0) return PREFIX_NONE;
  const prefix = bytes[0] === V2_PREFIX[0] ? V2_PREFIX : bytes[0] === V1_PREFIX[0] ? V1_PREFIX : null;
  if (prefix === null) return PREFIX_NONE;
  const count = Math.min(bytes.length, prefix.length);
  for (let i = 0; i < count; i++) if (bytes[i] !== prefix[i]) return PREFIX_NONE;
  return count === prefix.length ? PREFIX_FULL : PREFIX_PARTIAL;
}
