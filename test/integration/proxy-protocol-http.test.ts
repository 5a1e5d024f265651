/**
 * PROXY protocol in on HTTP and HTTPS listeners (issue 13), from a real
 * sender: Debian's HAProxy in `mode tcp` with `send-proxy-v2` in front of
 * Ferry, the way an NLB or HAProxy edge sits in front of a sidecar.
 *
 *   client (127.0.0.7 / .8) ──> HAProxy send-proxy-v2 ──> Ferry HTTP / HTTPS (trusts 127.0.0.1)
 *                                                          ──> target (sees X-Forwarded-For)
 *
 * The client binds a loopback address of its own, so the address Ferry uses
 * for X-Forwarded-For and `sourceIp` rules can only have come through the
 * header. Refusals: a malformed, missing or truncated header from a trusted
 * sender closes the connection, counted, with nothing forwarded.
 */
import { once } from 'node:events';
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LISTENER_PROXY_REFUSED_TOTAL } from '../../proto/table-layout.ts';
import { encodeProxyV2 } from '../../workers/l4/proxy-protocol.ts';
import { createPki, type TestPki } from '../helpers/certs.ts';
import { startTestFerry, type TestFerry } from '../helpers/ferry.ts';
import { ensureTool, freePort, type RunningHaproxy, startHaproxy } from '../helpers/haproxy.ts';
import { exchangeFrom, listenerCounter } from '../helpers/l4.ts';
import { startTarget, type TestTarget } from '../helpers/targets.ts';
import { httpsGet } from '../helpers/tls-client.ts';

const haproxy = ensureTool('haproxy', 'haproxy');
const skipReason = 'reason' in haproxy ? haproxy.reason : '';
if (skipReason !== '')
  console.log(`skipping PROXY protocol (HTTP) tests: HAProxy unavailable (${skipReason})`);

let ferry: TestFerry;
let peer: RunningHaproxy;
let target: TestTarget;
let pki: TestPki;
let frontHttpPort: number;
let frontHttpsPort: number;

/** Listener positions in the config below. */
const WEB = 0;

function portOf(listener: string): number {
  return ferry.listenerPorts.get(listener)!;
}

/** One HTTP/1.1 GET from `localAddress`, after `preface`; resolves with the whole answer (Connection: close). */
function getFrom(
  localAddress: string,
  port: number,
  path: string,
  preface: Uint8Array = new Uint8Array(0),
): Promise<string> {
  const request = Buffer.from(`GET ${path} HTTP/1.1\r\nHost: proxied\r\nConnection: close\r\n\r\n`);
  return exchangeFrom(localAddress, port, Buffer.concat([preface, request]));
}

