/**
 * HTTPS listeners through real sockets, real TLS and two real worker
 * threads (issue 5, "TLS termination"): SNI picks the certificate (seen from
 * the client side), the default serves the rest, HTTP/1.1 keep-alive and
 * HTTP/2 by ALPN (Node's http2 client and curl --http2), X-Forwarded-Proto
 * https, the security policies (TLS 1.1 refused; tls13 refuses 1.2), mutual
 * TLS, and a certificate swap picked up while a long request finishes on the
 * old connection.
 *
 * Certificates are made by the test (test/helpers/certs.ts), never committed.
 */
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { cpSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import http2 from 'node:http2';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadWorker, WORKER_REQUESTS_TOTAL } from '../../proto/table-layout.ts';
import { createPki, type TestCert, type TestPki } from '../helpers/certs.ts';
import { startTestFerry, type TestFerry } from '../helpers/ferry.ts';
import { targetCounters, waitForSettled } from '../helpers/table-counters.ts';
import { startTargets, type TestTarget } from '../helpers/targets.ts';
import { handshake, httpsGet } from '../helpers/tls-client.ts';

const run = promisify(execFile);

let pki: TestPki;
let otherPki: TestPki;
let ferry: TestFerry;
let targets: TestTarget[];
let site: TestCert;
let api: TestCert;
let apps: TestCert;
let client: TestCert;
let strangerClient: TestCert;
/** The rotating listener's files: first rot1, then rot2 renamed over them. */
let rotCertPath: string;
let rotKeyPath: string;

function portOf(listener: string): number {
  return ferry.listenerPorts.get(listener)!;
}

function fingerprintOf(cert: TestCert): string {
  return new X509Certificate(cert.cert).fingerprint256;
}

function certificatesYaml(certs: readonly TestCert[]): string {
  return `[ ${certs.map((cert) => `{ cert: "${cert.certPath}", key: "${cert.keyPath}" }`).join(', ')} ]`;
}

beforeAll(async () => {
  pki = createPki('listener');
  otherPki = createPki('stranger');
  site = pki.issue('site', { dnsNames: ['site.test'] });
  api = pki.issue('api', { dnsNames: ['api.test'] });
  apps = pki.issue('apps', { dnsNames: ['*.apps.test'] });
  client = pki.issue('client', { isClient: true, commonName: 'good-client' });
  strangerClient = otherPki.issue('stranger-client', { isClient: true });
  const rot1 = pki.issue('rot1', { dnsNames: ['rot.test'] });
  rotCertPath = join(pki.dir, 'rotating.crt');
  rotKeyPath = join(pki.dir, 'rotating.key');
  cpSync(rot1.certPath, rotCertPath);
  cpSync(rot1.keyPath, rotKeyPath);
  targets = await startTargets(2);
  const targetList = targets.map((target) => `{ address: "${target.address}" }`).join(', ');
  ferry = await startTestFerry(`workers: 2
admin: { address: "127.0.0.1:0" }
listeners:
  - name: web
    protocol: HTTPS
    address: "127.0.0.1:0"
    addTargetHeader: true
    certificates: ${certificatesYaml([site, api, apps])}
    defaultAction: { forward: { targetGroup: app } }
  - name: strict
    protocol: HTTPS
    address: "127.0.0.1:0"
    sslPolicy: tls13
    certificates: ${certificatesYaml([site])}
    defaultAction: { forward: { targetGroup: app } }
  - name: mtls
    protocol: HTTPS
    address: "127.0.0.1:0"
    certificates: ${certificatesYaml([site])}
    mutualAuthentication: { mode: verify, trustStore: "${pki.ca.certPath}" }
    defaultAction: { forward: { targetGroup: app } }
  - name: dead
    protocol: HTTPS
    address: "127.0.0.1:0"
    certificates: ${certificatesYaml([site])}
    defaultAction: { forward: { targetGroup: gone } }
  - name: rotating
    protocol: HTTPS
    address: "127.0.0.1:0"
    certificates: [ { cert: "${rotCertPath}", key: "${rotKeyPath}" } ]
    defaultAction: { forward: { targetGroup: app } }
  - name: ruled
    protocol: HTTPS
    address: "127.0.0.1:0"
    certificates: ${certificatesYaml([site])}
    rules:
      - { priority: 10, conditions: { pathPattern: ["/fixed"] }, action: { fixedResponse: { statusCode: 503, contentType: application/json, body: '{"error":"maintenance"}' } } }
      - { priority: 20, conditions: { pathPattern: ["/old/*"] }, action: { redirect: { host: "other.test", path: "/new/#{path}", statusCode: 301 } } }
    defaultAction: { forward: { targetGroup: sticky } }
targetGroups:
  - name: sticky
    healthCheck: { enabled: false }
    stickiness: { enabled: true, type: lb_cookie, duration: 1h }
    targets: [ ${targetList} ]
  - name: app
    healthCheck: { enabled: false }
    targets: [ ${targetList} ]
  - name: gone
    healthCheck: { enabled: false }
    targets: [ { address: "127.0.0.1:${await closedPort()}" } ]
`);
});

