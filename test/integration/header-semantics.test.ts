/**
 * Request-header semantics at the edge (issue 10, "Semantics and secrets"),
 * through real sockets and two real worker threads: header names with an
 * underscore are dropped by default (they could alias X-Forwarded-For in
 * applications that normalise `_` to `-`), allowed or rejected per listener;
 * an absolute-form request is routed, forwarded and logged by its target's
 * authority, never by a Host that says otherwise (RFC 9112 §3.2.2).
 *
 * https://github.com/ferry/ferry/issues/10
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestFerry, type TestFerry } from '../helpers/ferry.ts';
import { RawClient, rawRequest } from '../helpers/raw-http.ts';
import { waitForSettled } from '../helpers/table-counters.ts';
import { startTarget, type TestTarget } from '../helpers/targets.ts';

let ferry: TestFerry;
let target: TestTarget;
/** The target behind the `hosts` listener's rule for a.example. */
let aTarget: TestTarget;
let logDir: string;

function portOf(listener: string): number {
  return ferry.listenerPorts.get(listener)!;
}

const REQUEST =
  'GET /h HTTP/1.1\r\nhost: a.test\r\nx_forwarded_for: 10.9.9.9\r\nx-plain: yes\r\nconnection: close\r\n\r\n';

beforeAll(async () => {
  target = await startTarget('t1');
  aTarget = await startTarget('a1');
  logDir = mkdtempSync(join(tmpdir(), 'ferry-header-semantics-'));
  ferry = await startTestFerry(`workers: 2
admin: { address: "127.0.0.1:0" }
accessLog: { enabled: true, destination: "${join(logDir, 'access.log')}" }
listeners:
  - { name: strict, address: "127.0.0.1:0", defaultAction: { forward: { targetGroup: app } } }
  - { name: lax, address: "127.0.0.1:0", headersWithUnderscores: allow, defaultAction: { forward: { targetGroup: app } } }
  - { name: picky, address: "127.0.0.1:0", headersWithUnderscores: reject, defaultAction: { forward: { targetGroup: app } } }
  - name: hosts
    address: "127.0.0.1:0"
    rules:
      - { priority: 10, conditions: { hostHeader: ["a.example"] }, action: { forward: { targetGroup: a } } }
    defaultAction: { forward: { targetGroup: app } }
targetGroups:
  - name: a
    healthCheck: { enabled: false }
    targets: [ { address: "${aTarget.address}" } ]
  - name: app
    healthCheck: { enabled: false }
    targets: [ { address: "${target.address}" } ]
`);
});

afterAll(async () => {
  await ferry?.stop(0);
  await target.close();
  await aTarget.close();
  rmSync(logDir, { recursive: true, force: true });
});

/** Access-log lines' `request` and `targetGroup` fields, for requests that contain `text` (pino writes them asynchronously). */
function loggedRequests(text: string): Promise<string[][]> {
  const read = (): string[][] => {
    let file = '';
    try {
      file = readFileSync(join(logDir, 'access.log'), 'utf8');
    } catch {
      return [];
    }
    return file
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as { request: string; targetGroup: string })
      .filter((line) => line.request.includes(text))
      .map((line) => [line.request, line.targetGroup]);
  };
  return waitForSettled(read, (lines) => lines.length > 0, 5_000, 25);
}

describe('HttpConnection header names with underscores (issue 10: https://github.com/ferry/ferry/issues/10)', () => {
  describe('when the listener keeps the default (drop)', () => {
    it('forwards the request without the underscore header, keeping the others', async () => {
      const { response } = await rawRequest(portOf('strict'), REQUEST);
      expect(response.status).toBe(200);
      expect(target.lastHeaders['x_forwarded_for']).toBeUndefined();
      expect(target.lastHeaders['x-plain']).toBe('yes');
      expect(target.lastHeaders['x-forwarded-for']).toBe('127.0.0.1');
    });
  });

  describe('when the listener allows them', () => {
    it('forwards the underscore header as sent', async () => {
      const { response } = await rawRequest(portOf('lax'), REQUEST);
      expect(response.status).toBe(200);
      expect(target.lastHeaders['x_forwarded_for']).toBe('10.9.9.9');
    });
  });

  describe('when the listener rejects them', () => {
    it('answers 400 FERRY_ERR_HTTP_BAD_REQUEST and forwards nothing', async () => {
      const before = target.count;
      const { response } = await rawRequest(portOf('picky'), REQUEST);
      expect(response.status).toBe(400);
      expect(response.header('x-ferry-error')).toBe('FERRY_ERR_HTTP_BAD_REQUEST');
      expect(target.count).toBe(before);
    });
  });
});

