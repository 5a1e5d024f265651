/**
 * @module src/control/server
 *
 * The control port's server: accepts TCP or Unix-socket connections,
 * frames, authenticates, bounds and dispatches requests to the handlers.
 * Thread: main. Place in the flow: ferryctl -> **control port** ->
 * handlers/<op>.ts -> config / table / health / failover.
 *
 * A connection's life:
 *
 *   accept --(over CONTROL_CONNECTIONS_MAX)--> error TOO_MANY_CONNECTIONS, close
 *     |
 *   AWAIT_HELLO --(no frame in CONTROL_HELLO_TIMEOUT_MS)--> error TIMEOUT, close
 *     |  first frame: hello {version, token, client}
 *     |  not hello / wrong token -> UNAUTHORIZED, close (logged, counted)
 *     |  unknown version        -> VERSION, close
 *   READY: requests, up to CONTROL_IN_FLIGHT_MAX at once (more: BUSY), replies in completion order
 *     |  unknown op -> UNKNOWN_OP; bad args -> BAD_ARGS (the connection stays)
 *     |  bad frame (oversized, empty, not msgpack, no id) -> BAD_FRAME with id nil, close
 *     |  stream ends inside a frame (truncated) -> BAD_FRAME, close
 *     |  idle CONTROL_IDLE_TIMEOUT_MS with nothing in flight -> TIMEOUT, close
 *   CLOSED
 *
 * Every failure is confined to its connection: the decoder never throws, a
 * handler's throw becomes an error reply, and memory per connection is
 * bounded by the frame limit, the in-flight limit and the write-queue limit.
 * The data plane never waits on any of this (it reads the shared table).
 */
import { chmod, lstat, unlink } from 'node:fs/promises';
import net from 'node:net';
import type { Logger } from 'pino';
import { CONTROL_OPS, type ControlOp } from '../../proto/control/messages.ts';
import {
  CONTROL_PROTOCOL_VERSION,
  CONTROL_PROTOCOL_VERSIONS,
  type ControlErrorBody,
  type ControlReply,
  type ControlRequest,
  HELLO_OP,
  type HelloResult,
} from '../../proto/control/protocol.ts';
import type { ErrorCode } from '../../proto/error-codes.ts';
import type { ControlAddress } from '../config/index.ts';
import { ProxyError } from '../shared/errors.ts';
import { decodeRequest, encodeFrame, FrameDecoder, isPlainObject } from './codec.ts';
import type { ControlContext } from './context.ts';
import { errorBody } from './errors.ts';
import { CONTROL_HANDLERS, type ControlCounters, parseArgs } from './handlers/index.ts';
import {
  CONTROL_CONNECTIONS_MAX,
  CONTROL_HELLO_TIMEOUT_MS,
  CONTROL_IDLE_TIMEOUT_MS,
  CONTROL_IN_FLIGHT_MAX,
  CONTROL_NAME_LENGTH_MAX,
  CONTROL_REQUEST_BYTES_MAX,
  CONTROL_TOKEN_BYTES_MAX,
  CONTROL_WRITE_QUEUE_BYTES_MAX,
} from './limits.ts';
import { isTokenValid, tokenDigest } from './token.ts';

/** After a closing error reply, how long the peer has to read it before the socket is destroyed. */
const CLOSE_LINGER_MS = 1_000;

/** The server's bounds; tests lower them. Defaults from src/control/limits.ts. */
export interface ControlServerLimits {
  readonly connectionsMax: number;
  readonly inFlightMax: number;
  readonly helloTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly requestBytesMax: number;
}

export interface ControlServerOptions {
  readonly address: ControlAddress;
  /** The token every connection must present; null accepts any (only allowed on loopback, see token.ts). */
  readonly token: string | null;
  readonly context: ControlContext;
  readonly log: Logger;
  /** `ferry/<version>`, sent in the hello reply. */
  readonly serverName: string;
  readonly limits?: Partial<ControlServerLimits>;
}

export interface ControlServer {
  /** Where it listens: `127.0.0.1:9900` (port 0 resolved) or `unix:/path`. */
  readonly address: string;
  counters(): ControlCounters;
  /** Stop accepting, close every connection. */
  close(): Promise<void>;
}

/**
 * Bind the control port and serve it. Thread: main. Throws
 * FERRY_ERR_LISTEN_FAILED when the address cannot be bound. A stale Unix
 * socket file (nobody listening) is replaced; the socket is made 0600.
 */
