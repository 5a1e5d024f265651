/**
 * @module workers/listen
 *
 * The **accept** phase: each worker binds every listener itself with
 * `reusePort`, so the kernel spreads new connections (and UDP flows, by a
 * hash of their 4-tuple) over the workers and a worker that dies takes only
 * its own connections with it: the others keep accepting on the same
 * address. Thread: worker.
 *
 *   HTTP     -> l7                      HTTPS -> tls -> l7 | l7/h2
 *   TCP      -> l4 (TcpFlow)            TLS   -> tls -> l4 (TcpFlow, plaintext)
 *   UDP      -> l4 (UdpListener)        TCP_UDP -> both on one port
 *   GENEVE   -> l4 (GeneveListener: GWLB appliances)
 */
import net from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { TopologyListener } from '../../proto/thread-messages.ts';
import { unmappedAddress } from '../../src/shared/ip.ts';
import { bindGeneveListener, bindUdpListener, Layer4Listener, ProxyTrust, TcpFlow } from '../l4/index.ts';
import { H2Listener, HttpConnection, ListenerRuntime } from '../l7/index.ts';
import { isSourceAllowed, refuseSource, type SourceFilters } from '../route/index.ts';
import type { LiveConnection, WorkerRuntime } from '../runtime.ts';
import { PeerIdentityCheck, rawSocketOf, TlsTerminator } from '../tls/index.ts';
import { isOverConnectionLimit, refuseOverLimit } from './connection-limit.ts';
import { ProxyPreamble } from './proxy-preamble.ts';

