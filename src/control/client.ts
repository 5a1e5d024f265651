/**
 * @module src/control/client
 *
 * The control protocol's client side, as ferryctl (and tests) use it:
 * connect, say hello with the token, send requests, match replies by id.
 * Thread: the ferryctl process (any thread). Place in the flow: ferryctl ->
 * **ControlClient** -> control port.
 *
 * Failures are `ControlClientError`s with the server's code, or
 * FERRY_ERR_CONTROL_UNREACHABLE with a sentence a person can act on when
 * nothing answers (Ferry not running, wrong address, no control block).
 */
import net from 'node:net';
import type { ControlOp, ControlOpShapes } from '../../proto/control/messages.ts';
import {
  CONTROL_PROTOCOL_VERSION,
  type ControlErrorDetail,
  type ControlReply,
  HELLO_OP,
  type HelloArgs,
  type HelloResult,
} from '../../proto/control/protocol.ts';
import type { ControlAddress } from '../config/index.ts';
import { decodeReply, encodeFrame, FrameDecoder } from './codec.ts';
import { CONTROL_CONNECT_TIMEOUT_MS, CONTROL_REPLY_BYTES_MAX, CONTROL_REQUEST_ID_MAX } from './limits.ts';

/** A failed request or connection, with the server's stable code (or the client's own). */
export class ControlClientError extends Error {
  readonly code: string;
  readonly details: readonly ControlErrorDetail[];

  constructor(code: string, message: string, details: readonly ControlErrorDetail[] = []) {
    super(message);
    this.name = 'ControlClientError';
    this.code = code;
    this.details = details;
  }
}

export interface ControlClientOptions {
  readonly address: ControlAddress;
  readonly token: string | null;
  /** Sent in hello, for the server's logs (`ferryctl/0.1.0`). */
  readonly client: string;
  readonly connectTimeoutMs?: number;
}

interface Pending {
  resolve(result: unknown): void;
  reject(error: ControlClientError): void;
}

