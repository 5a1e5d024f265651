/**
 * Slow and idle clients (issue 10), through real sockets, two real worker
 * threads and real TLS: every client deadline a trickle could once defeat,
 * each with a short configured value so the test waits only for the event.
 * No elapsed time is asserted: the outcome (status, error code, close or
 * reset) and the counters are.
 *
 * https://github.com/ferry/ferry/issues/10
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
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
import { RawClient } from '../helpers/raw-http.ts';
import { targetCounters, waitForSettled } from '../helpers/table-counters.ts';

const WORKERS = 2;
/** Large enough that loopback's kernel buffers (a few MiB) cannot hide a reader that never reads. */
const BIG_BODY_BYTES = 48 * 1024 * 1024;

let ferry: TestFerry;
let pki: TestPki;
let target: http.Server;
let targetAddress: string;
/** Requests the target saw, by path. */
const seen = new Map<string, number>();

function portOf(listener: string): number {
  return ferry.listenerPorts.get(listener)!;
}

/** LISTENER_CLIENT_TIMEOUTS_TOTAL of one listener, summed over workers. */
function clientTimeouts(listenerIndex: number): number {
  let total = 0;
  for (let worker = 0; worker < WORKERS; worker++)
    total += loadListener(ferry.table.view, worker, listenerIndex, LISTENER_CLIENT_TIMEOUTS_TOTAL);
  return total;
}

function targetTotals(): { requests: number; failures: number } {
  const slot = targetCounters(ferry)[0]!.slot;
  return {
    requests: loadTarget(ferry.table.view, slot, TARGET_REQUESTS_TOTAL),
    failures: loadTarget(ferry.table.view, slot, TARGET_FAILURES_TOTAL),
  };
}

beforeAll(async () => {
  pki = createPki('slow-clients');
  const site = pki.issue('site', { dnsNames: ['site.test'] });
  const big = Buffer.alloc(BIG_BODY_BYTES, 0x61);
  target = http.createServer((req, res) => {
    const path = req.url ?? '/';
    seen.set(path, (seen.get(path) ?? 0) + 1);
    req.on('data', () => {});
    req.on('end', () => {
      if (path === '/big') res.end(big);
      else res.end('ok\n');
    });
  });
  await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', () => resolve()));
  targetAddress = `127.0.0.1:${(target.address() as AddressInfo).port}`;
  ferry = await startTestFerry(`workers: ${WORKERS}
admin: { address: "127.0.0.1:0" }
listeners:
  - name: web
    protocol: HTTP
    address: "127.0.0.1:0"
    defaultAction: { forward: { targetGroup: app } }
    timeouts: { requestHeader: 400ms, requestBody: 400ms, requestBodyMinRate: 1000000, send: 400ms }
  - name: secure
    protocol: HTTPS
    address: "127.0.0.1:0"
    certificates: [ { cert: "${site.certPath}", key: "${site.keyPath}" } ]
    defaultAction: { forward: { targetGroup: app } }
    timeouts: { tlsHandshake: 400ms }
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

describe('HttpConnection deadlines (issue 10: https://github.com/ferry/ferry/issues/10)', () => {
  describe('when a new connection never sends a byte', () => {
    it('closes it quietly at the header deadline, counted as a client timeout', async () => {
      const before = clientTimeouts(0);
      const client = await RawClient.connect(portOf('web'));
      await client.closed;
      expect(client.unread.length).toBe(0);
      expect(clientTimeouts(0)).toBeGreaterThan(before);
    });
  });

  describe('when a new connection sends one byte of a head and stalls', () => {
    it('answers 408 FERRY_ERR_HTTP_HEADER_TIMEOUT, the deadline counting from accept', async () => {
      const client = await RawClient.connect(portOf('web'));
      await client.write('G');
      const response = await client.response();
      expect(response.status).toBe(408);
      expect(response.header('x-ferry-error')).toBe('FERRY_ERR_HTTP_HEADER_TIMEOUT');
      client.destroy();
    });
  });

  describe('when a client sends a body head and then trickles below the minimum rate', () => {
    it('answers 408 FERRY_ERR_HTTP_BODY_TIMEOUT and counts nothing against the target', async () => {
      const before = targetTotals();
      const timeoutsBefore = clientTimeouts(0);
      const client = await RawClient.connect(portOf('web'));
      await client.write('POST /slow-body HTTP/1.1\r\nhost: a.test\r\ncontent-length: 100000\r\n\r\nx');
      const response = await client.response();
      expect(response.status).toBe(408);
      expect(response.header('x-ferry-error')).toBe('FERRY_ERR_HTTP_BODY_TIMEOUT');
      await client.closed;
      // The head reached the target, but the exchange is the client's failure:
      // no gateway failure (outlier detection would eject at 1), no response sample.
      expect(targetTotals()).toEqual(before);
      expect(clientTimeouts(0)).toBeGreaterThan(timeoutsBefore);
      const counters = await waitForSettled(
        () => targetCounters(ferry),
        (all) => all.every((t) => t.inFlight === 0),
      );
      expect(counters.map((t) => t.inFlight)).toEqual([0]);
      // Still routable: the next request is answered by the target.
      const next = await fetch(`http://127.0.0.1:${portOf('web')}/after-slow-body`);
      expect(next.status).toBe(200);
      expect(await next.text()).toBe('ok\n');
    });
  });

  describe('when a client sends its body promptly', () => {
    it('forwards it (the body deadline does not cut a client that keeps up)', async () => {
      const response = await fetch(`http://127.0.0.1:${portOf('web')}/upload`, {
        method: 'POST',
        body: 'x'.repeat(10_000),
      });
      expect(response.status).toBe(200);
      expect(await response.text()).toBe('ok\n');
    });
  });

  describe('when a client asks for a large response and never reads it', () => {
    it('resets the connection at the send deadline, without blaming the target', async () => {
      const before = targetTotals();
      const timeoutsBefore = clientTimeouts(0);
      const client = await RawClient.connect(portOf('web'));
      client.socket.pause(); // never read: the kernel window fills, then Ferry's write queue
      await client.write('GET /big HTTP/1.1\r\nhost: a.test\r\n\r\n');
      // A paused socket reads nothing, so it cannot see the reset until it reads again.
      const timeouts = await waitForSettled(
        () => clientTimeouts(0),
        (count) => count > timeoutsBefore,
        10_000,
      );
      expect(timeouts).toBeGreaterThan(timeoutsBefore);
      client.socket.resume();
      await client.closed;
      expect(client.errorCode).toBe('ECONNRESET');
      // The target answered 200 (its head came back): one success, no failure.
      const after = targetTotals();
      expect(after.failures).toBe(before.failures);
      const counters = await waitForSettled(
        () => targetCounters(ferry),
        (all) => all.every((t) => t.inFlight === 0),
      );
      expect(counters.map((t) => t.inFlight)).toEqual([0]);
    });
  });
});

