/**
 * @module workers/upstream/socket-pool
 *
 * Keep-alive pools of raw TCP sockets to targets, one LIFO stack of idle
 * sockets per slot, owned by one worker. Thread: worker. Place in the flow:
 * pick -> **connect** -> forward.
 *
 * Why raw sockets and not undici: the proxy writes and reads HTTP/1.1 bytes
 * itself (see workers/l7/index.ts); measured here, node:http + undici Pool
 * proxied 13k req/s where a raw-`net` loop did 40k on the same core. undici
 * keeps health checks and the HTTP/2 downstream path (workers/upstream/http-pool.ts).
 * HTTPS target groups use the same pool over TLS sockets (workers/tls
 * connectTls): re-encryption keeps the raw-socket speed for HTTP/1.1 clients.
 *
 * Each pooled socket gets its listeners once, at connect, and forwards events
 * to whichever exchange owns it now (H1: no per-request closures). The table's
 * TARGET_ACTIVE_CONNECTIONS and this worker's ledger go up on connect and down
 * on close, exactly once per socket.
 */
import net from 'node:net';
import {
  addLedger,
  addTarget,
  LEDGER_CONNECTIONS,
  loadTarget,
  TARGET_ACTIVE_CONNECTIONS,
  TARGET_GENERATION,
  type TableView,
} from '../../proto/table-layout.ts';
import { UPSTREAM_IDLE_SOCKETS_MAX, UPSTREAM_IDLE_TIMEOUT_MS } from '../../src/shared/limits.ts';
import { connectTls, type UpstreamTlsOptions } from '../tls/index.ts';

/** What an exchange must handle while it owns an upstream socket. */
export interface UpstreamOwner {
  onUpstreamConnect(up: UpstreamSocket): void;
  onUpstreamData(up: UpstreamSocket, chunk: Buffer): void;
  /** The socket ended or failed; `errorCode` is the errno-style code or 'EOF'. */
  onUpstreamClose(up: UpstreamSocket, errorCode: string): void;
  onUpstreamDrain(up: UpstreamSocket): void;
}

export class UpstreamSocket {
  readonly socket: net.Socket;
  readonly slot: number;
  readonly pool: SocketPool;
  owner: UpstreamOwner | null;
  isConnected: boolean;
  /** True once the socket has carried an exchange (a failure before any response byte may then be retried). */
  isReused: boolean;
  isClosed: boolean;
  idleSinceMs: number;
  /** Set when the socket failed, so 'close' reports the cause. */
  errorCode: string;
  /** TARGET_GENERATION of the slot when connected: a slot reassigned to another target never gets this socket back. */
  readonly targetGeneration: number;
  /** TLS options it was made with (HTTPS groups), null for plain TCP: reused only for the same options. */
  readonly tls: UpstreamTlsOptions | null;

  constructor(
    socket: net.Socket,
    slot: number,
    pool: SocketPool,
    owner: UpstreamOwner,
    targetGeneration: number,
    tls: UpstreamTlsOptions | null,
  ) {
    this.socket = socket;
    this.slot = slot;
    this.targetGeneration = targetGeneration;
    this.tls = tls;
    this.pool = pool;
    this.owner = owner;
    this.isConnected = false;
    this.isReused = false;
    this.isClosed = false;
    this.idleSinceMs = 0;
    this.errorCode = '';
  }
}

export class SocketPool {
  private readonly view: TableView;
  private readonly workerIndex: number;
  /** Idle sockets per slot, most recently used last. */
  private readonly idleBySlot: Map<number, UpstreamSocket[]>;
  /** Every open socket per slot, idle or carrying an exchange (so a released slot's sockets can all be cut). */
  private readonly openBySlot: Map<number, Set<UpstreamSocket>>;

  constructor(view: TableView, workerIndex: number) {
    this.view = view;
    this.workerIndex = workerIndex;
    this.idleBySlot = new Map();
    this.openBySlot = new Map();
  }

  /**
   * An idle socket to `slot`, or a new connection. A returned socket that
   * `isConnected` is ready now (an idle one reused); otherwise the owner hears
   * onUpstreamConnect when the connection is up.
   */
  acquire(
    slot: number,
    host: string,
    port: number,
    owner: UpstreamOwner,
    tls: UpstreamTlsOptions | null = null,
  ): UpstreamSocket {
    const idle = this.idleBySlot.get(slot);
    while (idle !== undefined && idle.length > 0) {
      const up = idle.pop()!;
      if (up.isClosed || up.socket.destroyed) continue;
      if (up.targetGeneration !== loadTarget(this.view, slot, TARGET_GENERATION) || up.tls !== tls) {
        up.socket.destroy();
        continue;
      }
      up.owner = owner;
      up.isReused = true;
      up.socket.resume();
      return up;
    }
    return this.connect(slot, host, port, owner, tls);
  }

