/**
 * The HTTP/1.1 proxy through real sockets and real worker threads: header
 * rewriting (hop-by-hop, X-Forwarded-*), streamed bodies, pipelining,
 * Expect: 100-continue, HTTP/1.0 clients, bodiless responses and WebSocket
 * upgrades (issue 2, "Runtime"). Exact bytes go through raw sockets where the
 * framing itself is under test; undici where a client library is enough.
 */
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { simpleConfig, startTestFerry, type TestFerry } from '../helpers/ferry.ts';
import { RawClient } from '../helpers/raw-http.ts';
import {
  answerEachHead,
  type RawTarget,
  type RawTargetHandler,
  startRawTarget,
} from '../helpers/raw-target.ts';

// === A target with one route per behaviour under test ===

interface RoutesTarget {
  readonly server: http.Server;
  readonly address: string;
  /** Headers of the last request, as node:http parsed them. */
  lastHeaders: http.IncomingHttpHeaders;
  /** Raw header lines of the last request (names as sent). */
  lastRawHeaders: string[];
  /** Upgrade requests seen. */
  upgrades: http.IncomingMessage[];
  /** Paths of every request received, in order. */
  paths: string[];
}

/**
 * `/echo` answers the request body with a Content-Length; `/stream` writes
 * three pieces without a length (chunked to 1.1, until close to 1.0);
 * `/204`, `/304`; anything else answers `ok` with a length. An Upgrade
 * request gets a 101, then `hello`, then an echo of every byte.
 */
async function startRoutesTarget(): Promise<RoutesTarget> {
  const server = http.createServer((req, res) => {
    target.paths.push(req.url ?? '');
    target.lastHeaders = req.headers;
    target.lastRawHeaders = req.rawHeaders;
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      switch (req.url) {
        case '/echo': {
          const body = Buffer.concat(chunks);
          res.writeHead(200, { 'content-length': body.length }).end(body);
          return;
        }
        case '/stream':
          res.writeHead(200, { 'content-type': 'text/plain' });
          res.write('a');
          res.write('b');
          res.end('c');
          return;
        case '/until-close':
          // An HTTP/1.0-style body: no length, no chunking, ended by closing the connection.
          res.useChunkedEncodingByDefault = false;
          res.shouldKeepAlive = false;
          res.writeHead(200, { 'content-type': 'text/plain' });
          res.write('x');
          res.end('yz');
          return;
        case '/204':
          res.writeHead(204).end();
          return;
        case '/304':
          res.writeHead(304, { etag: '"v1"' }).end();
          return;
        default:
          res.writeHead(200, { 'content-length': 3 }).end('ok\n');
      }
    });
  });
  server.on('upgrade', (req: http.IncomingMessage, socket, head: Buffer) => {
    target.upgrades.push(req);
    socket.write(
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\nhello',
    );
    if (head.length > 0) socket.write(head);
    socket.on('data', (chunk: Buffer) => socket.write(chunk));
    socket.on('end', () => socket.end());
    socket.on('error', () => {});
  });
  const target: RoutesTarget = {
    server,
    address: '',
    lastHeaders: {},
    lastRawHeaders: [],
    upgrades: [],
    paths: [],
  };
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  return Object.assign(target, { address: `127.0.0.1:${port}` });
}

let target: RoutesTarget;
let ferry: TestFerry;

beforeAll(async () => {
  target = await startRoutesTarget();
  ferry = await startTestFerry(
    simpleConfig({ targets: [target.address], groupYaml: '    healthCheck: { enabled: false }' }),
  );
});

/** A Ferry over a raw target, for responses node:http would not send; one per test, stopped after it. */
let rawTarget: RawTarget | null = null;
let rawFerry: TestFerry | null = null;

async function rawTargetFerry(handler: RawTargetHandler): Promise<TestFerry> {
  rawTarget = await startRawTarget(handler);
  rawFerry = await startTestFerry(
    simpleConfig({ targets: [rawTarget.address], groupYaml: '    healthCheck: { enabled: false }' }),
  );
  return rawFerry;
}

afterEach(async () => {
  await rawFerry?.stop(1_000);
  rawFerry = null;
  await rawTarget?.close();
  rawTarget = null;
});

afterAll(async () => {
  await ferry?.stop(1_000);
  target?.server.closeAllConnections();
  await new Promise((resolve) => target?.server.close(resolve));
});

