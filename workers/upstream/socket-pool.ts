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
import {
  UPSTREAM_IDLE_SOCKETS_MAX,
  UPSTREAM_IDLE_TIMEOUT_MS,
  UPSTREAM_READ_BUFFER_BYTES,
  UPSTREAM_READ_BUFFERS_FREE_MAX,
} from '../../src/shared/limits.ts';
import { connectTls, type UpstreamTlsOptions } from '../tls/index.ts';

/** What an exchange must handle while it owns an upstream socket. */
export interface UpstreamOwner {
  onUpstreamConnect(up: UpstreamSocket): void;
  /**
   * Bytes read from the target. For plain-TCP sockets `chunk` is a view of the
   * socket's reused read buffer (see UPSTREAM_READ_BUFFER_BYTES): return true if anything
   * still references it after the call (a downstream write left queued, a kept
   * view), so the pool gives the socket a fresh buffer before its next read and
   * never hands this one to another socket (the free list, "Lazy read buffers").
   */
  onUpstreamData(up: UpstreamSocket, chunk: Buffer): boolean;
  /** The socket ended or failed; `errorCode` is the errno-style code or 'EOF'. */
  onUpstreamClose(up: UpstreamSocket, errorCode: string): void;
  onUpstreamDrain(up: UpstreamSocket): void;
}

// === Reused read buffers (SocketPool.connect) ===
/*
 * Plain-TCP upstream sockets read into a buffer of their own that is reused
 * from read to read (net.connect `onread`), instead of Node allocating a fresh
 * Buffer per read ('data' events). The relay writes the bytes downstream at
 * once; the kernel usually takes them whole, and only when a write stayed
 * queued (the owner returns true) does the socket get a new buffer.
 * Measured (`npm run bench:http -- --only nginx1,ferry1 --quick`, 4 runs
 * against 3 at the parent commit, bench/RESULTS.md): 16 KiB 21.1-25.3k ->
 * 28.9-32.4k req/s, its p99 17-21 -> 4.0-4.3 ms; 1 GiB 749-800 -> 1,014-1,308
 * MB/s; 9 B unchanged within that cell's noise.
 *
 * Two ways to get this wrong, both measured:
 * - One buffer per worker. Node hands the buffer to each socket's native
 *   handle, which keeps reading into it until that socket's own next read asks
 *   for another, so after a replacement every other socket still reads into
 *   the old buffer: over the queued bytes of the write that caused the
 *   replacement, and while a callback that looks at "the current buffer"
 *   parses stale bytes (the harness's 1 GiB cell, a pooled socket last read
 *   during the 16 KiB cell: 502 FERRY_ERR_UPSTREAM_BAD_RESPONSE in 2 of 2
 *   runs). Hence one buffer per socket carrying an exchange (an idle one holds
 *   none, next section), and the callback views the buffer Node says it filled.
 * - Replacing the buffer when nothing holds it. A 64 KiB allocUnsafeSlow per
 *   response took 9 B from ~40k to 16.7k req/s (external memory drives the
 *   GC): "still referenced" must be exact, not conservative.
 * Not for TLS sockets: TLS decrypts into its own buffers, so they keep 'data'.
 */

// === Lazy read buffers: none held while a socket idles (SocketPool.readBufferFor) ===
/*
 * A socket holds a buffer of its own only from the first read of an exchange
 * to its end. Node asks `onread.buffer()` for the next buffer after every read
 * callback (and once inside net.connect), and the native handle reads into
 * whatever was handed out last, so a buffer cannot be taken back when
 * release() runs, only at the next hand-out:
 *
 *   connect, acquire ──> the handle reads into the pool's one shared buffer
 *   first read of the exchange lands there ──> copied at once into an own buffer (the
 *     worker's free list, else allocated); the exchange only ever sees the copy
 *   more reads of the same response ──> straight into the own buffer (a fresh one when a
 *     queued write kept the last, as before)
 *   the response ends in a read callback, release() ──> buffer(): no owner, so the own
 *     buffer goes back to the free list (unless a write holds it), the handle gets the
 *     shared one, and the socket idles holding nothing (EOF and stray bytes still seen)
 *
 * The copy keeps the shared buffer free of anything that outlives one
 * callback: every idle handle reads into it, so a view of it left in a queued
 * write would be overwritten (the per-worker-buffer fault above). It costs one
 * memcpy of each response's first read (9 B body: ~200 bytes, 16 KiB: ~16.6 KB),
 * and a response that ends in one read takes and returns the same free buffer,
 * so a burst of small responses needs one buffer, not one per socket.
 * A socket that goes idle other than inside its own read callback keeps its
 * buffer until its next read (none today: finish() runs in the relay's callback).
 * Measured (`npm run bench:memory`, 1,984 idle pooled sockets, 4 runs each at
 * the parent commit and with this, bench/RESULTS.md 2026-12-05): RSS per idle
 * pooled socket after a 64 KiB body 68-72 -> 6.5-10 KiB, after a 9 B body
 * (one touched page of the old buffer) 11-15 -> 7-12 KiB; what remains is the
 * socket itself. CPU per request: no change beyond the noise of a busy
 * machine (load average 6-11) in 4 runs each of `npm run bench:http --
 * --quick --only nginx1,ferry1` and in 3 interleaved A/B runs of both on
 * core 1 (median Ferry CPU per 9 B request 46-58 µs before, 48-64 after; per
 * 16 KiB 52-69 and 51-56; per GiB 870-900 and 850-1,070 ms: the medians move
 * both ways); the copy is 0.5% of the worker's busy time at 16 KiB
 * (`npm run bench:profile -- --path /16k`).
 * When not to: if most responses were larger than one read and streamed
 * through many sockets at once, every socket would hold a buffer anyway and
 * the copy of each first read would buy nothing.
 */