  /**
   * A new connection to `slot`, never a pooled one; the owner hears
   * onUpstreamConnect when it is up: for `tls`, after the handshake and the
   * target's certificate verified (a TLS failure closes with a code
   * workers/tls isTlsErrorCode recognises).
   */
  connect(
    slot: number,
    host: string,
    port: number,
    owner: UpstreamOwner,
    tls: UpstreamTlsOptions | null = null,
  ): UpstreamSocket {
    const socket = tls === null ? net.connect({ host, port, noDelay: true }) : connectTls(host, port, tls);
    const targetGeneration = loadTarget(this.view, slot, TARGET_GENERATION);
    const up = new UpstreamSocket(socket, slot, this, owner, targetGeneration, tls);
    let open = this.openBySlot.get(slot);
    if (open === undefined) {
      open = new Set();
      this.openBySlot.set(slot, open);
    }
    open.add(up);
    socket.on(tls === null ? 'connect' : 'secureConnect', () => {
      up.isConnected = true;
      addTarget(this.view, slot, TARGET_ACTIVE_CONNECTIONS, 1);
      addLedger(this.view, this.workerIndex, slot, LEDGER_CONNECTIONS, 1);
      up.owner?.onUpstreamConnect(up);
    });
    socket.on('data', (chunk: Buffer) => {
      if (up.owner !== null) up.owner.onUpstreamData(up, chunk);
      else socket.destroy(); // bytes on an idle socket: the target broke framing; never reuse it
    });
    socket.on('drain', () => up.owner?.onUpstreamDrain(up));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      up.errorCode = error.code ?? 'ERROR';
    });
    socket.on('end', () => socket.destroy());
    socket.on('close', () => this.onClose(up));
    return up;
  }

  /** Put a socket that finished a clean exchange back for reuse. */
  release(up: UpstreamSocket, nowMs: number): void {
    up.owner = null;
    if (up.isClosed) return;
    if (up.targetGeneration !== loadTarget(this.view, up.slot, TARGET_GENERATION)) {
      // The slot was released and given to another target while this exchange ran.
      up.socket.destroy();
      return;
    }
    let idle = this.idleBySlot.get(up.slot);
    if (idle === undefined) {
      idle = [];
      this.idleBySlot.set(up.slot, idle);
    }
    if (idle.length >= UPSTREAM_IDLE_SOCKETS_MAX) {
      up.socket.destroy();
      return;
    }
    up.idleSinceMs = nowMs;
    idle.push(up);
  }

  /** Close idle sockets older than the idle timeout (called from the worker tick). */
  sweep(nowMs: number): void {
    for (const idle of this.idleBySlot.values()) {
      let kept = 0;
      for (const up of idle) {
        if (up.isClosed) continue;
        if (nowMs - up.idleSinceMs > UPSTREAM_IDLE_TIMEOUT_MS) up.socket.destroy();
        else idle[kept++] = up;
      }
      idle.length = kept;
    }
  }

  /**
   * Cut every socket to a slot, idle or mid-exchange: its target left the
   * topology (deregistrationDelay passed), so whatever is still open is
   * closed, as ELB does. Exchanges on them end through onUpstreamClose.
   */
  closeSlot(slot: number): void {
    this.idleBySlot.delete(slot);
    const open = this.openBySlot.get(slot);
    if (open === undefined) return;
    for (const up of [...open]) up.socket.destroy();
  }

  /** Close every idle socket (drain: exchanges in flight finish first). */
  closeIdle(): void {
    for (const idle of this.idleBySlot.values()) for (const up of idle) up.socket.destroy();
    this.idleBySlot.clear();
  }

  private onClose(up: UpstreamSocket): void {
    up.isClosed = true;
    this.openBySlot.get(up.slot)?.delete(up);
    if (up.isConnected) {
      addTarget(this.view, up.slot, TARGET_ACTIVE_CONNECTIONS, -1);
      addLedger(this.view, this.workerIndex, up.slot, LEDGER_CONNECTIONS, -1);
    }
    const owner = up.owner;
    up.owner = null;
    if (owner !== null) owner.onUpstreamClose(up, up.errorCode === '' ? 'EOF' : up.errorCode);
  }
}
