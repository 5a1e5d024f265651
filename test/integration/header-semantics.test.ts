/**
 * Request-header semantics at the edge (issue 10, "Semantics and secrets"),
 * through real sockets and two real worker threads: header names with an
 * underscore are dropped by default (they could alias X-Forwarded-For in
 * applications that normalise `_` to `-`), allowed or rejected per listener.
 *
 * https://github.com/ferry/ferry/issues/10
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestFerry, type TestFerry } from '../helpers/ferry.ts';
import { RawClient, rawRequest } from '../helpers/raw-http.ts';
import { startTarget, type TestTarget } from '../helpers/targets.ts';

let ferry: TestFerry;
let target: TestTarget;

function portOf(listener: string): number {
  return ferry.listenerPorts.get(listener)!;
}

const REQUEST =
  'GET /h HTTP/1.1\r\nhost: a.test\r\nx_forwarded_for: 10.9.9.9\r\nx-plain: yes\r\nconnection: close\r\n\r\n';

beforeAll(async () => {
  target = await startTarget('t1');
  ferry = await startTestFerry(`workers: 2
admin: { address: "127.0.0.1:0" }
listeners:
  - { name: strict, address: "127.0.0.1:0", defaultAction: { forward: { targetGroup: app } } }
  - { name: lax, address: "127.0.0.1:0", headersWithUnderscores: allow, defaultAction: { forward: { targetGroup: app } } }
  - { name: picky, address: "127.0.0.1:0", headersWithUnderscores: reject, defaultAction: { forward: { targetGroup: app } } }
targetGroups:
  - name: app
    healthCheck: { enabled: false }
    targets: [ { address: "${target.address}" } ]
`);
});

afterAll(async () => {
  await ferry?.stop(0);
  await target.close();
});

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
