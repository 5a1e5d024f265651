/**
 * Stickiness cookie attributes per listener scheme (issue 10, "Semantics and
 * secrets"), through real sockets, real TLS and two real worker threads:
 * lb_cookie, app_cookie and a weighted forward's group cookie, over HTTP/1.1
 * on an HTTP and an HTTPS listener and over HTTP/2. On HTTPS the cookie is
 * `Secure; HttpOnly; SameSite=Lax` and its `…CORS` companion
 * `Secure; HttpOnly; SameSite=None` (ALB's AWSALB / AWSALBCORS); on HTTP the
 * cookie has no `Secure` (a browser would drop it) and there is no companion
 * (`SameSite=None` needs `Secure`, which http cannot carry).
 *
 * https://github.com/ferry/ferry/issues/10
 */
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPki, type TestPki } from '../helpers/certs.ts';
import { startTestFerry, type TestFerry } from '../helpers/ferry.ts';

let pki: TestPki;
let ferry: TestFerry;
let target: http.Server;

/** The attributes a browser keeps, per cookie Ferry set (Expires left out: it moves with the clock). */
type CookieAttributes = Map<string, string>;

const HTTPS_COOKIE = 'Path=/; Secure; HttpOnly; SameSite=Lax';
const HTTPS_CORS_COOKIE = 'Path=/; Secure; HttpOnly; SameSite=None';
const HTTP_COOKIE = 'Path=/; HttpOnly; SameSite=Lax';

function portOf(listener: string): number {
  return ferry.listenerPorts.get(listener)!;
}

function listenerYaml(name: string, protocol: string, certificates: string): string {
  return `  - name: ${name}
    protocol: ${protocol}
    address: "127.0.0.1:0"${certificates}
    rules:
      - { priority: 10, conditions: { pathPattern: ["/lb"] }, action: { forward: { targetGroup: lb } } }
      - { priority: 20, conditions: { pathPattern: ["/app"] }, action: { forward: { targetGroup: app } } }
    defaultAction:
      forward:
        targetGroups: [ { name: blue, weight: 1 }, { name: green, weight: 1 } ]
        stickiness: { enabled: true, duration: 1h }
`;
}

beforeAll(async () => {
  pki = createPki('sticky-attributes');
  const site = pki.issue('site', { dnsNames: ['site.test'] });
  // One target for every group: it starts an application session on each response (app_cookie binds it).
  target = http.createServer((_req, res) => {
    res.writeHead(200, { 'set-cookie': 'SESSIONID=s1; Path=/', 'content-length': '2' }).end('ok');
  });
  await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', () => resolve()));
  const address = `127.0.0.1:${(target.address() as AddressInfo).port}`;
  const group = (name: string, stickiness: string) =>
    `  - { name: ${name}, healthCheck: { enabled: false }, ${stickiness}targets: [ { address: "${address}" } ] }\n`;
  ferry = await startTestFerry(`workers: 2
admin: { address: "127.0.0.1:0" }
listeners:
${listenerYaml('plain', 'HTTP', '')}${listenerYaml('tls', 'HTTPS', `\n    certificates: [ { cert: "${site.certPath}", key: "${site.keyPath}" } ]`)}
targetGroups:
${group('lb', 'stickiness: { enabled: true, type: lb_cookie, duration: 1h }, ')}${group('app', 'stickiness: { enabled: true, type: app_cookie, cookieName: SESSIONID, duration: 1h }, ')}${group('blue', '')}${group('green', '')}`);
});

afterAll(async () => {
  await ferry?.stop(0);
  target?.closeAllConnections();
  await new Promise((resolve) => target?.close(resolve));
  pki?.cleanup();
});

/** Ferry's cookies in a list of Set-Cookie values (the application's SESSIONID left out). */
function ferryCookies(setCookies: readonly string[]): CookieAttributes {
  const cookies: CookieAttributes = new Map();
  for (const line of setCookies) {
    const [pair, ...attributes] = line.split('; ');
    const name = pair!.slice(0, pair!.indexOf('='));
    if (!name.startsWith('FERRY')) continue;
    cookies.set(name, attributes.filter((attribute) => !attribute.startsWith('Expires=')).join('; '));
  }
  return cookies;
}

function getHttp(path: string): Promise<CookieAttributes> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port: portOf('plain'), path, agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve(ferryCookies(res.headers['set-cookie'] ?? [])));
      })
      .on('error', reject);
  });
}

function getHttps(path: string): Promise<CookieAttributes> {
  return new Promise((resolve, reject) => {
    https
      .get(
        {
          host: '127.0.0.1',
          port: portOf('tls'),
          path,
          agent: false,
          ca: pki.ca.cert,
          servername: 'site.test',
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(ferryCookies(res.headers['set-cookie'] ?? [])));
        },
      )
      .on('error', reject);
  });
}

async function getH2(path: string): Promise<CookieAttributes> {
  const session = http2.connect(`https://127.0.0.1:${portOf('tls')}`, {
    ca: pki.ca.cert,
    servername: 'site.test',
  });
  try {
    return await new Promise((resolve, reject) => {
      const stream = session.request({ ':path': path });
      let cookies: CookieAttributes = new Map();
      stream.on('response', (headers) => {
        cookies = ferryCookies(headers['set-cookie'] ?? []);
      });
      stream.resume();
      stream.on('end', () => resolve(cookies));
      stream.on('error', reject);
    });
  } finally {
    session.close();
  }
}

/** What each kind of stickiness sets, by cookie name: [path, cookie name, CORS companion name]. */
const KINDS = [
  ['/lb', 'FERRYLB-lb', 'FERRYLBCORS-lb'],
  ['/app', 'FERRYAPP-app', 'FERRYAPPCORS-app'],
  ['/', 'FERRYTG-tls-default', 'FERRYTGCORS-tls-default'],
] as const;

describe('stickiness cookie attributes (issue 10: https://github.com/ferry/ferry/issues/10)', () => {
  describe('when the listener is HTTPS', () => {
    it.each(KINDS)(
      'sets %s with Secure; HttpOnly; SameSite=Lax and its CORS companion with SameSite=None over HTTP/1.1',
      async (path, name, corsName) => {
        expect(await getHttps(path)).toEqual(
          new Map([
            [name, HTTPS_COOKIE],
            [corsName, HTTPS_CORS_COOKIE],
          ]),
        );
      },
    );

    it.each(KINDS)('sets the same attributes for %s over HTTP/2', async (path, name, corsName) => {
      expect(await getH2(path)).toEqual(
        new Map([
          [name, HTTPS_COOKIE],
          [corsName, HTTPS_CORS_COOKIE],
        ]),
      );
    });
  });

  describe('when the listener is plain HTTP', () => {
    it.each(KINDS)(
      'sets %s with HttpOnly; SameSite=Lax, without Secure, and no CORS companion',
      async (path, name) => {
        const plainName = name.replace('-tls-', '-plain-');
        expect(await getHttp(path)).toEqual(new Map([[plainName, HTTP_COOKIE]]));
      },
    );
  });
});
