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
import { rawRequest } from '../helpers/raw-http.ts';
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
