/**
 * @module workers/listen
 *
 * The **accept** phase: each worker binds every listener itself with
 * `reusePort`, so the kernel spreads new connections over the workers and a
 * worker that dies takes only its own connections with it: the others keep
 * accepting on the same address. Thread: worker.
 */
import net from 'node:net';
import type { TopologyListener } from '../../proto/thread-messages.ts';
import { acceptTcp } from '../l4/index.ts';
import { HttpConnection, ListenerRuntime } from '../l7/index.ts';
import type { WorkerRuntime } from '../runtime.ts';
import { isSourceAllowed, refuseSource } from './source-filter.ts';

/**
 * Bind one listener. Resolves with the server once it listens; rejects with
 * the bind error (EADDRINUSE, EACCES, EADDRNOTAVAIL).
 */
export function bindListener(runtime: WorkerRuntime, listener: TopologyListener): Promise<net.Server> {
  const listenerRuntime = new ListenerRuntime(listener);
  const server = net.createServer((socket) => {
    if (runtime.isDraining) {
      runtime.observer.connectionRejected(listener);
      socket.destroy();
      return;
    }
    if (!isSourceAllowed(runtime.sourceFilters.filter(listener.name), socket.remoteAddress)) {
      refuseSource(runtime.view, runtime.workerIndex, runtime.observer.listenerIndexOf(listener), socket);
      return;
    }
    if (listener.protocol === 'TCP') acceptTcp(runtime, listener, socket);
    else new HttpConnection(runtime, listenerRuntime, socket).accept();
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: listener.host, port: listener.port, reusePort: true, backlog: 1024 }, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}
