/**
 * A raw-socket HTTP/1.1 client for tests that must send exact bytes (smuggling
 * attempts, pipelining, HTTP/1.0, Expect, Upgrade) and read exactly what came
 * back, response by response, without a client library normalising anything.
 *
 * The reader is deliberately small and lenient: it frames responses the way
 * RFC 9112 §6.3 says a client must (1xx/204/304/HEAD carry no body, then
 * chunked, then Content-Length, else until close) and keeps the raw head so a
 * test can assert on what was (not) sent.
 */
import net from 'node:net';

export interface RawResponse {
  readonly status: number;
  readonly version: string;
  /** The head as received, through the empty line. */
  readonly head: string;
  /** Lower-cased names, values as sent, in order. */
  readonly headers: readonly (readonly [string, string])[];
  /** The decoded body (chunked framing removed). */
  readonly body: Buffer;
  /** The first value of a header, or undefined. */
  header(name: string): string | undefined;
}

export interface ReadOptions {
  /** The response answers a HEAD request (no body whatever the headers say). */
  readonly isHead?: boolean;
}

const CRLF2 = Buffer.from('\r\n\r\n');

export class RawClient {
  readonly socket: net.Socket;
  private buffer: Buffer;
  private isEnded: boolean;
  private isClosedFlag: boolean;
  private wake: (() => void) | null;
  readonly closed: Promise<void>;
  /** The socket error code if the connection failed (ECONNRESET when the peer reset it), else ''. */
  errorCode: string;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    this.buffer = Buffer.alloc(0);
    this.isEnded = false;
    this.isClosedFlag = false;
    this.wake = null;
    this.errorCode = '';
    socket.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.notify();
    });
    socket.on('end', () => {
      this.isEnded = true;
      this.notify();
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      this.errorCode = error.code ?? 'ERROR';
    });
    this.closed = new Promise((resolve) =>
      socket.on('close', () => {
        this.isEnded = true;
        this.isClosedFlag = true;
        this.notify();
        resolve();
      }),
    );
  }

  static connect(port: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: '127.0.0.1', port, noDelay: true });
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(new RawClient(socket));
      });
    });
  }

  /** True once the peer closed (or the socket was destroyed). */
  get isClosed(): boolean {
    return this.isClosedFlag;
  }

  write(data: string | Buffer): Promise<void> {
    return new Promise((resolve, reject) =>
      this.socket.write(data, (error) => (error ? reject(error) : resolve())),
    );
  }

  /** Bytes received and not yet consumed by response(). */
  get unread(): Buffer {
    return this.buffer;
  }

  /** Wait until at least `count` unread bytes arrived (or the peer ended), then take them all. */
  async readBytes(count: number): Promise<Buffer> {
    while (this.buffer.length < count && !this.isEnded) await this.nextEvent();
    const taken = this.buffer;
    this.buffer = Buffer.alloc(0);
    return taken;
  }

  /** Read the next complete response (1xx interim responses are returned on their own). */
  async response(options: ReadOptions = {}): Promise<RawResponse> {
    for (;;) {
      const parsed = tryParse(this.buffer, options, this.isEnded);
      if (parsed !== null) {
        this.buffer = this.buffer.subarray(parsed.consumed);
        return parsed.response;
      }
      if (this.isEnded) {
        throw new Error(
          `connection ended before a complete response; got ${JSON.stringify(this.buffer.toString('latin1'))}`,
        );
      }
      await this.nextEvent();
    }
  }

  /** Everything until the peer closes. */
  async readToEnd(): Promise<Buffer> {
    while (!this.isEnded) await this.nextEvent();
    const taken = this.buffer;
    this.buffer = Buffer.alloc(0);
    return taken;
  }

  destroy(): void {
    this.socket.destroy();
  }

  private nextEvent(): Promise<void> {
    return new Promise((resolve) => {
      this.wake = resolve;
    });
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }
}

/** Send `bytes` on a fresh connection and read one response. */
export async function rawRequest(port: number, bytes: string | Buffer, options: ReadOptions = {}) {
  const client = await RawClient.connect(port);
  try {
    await client.write(bytes);
    return { client, response: await client.response(options) };
  } catch (error) {
    client.destroy();
    throw error;
  }
}

function tryParse(
  buf: Buffer,
  options: ReadOptions,
  isEnded: boolean,
): { consumed: number; response: RawResponse } | null {
  const headEnd = buf.indexOf(CRLF2);
  if (headEnd === -1) return null;
  const head = buf.subarray(0, headEnd + 4).toString('latin1');
  const lines = head.slice(0, -4).split('\r\n');
  const statusLine = lines[0]!;
  const match = /^(HTTP\/\d\.\d) (\d{3})/.exec(statusLine);
  if (match === null) throw new Error(`bad status line ${JSON.stringify(statusLine)}`);
  const headers = lines.slice(1).map((line): [string, string] => {
    const colon = line.indexOf(':');
    return [line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim()];
  });
  const status = Number(match[2]);
  const header = (name: string) => headers.find(([n]) => n === name)?.[1];
  const make = (body: Buffer): RawResponse => ({ status, version: match[1]!, head, headers, body, header });
  const bodyStart = headEnd + 4;
  if (status < 200 || status === 204 || status === 304 || options.isHead === true) {
    return { consumed: bodyStart, response: make(Buffer.alloc(0)) };
  }
  if (/chunked/i.test(header('transfer-encoding') ?? '')) {
    const chunks: Buffer[] = [];
    let p = bodyStart;
    for (;;) {
      const lineEnd = buf.indexOf('\r\n', p);
      if (lineEnd === -1) return null;
      const size = Number.parseInt(buf.subarray(p, lineEnd).toString('latin1'), 16);
      if (size === 0) {
        // "0\r\n", optional trailer lines, then the empty line.
        const end = buf.indexOf(CRLF2, lineEnd);
        if (end === -1) return null;
        return { consumed: end + 4, response: make(Buffer.concat(chunks)) };
      }
      if (buf.length < lineEnd + 2 + size + 2) return null;
      chunks.push(buf.subarray(lineEnd + 2, lineEnd + 2 + size));
      p = lineEnd + 2 + size + 2;
    }
  }
  const length = header('content-length');
  if (length !== undefined) {
    const n = Number(length);
    if (buf.length < bodyStart + n) return null;
    return { consumed: bodyStart + n, response: make(Buffer.from(buf.subarray(bodyStart, bodyStart + n))) };
  }
  if (!isEnded) return null;
  return { consumed: buf.length, response: make(Buffer.from(buf.subarray(bodyStart))) };
}
