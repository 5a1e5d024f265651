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
import type { WorkerRuntime } from '../runtime.ts';
import { TlsTerminator } from '../tls/index.ts';
import { isSourceAllowed, refuseSource, type SourceFilters } from './source-filter.ts';

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
  const terminator = listener.tls === null ? null : terminateTls(runtime, listener, listenerRuntime);
  const server = net.createServer((socket) => {
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
    else if (terminator !== null)
      terminator.accept(socket); // HTTPS: tls, then l7 or h2
    else new HttpConnection(runtime, listenerRuntime, socket).accept();
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
): TlsTerminator {
  const h2 = new H2Listener(runtime, listenerRuntime);
  return new TlsTerminator(listener, listener.tls!, runtime.log, (socket: TLSSocket) => {
    if (runtime.isDraining) socket.destroy();
    else if (socket.alpnProtocol === 'h2') h2.accept(socket);
    else new HttpConnection(runtime, listenerRuntime, socket).accept();
  });
}

export { SourceFilters } from './source-filter.ts';
