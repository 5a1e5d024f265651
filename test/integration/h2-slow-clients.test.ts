/**
 * Slow and idle HTTP/2 clients (issue 10), through real TLS sockets, Node's
 * http2 client and two real worker threads: the listener's client deadlines
 * (`timeouts`, the same values HTTP/1.1 connections get) hold for HTTP/2
 * streams and sessions, on the worker tick. Each deadline is configured short
 * so a test waits only for the event; no elapsed time is asserted, only the
 * outcome (status and code, or the stream's reset code, or the session's
 * close) and the counters.
 *
 * https://github.com/ferry/ferry/issues/10
 */
import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  LISTENER_CLIENT_TIMEOUTS_TOTAL,
  loadListener,
  loadTarget,
  TARGET_FAILURES_TOTAL,
  TARGET_REQUESTS_TOTAL,
} from '../../proto/table-layout.ts';
import { createPki, type TestPki } from '../helpers/certs.ts';
import { startTestFerry, type TestFerry } from '../helpers/ferry.ts';
import { targetCounters, waitForSettled } from '../helpers/table-counters.ts';

const WORKERS = 2;
/** Far more than the client's stream window (64 KiB) and Ferry's write queue: the rest waits at the target. */
const BIG_BODY_BYTES = 8 * 1024 * 1024;
/** More than the target's and Ferry's buffers hold (loopback autotunes to a few MiB): the stream must wait. */
const SLOW_TARGET_BODY_BYTES = 24 * 1024 * 1024;
/** How long the target leaves a body unread: several `requestBody` deadlines of the `strict` listener. */
const SLOW_TARGET_PAUSE_MS = 6_000;
/** Generous: each test waits for one deadline (1–3 s) plus up to one tick. */
const TEST_TIMEOUT_MS = 15_000;

let ferry: TestFerry;
let pki: TestPki;
let target: http.Server;
/** Requests the target saw end, by path: 'complete' (whole body read) or 'aborted' (connection cut mid-request). */
const endings = new Map<string, 'complete' | 'aborted'>();
const endingWaiters = new Map<string, (ending: 'complete' | 'aborted') => void>();

function endingOf(path: string): Promise<'complete' | 'aborted'> {
  const known = endings.get(path);
  if (known !== undefined) return Promise.resolve(known);
  return new Promise((resolve) => endingWaiters.set(path, resolve));
}

function recordEnding(path: string, ending: 'complete' | 'aborted'): void {
  if (endings.has(path)) return;
  endings.set(path, ending);
  endingWaiters.get(path)?.(ending);
}

/** LISTENER_CLIENT_TIMEOUTS_TOTAL of the HTTPS listener, summed over workers. */
function clientTimeouts(): number {
  let total = 0;
  for (let worker = 0; worker < WORKERS; worker++)
    total += loadListener(ferry.table.view, worker, 0, LISTENER_CLIENT_TIMEOUTS_TOTAL);
  return total;
}

function targetTotals(): { requests: number; failures: number } {
  const slot = targetCounters(ferry)[0]!.slot;
  return {
    requests: loadTarget(ferry.table.view, slot, TARGET_REQUESTS_TOTAL),
    failures: loadTarget(ferry.table.view, slot, TARGET_FAILURES_TOTAL),
  };
}

async function inFlightSettled(): Promise<number[]> {
  const counters = await waitForSettled(
    () => targetCounters(ferry),
    (all) => all.every((t) => t.inFlight === 0),
  );
  return counters.map((t) => t.inFlight);
}

async function connect(listener = 'secure'): Promise<http2.ClientHttp2Session> {
  const session = http2.connect(`https://127.0.0.1:${ferry.listenerPorts.get(listener)!}`, {
    ca: pki.ca.cert,
    servername: 'site.test',
  });
  session.on('error', () => {}); // 'close' follows
  await new Promise((resolve) => session.once('remoteSettings', resolve));
  return session;
}

interface StreamResult {
  readonly status: number;
  readonly ferryError: string;
  readonly rstCode: number;
  readonly body: string;
}

/** Everything a client stream ends with: the response (if any) and the reset code (0 if none). */
function resultOf(stream: http2.ClientHttp2Stream): Promise<StreamResult> {
  return new Promise((resolve) => {
    let status = 0;
    let ferryError = '';
    let body = '';
    stream.on('response', (headers) => {
      status = Number(headers[':status']);
      ferryError = String(headers['x-ferry-error'] ?? '');
    });
    stream.setEncoding('latin1');
    stream.on('data', (chunk: string) => {
      body += chunk;
    });
    stream.on('error', () => {}); // a reset: rstCode says which
    stream.on('close', () => resolve({ status, ferryError, rstCode: stream.rstCode ?? 0, body }));
  });
}

