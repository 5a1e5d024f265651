/**
 * @module workers/l7/h2/listener
 *
 * The HTTP/2 side of one HTTPS listener: hands the TLS sockets whose ALPN
 * chose `h2` to node:http2 and starts an H2Session for each. Thread:
 * worker. The phase chart and the limits are in ./index.ts.
 */
import http2, { type ServerHttp2Session } from 'node:http2';
import type { TLSSocket } from 'node:tls';
import {
  H2_CONCURRENT_STREAMS_MAX,
  H2_HEADER_LIST_BYTES_MAX,
  H2_HEADER_PAIRS_MAX,
} from '../../../src/shared/limits.ts';
import type { WorkerRuntime } from '../../runtime.ts';
import type { ListenerRuntime } from '../listener-runtime.ts';
import { H2Session } from './session.ts';

// === Listener ===
/** The HTTP/2 side of one HTTPS listener in one worker: a node:http2 server that never listens. */
export class H2Listener {
  private readonly server: http2.Http2Server;
  /**
   * The TLS socket being handed over: node:http2 emits 'session' synchronously
   * inside emit('connection'), and the session's own `socket` is a proxy that
   * throws once the session ends, so the record keeps the real one.
   */
  private acceptingSocket: TLSSocket | null;
  /** The client of the socket being handed over (its peer, or what a trusted PROXY header named). */
  private acceptingAddress: string;
  private acceptingPort: number;

  constructor(runtime: WorkerRuntime, listener: ListenerRuntime) {
    this.server = http2.createServer({
      settings: {
        maxConcurrentStreams: H2_CONCURRENT_STREAMS_MAX,
        maxHeaderListSize: H2_HEADER_LIST_BYTES_MAX,
        enablePush: false,
      },
      maxHeaderListPairs: H2_HEADER_PAIRS_MAX,
    });
    this.acceptingSocket = null;
    this.acceptingAddress = '';
    this.acceptingPort = 0;
    this.server.on('session', (session: ServerHttp2Session) => {
      const socket = this.acceptingSocket;
      if (socket === null) {
        session.destroy();
        return;
      }
      new H2Session(runtime, listener, session, socket, this.acceptingAddress, this.acceptingPort).start();
    });
  }

  /** Run HTTP/2 on a TLS socket whose ALPN chose `h2`; the client as HttpConnection takes it. */
  accept(socket: TLSSocket, clientAddress: string, clientPort: number): void {
    this.acceptingSocket = socket;
    this.acceptingAddress = clientAddress;
    this.acceptingPort = clientPort;
    try {
      this.server.emit('connection', socket);
    } finally {
      this.acceptingSocket = null;
    }
  }
}