const HOST = 'Host: ferry.test\r\n';

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** `totalBytes` of deterministic-looking data in 1 MiB pieces, and its hash. */
function largeBody(totalBytes: number): { pieces: Buffer[]; hash: string } {
  const block = randomBytes(1024 * 1024);
  const pieces: Buffer[] = [];
  const hash = createHash('sha256');
  for (let sent = 0, i = 0; sent < totalBytes; i++) {
    const piece = Buffer.from(block.subarray(0, Math.min(block.length, totalBytes - sent)));
    piece.writeUInt32BE(i, 0); // every piece differs, so a reordered or repeated piece changes the hash
    pieces.push(piece);
    hash.update(piece);
    sent += piece.length;
  }
  return { pieces, hash: hash.digest('hex') };
}

describe('HttpConnection', () => {
  describe('when forwarding request headers', () => {
    it('strips hop-by-hop headers, including those the Connection header names', async () => {
      const client = await RawClient.connect(ferry.port);
      await client.write(
        `GET /headers HTTP/1.1\r\n${HOST}Connection: keep-alive, Foo, X-Secret\r\nFoo: x\r\nX-Secret: s\r\n` +
          'Keep-Alive: timeout=5\r\nTE: trailers\r\nUpgrade: h2c\r\nProxy-Connection: keep-alive\r\n' +
          'Trailer: X-Checksum\r\nX-Kept: yes\r\n\r\n',
      );
      expect((await client.response()).status).toBe(200);
      const names = target.lastRawHeaders.filter((_, i) => i % 2 === 0).map((name) => name.toLowerCase());
      for (const name of [
        'connection',
        'foo',
        'x-secret',
        'keep-alive',
        'te',
        'upgrade',
        'proxy-connection',
        'trailer',
      ]) {
        expect(names).not.toContain(name);
      }
      expect(target.lastHeaders['x-kept']).toBe('yes');
      expect(target.lastHeaders.host).toBe('ferry.test');
      client.destroy();
    });

    it('does not forward a non-websocket upgrade the Connection header asks for', async () => {
      const client = await RawClient.connect(ferry.port);
      await client.write(
        `GET /h2c HTTP/1.1\r\n${HOST}Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n`,
      );
      const response = await client.response();
      expect(response.status).toBe(200);
      expect(target.lastHeaders.upgrade).toBeUndefined();
      expect(target.lastHeaders['http2-settings']).toBeUndefined();
      expect(target.upgrades).toHaveLength(0);
      client.destroy();
    });

    it('appends the client address to X-Forwarded-For and sets X-Forwarded-Proto and -Port', async () => {
      const client = await RawClient.connect(ferry.port);
      await client.write(
        `GET /xff HTTP/1.1\r\n${HOST}X-Forwarded-For: 203.0.113.7\r\n` +
          'X-Forwarded-Proto: https\r\nX-Forwarded-Port: 1\r\n\r\n',
      );
      expect((await client.response()).status).toBe(200);
      expect(target.lastHeaders['x-forwarded-for']).toBe('203.0.113.7, 127.0.0.1');
      expect(target.lastHeaders['x-forwarded-proto']).toBe('http');
      expect(target.lastHeaders['x-forwarded-port']).toBe(String(ferry.port));
      // Without an incoming value, the client address alone.
      await client.write(`GET /xff HTTP/1.1\r\n${HOST}\r\n`);
      expect((await client.response()).status).toBe(200);
      expect(target.lastHeaders['x-forwarded-for']).toBe('127.0.0.1');
      client.destroy();
    });
  });

  describe('when Connection names a header that frames or routes the message', () => {
    it('still frames the request body, so nothing in it reaches the target as a request', async () => {
      const smuggled = `GET /smuggled HTTP/1.1\r\n${HOST}\r\n`;
      const client = await RawClient.connect(ferry.port);
      await client.write(
        `POST /echo HTTP/1.1\r\n${HOST}Connection: content-length\r\nContent-Length: ${smuggled.length}\r\n\r\n${smuggled}`,
      );
      const response = await client.response();
      expect(response.status).toBe(200);
      expect(response.body.toString()).toBe(smuggled);
      // A request after it on the same connection shares the pooled upstream socket.
      await client.write(`GET /after HTTP/1.1\r\n${HOST}\r\n`);
      expect((await client.response()).status).toBe(200);
      expect(target.paths).not.toContain('/smuggled');
      expect(target.paths.slice(-2)).toEqual(['/echo', '/after']);
      client.destroy();
    });

    it('still sends Host', async () => {
      const client = await RawClient.connect(ferry.port);
      await client.write(`GET /host HTTP/1.1\r\n${HOST}Connection: host\r\n\r\n`);
      expect((await client.response()).status).toBe(200);
      expect(target.lastHeaders.host).toBe('ferry.test');
      client.destroy();
    });

    it("still frames the target's response body for the client", async () => {
      const proxy = await rawTargetFerry(
        answerEachHead(() => 'HTTP/1.1 200 OK\r\nConnection: content-length\r\nContent-Length: 2\r\n\r\nok'),
      );
      const client = await RawClient.connect(proxy.port);
      for (let i = 0; i < 2; i++) {
        await client.write(`GET / HTTP/1.1\r\n${HOST}\r\n`);
        const response = await client.response();
        expect(response.header('content-length')).toBe('2');
        expect(response.body.toString()).toBe('ok');
      }
      client.destroy();
    });
  });

  describe('when a chunked body carries another transfer coding', () => {
    // The bytes are relayed as they are, so the codings must travel with them.
    it('forwards the request codings as received', async () => {
      const client = await RawClient.connect(ferry.port);
      await client.write(
        `POST /echo HTTP/1.1\r\n${HOST}Transfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n`,
      );
      expect((await client.response()).status).toBe(200);
      expect(target.lastHeaders['transfer-encoding']).toBe('gzip, chunked');
      client.destroy();
    });

    it('relays the response codings as received', async () => {
      const proxy = await rawTargetFerry(
        answerEachHead(
          () => 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n',
        ),
      );
      const client = await RawClient.connect(proxy.port);
      await client.write(`GET / HTTP/1.1\r\n${HOST}\r\n`);
      const response = await client.response();
      expect(response.header('transfer-encoding')).toBe('gzip, chunked');
      expect(response.body.toString()).toBe('abc');
      client.destroy();
    });
  });

  describe('when the target sends hop-by-hop response headers', () => {
    it('strips them, including those its Connection header names', async () => {
      const proxy = await rawTargetFerry(
        answerEachHead(
          () =>
            'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: X-Secret, keep-alive\r\nX-Secret: s\r\n' +
            'Keep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\nUpgrade: h2c\r\nTrailer: X-Checksum\r\n' +
            'X-Kept: yes\r\n\r\nok',
        ),
      );
      const client = await RawClient.connect(proxy.port);
      await client.write(`GET / HTTP/1.1\r\n${HOST}\r\n`);
      const response = await client.response();
      expect(response.status).toBe(200);
      expect(response.body.toString()).toBe('ok');
      const names = response.headers.map(([name]) => name);
      for (const name of ['connection', 'x-secret', 'keep-alive', 'proxy-connection', 'upgrade', 'trailer']) {
        expect(names).not.toContain(name);
      }
      expect(response.header('x-kept')).toBe('yes');
      client.destroy();
    });
  });

  describe('when the target closes its connection after a response', () => {
    it('keeps the client connection and uses a new upstream connection next', async () => {
      const proxy = await rawTargetFerry(
        answerEachHead((_, socket) => {
          socket.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok');
          return null;
        }),
      );
      const client = await RawClient.connect(proxy.port);
      for (let i = 0; i < 3; i++) {
        await client.write(`GET / HTTP/1.1\r\n${HOST}\r\n`);
        const response = await client.response();
        expect(response.status).toBe(200);
        expect(response.header('connection')).toBeUndefined();
      }
      expect(rawTarget!.connections).toBe(3);
      expect(client.isClosed).toBe(false);
      client.destroy();
    });
  });

  describe('when the target sends an interim response other than 100', () => {
    it('relays the 103 Early Hints, then the final response', async () => {
      const proxy = await rawTargetFerry(
        answerEachHead(
          () =>
            'HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n' +
            'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok',
        ),
      );
      const client = await RawClient.connect(proxy.port);
      await client.write(`GET / HTTP/1.1\r\n${HOST}\r\n`);
      const hints = await client.response();
      expect(hints.status).toBe(103);
      expect(hints.header('link')).toBe('</style.css>; rel=preload');
      const final = await client.response();
      expect(final.status).toBe(200);
      expect(final.body.toString()).toBe('ok');
      client.destroy();
    });
  });

  describe('when bodies are large', () => {
    const SIZE_BYTES = 50 * 1024 * 1024;

    it('streams a 50 MB Content-Length body to the target and back intact', async () => {
      const { pieces, hash } = largeBody(SIZE_BYTES);
      const res = await request(`${ferry.url}/echo`, {
        method: 'POST',
        headers: { 'content-length': String(SIZE_BYTES) },
        body: Readable.from(pieces),
      });
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-length']).toBe(String(SIZE_BYTES));
      const received = Buffer.from(await res.body.arrayBuffer());
      expect(received.length).toBe(SIZE_BYTES);
      expect(sha256(received)).toBe(hash);
      expect(target.lastHeaders['content-length']).toBe(String(SIZE_BYTES));
    });

    it('streams a 50 MB chunked body to the target and back intact', async () => {
      const { pieces, hash } = largeBody(SIZE_BYTES);
      const res = await request(`${ferry.url}/echo`, { method: 'POST', body: Readable.from(pieces) });
      expect(res.statusCode).toBe(200);
      const received = Buffer.from(await res.body.arrayBuffer());
      expect(received.length).toBe(SIZE_BYTES);
      expect(sha256(received)).toBe(hash);
      expect(target.lastHeaders['transfer-encoding']).toBe('chunked');
      expect(target.lastHeaders['content-length']).toBeUndefined();
    });

    it('relays a chunked response intact to an HTTP/1.1 client', async () => {
      const client = await RawClient.connect(ferry.port);
      await client.write(`GET /stream HTTP/1.1\r\n${HOST}\r\n`);
      const response = await client.response();
      expect(response.header('transfer-encoding')).toBe('chunked');
      expect(response.body.toString()).toBe('abc');
      client.destroy();
    });
  });

  describe('when the target ends a body by closing', () => {
    it('relays it to an HTTP/1.1 client and closes that connection too', async () => {
      const client = await RawClient.connect(ferry.port);
      await client.write(`GET /until-close HTTP/1.1\r\n${HOST}\r\n`);
      const raw = (await client.readToEnd()).toString('latin1');
      const [head, body] = raw.split('\r\n\r\n') as [string, string];
      expect(head.toLowerCase()).toContain('connection: close');
      expect(head.toLowerCase()).not.toContain('transfer-encoding');
      expect(body).toBe('xyz');
    });
  });

  describe('when a body is empty', () => {
    it('answers a Content-Length: 0 request and response and keeps the connection', async () => {
      const client = await RawClient.connect(ferry.port);
      await client.write(`POST /echo HTTP/1.1\r\n${HOST}Content-Length: 0\r\n\r\n`);
      const first = await client.response();
      expect(first.status).toBe(200);
      expect(first.header('content-length')).toBe('0');
      expect(first.header('connection')).toBeUndefined();
      await client.write(`GET / HTTP/1.1\r\n${HOST}\r\n`);
      expect((await client.response()).body.toString()).toBe('ok\n');
      expect(client.isClosed).toBe(false);
      client.destroy();
    });
  });

  describe('when requests are pipelined', () => {
    it('answers 10 requests written in one write, in order', async () => {
      const client = await RawClient.connect(ferry.port);
      let bytes = '';
      const expected: string[] = [];
      for (let i = 0; i < 10; i++) {
        const body = `request-${i}`;
        if (i % 3 === 0) {
          bytes += `GET /get-${i} HTTP/1.1\r\n${HOST}\r\n`;
          expected.push('ok\n');
        } else if (i % 3 === 1) {
          bytes += `POST /echo HTTP/1.1\r\n${HOST}Content-Length: ${body.length}\r\n\r\n${body}`;
          expected.push(body);
        } else {
          const hex = body.length.toString(16);
          bytes += `POST /echo HTTP/1.1\r\n${HOST}Transfer-Encoding: chunked\r\n\r\n${hex}\r\n${body}\r\n0\r\n\r\n`;
          expected.push(body);
        }
      }
      await client.write(bytes);
      const bodies: string[] = [];
      for (let i = 0; i < 10; i++) {
        const response = await client.response();
        expect(response.status).toBe(200);
        bodies.push(response.body.toString());
      }
      expect(bodies).toEqual(expected);
      expect(client.isClosed).toBe(false);
      client.destroy();
    });

    it('frames the responses after a HEAD, a 204 and a 304 in the same write', async () => {
      const client = await RawClient.connect(ferry.port);
      const lines = ['HEAD /', 'GET /204', 'GET /', 'GET /304', 'HEAD /stream', 'GET /'];
      await client.write(lines.map((line) => `${line} HTTP/1.1\r\n${HOST}\r\n`).join(''));
      const answers: string[] = [];
      for (const line of lines) {
        const response = await client.response({ isHead: line.startsWith('HEAD') });
        answers.push(`${response.status}:${response.body.toString()}`);
      }
      expect(answers).toEqual(['200:', '204:', '200:ok\n', '304:', '200:', '200:ok\n']);
      expect(client.unread.length).toBe(0);
      client.destroy();
    });

    it('answers the requests before a malformed one, then refuses it and closes', async () => {
      const client = await RawClient.connect(ferry.port);
      const good = `GET / HTTP/1.1\r\n${HOST}\r\n`;
      const smuggled = `POST /echo HTTP/1.1\r\n${HOST}Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`;
      await client.write(`${good}${good}${smuggled}${good}`);
      const statuses: number[] = [];
      for (let i = 0; i < 3; i++) statuses.push((await client.response()).status);
      expect(statuses).toEqual([200, 200, 400]);
      await client.closed;
      expect(client.unread.length).toBe(0);
    });
  });

  describe('when the client sends Expect: 100-continue', () => {
    it("relays the target's 100 Continue, then the final response to the body", async () => {
      const client = await RawClient.connect(ferry.port);
      await client.write(`POST /echo HTTP/1.1\r\n${HOST}Expect: 100-continue\r\nContent-Length: 5\r\n\r\n`);
      const interim = await client.response();
      expect(interim.status).toBe(100);
      expect(target.lastHeaders.expect).toBe('100-continue');
      await client.write('hello');
      const final = await client.response();
      expect(final.status).toBe(200);
      expect(final.body.toString()).toBe('hello');
      client.destroy();
    });
  });

  describe('when the client speaks HTTP/1.0', () => {
    it('closes the connection after the response without keep-alive', async () => {
      const client = await RawClient.connect(ferry.port);
      await client.write('GET / HTTP/1.0\r\n\r\n');
      const response = await client.response();
      expect(response.status).toBe(200);
      expect(response.body.toString()).toBe('ok\n');
      expect(response.header('transfer-encoding')).toBeUndefined();
      await client.closed;
    });

    it('keeps the connection with Connection: keep-alive when the response has a length', async () => {
      const client = await RawClient.connect(ferry.port);
      await client.write('GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n');
      const first = await client.response();
      expect(first.status).toBe(200);
      expect(first.header('connection')?.toLowerCase()).toBe('keep-alive');
      await client.write('GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n');
      expect((await client.response()).body.toString()).toBe('ok\n');
      expect(client.isClosed).toBe(false);
      client.destroy();
    });

    it('never sends chunked to it: an unknown-length body runs until close', async () => {
      const client = await RawClient.connect(ferry.port);
      await client.write('GET /stream HTTP/1.0\r\nConnection: keep-alive\r\n\r\n');
      const raw = (await client.readToEnd()).toString('latin1');
      const [head, body] = raw.split('\r\n\r\n') as [string, string];
      expect(head).toMatch(/^HTTP\/1\.1 200 /);
      expect(head.toLowerCase()).not.toContain('transfer-encoding');
      expect(head.toLowerCase()).not.toContain('content-length');
      expect(body).toBe('abc');
    });
  });

  describe('when a response has no body', () => {
    it.each([
      ['HEAD', 'HEAD / HTTP/1.1', 200],
      ['204', 'GET /204 HTTP/1.1', 204],
      ['304', 'GET /304 HTTP/1.1', 304],
    ] as const)(
      'carries none after a %s and serves the next request on the connection',
      async (_, line, status) => {
        const client = await RawClient.connect(ferry.port);
        await client.write(`${line}\r\n${HOST}\r\n`);
        const response = await client.response({ isHead: line.startsWith('HEAD') });
        expect(response.status).toBe(status);
        expect(response.body.length).toBe(0);
        expect(response.header('transfer-encoding')).toBeUndefined();
        await client.write(`GET / HTTP/1.1\r\n${HOST}\r\n`);
        const next = await client.response();
        expect(next.status).toBe(200);
        expect(next.body.toString()).toBe('ok\n');
        expect(client.unread.length).toBe(0);
        client.destroy();
      },
    );
  });

  describe('when the client upgrades to websocket', () => {
    it('tunnels bytes both ways after the 101', async () => {
      const client = await RawClient.connect(ferry.port);
      await client.write(
        `GET /ws HTTP/1.1\r\n${HOST}Connection: Upgrade\r\nUpgrade: websocket\r\n` +
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
      );
      const response = await client.response();
      expect(response.status).toBe(101);
      expect(response.header('upgrade')).toBe('websocket');
      expect(response.header('connection')?.toLowerCase()).toBe('upgrade');
      expect(response.header('sec-websocket-accept')).toBe('s3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
      expect((await client.readBytes(5)).toString()).toBe('hello');
      await client.write('ping from the client');
      expect((await client.readBytes(20)).toString()).toBe('ping from the client');
      const upgrade = target.upgrades.at(-1)!;
      expect(upgrade.headers.upgrade).toBe('websocket');
      expect(upgrade.headers['sec-websocket-key']).toBe('dGhlIHNhbXBsZSBub25jZQ==');
      client.socket.end();
      await client.closed;
    });
  });
});