// === Sockets and the pool ===
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
  /**
   * Plain TCP: this socket's own read buffer, from the first read of an exchange until the
   * exchange ends or a write holds it; null otherwise (the handle then reads into the pool's
   * shared buffer) and for TLS.
   */
  readBuffer: Buffer | null;

  constructor(
    socket: net.Socket,
    slot: number,
    pool: SocketPool,
    owner: UpstreamOwner,
    targetGeneration: number,
    tls: UpstreamTlsOptions | null,
  ) {
    this.socket = socket;
    this.readBuffer = null;
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
  /** What a plain-TCP socket without an own buffer reads into (idle, or not read since connect or acquire); never viewed past one callback. */
  private readonly sharedReadBuffer: Buffer;
  /** Read buffers no socket and no write holds, for the next socket that needs one (at most UPSTREAM_READ_BUFFERS_FREE_MAX). */
  private readonly freeReadBuffers: Buffer[];

  constructor(view: TableView, workerIndex: number) {
    this.view = view;
    this.workerIndex = workerIndex;
    this.idleBySlot = new Map();
    this.openBySlot = new Map();
    this.sharedReadBuffer = Buffer.allocUnsafeSlow(UPSTREAM_READ_BUFFER_BYTES);
    this.freeReadBuffers = [];
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
    // `created` exists only after net.connect returns; Node asks for the first buffer inside it (the
    // shared one: an own buffer is taken at the first read), and reads (the callback) start after
    // the connection is up.
    let created: UpstreamSocket | null = null;
    const socket =
      tls === null
        ? net.connect({
            host,
            port,
            noDelay: true,
            onread: {
              buffer: () => (created === null ? this.sharedReadBuffer : this.readBufferFor(created)),
              // `filled` is the buffer this read went into: the last one `buffer` handed out, as
              // Node asks again after each callback. Returning false would stop reading.
              callback: (nread: number, filled: Uint8Array): boolean => {
                const current = created!;
                if (current.owner === null) {
                  current.socket.destroy(); // bytes on an idle socket: the target broke framing; never reuse it
                  return false;
                }
                let chunk = (filled as Buffer).subarray(0, nread);
                if (filled === this.sharedReadBuffer) {
                  // The exchange's first read: into an own buffer before anyone sees it.
                  const own = current.readBuffer ?? this.takeReadBuffer();
                  current.readBuffer = own;
                  chunk.copy(own, 0, 0, nread);
                  chunk = own.subarray(0, nread);
                }
                // True: a queued write still holds the bytes, so the buffer is the write's now.
                if (current.owner.onUpstreamData(current, chunk)) current.readBuffer = null;
                return true;
              },
            },
          })
        : connectTls(host, port, tls);
    const targetGeneration = loadTarget(this.view, slot, TARGET_GENERATION);
    const up = new UpstreamSocket(socket, slot, this, owner, targetGeneration, tls);
    created = up;
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
    if (tls !== null)
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

  // === Read buffers (plain TCP; see "Lazy read buffers" above) ===

  /** A read buffer nothing holds: from the free list, else a new one. */
  private takeReadBuffer(): Buffer {
    return this.freeReadBuffers.pop() ?? Buffer.allocUnsafeSlow(UPSTREAM_READ_BUFFER_BYTES);
  }

  /** Keep `buffer` (held by nothing now) for another socket, up to UPSTREAM_READ_BUFFERS_FREE_MAX. */
  private giveBackReadBuffer(buffer: Buffer): void {
    if (this.freeReadBuffers.length < UPSTREAM_READ_BUFFERS_FREE_MAX) this.freeReadBuffers.push(buffer);
  }

  /**
   * The buffer `up`'s next read goes into (Node's `onread.buffer`, asked after
   * every read callback): its own while it carries an exchange (a fresh one
   * when a write kept the last); the shared buffer once it has no owner
   * (released, or closing), its own going back to the free list.
   */
  private readBufferFor(up: UpstreamSocket): Buffer {
    if (up.owner === null) {
      if (up.readBuffer !== null) {
        this.giveBackReadBuffer(up.readBuffer);
        up.readBuffer = null;
      }
      return this.sharedReadBuffer;
    }
    if (up.readBuffer === null) up.readBuffer = this.takeReadBuffer();
    return up.readBuffer;
  }

  private onClose(up: UpstreamSocket): void {
    up.isClosed = true;
    if (up.readBuffer !== null) {
      // The handle is closed: nothing reads into it any more, and no write holds it.
      this.giveBackReadBuffer(up.readBuffer);
      up.readBuffer = null;
    }
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
