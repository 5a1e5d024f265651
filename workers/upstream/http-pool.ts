/**
 * @module workers/upstream/http-pool
 *
 * undici Pools to targets, one per slot, owned by one worker: the upstream
 * side of HTTP/2 downstream streams (workers/l7/h2/). Thread: worker.
 * Place in the flow: pick -> **connect** -> forward, for h2 only.
 *
 * Why undici here and the raw SocketPool for HTTP/1.1: an HTTP/1.1 client is
 * proxied byte for byte with Ferry's own framing (no decoding, no
 * re-encoding). An HTTP/2 stream must be translated anyway (h2 frames to an
 * HTTP/1.1 message and back: headers rebuilt, the body de-chunked), which is
 * exactly what an HTTP client library does; undici does it with keep-alive,
 * strict response parsing, timeouts and TLS, and is the design's client for
 * "TLS/HTTP/2 upstreams and slow paths". The pick, the in-flight counters
 * and the latency record stay Ferry's, in workers/l7/h2/.
 *
 * Counters: TARGET_ACTIVE_CONNECTIONS and this worker's ledger go up on each
 * undici connection's 'connect' and down on its 'disconnect', as the raw
 * pool does, so least_connections sees both kinds of connection.
 *
 * A pool is replaced (the old one closed gracefully) when its slot goes to
 * another target (TARGET_GENERATION), or the group's TLS options or timeouts
 * change. closeSlot destroys a slot's pool when its target leaves the
 * topology (deregistrationDelay over), cutting streams still open, as
 * SocketPool.closeSlot does.
 */
import net from 'node:net';
import { type buildConnector, errors, Pool } from 'undici';
import {
  addLedger,
  addTarget,
  LEDGER_CONNECTIONS,
  loadTarget,
  TARGET_ACTIVE_CONNECTIONS,
  TARGET_GENERATION,
  type TableView,
} from '../../proto/table-layout.ts';
import type { TopologyGroup, TopologyTarget } from '../../proto/thread-messages.ts';
import {
  H2_UPSTREAM_CONNECTIONS_MAX,
  HTTP_HEAD_BYTES_MAX,
  UPSTREAM_IDLE_TIMEOUT_MS,
} from '../../src/shared/limits.ts';
import { connectTls, type UpstreamTlsOptions } from '../tls/index.ts';

interface SlotPool {
  readonly pool: Pool;
  readonly targetGeneration: number;
  readonly tls: UpstreamTlsOptions | null;
  readonly connectTimeoutMs: number;
  readonly responseTimeoutMs: number;
}

/**
 * undici's connector for one target: the same connection the raw pool makes
 * (net.connect, or workers/tls connectTls with the group's CA, SNI and client
 * certificate). Why not undici's own TLS connector: it takes SNI from each
 * request's Host header, so the group's `serverName` (and the name verified)
 * would follow whatever the client sent. One timer per connection attempt.
 */
function targetConnector(
  host: string,
  port: number,
  tls: UpstreamTlsOptions | null,
  connectTimeoutMs: number,
): buildConnector.connector {
  return (_options, callback) => {
    const socket = tls === null ? net.connect({ host, port, noDelay: true }) : connectTls(host, port, tls);
    let isSettled = false;
    const settle = (error: Error | null): void => {
      if (isSettled) return;
      isSettled = true;
      clearTimeout(timer);
      socket.off('error', settle);
      if (error === null) callback(null, socket);
      else {
        socket.destroy();
        callback(error, null);
      }
    };
    const timer = setTimeout(() => settle(new errors.ConnectTimeoutError()), connectTimeoutMs);
    socket.once(tls === null ? 'connect' : 'secureConnect', () => settle(null));
    socket.once('error', settle);
  };
}

/** `host` as it goes in a URL: IPv6 literals in brackets. */
function urlHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

export class HttpPools {
  private readonly view: TableView;
  private readonly workerIndex: number;
  private readonly bySlot: Map<number, SlotPool>;

  constructor(view: TableView, workerIndex: number) {
    this.view = view;
    this.workerIndex = workerIndex;
    this.bySlot = new Map();
  }

  /**
   * The pool for `target` (at `slot`) in `group`, made on first use.
   * Allocates only when a pool is made or replaced.
   */
  poolFor(slot: number, target: TopologyTarget, group: TopologyGroup, tls: UpstreamTlsOptions | null): Pool {
    const generation = loadTarget(this.view, slot, TARGET_GENERATION);
    const current = this.bySlot.get(slot);
    if (
      current !== undefined &&
      current.targetGeneration === generation &&
      current.tls === tls &&
      current.connectTimeoutMs === group.connectTimeoutMs &&
      current.responseTimeoutMs === group.responseTimeoutMs
    ) {
      return current.pool;
    }
    if (current !== undefined) void current.pool.close().catch(() => {});
    const pool = this.makePool(slot, target, group, tls);
    this.bySlot.set(slot, {
      pool,
      targetGeneration: generation,
      tls,
      connectTimeoutMs: group.connectTimeoutMs,
      responseTimeoutMs: group.responseTimeoutMs,
    });
    return pool;
  }

  /** Destroy a slot's pool, streams in flight included (its target left the topology). */
  closeSlot(slot: number): void {
    const current = this.bySlot.get(slot);
    if (current === undefined) return;
    this.bySlot.delete(slot);
    void current.pool.destroy().catch(() => {});
  }

  /** Close every pool once its requests finish (worker drain). */
  closeAll(): Promise<void> {
    const closing = [...this.bySlot.values()].map((entry) => entry.pool.close().catch(() => {}));
    this.bySlot.clear();
    return Promise.all(closing).then(() => {});
  }

  private makePool(
    slot: number,
    target: TopologyTarget,
    group: TopologyGroup,
    tls: UpstreamTlsOptions | null,
  ): Pool {
    const origin = `${tls === null ? 'http' : 'https'}://${urlHost(target.host)}:${target.port}`;
    const connect = targetConnector(target.host, target.port, tls, group.connectTimeoutMs);
    const pool = new Pool(origin, {
      connections: H2_UPSTREAM_CONNECTIONS_MAX,
      pipelining: 1,
      keepAliveTimeout: UPSTREAM_IDLE_TIMEOUT_MS,
      headersTimeout: group.responseTimeoutMs,
      bodyTimeout: group.responseTimeoutMs,
      maxHeaderSize: HTTP_HEAD_BYTES_MAX,
      connect,
    });
    pool.on('connect', () => {
      addTarget(this.view, slot, TARGET_ACTIVE_CONNECTIONS, 1);
      addLedger(this.view, this.workerIndex, slot, LEDGER_CONNECTIONS, 1);
    });
    pool.on('disconnect', () => {
      addTarget(this.view, slot, TARGET_ACTIVE_CONNECTIONS, -1);
      addLedger(this.view, this.workerIndex, slot, LEDGER_CONNECTIONS, -1);
    });
    return pool;
  }
}
