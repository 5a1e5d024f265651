/**
 * TLS from Ferry to targets (target groups with `protocol: HTTPS`), through
 * real sockets and two real worker threads (issue 5, "Optional TLS to
 * targets ... and mutual TLS in both directions"): the target's certificate
 * is verified against the group's CA and name, SNI is sent, the group's
 * client certificate is presented to a target that requires one, and a
 * failed verification or refused handshake answers 502
 * FERRY_ERR_UPSTREAM_TLS. Both downstream paths are covered: HTTP/1.1 (the
 * raw socket pool) and HTTP/2 (undici pools).
 */
import http2 from 'node:http2';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPki, type TestCert, type TestPki } from '../helpers/certs.ts';
import { startTestFerry, type TestFerry } from '../helpers/ferry.ts';
import { RawClient } from '../helpers/raw-http.ts';

/** An HTTPS target that records how each connection came in. */
interface TlsTarget {
  readonly server: https.Server;
  readonly address: string;
  /** SNI of the last request's connection ('' for none). */
  lastServername: string;
  /** Subject CN of the client certificate of the last request ('' for none). */
  lastClientCn: string;
  lastHeaders: http2.IncomingHttpHeaders;
  count: number;
  /** TLS handshakes completed (upstream connections opened). */
  tlsConnections: number;
}