afterAll(async () => {
  await ferry?.stop(1_000);
  for (const target of targets ?? []) await target.close();
  pki?.cleanup();
  otherPki?.cleanup();
});

describe('HTTPS listener', () => {
  describe('when the client names a host by SNI', () => {
    it('serves the certificate whose exact name matches', async () => {
      const result = await handshake(portOf('web'), 'api.test', pki.ca.cert);
      expect(result.errorCode).toBe('');
      expect(result.subjectAltName).toBe('DNS:api.test');
    });

    it('serves a wildcard certificate for one label under its name, case-blind', async () => {
      const result = await handshake(portOf('web'), 'Shop.Apps.Test', pki.ca.cert);
      expect(result.subjectAltName).toBe('DNS:*.apps.test');
    });

    it('serves the default (first) certificate for a name no certificate has, or two labels under a wildcard', async () => {
      for (const name of ['unknown.test', 'a.b.apps.test']) {
        const result = await handshake(portOf('web'), name, pki.ca.cert);
        expect(result.subjectAltName, name).toBe('DNS:site.test');
      }
    });

    it('serves the default certificate to a client that sends no SNI', async () => {
      const result = await handshake(portOf('web'), undefined, pki.ca.cert);
      expect(result.fingerprint256).toBe(fingerprintOf(site));
    });
  });

  describe('when the client speaks HTTP/1.1', () => {
    it('proxies several requests on one keep-alive connection, telling the target X-Forwarded-Proto https', async () => {
      const agent = new https.Agent({
        keepAlive: true,
        maxSockets: 1,
        ca: pki.ca.cert,
        ALPNProtocols: ['http/1.1'],
      });
      try {
        const results = [];
        for (let i = 0; i < 3; i++) {
          results.push(await httpsGet(portOf('web'), '/', { agent, servername: 'api.test' }));
        }
        expect(results.map((result) => result.status)).toEqual([200, 200, 200]);
        // One TLS connection carried all three (the agent may queue a request on the socket before it is idle).
        expect(results[1]!.socket).toBe(results[0]!.socket);
        expect(results[2]!.socket).toBe(results[0]!.socket);
        expect(results[0]!.socket.alpnProtocol).toBe('http/1.1');
        const seen = targets.find((target) => target.lastHeaders['x-forwarded-proto'] !== undefined)!;
        expect(seen.lastHeaders['x-forwarded-proto']).toBe('https');
        expect(seen.lastHeaders['x-forwarded-port']).toBe(String(portOf('web')));
      } finally {
        agent.destroy();
      }
    });
  });

  describe('when the client offers h2 by ALPN', () => {
    it("answers over HTTP/2 to Node's http2 client: GET, and POST with a body streamed to an HTTP/1.1 target", async () => {
      const session = http2.connect(`https://127.0.0.1:${portOf('web')}`, {
        ca: pki.ca.cert,
        servername: 'site.test',
      });
      try {
        const get = await h2Exchange(session, { ':path': '/', 'x-forwarded-proto': 'gopher' });
        expect(get.headers[':status']).toBe(200);
        expect(get.body).toMatch(/^t[12]\n$/);
        expect(get.headers['x-ferry-target']).toMatch(/^127\.0\.0\.1:\d+$/);
        const seen = targets.find((target) => target.name === get.headers['x-target'])!;
        expect(seen.lastHeaders['x-forwarded-proto']).toBe('https');
        const post = await h2Exchange(
          session,
          { ':path': '/echo', ':method': 'POST', 'content-type': 'text/plain', cookie: 'a=1' },
          'hello over h2',
        );
        expect(post.headers[':status']).toBe(200);
        expect(post.body).toBe('hello over h2');
        expect((session.socket as TLSSocket).alpnProtocol).toBe('h2');
      } finally {
        session.close();
      }
    });

    it('answers a failed stream with its own error, HEAD without a body, and keeps the session', async () => {
      const session = http2.connect(`https://127.0.0.1:${portOf('dead')}`, {
        ca: pki.ca.cert,
        servername: 'site.test',
      });
      try {
        const failed = await h2Exchange(session, { ':path': '/' });
        expect(failed.headers[':status']).toBe(502);
        expect(failed.headers['x-ferry-error']).toBe('FERRY_ERR_UPSTREAM_CONNECT_REFUSED');
        expect(failed.body).toBe('502 FERRY_ERR_UPSTREAM_CONNECT_REFUSED\n');
        const head = await h2Exchange(session, { ':path': '/', ':method': 'HEAD' });
        expect(head.headers[':status']).toBe(502);
        expect(head.body).toBe('');
        expect(session.closed).toBe(false);
      } finally {
        session.close();
      }
    });

    it('leaves no request in flight when the client resets a stream mid-response', async () => {
      const session = http2.connect(`https://127.0.0.1:${portOf('web')}`, {
        ca: pki.ca.cert,
        servername: 'site.test',
      });
      try {
        const stream = session.request({ ':path': '/hold' }, { endStream: true });
        stream.on('error', () => {});
        await new Promise((resolve) => stream.once('response', resolve));
        const inFlight = () => targetCounters(ferry).reduce((sum, target) => sum + target.inFlight, 0);
        expect(inFlight()).toBe(1);
        stream.close(http2.constants.NGHTTP2_CANCEL);
        expect(await waitForSettled(inFlight, (count) => count === 0)).toBe(0);
      } finally {
        session.close();
        for (const target of targets) target.release();
      }
    });

    it('answers fixed responses and redirects as HTTP/2 fields, and sets stickiness cookies a later stream follows', async () => {
      const session = http2.connect(`https://127.0.0.1:${portOf('ruled')}`, {
        ca: pki.ca.cert,
        servername: 'site.test',
      });
      try {
        const fixed = await h2Exchange(session, { ':path': '/fixed' });
        expect(fixed.headers[':status']).toBe(503);
        expect(fixed.headers['content-type']).toBe('application/json');
        expect(fixed.headers['content-length']).toBe('23');
        expect(fixed.body).toBe('{"error":"maintenance"}');
        const head = await h2Exchange(session, { ':path': '/fixed', ':method': 'HEAD' });
        expect(head.headers[':status']).toBe(503);
        expect(head.body).toBe('');
        const moved = await h2Exchange(session, { ':path': '/old/a/b?q=1' });
        expect(moved.headers[':status']).toBe(301);
        expect(moved.headers.location).toBe(`https://other.test:${portOf('ruled')}/new/old/a/b?q=1`);
        expect(moved.body).toBe('');

        const first = await h2Exchange(session, { ':path': '/' });
        const cookies = first.headers['set-cookie'] ?? [];
        expect(cookies).toHaveLength(2);
        expect(cookies[0]).toMatch(
          /^FERRYLB-sticky=[^;]+; Expires=.+; Path=\/; Secure; HttpOnly; SameSite=Lax$/,
        );
        expect(cookies[1]).toMatch(/^FERRYLBCORS-sticky=[^;]+; .*Secure; HttpOnly; SameSite=None$/);
        const cookie = cookies[0]!.slice(0, cookies[0]!.indexOf(';'));
        for (let i = 0; i < 4; i++) {
          const again = await h2Exchange(session, { ':path': '/', cookie });
          expect(again.body).toBe(first.body);
        }
      } finally {
        session.close();
      }
    });

    it('answers curl --http2', async (context) => {
      const { stdout: features } = await run('curl', ['--version']);
      if (!/\bHTTP2\b/.test(features)) context.skip(); // this curl was built without nghttp2
      const port = portOf('web');
      const { stdout } = await run('curl', [
        '--silent',
        '--show-error',
        '--max-time',
        '10',
        '--http2',
        '--cacert',
        pki.ca.certPath,
        '--resolve',
        `api.test:${port}:127.0.0.1`,
        '--output',
        '/dev/null',
        '--write-out',
        '%{http_version} %{http_code}',
        `https://api.test:${port}/`,
      ]);
      expect(stdout).toBe('2 200');
    });
  });

  describe('when a client offers only TLS 1.1', () => {
    it('refuses the handshake with a protocol_version alert', async () => {
      // SECLEVEL=0 lets this client really offer TLS 1.1, so the refusal is the server's.
      const result = await handshake(portOf('web'), 'site.test', pki.ca.cert, {
        minVersion: 'TLSv1',
        maxVersion: 'TLSv1.1',
        ciphers: 'DEFAULT@SECLEVEL=0',
      });
      expect(result.errorCode).toBe('ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION');
    });
  });

  describe('when the listener has sslPolicy tls13', () => {
    it('refuses a TLS 1.2 client and accepts TLS 1.3', async () => {
      const tls12 = await handshake(portOf('strict'), 'site.test', pki.ca.cert, { maxVersion: 'TLSv1.2' });
      expect(tls12.errorCode).toBe('ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION');
      const tls13 = await handshake(portOf('strict'), 'site.test', pki.ca.cert);
      expect(tls13.protocol).toBe('TLSv1.3');
    });

    it('leaves TLS 1.2 to the default policy', async () => {
      const result = await handshake(portOf('web'), 'site.test', pki.ca.cert, { maxVersion: 'TLSv1.2' });
      expect(result.protocol).toBe('TLSv1.2');
    });
  });

  describe('when mutualAuthentication is verify', () => {
    it('refuses a client that presents no certificate', async () => {
      await expect(
        httpsGet(portOf('mtls'), '/', { ca: pki.ca.cert, servername: 'site.test' }),
      ).rejects.toMatchObject({
        code: expect.stringMatching(/CERTIFICATE_REQUIRED|ECONNRESET/),
      });
    });

    it('refuses a client certificate from another CA', async () => {
      await expect(
        httpsGet(portOf('mtls'), '/', {
          ca: pki.ca.cert,
          servername: 'site.test',
          cert: strangerClient.cert,
          key: strangerClient.key,
        }),
      ).rejects.toThrow();
    });

    it('proxies a client whose certificate chains to the trust store', async () => {
      const result = await httpsGet(portOf('mtls'), '/', {
        ca: pki.ca.cert,
        servername: 'site.test',
        cert: client.cert,
        key: client.key,
      });
      expect(result.status).toBe(200);
      expect(result.body).toMatch(/^t[12]\n$/);
    });
  });

  describe('when the certificate files are replaced', () => {
    it('serves the new certificate to new connections in both workers while a long request finishes on the old one', async () => {
      const port = portOf('rotating');
      const before = await handshake(port, 'rot.test', pki.ca.cert);
      const oldFingerprint = before.fingerprint256;
      expect(oldFingerprint).not.toBe('');

      // A long request: the target sends its head and holds the body until released.
      const held = new Promise<{ status: number; fingerprint: string; body: string }>((resolve, reject) => {
        const req = https.request(
          { host: '127.0.0.1', port, path: '/hold', ca: pki.ca.cert, servername: 'rot.test' },
          (res) => {
            const fingerprint = (res.socket as TLSSocket).getPeerCertificate().fingerprint256;
            let body = '';
            res.setEncoding('utf8');
            res.on('data', (chunk: string) => {
              body += chunk;
            });
            res.on('end', () => resolve({ status: res.statusCode ?? 0, fingerprint, body }));
            res.on('error', reject);
          },
        );
        req.on('error', reject);
        req.end();
      });
      await waitFor(() => targets.some((target) => target.held.length > 0));

      // Swap both files the way cert-manager or a deploy does: write aside, rename over.
      const rot2 = pki.issue('rot2', { dnsNames: ['rot.test'] });
      renameSync(rot2.keyPath, rotKeyPath);
      renameSync(rot2.certPath, rotCertPath);
      const newFingerprint = fingerprintOf(rot2);

      // Both workers re-read the files within a poll interval or two.
      await waitFor(async () => {
        const results = await Promise.all([1, 2, 3, 4].map(() => handshake(port, 'rot.test', pki.ca.cert)));
        return results.every((result) => result.fingerprint256 === newFingerprint);
      });

      // And it is each worker that serves it: fresh connections until both workers answered one
      // (WORKER_REQUESTS_TOTAL tells which), every one with the new certificate.
      const servedBy = new Set<number>();
      for (let attempt = 0; attempt < 64 && servedBy.size < 2; attempt++) {
        const before = [0, 1].map((worker) => loadWorker(ferry.table.view, worker, WORKER_REQUESTS_TOTAL));
        const result = await httpsGet(port, '/', { ca: pki.ca.cert, servername: 'rot.test', agent: false });
        expect(result.status).toBe(200);
        expect(result.socket.getPeerCertificate().fingerprint256).toBe(newFingerprint);
        for (const worker of [0, 1]) {
          if (loadWorker(ferry.table.view, worker, WORKER_REQUESTS_TOTAL) !== before[worker])
            servedBy.add(worker);
        }
      }
      expect([...servedBy].sort()).toEqual([0, 1]);

      for (const target of targets) target.release();
      const finished = await held;
      expect(finished.status).toBe(200);
      expect(finished.body).toMatch(/released/);
      expect(finished.fingerprint).toBe(oldFingerprint);
    });
  });
});