describe.skipIf(skipReason !== '')('PROXY protocol in on HTTP and HTTPS listeners, from HAProxy', () => {
  beforeAll(async () => {
    target = await startTarget('app');
    pki = createPki('proxy-http');
    const site = pki.issue('site', { dnsNames: ['site.test'] });
    frontHttpPort = await freePort();
    frontHttpsPort = await freePort();
    ferry = await startTestFerry(`workers: 2
admin: { address: "127.0.0.1:0" }
listeners:
  - name: web
    address: "127.0.0.1:0"
    proxyProtocol: { accept: v2, trustedSources: [ 127.0.0.1/32 ] }
    rules:
      - { priority: 1, conditions: { sourceIp: [ 127.0.0.7/32 ] }, action: { fixedResponse: { statusCode: 200, contentType: text/plain, body: "rule for seven" } } }
    defaultAction: { forward: { targetGroup: app } }
  - name: secure
    protocol: HTTPS
    address: "127.0.0.1:0"
    certificates: [ { cert: "${site.certPath}", key: "${site.keyPath}" } ]
    proxyProtocol: { accept: v2, trustedSources: [ 127.0.0.1/32 ] }
    defaultAction: { forward: { targetGroup: app } }
targetGroups:
  - { name: app, healthCheck: { enabled: false }, targets: [ { address: "${target.address}" } ] }
`);
    const path = 'path' in haproxy ? haproxy.path : 'haproxy';
    peer = await startHaproxy(
      path,
      `global
  maxconn 256
defaults
  mode tcp
  timeout client 10s
  timeout server 10s
  timeout connect 5s
frontend front_http
  bind 127.0.0.1:${frontHttpPort}
  default_backend ferry_http
backend ferry_http
  server ferry 127.0.0.1:${portOf('web')} send-proxy-v2
frontend front_https
  bind 127.0.0.1:${frontHttpsPort}
  default_backend ferry_https
backend ferry_https
  server ferry 127.0.0.1:${portOf('secure')} send-proxy-v2
`,
      [frontHttpPort, frontHttpsPort],
    );
  });

  afterAll(async () => {
    await peer?.stop();
    await ferry?.stop(1_000);
    await target?.close();
    pki?.cleanup();
  });

  describe('when HAProxy sends a header on an HTTP listener', () => {
    it('forwards with the client the header names in X-Forwarded-For', async () => {
      const answer = await getFrom('127.0.0.8', frontHttpPort, '/');
      expect(answer).toMatch(/^HTTP\/1\.1 200/);
      expect(target.lastHeaders['x-forwarded-for']).toBe('127.0.0.8');
    });

    it('matches sourceIp rules against the client the header names', async () => {
      expect(await getFrom('127.0.0.7', frontHttpPort, '/')).toContain('rule for seven');
      expect(await getFrom('127.0.0.8', frontHttpPort, '/')).not.toContain('rule for seven');
    });
  });

  describe('when HAProxy sends a header on an HTTPS listener', () => {
    it('reads it before the TLS handshake and forwards HTTP/1.1 with the client in X-Forwarded-For', async () => {
      const result = await httpsGet(frontHttpsPort, '/', {
        servername: 'site.test',
        ca: pki.ca.cert,
        localAddress: '127.0.0.8',
        agent: false,
      });
      expect(result.status).toBe(200);
      expect(target.lastHeaders['x-forwarded-for']).toBe('127.0.0.8');
    });

    it('forwards HTTP/2 streams with the client in X-Forwarded-For', async () => {
      const session = http2.connect(`https://127.0.0.1:${frontHttpsPort}`, {
        createConnection: () =>
          tls.connect({
            socket: net.connect({ host: '127.0.0.1', port: frontHttpsPort, localAddress: '127.0.0.7' }),
            servername: 'site.test',
            ca: pki.ca.cert,
            ALPNProtocols: ['h2'],
          }),
      });
      try {
        const stream = session.request({ ':path': '/' });
        const [headers] = (await once(stream, 'response')) as [http2.IncomingHttpHeaders];
        stream.resume();
        await once(stream, 'end');
        expect(headers[':status']).toBe(200);
        expect(target.lastHeaders['x-forwarded-for']).toBe('127.0.0.7');
      } finally {
        session.close();
      }
    });
  });

  describe('when a trusted sender sends no good header', () => {
    it('closes the connection, counts it and forwards nothing, for a malformed, a missing and a truncated header', async () => {
      const header = encodeProxyV2('198.51.100.1', 1, '127.0.0.1', 2, false, '', '');
      const signature = header.subarray(0, 12);
      const wrongVersion = Buffer.concat([signature, Buffer.from([0x31, 0x11, 0, 12]), Buffer.alloc(12)]);
      // Missing: the request itself where the header should be; truncated: half a header, then nothing.
      for (const preface of [wrongVersion, Buffer.alloc(0), header.subarray(0, 20)]) {
        const before = {
          refused: listenerCounter(ferry, WEB, LISTENER_PROXY_REFUSED_TOTAL),
          seen: target.count,
        };
        const answer =
          preface.length === 20
            ? await exchangeFrom('127.0.0.1', portOf('web'), preface) // then silence: the preamble deadline
            : await getFrom('127.0.0.1', portOf('web'), '/', preface);
        expect(answer).toBe('');
        expect(listenerCounter(ferry, WEB, LISTENER_PROXY_REFUSED_TOTAL)).toBe(before.refused + 1);
        expect(target.count).toBe(before.seen);
      }
    });
  });

  describe('when an untrusted client connects', () => {
    it('reads no header and serves it with its own address', async () => {
      const answer = await getFrom('127.0.0.3', portOf('web'), '/');
      expect(answer).toMatch(/^HTTP\/1\.1 200/);
      expect(target.lastHeaders['x-forwarded-for']).toBe('127.0.0.3');
    });
  });
});
