/**
 * @module workers/listen/connection-limit
 *
 * Connection caps at **accept** (issue 10): `limits.maxConnections` for the
 * whole process and `listeners[].maxConnections` for one listener, both over
 * every worker. Thread: worker. Place in the flow: **accept** (before the
 * source check and any TLS work) -> tls | l7 | l4.
 *
 * Why a cap at all: 20,000 held connections once exhausted the process's
 * file descriptors, after which new data-plane and admin connections hung
 * and health checks failed with EMFILE. The cap leaves descriptors for
 * upstreams, health checks and the admin port (MAX_CONNECTIONS_FD_RESERVE).
 *
 * Cost: a sum of W Int32 loads per accept (W workers, at most 64), no
 * allocation. Two workers accepting at the same instant may both see room
 * for the last connection, so the cap can be passed by at most W - 1: the
 * headroom is there for that.
 *
 * Refusal is cheap: an HTTP listener writes one precomputed 503 with
 * `Retry-After` and closes; HTTPS and TCP listeners close at once (no TLS
 * work for a connection that will not be served).
 */
import type net from 'node:net';
import {
  addListener,
  HEADER_WORKER_CAPACITY,
  LISTENER_ACTIVE_CONNECTIONS,
  LISTENER_LIMIT_REFUSED_TOTAL,
  loadHeader,
  loadListener,
  loadWorker,
  type TableView,
  WORKER_ACTIVE_CONNECTIONS,
} from '../../proto/table-layout.ts';
import type { TopologyListener } from '../../proto/thread-messages.ts';

const LIMIT_BODY = '503 FERRY_ERR_LISTENER_CONNECTION_LIMIT\n';
/** The whole answer of a refused HTTP connection, built once (H2). */
const LIMIT_RESPONSE =
  'HTTP/1.1 503 Service Unavailable\r\n' +
  'content-type: text/plain\r\n' +
  `content-length: ${LIMIT_BODY.length}\r\n` +
  'retry-after: 1\r\n' +
  'x-ferry-error: FERRY_ERR_LISTENER_CONNECTION_LIMIT\r\n' +
  'connection: close\r\n\r\n' +
  LIMIT_BODY;

/**
 * True when accepting one more connection on `listener` would pass its cap
 * or the process's. Synchronous; allocates nothing.
 */
export function isOverConnectionLimit(
  view: TableView,
  listener: TopologyListener,
  listenerIndex: number,
): boolean {
  const listenerMax = listener.maxConnections ?? 0;
  const totalMax = listener.maxConnectionsTotal ?? 0;
  if (listenerMax === 0 && totalMax === 0) return false;
  const workerCount = loadHeader(view, HEADER_WORKER_CAPACITY);
  if (totalMax > 0) {
    let total = 0;
    for (let w = 0; w < workerCount; w++) total += loadWorker(view, w, WORKER_ACTIVE_CONNECTIONS);
    if (total >= totalMax) return true;
  }
  if (listenerMax > 0 && listenerIndex >= 0) {
    let open = 0;
    for (let w = 0; w < workerCount; w++)
      open += loadListener(view, w, listenerIndex, LISTENER_ACTIVE_CONNECTIONS);
    if (open >= listenerMax) return true;
  }
  return false;
}

/** Refuse a connection over a cap and count it (LISTENER_LIMIT_REFUSED_TOTAL). */
export function refuseOverLimit(
  view: TableView,
  workerIndex: number,
  listener: TopologyListener,
  listenerIndex: number,
  socket: net.Socket,
): void {
  if (listenerIndex >= 0) addListener(view, workerIndex, listenerIndex, LISTENER_LIMIT_REFUSED_TOTAL, 1);
  socket.on('error', () => {});
  if (listener.protocol !== 'HTTP') {
    socket.destroy();
    return;
  }
  // Closed once the answer is in the kernel's hands: the client cannot hold it open.
  socket.once('finish', () => socket.destroy());
  socket.end(LIMIT_RESPONSE, 'latin1');
}
