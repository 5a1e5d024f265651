/**
 * Layer-4 test peers (issue 13): TCP and TLS targets that say who they are
 * and keep what they received, a UDP echo target, a listener-counter reader,
 * raw exchanges from a chosen loopback source address, and a runner for the
 * real third-party clients (openssl s_client, curl).
 * All on 127.0.0.1, port 0.
 */
import { execFile } from 'node:child_process';
import dgram from 'node:dgram';
import { once } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';
import { loadListener } from '../../proto/table-layout.ts';
import type { TestCert } from './certs.ts';
import type { TestFerry } from './ferry.ts';

export interface L4Target {
  readonly name: string;
  readonly port: number;
  readonly address: string;
  /** Connections (TCP, TLS) or distinct client ports (UDP) seen. */
  connections: number;
  /** TCP: the first chunk of each connection, in order. */
  readonly firstChunks: Buffer[];
  /** UDP: the source port of each datagram, in order. */
  readonly sources: string[];
  close(): Promise<void>;
}

function portOf(server: net.Server): number {
  return (server.address() as net.AddressInfo).port;
}

/**
 * A TCP target answering each chunk with `<name>:<chunk>` and keeping each
 * connection's first chunk; `isOneShot` closes after the first answer (for
 * clients that read until the server closes).
 */
export async function startTcpEcho(name: string, isOneShot = false): Promise<L4Target> {
  const sockets = new Set<net.Socket>();
  const target = { name, connections: 0, firstChunks: [] as Buffer[], sources: [] as string[] };
  const server = net.createServer((socket) => {
    target.connections++;
    sockets.add(socket);
    let isFirst = true;
    socket.on('data', (chunk) => {
      if (isFirst) target.firstChunks.push(Buffer.from(chunk));
      isFirst = false;
      if (isOneShot) socket.end(`${name}:${chunk.toString('latin1')}`);
      else socket.write(`${name}:${chunk.toString('latin1')}`);
    });
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = portOf(server);
  return Object.assign(target, {
    port,
    address: `127.0.0.1:${port}`,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  });
}

/** A TLS target with its own certificate answering the first chunk of plaintext with `<name>:<chunk>`, then closing. */
export async function startTlsEcho(name: string, cert: TestCert): Promise<L4Target> {
  const sockets = new Set<net.Socket>();
  const target = { name, connections: 0, firstChunks: [] as Buffer[], sources: [] as string[] };
  const server = tls.createServer({ cert: cert.cert, key: cert.key }, (socket) => {
    sockets.add(socket);
    socket.once('data', (chunk) => socket.end(`${name}:${chunk.toString('latin1')}`));
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
  });
  server.on('connection', () => target.connections++);
  server.on('tlsClientError', () => {});
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = portOf(server);
  return Object.assign(target, {
    port,
    address: `127.0.0.1:${port}`,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  });
}

/** A UDP target answering each datagram with `<name>:<datagram>` and keeping each sender's `address:port`. */
export async function startUdpEcho(name: string): Promise<L4Target> {
  const socket = dgram.createSocket('udp4');
  const seen = new Set<string>();
  const target = { name, connections: 0, firstChunks: [] as Buffer[], sources: [] as string[] };
  socket.on('message', (message, remote) => {
    const source = `${remote.address}:${remote.port}`;
    target.sources.push(source);
    if (!seen.has(source)) {
      seen.add(source);
      target.connections++;
    }
    socket.send(`${name}:${message.toString('latin1')}`, remote.port, remote.address);
  });
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  const port = socket.address().port;
  return Object.assign(target, {
    port,
    address: `127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  });
}

/** A listener counter summed over workers, by listener position in the config. */
export function listenerCounter(ferry: TestFerry, listenerIndex: number, field: number): number {
  let sum = 0;
  for (let worker = 0; worker < ferry.config().workerCount; worker++)
    sum += loadListener(ferry.table.view, worker, listenerIndex, field);
  return sum;
}

export interface ToolRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Run a command with `input` on stdin; resolves with its exit code and output, never rejects. */
export function runTool(
  file: string,
  args: readonly string[],
  input = '',
  timeoutMs = 20_000,
): Promise<ToolRun> {
  return new Promise((resolve) => {
    const child = execFile(
      file,
      args,
      { timeout: timeoutMs, encoding: 'latin1' },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
        resolve({ code, stdout, stderr });
      },
    );
    child.stdin?.end(input);
  });
}

/** Open a TCP connection to Ferry, send `bytes`, and resolve with everything received until it closes or `untilText` appears. */
export async function tcpExchange(port: number, bytes: Buffer | string, untilText: string): Promise<string> {
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  socket.write(bytes);
  let text = '';
  return await new Promise<string>((resolve) => {
    socket.on('data', (chunk) => {
      text += chunk.toString('latin1');
      if (text.includes(untilText)) {
        socket.destroy();
        resolve(text);
      }
    });
    socket.on('error', () => {});
    socket.on('close', () => resolve(text));
  });
}

/** Connect from `localAddress`, send `bytes`, resolve with everything received until the peer closes. */
export async function exchangeFrom(
  localAddress: string,
  port: number,
  bytes: Uint8Array | string,
): Promise<string> {
  const socket = net.connect({ host: '127.0.0.1', port, localAddress });
  await once(socket, 'connect');
  socket.write(bytes);
  let text = '';
  socket.on('data', (chunk: Buffer) => {
    text += chunk.toString('latin1');
  });
  socket.on('error', () => {});
  await once(socket, 'close');
  return text;
}

/** Connect from `localAddress`, send `text`, resolve with the first chunk back (for peers that keep the connection open). */
export async function firstReplyFrom(localAddress: string, port: number, text: string): Promise<string> {
  const socket = net.connect({ host: '127.0.0.1', port, localAddress });
  await once(socket, 'connect');
  socket.write(text);
  const [chunk] = (await once(socket, 'data')) as [Buffer];
  socket.destroy();
  return chunk.toString('latin1');
}
