/**
 * HTTP/2 request-head limits (issue 10, "Floods and limits"), through real
 * TLS sockets, Node's http2 client and two real worker threads: a header
 * block over Ferry's own limits (HTTP_HEAD_BYTES_MAX, HTTP_HEADER_COUNT_MAX,
 * the same as HTTP/1.1's) is answered `431 FERRY_ERR_HTTP_HEADERS_TOO_LARGE`,
 * as HTTP/1.1 is, instead of a stream reset clients retry; beyond the hard
 * bound nghttp2 keeps (H2_HEADER_LIST_BYTES_MAX) the stream is reset with
 * ENHANCE_YOUR_CALM, which clients do not retry, and the session lives on.
 *
 * https://github.com/ferry/ferry/issues/10
 */
import http2 from 'node:http2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPki, type TestPki } from '../helpers/certs.ts';
import { startTestFerry, type TestFerry } from '../helpers/ferry.ts';
import { rawRequest } from '../helpers/raw-http.ts';
import { startTarget, type TestTarget } from '../helpers/targets.ts';

let pki: TestPki;
let ferry: TestFerry;
let target: TestTarget;
let session: http2.ClientHttp2Session;

function portOf(listener: string): number {
  return ferry.listenerPorts.get(listener)!;
}

beforeAll(async () => {
  pki = createPki('h2-limits');
  const site = pki.issue('site', { dnsNames: ['site.test'] });
  target = await startTarget('t1');
  ferry = await startTestFerry(`workers: 2
admin: { address: "127.0.0.1:0" }
listeners:
  - name: web
    protocol: HTTPS
    address: "127.0.0.1:0"
    certificates: [ { cert: "${site.certPath}", key: "${site.keyPath}" } ]
    defaultAction: { forward: { targetGroup: app } }
  - { name: plain, address: "127.0.0.1:0", defaultAction: { forward: { targetGroup: app } } }
targetGroups:
  - name: app
    healthCheck: { enabled: false }
    targets: [ { address: "${target.address}" } ]
`);
  // A client that sends what it is asked to (Node's own send limit is 64 KiB of header block).
  session = http2.connect(`https://127.0.0.1:${portOf('web')}`, {
    ca: pki.ca.cert,
    servername: 'site.test',
    maxSendHeaderBlockLength: 1 << 20,
  });
  await new Promise((resolve) => session.once('remoteSettings', resolve));
});

afterAll(async () => {
  session?.close();
  await ferry?.stop(0);
  await target?.close();
  pki?.cleanup();
});

interface H2Result {
  readonly status: number;
  readonly ferryError: string;
  readonly rstCode: number;
}

/** One HTTP/2 GET with extra fields: the status and x-ferry-error, or the stream's reset code. */
function h2Get(headers: http2.OutgoingHttpHeaders): Promise<H2Result> {
  return new Promise((resolve) => {
    const stream = session.request({ ':path': '/', ...headers });
    let status = 0;
    let ferryError = '';
    stream.on('response', (received) => {
      status = Number(received[':status']);
      ferryError = String(received['x-ferry-error'] ?? '');
    });
    stream.on('error', () => {}); // a reset: rstCode says which
    stream.resume();
    stream.on('close', () => resolve({ status, ferryError, rstCode: stream.rstCode ?? 0 }));
  });
}

function manyHeaders(count: number): http2.OutgoingHttpHeaders {
  return Object.fromEntries(Array.from({ length: count }, (_, i) => [`x-field-${i}`, 'v']));
}

describe('H2Exchange head limits (issue 10: https://github.com/ferry/ferry/issues/10)', () => {
  describe('when a stream carries more than Ferry takes in a head', () => {
    it('answers 431 FERRY_ERR_HTTP_HEADERS_TOO_LARGE to one header value of 20 KB, forwarding nothing', async () => {
      const before = target.count;
      const result = await h2Get({ 'x-big': 'a'.repeat(20_000) });
      expect(result).toEqual({ status: 431, ferryError: 'FERRY_ERR_HTTP_HEADERS_TOO_LARGE', rstCode: 0 });
      expect(target.count).toBe(before);
    });

    it('answers 431 to 150 header fields (over HTTP_HEADER_COUNT_MAX), forwarding nothing', async () => {
      const before = target.count;
      const result = await h2Get(manyHeaders(150));
      expect(result).toEqual({ status: 431, ferryError: 'FERRY_ERR_HTTP_HEADERS_TOO_LARGE', rstCode: 0 });
      expect(target.count).toBe(before);
    });

    it('answers 431 to a 20 KB :path', async () => {
      const result = await h2Get({ ':path': `/${'p'.repeat(20_000)}` });
      expect(result).toEqual({ status: 431, ferryError: 'FERRY_ERR_HTTP_HEADERS_TOO_LARGE', rstCode: 0 });
    });

    it('answers with the same status and code as HTTP/1.1 does to the same head', async () => {
      const { response } = await rawRequest(
        portOf('plain'),
        `GET / HTTP/1.1\r\nhost: a.test\r\nx-big: ${'a'.repeat(20_000)}\r\nconnection: close\r\n\r\n`,
      );
      const h2 = await h2Get({ 'x-big': 'a'.repeat(20_000) });
      expect([h2.status, h2.ferryError]).toEqual([response.status, response.header('x-ferry-error')]);
    });
  });

  describe('when a stream stays within the limits', () => {
    it('forwards a 12 KB header and 90 fields', async () => {
      const before = target.count;
      const result = await h2Get({ 'x-big': 'a'.repeat(12_000), ...manyHeaders(90) });
      expect(result.status).toBe(200);
      expect(target.count).toBe(before + 1);
      expect(target.lastHeaders['x-big']).toHaveLength(12_000);
    });
  });

  describe('when a header block passes the hard bound nghttp2 keeps (H2_HEADER_LIST_BYTES_MAX)', () => {
    it('resets the stream with ENHANCE_YOUR_CALM (not REFUSED_STREAM, which clients retry) and keeps the session', async () => {
      const result = await h2Get({ 'x-big': 'a'.repeat(80_000) });
      expect(result.rstCode).toBe(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
      const after = await h2Get({});
      expect(after.status).toBe(200);
    });
  });
});
