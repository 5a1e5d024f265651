/**
 * TCP, HTTP and HTTPS checkers (src/health/*-checker.ts) against real
 * sockets on 127.0.0.1: every way a check can end becomes a CheckResult with
 * the right outcome and cause, within its own timeout; the matcher, path and
 * port override are honoured.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseMatcher } from '../../../../src/config/index.ts';
import {
  classifyError,
  createHttpChecker,
  createTcpChecker,
  type HttpCheckOptions,
} from '../../../../src/health/index.ts';

const never = new AbortController().signal;
const servers: net.Server[] = [];

afterEach(async () => {
  for (const server of servers.splice(0)) {
    if (server instanceof http.Server) server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

function portOf(server: net.Server): number {
  return (server.address() as net.AddressInfo).port;
}

async function listen<T extends net.Server>(server: T): Promise<T> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return server;
}

/** An HTTP server answering `status` and remembering the last request. */
async function httpServer(status: number): Promise<http.Server & { seen: { url: string; agent: string }[] }> {
  const seen: { url: string; agent: string }[] = [];
  const server = http.createServer((req, res) => {
    seen.push({ url: req.url ?? '', agent: req.headers['user-agent'] ?? '' });
    res.writeHead(status, { 'content-type': 'text/plain' }).end('body\n');
  });
  return Object.assign(await listen(server), { seen });
}

/** A raw TCP server doing `onData` with each connection's first bytes. */
function rawServer(onData: (socket: net.Socket) => void): Promise<net.Server> {
  return listen(net.createServer((socket) => socket.once('data', () => onData(socket))));
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = portOf(server);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function httpChecker(options: Partial<Omit<HttpCheckOptions, 'matcher'>> & { matcher?: string } = {}) {
  const matcher = parseMatcher(options.matcher ?? '200');
  if (!matcher.ok) throw new Error(matcher.message);
  return createHttpChecker({
    protocol: options.protocol ?? 'HTTP',
    port: options.port ?? 'traffic-port',
    path: options.path ?? '/health',
    timeoutMs: options.timeoutMs ?? 1_000,
    matcher: matcher.value,
  });
}

const target = (port: number) => ({ host: '127.0.0.1', port });

describe('HTTP checker', () => {
  it('passes on a status in the matcher, sending GET <path> with its user agent', async () => {
    const server = await httpServer(200);
    const result = await httpChecker({ path: '/health?deep=1' }).check(target(portOf(server)), never);
    expect(result).toMatchObject({ outcome: 'pass', statusCode: 200, cause: null });
    expect(server.seen).toEqual([{ url: '/health?deep=1', agent: 'Ferry-HealthChecker/1.0' }]);
  });

  it('fails with the status seen when it is outside the matcher', async () => {
    const server = await httpServer(500);
    const result = await httpChecker().check(target(portOf(server)), never);
    expect(result).toMatchObject({ outcome: 'status', statusCode: 500 });
  });

  it.each([
    ['200-299', 204, 'pass'],
    ['200-299', 300, 'status'],
    ['200,204', 204, 'pass'],
    ['200,204', 201, 'status'],
    ['200,300-399', 301, 'pass'],
    ['200', 301, 'status'],
  ] as const)(
    'with matcher %s, status %i is %s (redirects not followed)',
    async (matcher, status, outcome) => {
      const server = await httpServer(status);
      const result = await httpChecker({ matcher }).check(target(portOf(server)), never);
      expect(result.outcome).toBe(outcome);
      expect(result.statusCode).toBe(status);
    },
  );

  it('checks the override port, not the traffic port', async () => {
    const traffic = await httpServer(200);
    const health = await httpServer(503);
    const result = await httpChecker({ port: portOf(health) }).check(target(portOf(traffic)), never);
    expect(result).toMatchObject({ outcome: 'status', statusCode: 503 });
    expect(traffic.seen).toHaveLength(0);
    expect(health.seen).toHaveLength(1);
  });

  it('times out on a target that accepts and never answers', async () => {
    const server = await rawServer(() => {});
    const result = await httpChecker({ timeoutMs: 200 }).check(target(portOf(server)), never);
    expect(result).toMatchObject({ outcome: 'timeout', statusCode: 0 });
  });

  it('closes its connection when it times out (no socket kept per check of a hanging target)', async () => {
    let open = 0;
    let closedOne: () => void = () => {};
    const allClosed = new Promise<void>((resolve) => {
      closedOne = () => open === 0 && resolve();
    });
    const server = await listen(
      net.createServer((socket) => {
        socket.resume();
        open++;
        socket.on('close', () => {
          open--;
          closedOne();
        });
      }),
    );
    const checker = httpChecker({ timeoutMs: 100 });
    const results = await Promise.all([1, 2, 3].map(() => checker.check(target(portOf(server)), never)));
    expect(results.map((r) => r.outcome)).toEqual(['timeout', 'timeout', 'timeout']);
    await allClosed;
    expect(open).toBe(0);
  });

  it('reports a refused connection', async () => {
    const result = await httpChecker().check(target(await closedPort()), never);
    expect(result).toMatchObject({ outcome: 'error', cause: 'refused', detail: 'ECONNREFUSED' });
  });

  it('reports a reset connection', async () => {
    const server = await rawServer((socket) => socket.resetAndDestroy());
    const result = await httpChecker().check(target(portOf(server)), never);
    expect(result).toMatchObject({ outcome: 'error', cause: 'reset' });
  });

  it('reports a connection closed without an answer as reset', async () => {
    const server = await rawServer((socket) => socket.end());
    const result = await httpChecker().check(target(portOf(server)), never);
    expect(result).toMatchObject({ outcome: 'error', cause: 'reset', detail: 'UND_ERR_SOCKET' });
  });

  it('reports a response that is not HTTP as malformed', async () => {
    const server = await rawServer((socket) => socket.end('garbage\r\n\r\n'));
    const result = await httpChecker().check(target(portOf(server)), never);
    expect(result).toMatchObject({ outcome: 'error', cause: 'malformed' });
  });

  it('ends at once when the manager aborts it', async () => {
    const controller = new AbortController();
    // Abort once the check is connected and waiting for an answer that never comes.
    const server = await rawServer(() => controller.abort());
    const pending = httpChecker({ timeoutMs: 10_000 }).check(target(portOf(server)), controller.signal);
    expect(await pending).toMatchObject({ outcome: 'error', detail: 'aborted' });
  });
});

describe('HTTPS checker', () => {
  let certDir = '';
  let tls: { key: Buffer; cert: Buffer } | null = null;

  // openssl is a test dependency like Chromium is for the status page: without it this fails, never skips.
  beforeAll(() => {
    certDir = mkdtempSync(join(tmpdir(), 'ferry-hc-'));
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost'].concat([
        '-keyout',
        join(certDir, 'key.pem'),
        '-out',
        join(certDir, 'cert.pem'),
      ]),
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    tls = { key: readFileSync(join(certDir, 'key.pem')), cert: readFileSync(join(certDir, 'cert.pem')) };
  });
  afterAll(() => rmSync(certDir, { recursive: true, force: true }));

  it('passes against a self-signed target (certificates are not verified, as in ELB)', async () => {
    const server = await listen(https.createServer(tls!, (_, res) => res.writeHead(200).end('ok')));
    const result = await httpChecker({ protocol: 'HTTPS' }).check(target(portOf(server)), never);
    expect(result).toMatchObject({ outcome: 'pass', statusCode: 200 });
  });

  it('reports a TLS error against a target that speaks plain HTTP', async () => {
    const server = await httpServer(200);
    const result = await httpChecker({ protocol: 'HTTPS' }).check(target(portOf(server)), never);
    expect(result).toMatchObject({ outcome: 'error', cause: 'tls' });
  });
});