export async function startControlServer(options: ControlServerOptions): Promise<ControlServer> {
  const limits: ControlServerLimits = {
    connectionsMax: CONTROL_CONNECTIONS_MAX,
    inFlightMax: CONTROL_IN_FLIGHT_MAX,
    helloTimeoutMs: CONTROL_HELLO_TIMEOUT_MS,
    idleTimeoutMs: CONTROL_IDLE_TIMEOUT_MS,
    requestBytesMax: CONTROL_REQUEST_BYTES_MAX,
    ...options.limits,
  };
  const counters = {
    connectionsOpen: 0,
    connectionsTotal: 0,
    connectionsRefusedTotal: 0,
    requestsTotal: 0,
    authFailuresTotal: 0,
    frameErrorsTotal: 0,
  };
  const shared: Shared = {
    options,
    limits,
    counters,
    digest: options.token === null ? null : tokenDigest(options.token),
  };
  const connections = new Set<ControlConnection>();
  const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
    counters.connectionsTotal++;
    if (connections.size >= limits.connectionsMax) {
      counters.connectionsRefusedTotal++;
      refuse(socket, {
        code: 'FERRY_ERR_CONTROL_TOO_MANY_CONNECTIONS',
        message: `the control port already holds ${limits.connectionsMax} connections; retry later`,
      });
      return;
    }
    const connection = new ControlConnection(socket, shared);
    connections.add(connection);
    counters.connectionsOpen = connections.size;
    socket.once('close', () => {
      connections.delete(connection);
      counters.connectionsOpen = connections.size;
    });
  });
  const address = options.address;
  if (address.kind === 'unix') await removeStaleSocket(address.path);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        new ProxyError(
          'FERRY_ERR_LISTEN_FAILED',
          `control.address: cannot bind ${address.address}: ${error.code ?? error.message}`,
        ),
      ),
    );
    if (address.kind === 'unix')
      server.listen({ path: address.path, readableAll: false, writableAll: false }, resolve);
    else server.listen({ host: address.host, port: address.port, exclusive: true }, resolve);
  });
  // Only Ferry's user may connect (a socket's mode comes from the umask, usually 0755: others cannot write).
  if (address.kind === 'unix') await chmod(address.path, 0o600);
  server.on('error', (error) => options.log.error({ err: error }, 'control port error'));
  const bound = server.address();
  const boundAddress =
    address.kind === 'unix' || bound === null || typeof bound === 'string'
      ? address.address
      : `${bound.family === 'IPv6' ? `[${bound.address}]` : bound.address}:${bound.port}`;
  options.log.info(
    { control: boundAddress, isTokenRequired: options.token !== null },
    `control port listening on ${boundAddress}${options.token === null ? ' (no token: loopback only)' : ''}`,
  );
  return {
    address: boundAddress,
    counters: () => ({ ...counters }),
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const connection of connections) connection.destroy();
      await closed;
      if (address.kind === 'unix') await unlink(address.path).catch(() => undefined);
    },
  };
}

interface Shared {
  readonly options: ControlServerOptions;
  readonly limits: ControlServerLimits;
  readonly counters: {
    connectionsOpen: number;
    connectionsTotal: number;
    connectionsRefusedTotal: number;
    requestsTotal: number;
    authFailuresTotal: number;
    frameErrorsTotal: number;
  };
  readonly digest: Buffer | null;
}

/** Send one connection-level error and close (used before a connection object exists). */
function refuse(socket: net.Socket, error: ControlErrorBody): void {
  socket.on('error', () => socket.destroy());
  socket.resume(); // discard what the client sends meanwhile (unread data would turn the close into a reset)
  socket.end(encodeFrame({ id: null, error } satisfies ControlReply));
  setTimeout(() => socket.destroy(), CLOSE_LINGER_MS).unref();
}