function closeOf(session: http2.ClientHttp2Session): Promise<void> {
  return new Promise((resolve) => {
    if (session.closed || session.destroyed) resolve();
    else session.once('close', () => resolve());
  });
}

beforeAll(async () => {
  pki = createPki('h2-slow-clients');
  const site = pki.issue('site', { dnsNames: ['site.test'] });
  const big = Buffer.alloc(BIG_BODY_BYTES, 0x61);
  target = http.createServer((req, res) => {
    const path = req.url ?? '/';
    req.on('close', () => recordEnding(path, req.complete ? 'complete' : 'aborted'));
    res.on('error', () => {});
    if (path === '/slow-target') {
      // The target is the slow side: it reads nothing for a while.
      req.pause();
      setTimeout(() => req.resume(), SLOW_TARGET_PAUSE_MS);
    }
    if (path === '/early-answer') {
      // Answers before the body is in: the response has started when the body deadline passes.
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('started\n');
    }
    req.on('data', () => {});
    req.on('end', () => {
      if (path === '/big') res.end(big);
      else res.end('ok\n');
    });
  });
  await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', () => resolve()));
  const targetAddress = `127.0.0.1:${(target.address() as AddressInfo).port}`;
  ferry = await startTestFerry(`workers: ${WORKERS}
admin: { address: "127.0.0.1:0" }
listeners:
  - name: secure
    protocol: HTTPS
    address: "127.0.0.1:0"
    certificates: [ { cert: "${site.certPath}", key: "${site.keyPath}" } ]
    defaultAction: { forward: { targetGroup: app } }
    timeouts: { requestHeader: 500ms, requestBody: 1s, requestBodyMinRate: 1000000, send: 1s, keepAlive: 2s }
  - name: strict
    protocol: HTTPS
    address: "127.0.0.1:0"
    certificates: [ { cert: "${site.certPath}", key: "${site.keyPath}" } ]
    defaultAction: { forward: { targetGroup: app } }
    timeouts: { requestBody: 2s, requestBodyMinRate: 0 }
targetGroups:
  - name: app
    healthCheck: { enabled: false }
    outlierDetection: { consecutiveGatewayFailure: 1 }
    targets: [ { address: "${targetAddress}" } ]
`);
});

afterAll(async () => {
  await ferry?.stop(0);
  target.closeAllConnections();
  await new Promise<void>((resolve) => target.close(() => resolve()));
  pki?.cleanup();
});