describe('PendingHandshake (issue 10: https://github.com/ferry/ferry/issues/10)', () => {
  /** Open a TLS connection that completed its handshake and stays open (keep-alive). */
  function openTls(): Promise<tls.TLSSocket> {
    return new Promise((resolve, reject) => {
      const socket = tls.connect({
        host: '127.0.0.1',
        port: portOf('secure'),
        ca: pki.ca.cert,
        servername: 'site.test',
        ALPNProtocols: ['http/1.1'],
      });
      socket.once('secureConnect', () => resolve(socket));
      socket.once('error', reject);
    });
  }

  describe('when a client connects to an HTTPS listener and sends nothing', () => {
    it('closes the connection at the handshake deadline and counts it', async () => {
      const before = clientTimeouts(1);
      const client = await RawClient.connect(portOf('secure'));
      await client.closed;
      expect(client.unread.length).toBe(0);
      expect(clientTimeouts(1)).toBeGreaterThan(before);
    });
  });

  describe('when a client sends part of a ClientHello and stalls', () => {
    it('closes the connection at the handshake deadline', async () => {
      const client = await RawClient.connect(portOf('secure'));
      // A TLS record header announcing a 512-byte handshake message, and 3 bytes of it.
      await client.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01]));
      await client.closed;
      expect(client.unread.length).toBe(0);
    });
  });

  describe('when a handshake finished before the deadline', () => {
    it('keeps the connection past the deadline and serves a request on it', async () => {
      const socket = await openTls();
      // Wait for another connection's handshake deadline: ours has passed too by then.
      const silent = await RawClient.connect(portOf('secure'));
      await silent.closed;
      const answer = await new Promise<string>((resolve, reject) => {
        let text = '';
        socket.on('data', (chunk: Buffer) => {
          text += chunk.toString('latin1');
          if (text.includes('ok\n')) resolve(text);
        });
        socket.once('close', () => reject(new Error(`closed before the answer: ${JSON.stringify(text)}`)));
        socket.write('GET /after-handshake HTTP/1.1\r\nhost: site.test\r\n\r\n');
      });
      expect(answer.startsWith('HTTP/1.1 200')).toBe(true);
      socket.destroy();
    });
  });
});