/** A Unix socket file left by a Ferry that died is removed; one somebody listens on is left (bind then fails). */
async function removeStaleSocket(path: string): Promise<void> {
  const stats = await lstat(path).catch(() => null);
  if (stats === null || !stats.isSocket()) return;
  const isLive = await new Promise<boolean>((resolve) => {
    const probe = net.connect(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (!isLive) await unlink(path).catch(() => undefined);
}

// === One connection ===

class ControlConnection {
  private readonly socket: net.Socket;
  private readonly shared: Shared;
  private readonly decoder: FrameDecoder;
  private readonly remote: string;
  private isAuthed: boolean;
  private isClosing: boolean;
  private hasPeerEnded: boolean;
  private inFlight: number;
  private client: string;

  constructor(socket: net.Socket, shared: Shared) {
    this.socket = socket;
    this.shared = shared;
    this.decoder = new FrameDecoder(shared.limits.requestBytesMax);
    this.remote =
      socket.remoteAddress === undefined ? 'unix' : `${socket.remoteAddress}:${socket.remotePort}`;
    this.isAuthed = false;
    this.isClosing = false;
    this.hasPeerEnded = false;
    this.inFlight = 0;
    this.client = 'unknown';
    socket.setTimeout(shared.limits.helloTimeoutMs);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('end', () => this.onEnd());
    socket.on('timeout', () => this.onTimeout());
    socket.on('error', (error) => {
      this.shared.options.log.debug({ err: error, remote: this.remote }, 'control connection error');
      socket.destroy();
    });
  }

  destroy(): void {
    this.isClosing = true;
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    if (this.isClosing) return;
    this.decoder.push(chunk);
    for (;;) {
      const result = this.decoder.next();
      if (result.kind === 'need-more') return;
      if (result.kind === 'error') {
        this.shared.counters.frameErrorsTotal++;
        this.warn('control frame refused', { code: result.code, reason: result.message });
        this.closeWith(null, { code: result.code, message: result.message });
        return;
      }
      this.onFrame(result.payload);
      if (this.isClosing) return;
    }
  }

  private onEnd(): void {
    if (this.isClosing) return;
    if (this.decoder.pendingBytes > 0) {
      this.shared.counters.frameErrorsTotal++;
      const message = `the stream ended inside a frame (${this.decoder.pendingBytes} bytes of it): truncated`;
      this.warn('control frame truncated', { reason: message });
      this.closeWith(null, { code: 'FERRY_ERR_CONTROL_BAD_FRAME', message });
      return;
    }
    this.hasPeerEnded = true;
    if (this.inFlight === 0) this.socket.end();
  }

  private onTimeout(): void {
    if (this.isClosing || this.inFlight > 0) return;
    const message = this.isAuthed
      ? `idle for ${this.shared.limits.idleTimeoutMs} ms with nothing in flight`
      : `no hello within ${this.shared.limits.helloTimeoutMs} ms`;
    this.closeWith(null, { code: 'FERRY_ERR_CONTROL_TIMEOUT', message });
  }

  private onFrame(payload: Buffer): void {
    const decoded = decodeRequest(payload);
    if (!decoded.ok) {
      if (decoded.code === 'FERRY_ERR_CONTROL_BAD_FRAME') this.shared.counters.frameErrorsTotal++;
      const error = { code: decoded.code, message: decoded.message };
      if (decoded.isFatal || !this.isAuthed) this.closeWith(decoded.id, error);
      else this.send({ id: decoded.id!, error });
      return;
    }
    this.shared.counters.requestsTotal++;
    const request = decoded.value;
    if (!this.isAuthed) {
      this.hello(request);
      return;
    }
    if (request.op === HELLO_OP) {
      this.fail(request.id, 'FERRY_ERR_CONTROL_BAD_ARGS', 'hello was already accepted on this connection');
      return;
    }
    const handler = CONTROL_HANDLERS.get(request.op as ControlOp);
    if (handler === undefined) {
      this.fail(
        request.id,
        'FERRY_ERR_CONTROL_UNKNOWN_OP',
        `unknown op ${JSON.stringify(request.op)}; this Ferry serves: ${CONTROL_OPS.join(', ')}`,
      );
      return;
    }
    if (this.inFlight >= this.shared.limits.inFlightMax) {
      this.fail(
        request.id,
        'FERRY_ERR_CONTROL_BUSY',
        `${this.inFlight} requests already in flight on this connection (limit ${this.shared.limits.inFlightMax})`,
      );
      return;
    }
    let args: unknown;
    try {
      args = parseArgs(request.op, handler.args, request.args);
    } catch (error) {
      this.send({ id: request.id, error: errorBody(error) });
      return;
    }
    void this.run(request, args);
  }

  private async run(request: ControlRequest, args: unknown): Promise<void> {
    const { context, log } = this.shared.options;
    const handler = CONTROL_HANDLERS.get(request.op as ControlOp)!;
    if (handler.isMutating) {
      log.info({ op: request.op, args, client: this.client, remote: this.remote }, `control: ${request.op}`);
    }
    this.inFlight++;
    let reply: ControlReply;
    try {
      const result = await handler.run(args, context);
      reply = {
        id: request.id,
        result:
          request.op === 'stats' ? { ...(result as object), control: { ...this.shared.counters } } : result,
      };
    } catch (error) {
      const body = errorBody(error);
      if (body.code === 'FERRY_ERR_INTERNAL_BUG')
        log.error({ err: error, op: request.op }, 'control operation failed');
      else if (handler.isMutating)
        log.warn({ op: request.op, code: body.code, client: this.client }, body.message);
      reply = { id: request.id, error: body };
    }
    this.inFlight--;
    this.send(reply);
    if (this.hasPeerEnded && this.inFlight === 0 && !this.isClosing) this.socket.end();
  }

  /** The first request: version and token, or the connection closes. */
  private hello(request: ControlRequest): void {
    const counters = this.shared.counters;
    if (request.op !== HELLO_OP) {
      counters.authFailuresTotal++;
      this.warn('control connection refused: no hello', { op: request.op });
      this.closeWith(request.id, {
        code: 'FERRY_ERR_CONTROL_UNAUTHORIZED',
        message: 'the first request on a connection must be hello {version, token, client}',
      });
      return;
    }
    const args = isPlainObject(request.args) ? request.args : {};
    const version = args['version'];
    const token = args['token'];
    const client = args['client'];
    const isShapeOk =
      typeof version === 'number' &&
      (token === null || (typeof token === 'string' && token.length <= CONTROL_TOKEN_BYTES_MAX)) &&
      typeof client === 'string' &&
      client.length <= CONTROL_NAME_LENGTH_MAX &&
      Object.keys(args).every((key) => key === 'version' || key === 'token' || key === 'client');
    if (!isShapeOk) {
      this.closeWith(request.id, {
        code: 'FERRY_ERR_CONTROL_BAD_ARGS',
        message: `hello args must be {version: integer, token: string or nil, client: string of at most ${CONTROL_NAME_LENGTH_MAX} characters}`,
      });
      return;
    }
    this.client = client;
    if (!(CONTROL_PROTOCOL_VERSIONS as readonly number[]).includes(version)) {
      this.closeWith(request.id, {
        code: 'FERRY_ERR_CONTROL_VERSION',
        message: `protocol version ${version} is not spoken here; supported: ${CONTROL_PROTOCOL_VERSIONS.join(', ')}`,
      });
      return;
    }
    const digest = this.shared.digest;
    if (digest !== null && (typeof token !== 'string' || !isTokenValid(digest, token))) {
      counters.authFailuresTotal++;
      this.warn('control connection refused: wrong or missing token', {});
      this.closeWith(request.id, {
        code: 'FERRY_ERR_CONTROL_UNAUTHORIZED',
        message: token === null ? 'this control port requires a token' : 'wrong control token',
      });
      return;
    }
    this.isAuthed = true;
    this.socket.setTimeout(this.shared.limits.idleTimeoutMs);
    const result: HelloResult = {
      version: CONTROL_PROTOCOL_VERSION,
      server: this.shared.options.serverName,
      ops: CONTROL_OPS,
    };
    this.send({ id: request.id, result });
  }

  private fail(id: number, code: ErrorCode, message: string): void {
    this.send({ id, error: { code, message } });
  }

  private send(reply: ControlReply): void {
    if (this.socket.destroyed || this.socket.writableEnded) return;
    let frame: Buffer;
    try {
      frame = encodeFrame(reply);
    } catch (error) {
      this.shared.options.log.error({ err: error }, 'control reply could not be encoded');
      frame = encodeFrame({
        id: reply.id,
        error: { code: 'FERRY_ERR_INTERNAL_BUG', message: 'the reply could not be encoded' },
      });
    }
    if (this.socket.writableLength + frame.length > CONTROL_WRITE_QUEUE_BYTES_MAX) {
      this.warn('control connection destroyed: the client does not read its replies', {});
      this.destroy();
      return;
    }
    this.socket.write(frame);
  }

  /** Send a last error (when the socket can still take it) and close; the peer gets CLOSE_LINGER_MS to read it. */
  private closeWith(id: number | null, error: ControlErrorBody): void {
    if (this.isClosing) return;
    this.isClosing = true;
    this.socket.setTimeout(0);
    if (!this.socket.destroyed && !this.socket.writableEnded) this.socket.end(encodeFrame({ id, error }));
    setTimeout(() => this.socket.destroy(), CLOSE_LINGER_MS).unref();
  }

  private warn(message: string, fields: Record<string, unknown>): void {
    this.shared.options.log.warn({ remote: this.remote, client: this.client, ...fields }, message);
  }
}
