/**
 * What a client sees when the target fails, through real sockets and real
 * worker threads: 502 for refused, reset and malformed responses, 503 when no
 * target is routable, 504 when the target does not answer, each with its
 * stable `x-ferry-error` code; a response cut after its head reaches the
 * client as a cut connection; and a pooled keep-alive socket the target has
 * already closed never surfaces as an error to an idempotent request
 * (issue 2, "Runtime"; RFC 9112 §9.3.1).
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { Agent, request } from 'undici';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { simpleConfig, startTestFerry, type TestFerry } from '../helpers/ferry.ts';
import { RawClient, rawRequest } from '../helpers/raw-http.ts';
import {
  answerEachHead,
  closedPort,
  type RawTarget,
  type RawTargetHandler,
  startRawTarget,
  startSilentPort,
} from '../helpers/raw-target.ts';
import { targetCounters, waitForSettled } from '../helpers/table-counters.ts';

const HOST = 'Host: ferry.test\r\n';
const GET = `GET / HTTP/1.1\r\n${HOST}\r\n`;
const OK = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok';
const NO_HEALTH_CHECK = '    healthCheck: { enabled: false }';

/** Most tests share one Ferry over one raw target whose behaviour each test sets. */
let shared: TestFerry;
let raw: RawTarget;
let behaviour: RawTargetHandler = () => {};
/** Ferries and servers a test started for itself, stopped after it. */
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  raw = await startRawTarget((socket, target) => behaviour(socket, target));
  shared = await startTestFerry(
    simpleConfig({
      targets: [raw.address],
      groupYaml: `${NO_HEALTH_CHECK}\n    timeouts: { response: 300ms }`,
    }),
  );
});

afterAll(async () => {
  await shared?.stop(1_000);
  await raw?.close();
});

