/**
 * @module workers/listen
 *
 * The **accept** phase: each worker binds every listener itself with
 * `reusePort`, so the kernel spreads new connections over the workers and a
 * worker that dies takes only its own connections with it: the others keep
 * accepting on the same address. Thread: worker.
 */
import net from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { TopologyListener } from '../../proto/thread-messages.ts';
import { acceptTcp } from '../l4/index.ts';
import { H2Listener, HttpConnection, ListenerRuntime } from '../l7/index.ts';
import type { LiveConnection, WorkerRuntime } from '../runtime.ts';
import { rawSocketOf, TlsTerminator } from '../tls/index.ts';
import { isOverConnectionLimit, refuseOverLimit } from './connection-limit.ts';
import { isSourceAllowed, refuseSource, type SourceFilters } from './source-filter.ts';

/**
 * An HTTPS connection between accept and a finished handshake (issue 10):
 * on the worker tick like every other deadline, so a client that sends
 * nothing, or a ClientHello a byte at a time, is closed at
 * `timeouts.tlsHandshake` and counted (LISTENER_CLIENT_TIMEOUTS_TOTAL).
 */
class PendingHandshake implements LiveConnection {
  private readonly runtime: WorkerRuntime;
  private readonly listener: TopologyListener;
  readonly socket: net.Socket;
  private readonly deadlineMs: number;

  constructor(runtime: WorkerRuntime, listener: TopologyListener, socket: net.Socket) {
    this.runtime = runtime;
    this.listener = listener;
    this.socket = socket;
    this.deadlineMs = runtime.nowMs + listener.timeouts.tlsHandshakeMs;
  }

  tick(nowMs: number): void {
    if (nowMs - this.deadlineMs < 0) return;
    this.runtime.observer.tlsHandshakeTimedOut(this.listener);
    this.runtime.remove(this);
    this.socket.destroy();
  }

  drain(): void {
    this.runtime.remove(this);
    this.socket.destroy();
  }
}

/**
 * Bind one listener. Resolves with the server once it listens; rejects with
 * the bind error (EADDRINUSE, EACCES, EADDRNOTAVAIL).
 */
export function bindListener(
  runtime: WorkerRuntime,
  sourceFilters: SourceFilters,
  listener: TopologyListener,
): Promise<net.Server> {
  const listenerRuntime = new ListenerRuntime(listener);
  /** Raw sockets of this listener's handshakes in progress (HTTPS), each on the worker tick. */
  const handshakes = new Map<net.Socket, PendingHandshake>();
  const terminator =
    listener.tls === null ? null : terminateTls(runtime, listener, listenerRuntime, handshakes);
  const listenerIndex = runtime.observer.listenerIndexOf(listener);
  const server = net.createServer((socket) => {
    if (isOverConnectionLimit(runtime.view, listener, listenerIndex)) {
      refuseOverLimit(runtime.view, runtime.workerIndex, listener, listenerIndex, socket);
      return;
    }
    if (runtime.isDraining) {
      runtime.observer.connectionRejected(listener);
      socket.destroy();
      return;
    }
    if (!isSourceAllowed(sourceFilters.filter(listener.name), socket.remoteAddress)) {
      refuseSource(runtime.view, runtime.workerIndex, runtime.observer.listenerIndexOf(listener), socket);
      return;
    }
    if (listener.protocol === 'TCP') acceptTcp(runtime, listener, socket);
    else if (terminator !== null) {
      // HTTPS: tls (bounded by timeouts.tlsHandshake), then l7 or h2.
      const pending = new PendingHandshake(runtime, listener, socket);
      handshakes.set(socket, pending);
      runtime.add(pending);
      socket.once('close', () => {
        if (handshakes.delete(socket)) runtime.remove(pending);
      });
      terminator.accept(socket);
    } else new HttpConnection(runtime, listenerRuntime, socket).accept();
  });
  if (terminator !== null) server.on('close', () => terminator.close());
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: listener.host, port: listener.port, reusePort: true, backlog: 1024 }, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

/**
 * TLS termination for an HTTPS listener (workers/tls): after the handshake,
 * ALPN `h2` goes to HTTP/2 (workers/l7/h2.ts), anything else (http/1.1, or
 * no ALPN) to the HTTP/1.1 proxy over the TLS socket. Throws when the
 * certificates do not load (the bind then fails with that error).
 */
function terminateTls(
  runtime: WorkerRuntime,
  listener: TopologyListener,
  listenerRuntime: ListenerRuntime,
  handshakes: Map<net.Socket, PendingHandshake>,
): TlsTerminator {
  const h2 = new H2Listener(runtime, listenerRuntime);
  return new TlsTerminator(listener, listener.tls!, runtime.log, (socket: TLSSocket) => {
    const raw = rawSocketOf(socket);
    const pending = handshakes.get(raw);
    if (pending !== undefined) {
      handshakes.delete(raw);
      runtime.remove(pending);
    }
    if (runtime.isDraining) socket.destroy();
    else if (socket.alpnProtocol === 'h2') h2.accept(socket);
    else new HttpConnection(runtime, listenerRuntime, socket).accept();
  });
}

export { SourceFilters } from './source-filter.ts';