describe('HttpConnection h2c prior knowledge (issue 10: https://github.com/ferry/ferry/issues/10)', () => {
  describe('when a client opens an HTTP listener with the HTTP/2 preface', () => {
    it('answers SETTINGS and GOAWAY HTTP_1_1_REQUIRED, then closes, forwarding nothing', async () => {
      const before = target.count;
      const client = await RawClient.connect(portOf('strict'));
      // The preface and the client's empty SETTINGS, as curl --http2-prior-knowledge sends them.
      await client.write(
        Buffer.concat([
          Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1'),
          Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]),
        ]),
      );
      const bytes = await client.readToEnd();
      expect(bytes.length).toBe(26);
      expect(bytes[3]).toBe(0x04); // SETTINGS
      expect(bytes[12]).toBe(0x07); // GOAWAY
      expect(bytes.readUInt32BE(22)).toBe(0x0d); // HTTP_1_1_REQUIRED
      expect(target.count).toBe(before);
    });
  });
});

describe('parseRequestHead absolute-form targets (issue 10: https://github.com/ferry/ferry/issues/10)', () => {
  describe('when the absolute URI names a host and Host names another', () => {
    it("routes by the URI's authority and forwards origin-form with Host rewritten to it", async () => {
      const before = [aTarget.count, target.count];
      const { response } = await rawRequest(
        portOf('hosts'),
        'GET http://a.example/p?q=1 HTTP/1.1\r\nHost: b.example\r\nconnection: close\r\n\r\n',
      );
      expect(response.status).toBe(200);
      expect([aTarget.count, target.count]).toEqual([before[0]! + 1, before[1]]);
      expect(aTarget.hits.get('/p')).toBe(1);
      expect(aTarget.lastHeaders.host).toBe('a.example');
    });

    it('logs the request under the authority it was routed by, with the group that rule forwards to', async () => {
      await rawRequest(
        portOf('hosts'),
        'GET http://a.example/logged HTTP/1.1\r\nHost: b.example\r\nconnection: close\r\n\r\n',
      );
      expect(await loggedRequests('/logged')).toEqual([['GET http://a.example/logged HTTP/1.1', 'a']]);
    });
  });

  describe('when an HTTP/1.0 absolute-form request has no Host', () => {
    it('forwards Host from the URI, with its port, and an empty path as /', async () => {
      const { response } = await rawRequest(portOf('hosts'), 'GET http://a.example:8080 HTTP/1.0\r\n\r\n');
      expect(response.status).toBe(200);
      expect(aTarget.lastHeaders.host).toBe('a.example:8080');
      expect(aTarget.hits.get('/')).toBe(1);
    });
  });

  describe('when the absolute URI is not one a reverse proxy serves', () => {
    it.each([
      ['another scheme', 'ftp://a.example/p'],
      ['userinfo', 'http://user:secret@a.example/p'],
      ['an empty host', 'http:///p'],
      ['no authority', 'http:a.example/p'],
    ])('answers 400 FERRY_ERR_HTTP_BAD_REQUEST to %s, forwarding nothing', async (_label, uri) => {
      const before = aTarget.count + target.count;
      const { response } = await rawRequest(
        portOf('hosts'),
        `GET ${uri} HTTP/1.1\r\nHost: a.example\r\nconnection: close\r\n\r\n`,
      );
      expect(response.status).toBe(400);
      expect(response.header('x-ferry-error')).toBe('FERRY_ERR_HTTP_BAD_REQUEST');
      expect(aTarget.count + target.count).toBe(before);
    });
  });
});