/** A bound listener: what drain closes. */
export interface BoundListener {
  close(): void;
}

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
  /** The client (the socket's peer, or what a trusted PROXY header named), for the connection that follows. */
  readonly clientAddress: string;
  readonly clientPort: number;
  private readonly deadlineMs: number;

  constructor(
    runtime: WorkerRuntime,
    listener: TopologyListener,
    socket: net.Socket,
    clientAddress: string,
    clientPort: number,
  ) {
    this.runtime = runtime;
    this.listener = listener;
    this.socket = socket;
    this.clientAddress = clientAddress;
    this.clientPort = clientPort;
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
 * Bind one listener. Resolves once it listens; rejects with the bind error
 * (EADDRINUSE, EACCES, EADDRNOTAVAIL).
 */
export async function bindListener(
  runtime: WorkerRuntime,
  sourceFilters: SourceFilters,
  listener: TopologyListener,
): Promise<BoundListener> {
  const protocol = listener.protocol;
  if (protocol === 'UDP') return bindUdpListener(runtime, sourceFilters, listener);
  if (protocol === 'GENEVE') return bindGeneveListener(runtime, listener);
  const server = await bindStream(runtime, sourceFilters, listener);
  if (protocol !== 'TCP_UDP') return server;
  try {
    const udp = await bindUdpListener(runtime, sourceFilters, listener);
    return {
      close() {
        server.close();
        udp.close();
      },
    };
  } catch (error) {
    server.close();
    throw error;
  }
}

function bindStream(
  runtime: WorkerRuntime,
  sourceFilters: SourceFilters,
  listener: TopologyListener,
): Promise<net.Server> {
  const protocol = listener.protocol;
  const isLayer4 = protocol === 'TCP' || protocol === 'TLS' || protocol === 'TCP_UDP';
  // PROXY in is read before any TLS: by the TCP flow's preamble, or by ProxyPreamble on
  // HTTP and HTTPS; a TLS listener relays flows from the TLS socket, so config refuses it there.
  const proxyProtocol = protocol === 'TLS' ? null : (listener.layer4?.proxyProtocol ?? null);
  const proxyTrust = new ProxyTrust(proxyProtocol);
  const l4 = isLayer4 ? new Layer4Listener(listener, proxyTrust) : null;
  const listenerRuntime = new ListenerRuntime(listener);
  /** Raw sockets of this listener's handshakes in progress (HTTPS), each on the worker tick. */
  const handshakes = new Map<net.Socket, PendingHandshake>();
  const terminator =
    listener.tls === null
      ? null
      : l4 !== null
        ? terminateTlsFlows(runtime, listener, l4, sourceFilters)
        : terminateTls(runtime, listener, listenerRuntime, handshakes);
  const listenerIndex = runtime.observer.listenerIndexOf(listener);
  /** HTTP: straight to l7; HTTPS: tls (bounded by timeouts.tlsHandshake), then l7 or h2. */
  const acceptHttp = (socket: net.Socket, clientAddress: string, clientPort: number): void => {
    if (terminator === null) {
      new HttpConnection(runtime, listenerRuntime, socket, clientAddress, clientPort).accept();
      socket.resume(); // ProxyPreamble leaves it paused; a no-op otherwise
      return;
    }
    const pending = new PendingHandshake(runtime, listener, socket, clientAddress, clientPort);
    handshakes.set(socket, pending);
    runtime.add(pending);
    socket.once('close', () => {
      if (handshakes.delete(socket)) runtime.remove(pending);
    });
    terminator.accept(socket);
  };
  // Layer-4 flows relay a half-close (one side's FIN) instead of closing both directions.
  const server = net.createServer({ allowHalfOpen: l4 !== null && terminator === null }, (socket) => {
    if (isOverConnectionLimit(runtime.view, listener, listenerIndex)) {
      refuseOverLimit(runtime.view, runtime.workerIndex, listener, listenerIndex, socket);
      return;
    }
    if (runtime.isDraining) {
      runtime.observer.connectionRejected(listener);
      socket.destroy();
      return;
    }
    const filter = sourceFilters.filter(listener.name);
    // A trusted PROXY sender is checked by the address its header carries (tcp-flow.ts, proxy-preamble.ts).
    const isProxied = proxyTrust.isTrusted(socket.remoteAddress);
    if (!isProxied && !isSourceAllowed(filter, socket.remoteAddress)) {
      refuseSource(runtime.view, runtime.workerIndex, runtime.observer.listenerIndexOf(listener), socket);
      return;
    }
    if (l4 !== null) {
      if (terminator !== null)
        terminator.accept(socket); // TLS: tls, then l4
      else new TcpFlow(runtime, l4, socket, filter, '', '').start();
    } else if (isProxied) {
      new ProxyPreamble(runtime, listener, socket, proxyTrust.acceptMask, filter, acceptHttp).start();
    } else {
      acceptHttp(socket, unmappedAddress(socket.remoteAddress ?? ''), socket.remotePort ?? 0);
    }
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
 * ALPN `h2` goes to HTTP/2 (workers/l7/h2/), anything else (http/1.1, or
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
    if (pending === undefined) {
      socket.destroy(); // timed out (PendingHandshake.tick) as the handshake finished
      return;
    }
    handshakes.delete(raw);
    runtime.remove(pending);
    if (runtime.isDraining) socket.destroy();
    else if (socket.alpnProtocol === 'h2') h2.accept(socket, pending.clientAddress, pending.clientPort);
    else
      new HttpConnection(
        runtime,
        listenerRuntime,
        socket,
        pending.clientAddress,
        pending.clientPort,
      ).accept();
  });
}

/**
 * TLS termination for a TLS listener (NLB): the same certificates, SNI
 * lookup and security policies as HTTPS, ALPN from the listener's
 * alpnPolicy; the plaintext is relayed to a TCP target group (workers/l4).
 * With mTLS and `allowedIdentities` (issue 14), a caller whose verified
 * SPIFFE ID is outside the patterns is closed right after the handshake,
 * before anything is relayed (HTTPS answers 403 instead): counted as a
 * rejected connection and logged with the caller's ID.
 */
function terminateTlsFlows(
  runtime: WorkerRuntime,
  listener: TopologyListener,
  l4: Layer4Listener,
  sourceFilters: SourceFilters,
): TlsTerminator {
  const peerIdentity = listener.tls?.peerIdentity ?? null;
  const peerCheck = peerIdentity === null ? null : new PeerIdentityCheck(peerIdentity);
  return new TlsTerminator(
    listener,
    listener.tls!,
    runtime.log,
    (socket: TLSSocket) => {
      if (runtime.isDraining) {
        socket.destroy();
        return;
      }
      if (peerCheck !== null) {
        const peer = peerCheck.of(socket);
        if (!peer.isAllowed) {
          refuseCaller(runtime, listener, socket, peer.spiffeId);
          return;
        }
      }
      const serverName = typeof socket.servername === 'string' ? socket.servername.toLowerCase() : '';
      const alpn = typeof socket.alpnProtocol === 'string' ? socket.alpnProtocol : '';
      new TcpFlow(runtime, l4, socket, sourceFilters.filter(listener.name), serverName, alpn).start();
    },
    listener.layer4?.alpnProtocols ?? [],
  );
}

/** A TLS listener's caller outside `allowedIdentities`: closed, counted, logged (FERRY_ERR_IDENTITY_FORBIDDEN). */
function refuseCaller(
  runtime: WorkerRuntime,
  listener: TopologyListener,
  socket: TLSSocket,
  spiffeId: string | null,
): void {
  runtime.observer.connectionRejected(listener);
  const log = runtime.log;
  if (log.isLevelEnabled('info'))
    log.info(
      {
        listener: listener.name,
        client: `${socket.remoteAddress ?? ''}:${socket.remotePort ?? 0}`,
        spiffeId,
        code: 'FERRY_ERR_IDENTITY_FORBIDDEN',
        phase: 'tls',
      },
      'caller outside allowedIdentities; connection closed',
    );
  socket.destroy();
}

export { SourceFilters } from '../route/index.ts';