describe('TCP checker', () => {
  it('passes when the port accepts a connection, and sends nothing', async () => {
    let received = 0;
    const server = await listen(
      net.createServer((socket) => socket.on('data', (chunk) => (received += chunk.length))),
    );
    const result = await createTcpChecker({ port: 'traffic-port', timeoutMs: 500 }).check(
      target(portOf(server)),
      never,
    );
    expect(result).toMatchObject({ outcome: 'pass', statusCode: 0 });
    expect(received).toBe(0);
  });

  it('reports a refused connection', async () => {
    const result = await createTcpChecker({ port: 'traffic-port', timeoutMs: 500 }).check(
      target(await closedPort()),
      never,
    );
    expect(result).toMatchObject({ outcome: 'error', cause: 'refused' });
  });

  it('checks the override port', async () => {
    const server = await listen(net.createServer());
    const closed = await closedPort();
    const checker = createTcpChecker({ port: portOf(server), timeoutMs: 500 });
    expect((await checker.check(target(closed), never)).outcome).toBe('pass');
  });
});

describe('classifyError', () => {
  it.each([
    [{ code: 'ECONNREFUSED' }, false, 'error', 'refused'],
    [{ code: 'ECONNRESET', message: 'read ECONNRESET' }, false, 'error', 'reset'],
    [
      {
        code: 'ECONNRESET',
        message: 'Client network socket disconnected before secure TLS connection was established',
      },
      true,
      'error',
      'tls',
    ],
    [{ code: 'ERR_SSL_WRONG_VERSION_NUMBER' }, true, 'error', 'tls'],
    [{ code: 'DEPTH_ZERO_SELF_SIGNED_CERT' }, true, 'error', 'tls'],
    [{ name: 'HTTPParserError' }, false, 'error', 'malformed'],
    [{ code: 'UND_ERR_HEADERS_TIMEOUT' }, false, 'timeout', null],
    [{ code: 'EHOSTUNREACH' }, false, 'error', 'unreachable'],
    [{ code: 'ENOTFOUND' }, false, 'error', 'dns'],
    ['not an error', false, 'error', 'other'],
  ] as const)('sorts %j (tls: %s) as %s / %s', (error, isTls, outcome, cause) => {
    expect(classifyError(error, isTls)).toMatchObject({ outcome, cause });
  });
});