describe('H2Exchange deadlines (issue 10: https://github.com/ferry/ferry/issues/10)', () => {
  describe('when a stream sends its head and then trickles its body below the minimum rate', () => {
    it(
      'answers 408 FERRY_ERR_HTTP_BODY_TIMEOUT, aborts the upstream request and counts nothing against the target',
      async () => {
        const session = await connect();
        const before = targetTotals();
        const timeoutsBefore = clientTimeouts();
        const stream = session.request({
          ':method': 'POST',
          ':path': '/slow-body',
          'content-length': '100000',
        });
        const result = resultOf(stream);
        stream.write('x');
        expect(await result).toMatchObject({ status: 408, ferryError: 'FERRY_ERR_HTTP_BODY_TIMEOUT' });
        // The target saw the head, and then its request cut: no half-read body waits there.
        expect(await endingOf('/slow-body')).toBe('aborted');
        // The client's failure: no gateway failure (outlier detection would eject at 1), no response sample.
        expect(targetTotals()).toEqual(before);
        expect(clientTimeouts()).toBeGreaterThan(timeoutsBefore);
        expect(await inFlightSettled()).toEqual([0]);
        // The session and the target are still good: the next stream is answered by the target.
        const next = await resultOf(session.request({ ':path': '/after-slow-body' }).end());
        expect(next).toMatchObject({ status: 200, body: 'ok\n' });
        session.close();
      },
      TEST_TIMEOUT_MS,
    );

    it(
      'resets the stream with CANCEL when the response had started, counting nothing against the target',
      async () => {
        const session = await connect();
        const before = targetTotals();
        const timeoutsBefore = clientTimeouts();
        const stream = session.request({
          ':method': 'POST',
          ':path': '/early-answer',
          'content-length': '100000',
        });
        const result = resultOf(stream);
        stream.write('x');
        const { status, rstCode, body } = await result;
        expect({ status, rstCode, body }).toEqual({
          status: 200,
          rstCode: http2.constants.NGHTTP2_CANCEL,
          body: 'started\n',
        });
        expect(await endingOf('/early-answer')).toBe('aborted');
        // The target's 200 is a response like any other; no failure is counted.
        expect(targetTotals().failures).toBe(before.failures);
        expect(clientTimeouts()).toBeGreaterThan(timeoutsBefore);
        expect(await inFlightSettled()).toEqual([0]);
        session.close();
      },
      TEST_TIMEOUT_MS,
    );
  });

  describe('when a stream sends its body promptly', () => {
    it(
      'forwards it (the body deadline does not cut a client that keeps up)',
      async () => {
        const session = await connect();
        const stream = session.request({ ':method': 'POST', ':path': '/upload' });
        const result = resultOf(stream);
        stream.end('x'.repeat(100_000));
        expect(await result).toMatchObject({ status: 200, body: 'ok\n', rstCode: 0 });
        session.close();
      },
      TEST_TIMEOUT_MS,
    );
  });

  describe('when the target does not take a body the client sends promptly', () => {
    it(
      'does not cut the client while the target is the slow side',
      async () => {
        // requestBodyMinRate 0: the body gets `requestBody` (2 s: room for a loaded machine to send 24 MiB) in all, unless the target holds it up.
        const session = await connect('strict');
        const stream = session.request({ ':method': 'POST', ':path': '/slow-target' });
        const result = resultOf(stream);
        stream.end(Buffer.alloc(SLOW_TARGET_BODY_BYTES, 0x62));
        expect(await result).toMatchObject({ status: 200, body: 'ok\n', rstCode: 0 });
        expect(await endingOf('/slow-target')).toBe('complete');
        session.close();
      },
      TEST_TIMEOUT_MS,
    );
  });

  describe('when a client asks for a large response and never reads it', () => {
    it(
      'resets the stream with CANCEL at the send deadline, without blaming the target, and keeps the session',
      async () => {
        const session = await connect();
        const before = targetTotals();
        const timeoutsBefore = clientTimeouts();
        const stream = session.request({ ':path': '/big' });
        stream.pause(); // never read: the stream's window stays shut and Ferry's write queue fills
        const closed = new Promise<number>((resolve) => {
          stream.on('error', () => {});
          stream.on('close', () => resolve(stream.rstCode ?? 0));
        });
        const timeouts = await waitForSettled(
          () => clientTimeouts(),
          (count) => count > timeoutsBefore,
          10_000,
        );
        expect(timeouts).toBeGreaterThan(timeoutsBefore);
        stream.resume();
        expect(await closed).toBe(http2.constants.NGHTTP2_CANCEL);
        expect(await endingOf('/big')).toBe('complete'); // the target had its whole request
        expect(targetTotals().failures).toBe(before.failures);
        expect(await inFlightSettled()).toEqual([0]);
        // Only that stream was cut: the session serves the next one.
        const next = await resultOf(session.request({ ':path': '/after-slow-read' }).end());
        expect(next).toMatchObject({ status: 200, body: 'ok\n' });
        session.close();
      },
      TEST_TIMEOUT_MS,
    );
  });
});

describe('H2Session deadlines (issue 10: https://github.com/ferry/ferry/issues/10)', () => {
  describe('when a session opens no stream after the TLS handshake', () => {
    it(
      'closes it with GOAWAY at the header deadline and counts it as a client timeout',
      async () => {
        const timeoutsBefore = clientTimeouts();
        const session = await connect();
        const goaway = new Promise<number>((resolve) => session.once('goaway', (code) => resolve(code)));
        await closeOf(session);
        expect(await goaway).toBe(http2.constants.NGHTTP2_NO_ERROR);
        expect(clientTimeouts()).toBeGreaterThan(timeoutsBefore);
      },
      TEST_TIMEOUT_MS,
    );
  });

  describe('when a session served a stream and then idles', () => {
    it(
      "closes it at the listener's keepAlive, not counted as a client timeout",
      async () => {
        const session = await connect();
        const first = await resultOf(session.request({ ':path': '/before-idle' }).end());
        expect(first.status).toBe(200);
        const timeoutsBefore = clientTimeouts();
        await closeOf(session);
        expect(clientTimeouts()).toBe(timeoutsBefore);
      },
      TEST_TIMEOUT_MS,
    );
  });
});
