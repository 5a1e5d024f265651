/**
 * Raw TCP targets for tests: a `net` server on 127.0.0.1, port 0, that hands
 * each upstream connection to a test-written handler and counts every
 * connection and every byte it received. Used where a node:http target
 * cannot misbehave on purpose (ambiguous framing, resets mid-response,
 * dropping a reused connection) and to prove a target received nothing.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import net from 'node:net';

export interface RawTarget {
  readonly address: string;
  readonly port: number;
  /** Connections accepted so far. */
  connections: number;
  /** Bytes received over all connections. */
  bytesReceived: number;
  /** Sockets currently open. */
  readonly sockets: Set<net.Socket>;
  close(): Promise<void>;
}

/** `handler` runs once per accepted connection; `target` counts before it sees anything. */
export type RawTargetHandler = (socket: net.Socket, target: RawTarget) => void;

export async function startRawTarget(handler: RawTargetHandler): Promise<RawTarget> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    target.connections++;
    sockets.add(socket);
    socket.on('data', (chunk: Buffer) => {
      target.bytesReceived += chunk.length;
    });
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
    handler(socket, target);
  });
  const target: RawTarget = {
    address: '',
    port: 0,
    connections: 0,
    bytesReceived: 0,
    sockets,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as net.AddressInfo).port;
  return Object.assign(target, { address: `127.0.0.1:${port}`, port });
}

/**
 * Handler that answers every complete request head on a connection with
 * `response(index)` (index counts heads on this connection from 0). Request
 * bodies are not framed: use it with bodiless requests only. Returning null
 * sends nothing.
 */
export function answerEachHead(
  response: (index: number, socket: net.Socket) => string | null,
): RawTargetHandler {
  return (socket) => {
    let pending = '';
    let index = 0;
    socket.on('data', (chunk: Buffer) => {
      pending += chunk.toString('latin1');
      for (;;) {
        const end = pending.indexOf('\r\n\r\n');
        if (end === -1) return;
        pending = pending.slice(end + 4);
        const answer = response(index++, socket);
        if (answer !== null && !socket.destroyed) socket.write(answer, 'latin1');
      }
    });
  };
}

/** A port on 127.0.0.1 nothing listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface SilentPort {
  readonly address: string;
  close(): Promise<void>;
}

/**
 * A loopback port whose TCP handshake never completes: a listening socket
 * (in a python3 child, since Node accepts every connection itself) with a
 * backlog of 0 that never accepts, its one queue place taken by a first
 * connection made here. Linux then drops every later SYN, so a connect to
 * it waits until the caller's own timeout, as to a host that went silent.
 */
export async function startSilentPort(): Promise<SilentPort> {
  const script = [
    'import socket, sys',
    's = socket.socket()',
    's.bind(("127.0.0.1", 0))',
    's.listen(0)',
    'print(s.getsockname()[1], flush=True)',
    'sys.stdin.read()',
  ].join('\n');
  // The system python3 first: a pyenv shim earlier on PATH takes ~2 s to start.
  const python = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
  const child = spawn(python, ['-c', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  const [chunk] = (await once(child.stdout, 'data')) as [Buffer];
  const port = Number(chunk.toString().trim());
  const filler = net.connect(port, '127.0.0.1');
  filler.on('error', () => {});
  await once(filler, 'connect');
  return {
    address: `127.0.0.1:${port}`,
    close: async () => {
      filler.destroy();
      child.stdin.end();
      if (child.exitCode === null) await once(child, 'exit');
    },
  };
}