async function startTlsTarget(cert: TestCert, caForClients: string | null): Promise<TlsTarget> {
  const server = https.createServer({
    cert: cert.cert,
    key: cert.key,
    ...(caForClients === null ? {} : { ca: caForClients, requestCert: true, rejectUnauthorized: true }),
  });
  const target: TlsTarget = {
    server,
    address: '',
    lastServername: '',
    lastClientCn: '',
    lastHeaders: {},
    count: 0,
    tlsConnections: 0,
  };
  server.on('secureConnection', () => {
    target.tlsConnections++;
  });
  server.on('request', (req, res) => {
    const socket = req.socket as TLSSocket;
    target.count++;
    target.lastServername = (socket as TLSSocket & { servername?: string | false }).servername || '';
    target.lastClientCn = String(socket.getPeerCertificate()?.subject?.CN ?? '');
    target.lastHeaders = req.headers;
    res.writeHead(200, { 'content-type': 'text/plain' }).end('secure hello\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  return Object.assign(target, { address: `127.0.0.1:${port}` });
}

let pki: TestPki;
let otherPki: TestPki;
let plain: TlsTarget;
let strict: TlsTarget;
let ferry: TestFerry;

function urlOf(listener: string): string {
  return `http://127.0.0.1:${ferry.listenerPorts.get(listener)}`;
}

beforeAll(async () => {
  pki = createPki('upstream');
  otherPki = createPki('foreign');
  const targetCert = pki.issue('target', { dnsNames: ['target.test'] });
  const ferryClient = pki.issue('ferry-client', { isClient: true, commonName: 'ferry-sidecar' });
  const listenerCert = pki.issue('front', { dnsNames: ['front.test'] });
  plain = await startTlsTarget(targetCert, null);
  strict = await startTlsTarget(targetCert, pki.ca.cert); // requires a client certificate from our CA
  const group = (name: string, target: TlsTarget, tls: string) => `  - name: ${name}
    protocol: HTTPS
    tls: ${tls}
    healthCheck: { enabled: false }
    targets: [ { address: "${target.address}" } ]`;
  const listener = (name: string, groupName: string) => `  - name: ${name}
    protocol: HTTP
    address: "127.0.0.1:0"
    defaultAction: { forward: { targetGroup: ${groupName} } }`;
  ferry = await startTestFerry(`workers: 2
admin: { address: "127.0.0.1:0" }
listeners:
${listener('verified', 'verified')}
${listener('mutual', 'mutual')}
${listener('foreign', 'foreign')}
${listener('nocert', 'nocert')}
${listener('misnamed', 'misnamed')}
  - name: front
    protocol: HTTPS
    address: "127.0.0.1:0"
    certificates: [ { cert: "${listenerCert.certPath}", key: "${listenerCert.keyPath}" } ]
    defaultAction: { forward: { targetGroup: mutual } }
targetGroups:
${group('verified', plain, `{ ca: "${pki.ca.certPath}", serverName: target.test }`)}
${group('mutual', strict, `{ ca: "${pki.ca.certPath}", serverName: target.test, cert: "${ferryClient.certPath}", key: "${ferryClient.keyPath}" }`)}
${group('foreign', plain, `{ ca: "${otherPki.ca.certPath}", serverName: target.test }`)}
${group('nocert', strict, `{ ca: "${pki.ca.certPath}", serverName: target.test }`)}
${group('misnamed', plain, `{ ca: "${pki.ca.certPath}", serverName: wrong.test }`)}
`);
});

afterAll(async () => {
  await ferry?.stop(1_000);
  for (const target of [plain, strict]) target?.server.closeAllConnections();
  for (const target of [plain, strict]) await new Promise((resolve) => target?.server.close(resolve));
  pki?.cleanup();
  otherPki?.cleanup();
});

describe('HTTPS target group', () => {
  describe("when the target's certificate chains to the group's CA", () => {
    it('re-encrypts to the target, sending the configured SNI, reusing one TLS connection for 3 requests', async () => {
      // One downstream keep-alive connection, so one worker and one upstream pool serve all three.
      const client = await RawClient.connect(ferry.listenerPorts.get('verified')!);
      const handshakesBefore = plain.tlsConnections;
      for (let i = 0; i < 3; i++) {
        await client.write('GET / HTTP/1.1\r\nhost: verified.test\r\n\r\n');
        const response = await client.response();
        expect(response.status).toBe(200);
        expect(response.body.toString()).toBe('secure hello\n');
      }
      client.destroy();
      // At most one handshake (none if that worker's pool already held a connection): a new TLS
      // connection per request would show 3.
      expect(plain.tlsConnections - handshakesBefore).toBeLessThanOrEqual(1);
      expect(plain.lastServername).toBe('target.test');
      expect(plain.lastHeaders['x-forwarded-proto']).toBe('http');
    });
  });

  describe("when the group's serverName is not a name on the target's certificate", () => {
    it('answers 502 FERRY_ERR_UPSTREAM_TLS and never sends the request', async () => {
      const before = plain.count;
      const response = await request(`${urlOf('misnamed')}/`);
      expect(response.statusCode).toBe(502);
      expect(response.headers['x-ferry-error']).toBe('FERRY_ERR_UPSTREAM_TLS');
      await response.body.dump();
      expect(plain.count).toBe(before);
    });
  });

  describe('when the target requires a client certificate', () => {
    it("presents the group's client certificate", async () => {
      const response = await request(`${urlOf('mutual')}/`);
      expect(response.statusCode).toBe(200);
      await response.body.dump();
      expect(strict.lastClientCn).toBe('ferry-sidecar');
    });

    it('answers 502 FERRY_ERR_UPSTREAM_TLS when the group has none to present', async () => {
      const response = await request(`${urlOf('nocert')}/`);
      expect(response.statusCode).toBe(502);
      expect(response.headers['x-ferry-error']).toBe('FERRY_ERR_UPSTREAM_TLS');
      await response.body.dump();
    });
  });

  describe("when the target's certificate does not chain to the group's CA", () => {
    it('answers 502 FERRY_ERR_UPSTREAM_TLS and never sends the request', async () => {
      const before = plain.count;
      const response = await request(`${urlOf('foreign')}/`);
      expect(response.statusCode).toBe(502);
      expect(response.headers['x-ferry-error']).toBe('FERRY_ERR_UPSTREAM_TLS');
      expect(await response.body.text()).toBe('502 FERRY_ERR_UPSTREAM_TLS\n');
      expect(plain.count).toBe(before);
    });
  });

  describe('when an HTTP/2 client comes through an HTTPS listener (mTLS both ways of the sidecar)', () => {
    it('terminates, re-encrypts and presents the client certificate to the target', async () => {
      const session = http2.connect(`https://127.0.0.1:${ferry.listenerPorts.get('front')}`, {
        ca: pki.ca.cert,
        servername: 'front.test',
      });
      try {
        const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
          const stream = session.request({ ':path': '/' });
          let text = '';
          let code = 0;
          stream.setEncoding('utf8');
          stream.on('response', (headers) => {
            code = Number(headers[':status']);
          });
          stream.on('data', (chunk: string) => {
            text += chunk;
          });
          stream.on('end', () => resolve({ status: code, body: text }));
          stream.on('error', reject);
        });
        expect(status).toBe(200);
        expect(body).toBe('secure hello\n');
        expect(strict.lastClientCn).toBe('ferry-sidecar');
        expect(strict.lastServername).toBe('target.test');
        expect(strict.lastHeaders['x-forwarded-proto']).toBe('https');
      } finally {
        session.close();
      }
    });
  });
});
