/**
 * @module workers/listen/proxy-preamble
 *
 * PROXY protocol in on HTTP and HTTPS listeners (issue 13): a connection
 * from a trusted sender (the load balancer in front of Ferry) starts with a
 * PROXY header naming the real client. This reads it from the raw socket,
 * before any HTTP or TLS byte, puts the bytes after it back on the socket,
 * and hands the connection on with the client it names, which rules
 * (`sourceIp`), hashing, `allowedSources`, X-Forwarded-For, logs and spans
 * then use. Thread: worker. Place in the flow: accept -> **proxy-in** -> tls
 * -> l7.
 *
 * A missing, truncated, malformed or late header (L4_PREAMBLE_TIMEOUT_MS,
 * PROXY_HEADER_BYTES_MAX) closes the connection, counted
 * (LISTENER_PROXY_REFUSED_TOTAL) and logged, with nothing forwarded. Only
 * trusted senders get a preamble at all: from anyone else a header is just
 * bytes, which the HTTP parser answers 400 and a TLS handshake fails.
 * TCP listeners read the header in their own preamble, under one deadline
 * with the SNI peek (workers/l4/tcp-flow.ts).
 */
import type net from 'node:net';
import type { ErrorCode } from '../../proto/error-codes.ts';
import type { TopologyListener } from '../../proto/thread-messages.ts';
import { unmappedAddress } from '../../src/shared/ip.ts';
import { L4_PREAMBLE_TIMEOUT_MS } from '../../src/shared/limits.ts';
import {
  PROXY_HEADER_BYTES_MAX,
  PROXY_MALFORMED,
  PROXY_NEED_MORE,
  ProxyHeader,
  readProxyHeader,
  refuseProxyHeader,
} from '../l4/index.ts';
import { isSourceAllowed, refuseSource, type SourceFilter } from '../route/index.ts';
import type { LiveConnection, WorkerRuntime } from '../runtime.ts';

/**
 * Called with the client the header named (or the socket's peer, for v2 LOCAL /
 * v1 UNKNOWN). The socket is paused with the bytes after the header back in
 * its buffer: a TLS server reads them from there, an HTTP connection resumes it.
 */
export type ProxiedHandler = (socket: net.Socket, clientAddress: string, clientPort: number) => void;

export class ProxyPreamble implements LiveConnection {
  private readonly runtime: WorkerRuntime;
  private readonly listener: TopologyListener;
  private readonly socket: net.Socket;
  private readonly acceptMask: number;
  private readonly filter: SourceFilter;
  private readonly onProxied: ProxiedHandler;
  private readonly header: ProxyHeader;
  private readonly deadlineMs: number;
  private pending: Buffer;
  private readonly onData: (chunk: Buffer) => void;

  constructor(
    runtime: WorkerRuntime,
    listener: TopologyListener,
    socket: net.Socket,
    acceptMask: number,
    filter: SourceFilter,
    onProxied: ProxiedHandler,
  ) {
    this.runtime = runtime;
    this.listener = listener;
    this.socket = socket;
    this.acceptMask = acceptMask;
    this.filter = filter;
    this.onProxied = onProxied;
    this.header = new ProxyHeader();
    this.deadlineMs = runtime.nowMs + L4_PREAMBLE_TIMEOUT_MS;
    this.pending = EMPTY;
    this.onData = (chunk) => this.read(chunk);
  }

  start(): void {
    this.runtime.add(this);
    this.socket.on('error', () => {});
    this.socket.once('close', () => this.runtime.remove(this));
    this.socket.on('data', this.onData);
  }

  tick(nowMs: number): void {
    if (nowMs - this.deadlineMs >= 0) this.refuse('FERRY_ERR_PROXY_PROTOCOL_TIMEOUT');
  }

  drain(): void {
    this.runtime.remove(this);
    this.socket.destroy();
  }

  private read(chunk: Buffer): void {
    const pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    this.pending = pending;
    const status = readProxyHeader(pending, pending.length, this.acceptMask, this.header);
    if (status === PROXY_NEED_MORE) {
      if (pending.length >= PROXY_HEADER_BYTES_MAX) this.refuse('FERRY_ERR_PROXY_PROTOCOL_MALFORMED');
      return;
    }
    if (status === PROXY_MALFORMED) {
      this.refuse('FERRY_ERR_PROXY_PROTOCOL_MALFORMED');
      return;
    }
    const { socket, header, runtime } = this;
    runtime.remove(this);
    socket.off('data', this.onData);
    socket.pause();
    const rest = pending.subarray(header.headerBytes);
    if (rest.length > 0) socket.unshift(rest);
    const clientAddress = header.hasAddresses
      ? header.sourceAddress
      : unmappedAddress(socket.remoteAddress ?? '');
    const clientPort = header.hasAddresses ? header.sourcePort : (socket.remotePort ?? 0);
    // allowedSources apply to the client the header names, not to the sender.
    if (!isSourceAllowed(this.filter, clientAddress)) {
      refuseSource(
        runtime.view,
        runtime.workerIndex,
        runtime.observer.listenerIndexOf(this.listener),
        socket,
      );
      return;
    }
    this.onProxied(socket, clientAddress, clientPort);
  }

  private refuse(code: ErrorCode): void {
    this.runtime.remove(this);
    refuseProxyHeader(this.runtime, this.listener, this.socket, code);
  }
}

const EMPTY = Buffer.alloc(0);
