/**
 * @module workers/l7/h2/session
 *
 * One downstream HTTP/2 connection (H2Session): its streams, its idle
 * deadlines and drain; each stream is an H2Exchange (./exchange.ts).
 * Thread: worker. The phase chart and the limits are in ./index.ts.
 */
import type { IncomingHttpHeaders, ServerHttp2Session, ServerHttp2Stream } from 'node:http2';
import type { TLSSocket } from 'node:tls';
import type { TopologyListenerTimeouts } from '../../../proto/thread-messages.ts';
import { RequestRecord } from '../../record/index.ts';
import type { LiveConnection, WorkerRuntime } from '../../runtime.ts';
import { type PeerIdentity, rawSocketOf } from '../../tls/index.ts';
import type { ListenerRuntime } from '../listener-runtime.ts';
import { H2Exchange, type H2StreamOwner } from './exchange.ts';

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
export class H2Session implements LiveConnection, H2StreamOwner {
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