beforeEach(async () => {
  // Start each test with no upstream connection left from the one before (a
  // pooled socket would carry the old behaviour): close them all at the
  // target and wait until both workers have seen them go.
  for (const socket of raw.sockets) socket.destroy();
  const counters = await waitForSettled(
    () => targetCounters(shared),
    (all) => all.every((t) => t.activeConnections === 0 && t.inFlight === 0),
  );
  expect(counters.map((t) => t.activeConnections)).toEqual([0]);
  raw.connections = 0;
  raw.bytesReceived = 0;
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

/** A Ferry of its own, for a test whose target group differs from the shared one. */
async function ownFerry(address: string, groupYaml: string, weights?: number[]): Promise<TestFerry> {
  const ferry = await startTestFerry(
    simpleConfig(
      weights === undefined ? { targets: [address], groupYaml } : { targets: [address], groupYaml, weights },
    ),
  );
  cleanups.push(() => ferry.stop(1_000));
  return ferry;
}

describe('HttpConnection', () => {
  describe('when the target refuses connections', () => {
    it('answers 502 FERRY_ERR_UPSTREAM_CONNECT_REFUSED', async () => {
      const proxy = await ownFerry(`127.0.0.1:${await closedPort()}`, NO_HEALTH_CHECK);
      const { client, response } = await rawRequest(proxy.port, GET);
      expect(response.status).toBe(502);
      expect(response.header('x-ferry-error')).toBe('FERRY_ERR_UPSTREAM_CONNECT_REFUSED');
      await client.closed;
    });
  });

  describe('when the target never completes the TCP handshake', () => {
    it('answers 504 FERRY_ERR_UPSTREAM_CONNECT_TIMEOUT after the connect timeout', async () => {
      const silent = await startSilentPort();
      cleanups.push(() => silent.close());
      // A response timeout far above the connect one: a 504 here can only be the connect timeout.
      const proxy = await ownFerry(
        silent.address,
        `${NO_HEALTH_CHECK}\n    timeouts: { connect: 300ms, response: 60s }`,
      );
      const { client, response } = await rawRequest(proxy.port, GET);
      expect(response.status).toBe(504);
      expect(response.header('x-ferry-error')).toBe('FERRY_ERR_UPSTREAM_CONNECT_TIMEOUT');
      client.destroy();
      const counters = await waitForSettled(
        () => targetCounters(proxy),
        (all) => all.every((t) => t.inFlight === 0 && t.activeConnections === 0),
      );
      expect(counters.map((t) => [t.inFlight, t.activeConnections])).toEqual([[0, 0]]);
    });
  });

  describe('when the target resets before a response head', () => {
    it('answers 502 FERRY_ERR_UPSTREAM_RESET', async () => {
      behaviour = (socket) => socket.once('data', () => socket.resetAndDestroy());
      const proxy = shared;
      const { client, response } = await rawRequest(proxy.port, GET);
      expect(response.status).toBe(502);
      expect(response.header('x-ferry-error')).toBe('FERRY_ERR_UPSTREAM_RESET');
      await client.closed;
    });

    it('answers 502 FERRY_ERR_UPSTREAM_RESET when it closes without a byte', async () => {
      behaviour = (socket) => socket.once('data', () => socket.end());
      const proxy = shared;
      const { response } = await rawRequest(proxy.port, GET);
      expect(response.status).toBe(502);
      expect(response.header('x-ferry-error')).toBe('FERRY_ERR_UPSTREAM_RESET');
    });
  });

  describe('when the target fails after the response head', () => {
    it.each([
      ['resets in a Content-Length body', 'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789', true],
      ['closes in a Content-Length body', 'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789', false],
      [
        'resets in a chunked body',
        'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\na\r\n0123456789\r\n',
        true,
      ],
      [
        'closes in a chunked body',
        'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\na\r\n0123456789\r\n',
        false,
      ],
      ['resets in a close-delimited body', 'HTTP/1.1 200 OK\r\n\r\n0123456789', true],
    ] as const)('resets the client connection when it %s', async (_, partial, isReset) => {
      behaviour = (socket) =>
        socket.once('data', () =>
          socket.write(partial, 'latin1', () => (isReset ? socket.resetAndDestroy() : socket.end())),
        );
      const client = await RawClient.connect(shared.port);
      await client.write(GET);
      const received = (await client.readToEnd()).toString('latin1');
      // The head and the bytes that came went through; then the connection was
      // reset, so no client can take the cut body for a complete one.
      expect(received).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
      expect(received).toContain('0123456789');
      expect(received).not.toContain('x-ferry-error');
      expect(client.errorCode).toBe('ECONNRESET');
    });

    it('ends a close-delimited body cleanly when the target closes cleanly', async () => {
      behaviour = (socket) => socket.once('data', () => socket.end('HTTP/1.1 200 OK\r\n\r\n0123456789'));
      const client = await RawClient.connect(shared.port);
      await client.write(GET);
      const received = (await client.readToEnd()).toString('latin1');
      expect(received.endsWith('\r\n\r\n0123456789')).toBe(true);
      expect(client.errorCode).toBe('');
    });
  });

  describe('when the request body streams longer than the response timeout', () => {
    it('answers once the body is complete: the timeout counts from the end of the request', async () => {
      const server = http.createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (chunk: Buffer) => chunks.push(chunk));
        req.on('end', () =>
          res.writeHead(200, { 'content-length': Buffer.concat(chunks).length }).end(Buffer.concat(chunks)),
        );
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
      cleanups.push(() => new Promise((resolve) => server.close(() => resolve())));
      const proxy = await ownFerry(
        `127.0.0.1:${(server.address() as AddressInfo).port}`,
        `${NO_HEALTH_CHECK}\n    timeouts: { response: 1s }`,
      );
      const PIECES = 40;
      const client = await RawClient.connect(proxy.port);
      await client.write(`POST / HTTP/1.1\r\n${HOST}Content-Length: ${PIECES * 4}\r\n\r\n`);
      // A slow client: 40 pieces 50 ms apart, about twice the response timeout in all.
      // The pacing sets up the slow upload; nothing is asserted about time.
      for (let i = 0; i < PIECES; i++) {
        await client.write(String(i).padStart(4, '0'));
        await delay(50);
      }
      const response = await client.response();
      expect(response.status).toBe(200);
      expect(response.body.length).toBe(PIECES * 4);
      client.destroy();
    });
  });

  describe('when the target never answers', () => {
    it('answers 504 FERRY_ERR_UPSTREAM_TIMEOUT after the response timeout', async () => {
      behaviour = () => {};
      const proxy = shared; // timeouts: { response: 300ms }
      const { client, response } = await rawRequest(proxy.port, GET);
      expect(response.status).toBe(504);
      expect(response.header('x-ferry-error')).toBe('FERRY_ERR_UPSTREAM_TIMEOUT');
      await client.closed;
      expect(raw.bytesReceived).toBeGreaterThan(0);
    });
  });

  describe('when no target is routable', () => {
    it('answers 503 FERRY_ERR_PICK_NO_TARGET with fail-open off and every weight 0', async () => {
      behaviour = answerEachHead(() => OK);
      const proxy = await ownFerry(raw.address, `${NO_HEALTH_CHECK}\n    failOpen: false`, [0]);
      const { client, response } = await rawRequest(proxy.port, GET);
      expect(response.status).toBe(503);
      expect(response.header('x-ferry-error')).toBe('FERRY_ERR_PICK_NO_TARGET');
      await client.closed;
      expect(raw.connections).toBe(0);
    });
  });

  describe('when the target answers with bad framing', () => {
    const BAD_RESPONSES = [
      [
        'Content-Length and Transfer-Encoding',
        'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
      ],
      ['conflicting Content-Length', 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok!'],
      [
        'Transfer-Encoding not ending in chunked',
        'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n',
      ],
      ['an obs-fold line', 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A: a\r\n b\r\n\r\nok'],
      ['bare LF line endings', 'HTTP/1.1 200 OK\nContent-Length: 2\n\nok'],
      ['a status line that is not HTTP', 'ICY 200 OK\r\nContent-Length: 2\r\n\r\nok'],
      ['HTTP/2.0 in the status line', 'HTTP/2.0 200 OK\r\nContent-Length: 2\r\n\r\nok'],
      ['a body length on a 204', 'HTTP/1.1 204 No Content\r\nContent-Length: 2\r\n\r\nok'],
      [
        'a head over 16 KiB',
        `HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(17 * 1024)}\r\nContent-Length: 2\r\n\r\nok`,
      ],
      [
        'a 101 nobody asked for',
        'HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n',
      ],
    ] as const;

    it.each(BAD_RESPONSES)(
      'answers 502 FERRY_ERR_UPSTREAM_BAD_RESPONSE to %s and never reuses the socket',
      async (_, bytes) => {
        behaviour = answerEachHead(() => bytes);
        const proxy = shared;
        for (let i = 1; i <= 2; i++) {
          const { client, response } = await rawRequest(proxy.port, GET);
          expect(response.status).toBe(502);
          expect(response.header('x-ferry-error')).toBe('FERRY_ERR_UPSTREAM_BAD_RESPONSE');
          expect(response.body.toString()).toBe('502 FERRY_ERR_UPSTREAM_BAD_RESPONSE\n');
          client.destroy();
          // Each request needed a connection of its own: the failed one was closed, not pooled.
          expect(raw.connections).toBe(i);
        }
      },
    );

    it('cuts the client connection on a bad chunk size after the head', async () => {
      behaviour = answerEachHead(
        () => 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n',
      );
      const proxy = shared;
      const client = await RawClient.connect(proxy.port);
      await client.write(GET);
      const received = (await client.readToEnd()).toString('latin1');
      // The head and the first body bytes leave in one corked write, so when the bad chunk came in the
      // same packet as the head the client sees only the reset; either way it never sees a body.
      expect(received === '' || received.startsWith('HTTP/1.1 200 OK\r\n')).toBe(true);
      expect(received).not.toContain('hello');
      expect(client.errorCode).toBe('ECONNRESET');
    });

    it('relays a response head split across reads', async () => {
      // Plain-TCP upstream sockets read into a reused buffer (workers/upstream socket-pool): the
      // partial head kept between reads must be a copy, or the second read overwrites it.
      behaviour = answerEachHead((_, socket) => {
        socket.write('HTTP/1.1 200 OK\r\nX-Split: fir', 'latin1');
        setTimeout(() => socket.write('st-half\r\nContent-Length: 2\r\n\r\nok', 'latin1'), 50);
        return null;
      });
      const { client, response } = await rawRequest(shared.port, GET);
      expect(response.status).toBe(200);
      expect(response.header('x-split')).toBe('first-half');
      expect(response.body.toString()).toBe('ok');
      client.destroy();
    });

    it('answers 502 FERRY_ERR_UPSTREAM_BAD_RESPONSE to a chunked response to an HTTP/1.0 request', async () => {
      // Ferry forwards a 1.0 request as 1.0; chunked is not allowed in the answer, and the client could not read it.
      behaviour = answerEachHead(
        () => 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n',
      );
      const { client, response } = await rawRequest(shared.port, 'GET / HTTP/1.0\r\n\r\n');
      expect(response.status).toBe(502);
      expect(response.header('x-ferry-error')).toBe('FERRY_ERR_UPSTREAM_BAD_RESPONSE');
      await client.closed;
    });
  });

  describe('when a pooled keep-alive socket was closed by the target', () => {
    it('serves every GET after the target closed its idle connections', async () => {
      const server = http.createServer((_, res) => res.writeHead(200, { 'content-length': 2 }).end('ok'));
      server.keepAliveTimeout = 50;
      server.keepAliveTimeoutBuffer = 0;
      const closes: Promise<void>[] = [];
      server.on('connection', (socket: Socket) =>
        closes.push(new Promise((resolve) => socket.on('close', resolve))),
      );
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
      cleanups.push(() => new Promise((resolve) => server.close(() => resolve())));
      const proxy = await ownFerry(`127.0.0.1:${(server.address() as AddressInfo).port}`, NO_HEALTH_CHECK);
      const agent = new Agent({ connections: 1 });
      cleanups.push(() => agent.close());
      for (let i = 0; i < 10; i++) {
        const res = await request(proxy.url, { dispatcher: agent });
        expect(res.statusCode).toBe(200);
        expect(await res.body.text()).toBe('ok');
        // Wait until the target has closed every upstream connection it had, so the next GET meets a stale pool.
        await Promise.all(closes);
      }
    });

    it('retries a GET on a fresh connection when every pooled socket is stale', async () => {
      // The keep-alive race made deterministic: the target answers the first
      // request on each connection and drops the connection on any later one,
      // as a server whose idle timer fired just as the request arrived.
      behaviour = answerEachHead((index, socket) => {
        if (index === 0) return OK;
        socket.destroy();
        return null;
      });
      const proxy = shared;
      const agent = new Agent({ connections: 8 });
      cleanups.push(() => agent.close());
      // Fill both workers' pools with several idle sockets.
      for (let round = 0; round < 3; round++) {
        const responses = await Promise.all(
          Array.from({ length: 8 }, () => request(proxy.url, { dispatcher: agent, reset: true })),
        );
        for (const res of responses) {
          expect(res.statusCode).toBe(200);
          await res.body.text();
        }
      }
      for (let i = 0; i < 20; i++) {
        const res = await request(proxy.url, { dispatcher: agent });
        expect(res.headers['x-ferry-error']).toBeUndefined();
        expect(res.statusCode).toBe(200);
        await res.body.text();
      }
    });

    it('does not retry a POST: it may have reached the target', async () => {
      let posts = 0;
      behaviour = answerEachHead((index, socket) => {
        if (index === 0) return OK;
        posts++;
        socket.destroy();
        return null;
      });
      const proxy = shared;
      const client = await RawClient.connect(proxy.port);
      await client.write(GET);
      expect((await client.response()).status).toBe(200);
      await client.write(`POST /charge HTTP/1.1\r\n${HOST}\r\n`);
      const response = await client.response();
      expect(response.status).toBe(502);
      expect(response.header('x-ferry-error')).toBe('FERRY_ERR_UPSTREAM_RESET');
      expect(posts).toBe(1);
    });
  });
});