describe('sslPolicy', () => {
  // An RSA certificate, so a static-RSA suite (AES128-SHA) could be negotiated at all: with the
  // suite's EC keys a refusal would come from the key type, not from the policy.
  let rsaDir: string;
  let policyFerry: TestFerry;

  beforeAll(async () => {
    rsaDir = mkdtempSync(join(tmpdir(), 'ferry-rsa-'));
    await run('openssl', [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=rsa.test',
      '-addext',
      'subjectAltName=DNS:rsa.test',
      '-keyout',
      join(rsaDir, 'rsa.key'),
      '-out',
      join(rsaDir, 'rsa.crt'),
    ]);
    const certificates = `[ { cert: "${join(rsaDir, 'rsa.crt')}", key: "${join(rsaDir, 'rsa.key')}" } ]`;
    policyFerry = await startTestFerry(`workers: 1
admin: { address: "127.0.0.1:0" }
listeners:
  - { name: tls12, protocol: HTTPS, address: "127.0.0.1:0", sslPolicy: tls12, certificates: ${certificates}, defaultAction: { forward: { targetGroup: app } } }
  - { name: tls13, protocol: HTTPS, address: "127.0.0.1:0", sslPolicy: tls13, certificates: ${certificates}, defaultAction: { forward: { targetGroup: app } } }
targetGroups:
  - { name: app, healthCheck: { enabled: false }, targets: [ { address: "127.0.0.1:${await closedPort()}" } ] }
`);
  });

  afterAll(async () => {
    await policyFerry?.stop(1_000);
    rmSync(rsaDir, { recursive: true, force: true });
  });

  /** `openssl s_client` offering only `cipherArgs`: the cipher it negotiated, or '' when the handshake failed. */
  async function negotiated(listener: string, cipherArgs: readonly string[]): Promise<string> {
    const port = policyFerry.listenerPorts.get(listener)!;
    const args = ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'rsa.test', ...cipherArgs];
    const child = execFile('openssl', args, { timeout: 10_000 });
    child.stdin?.end();
    const output = await new Promise<string>((resolve) => {
      let text = '';
      child.stdout?.on('data', (chunk: Buffer) => {
        text += chunk.toString();
      });
      child.on('close', () => resolve(text));
    });
    const cipher = /Cipher is (\S+)/.exec(output)?.[1] ?? '';
    return cipher === '(NONE)' ? '' : cipher;
  }

  // SECLEVEL=0 makes the client really offer the weak suite, so a refusal is the server's.
  const STATIC_RSA_CBC = ['-tls1_2', '-cipher', 'AES128-SHA@SECLEVEL=0'];
  const ECDHE_CBC = ['-tls1_2', '-cipher', 'ECDHE-RSA-AES128-SHA@SECLEVEL=0'];
  const ECDHE_GCM = ['-tls1_2', '-cipher', 'ECDHE-RSA-AES128-GCM-SHA256'];
  const TLS13 = ['-tls1_3'];

  describe('when the policy is tls12', () => {
    it('refuses a client offering only a static-RSA CBC suite or only an ECDHE CBC suite, and takes ECDHE-AEAD and TLS 1.3', async () => {
      expect(await negotiated('tls12', STATIC_RSA_CBC)).toBe('');
      expect(await negotiated('tls12', ECDHE_CBC)).toBe('');
      expect(await negotiated('tls12', ECDHE_GCM)).toBe('ECDHE-RSA-AES128-GCM-SHA256');
      expect(await negotiated('tls12', TLS13)).toMatch(/^TLS_/);
    });
  });

  describe('when the policy is tls13', () => {
    it('refuses every TLS 1.2 suite, CBC or AEAD, and takes TLS 1.3', async () => {
      expect(await negotiated('tls13', STATIC_RSA_CBC)).toBe('');
      expect(await negotiated('tls13', ECDHE_CBC)).toBe('');
      expect(await negotiated('tls13', ECDHE_GCM)).toBe('');
      expect(await negotiated('tls13', TLS13)).toMatch(/^TLS_/);
    });
  });
});

/** One HTTP/2 request on `session` (with a body when given): the response headers and the body as text. */
function h2Exchange(
  session: http2.ClientHttp2Session,
  headers: http2.OutgoingHttpHeaders,
  requestBody?: string,
): Promise<{ headers: http2.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const stream = session.request(headers, { endStream: requestBody === undefined });
    if (requestBody !== undefined) stream.end(requestBody);
    let body = '';
    let responseHeaders: http2.IncomingHttpHeaders = {};
    stream.setEncoding('utf8');
    stream.on('response', (received) => {
      responseHeaders = received;
    });
    stream.on('data', (chunk: string) => {
      body += chunk;
    });
    stream.on('end', () => resolve({ headers: responseHeaders, body }));
    stream.on('error', reject);
  });
}

/** A loopback port nothing listens on (bound, read, closed). */
function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Poll `condition` every 100 ms until it holds (at most 10 s). */
async function waitFor(condition: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met within 10 s');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