export class ControlClient {
  private readonly socket: net.Socket;
  private readonly pending: Map<number, Pending>;
  private readonly decoder: FrameDecoder;
  private nextId: number;
  private closedBy: ControlClientError | null;
  /** The server's hello reply. */
  server: HelloResult | null;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    this.pending = new Map();
    this.decoder = new FrameDecoder(CONTROL_REPLY_BYTES_MAX);
    this.nextId = 1;
    this.closedBy = null;
    this.server = null;
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (error: NodeJS.ErrnoException) =>
      this.shut(
        new ControlClientError(
          'FERRY_ERR_CONTROL_UNREACHABLE',
          `control connection failed: ${error.code ?? error.message}`,
        ),
      ),
    );
    socket.on('close', () =>
      this.shut(
        new ControlClientError('FERRY_ERR_CONTROL_UNREACHABLE', 'Ferry closed the control connection'),
      ),
    );
  }

  /**
   * Connect and authenticate. Throws ControlClientError: UNREACHABLE (with
   * what to check) when nothing answers in time, or the server's error for a
   * refused hello (UNAUTHORIZED, VERSION).
   */
  static async connect(options: ControlClientOptions): Promise<ControlClient> {
    const timeoutMs = options.connectTimeoutMs ?? CONTROL_CONNECT_TIMEOUT_MS;
    const where = options.address.address;
    const socket = await new Promise<net.Socket>((resolve, reject) => {
      const attempt =
        options.address.kind === 'unix'
          ? net.connect({ path: options.address.path })
          : net.connect({ host: options.address.host, port: options.address.port });
      const timer = setTimeout(() => {
        attempt.destroy();
        reject(
          new ControlClientError(
            'FERRY_ERR_CONTROL_UNREACHABLE',
            `no answer from ${where} within ${timeoutMs} ms`,
          ),
        );
      }, timeoutMs);
      attempt.once('connect', () => {
        clearTimeout(timer);
        resolve(attempt);
      });
      attempt.once('error', (error: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(new ControlClientError('FERRY_ERR_CONTROL_UNREACHABLE', unreachableMessage(where, error)));
      });
    });
    socket.setNoDelay(true);
    const client = new ControlClient(socket);
    const hello: HelloArgs = {
      version: CONTROL_PROTOCOL_VERSION,
      token: options.token,
      client: options.client,
    };
    const timer = setTimeout(
      () =>
        client.shut(
          new ControlClientError(
            'FERRY_ERR_CONTROL_UNREACHABLE',
            `no hello reply from ${where} within ${timeoutMs} ms`,
          ),
        ),
      timeoutMs,
    );
    try {
      client.server = (await client.send(HELLO_OP, hello)) as HelloResult;
    } catch (error) {
      client.close();
      throw error;
    } finally {
      clearTimeout(timer);
    }
    return client;
  }

  /** Send one request; resolves with its result, rejects with ControlClientError. */
  request<Op extends ControlOp>(
    op: Op,
    args: ControlOpShapes[Op]['args'],
  ): Promise<ControlOpShapes[Op]['result']> {
    return this.send(op, args) as Promise<ControlOpShapes[Op]['result']>;
  }

  /** Send any op with any args (tests use it for what ferryctl would never send). */
  send(op: string, args: unknown): Promise<unknown> {
    if (this.closedBy !== null) return Promise.reject(this.closedBy);
    const id = this.nextId;
    this.nextId = this.nextId >= CONTROL_REQUEST_ID_MAX ? 1 : this.nextId + 1;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.socket.write(encodeFrame({ id, op, args }));
    });
  }

  close(): void {
    this.shut(new ControlClientError('FERRY_ERR_CONTROL_UNREACHABLE', 'the control connection was closed'));
  }

  private onData(chunk: Buffer): void {
    this.decoder.push(chunk);
    for (;;) {
      const frame = this.decoder.next();
      if (frame.kind === 'need-more') return;
      if (frame.kind === 'error') {
        this.shut(new ControlClientError(frame.code, `bad reply from Ferry: ${frame.message}`));
        return;
      }
      const decoded = decodeReply(frame.payload);
      if (!decoded.ok) {
        this.shut(new ControlClientError(decoded.code, `bad reply from Ferry: ${decoded.message}`));
        return;
      }
      this.onReply(decoded.value);
    }
  }

  private onReply(reply: ControlReply): void {
    if (reply.id === null) {
      // About the connection (the server closes it next): every request in flight fails with it.
      const error =
        'error' in reply ? reply.error : { code: 'FERRY_ERR_CONTROL_BAD_FRAME', message: 'unexpected reply' };
      this.shut(new ControlClientError(error.code, error.message, error.details ?? []));
      return;
    }
    const waiter = this.pending.get(reply.id);
    if (waiter === undefined) return;
    this.pending.delete(reply.id);
    if ('error' in reply)
      waiter.reject(new ControlClientError(reply.error.code, reply.error.message, reply.error.details ?? []));
    else waiter.resolve(reply.result);
  }

  private shut(error: ControlClientError): void {
    if (this.closedBy === null) this.closedBy = error;
    for (const waiter of this.pending.values()) waiter.reject(this.closedBy);
    this.pending.clear();
    if (!this.socket.destroyed) this.socket.destroy();
  }
}

function unreachableMessage(where: string, error: NodeJS.ErrnoException): string {
  switch (error.code) {
    case 'ECONNREFUSED':
      return `nothing is listening on ${where}: is Ferry running, with a control block in its config?`;
    case 'ENOENT':
      return `no socket at ${where}: is Ferry running, with control.address ${where}?`;
    case 'EACCES':
      return `no permission to connect to ${where} (the socket is 0600: run ferryctl as Ferry's user)`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `cannot resolve the host of ${where}`;
    default:
      return `cannot connect to ${where}: ${error.code ?? error.message}`;
  }
}
