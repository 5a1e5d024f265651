/**
 * PROXY protocol (issue 13), against a real peer: Debian's HAProxy.
 *
 *   out: client (127.0.0.5) ──> Ferry TCP listener ──PROXY v2──> HAProxy `accept-proxy`
 *        (answers with the client address it parsed)
 *   in:  client (127.0.0.7) ──> HAProxy `send-proxy-v2` ──> Ferry (trusts 127.0.0.1) ──PROXY v2──> HAProxy echo
 *
 * The client binds a loopback address of its own (127.0.0.5, .7, .8) so the
 * address HAProxy reports can only have come through the headers. Refusals:
 * a header from an untrusted source, a malformed one, a missing one and a
 * truncated one from a trusted source close the connection, are counted, and
 * nothing reaches the target.
 */
import { once } from 'node:events';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LISTENER_PROXY_REFUSED_TOTAL } from '../../proto/table-layout.ts';
import { encodeProxyV2 } from '../../workers/l4/proxy-protocol.ts';
import { startTestFerry, type TestFerry } from '../helpers/ferry.ts';
import { ensureTool, freePort, type RunningHaproxy, startHaproxy } from '../helpers/haproxy.ts';
import { exchangeFrom, firstReplyFrom, type L4Target, listenerCounter, startTcpEcho } from '../helpers/l4.ts';

const haproxy = ensureTool('haproxy', 'haproxy');
const skipReason = 'reason' in haproxy ? haproxy.reason : '';
if (skipReason !== '') console.log(`skipping PROXY protocol tests: HAProxy unavailable (${skipReason})`);

let ferry: TestFerry;
let peer: RunningHaproxy;
let plain: L4Target;
let echoPort: number;
let frontV2Port: number;
let frontV1Port: number;
let frontGatedPort: number;

/** Listener positions in the config below. */
const STRICT = 3;
const TRUSTING = 4;

function portOf(listener: string): number {
  return ferry.listenerPorts.get(listener)!;
}

describe.skipIf(skipReason !== '')('PROXY protocol with HAProxy', () => {
  beforeAll(async () => {
    plain = await startTcpEcho('plain');
    echoPort = await freePort();
    frontV2Port = await freePort();
    frontV1Port = await freePort();
    frontGatedPort = await freePort();
    ferry = await startTestFerry(`workers: 2
admin: { address: "127.0.0.1:0" }
listeners:
  - { name: out, protocol: TCP, address: "127.0.0.1:0", defaultAction: { forward: { targetGroup: echo } } }
  - name: in-v2
    protocol: TCP
    address: "127.0.0.1:0"
    proxyProtocol: { accept: v2, trustedSources: [ 127.0.0.1/32 ] }
    rules: [ { priority: 1, conditions: { sourceIp: [ 127.0.0.9/32 ] }, action: { forward: { targetGroup: plain } } } ]
    defaultAction: { forward: { targetGroup: echo } }
  - name: in-any
    protocol: TCP
    address: "127.0.0.1:0"
    proxyProtocol: { accept: any, trustedSources: [ 127.0.0.1/32 ] }
    defaultAction: { forward: { targetGroup: echo } }
  - name: strict
    protocol: TCP
    address: "127.0.0.1:0"
    proxyProtocol: { accept: v2, trustedSources: [ 127.0.0.9/32 ] }
    defaultAction: { forward: { targetGroup: plain } }
  - name: trusting
    protocol: TCP
    address: "127.0.0.1:0"
    proxyProtocol: { accept: v2, trustedSources: [ 127.0.0.0/8 ] }
    defaultAction: { forward: { targetGroup: plain } }
  - name: gated
    protocol: TCP
    address: "127.0.0.1:0"
    proxyProtocol: { accept: v2, trustedSources: [ 127.0.0.1/32 ] }
    allowedSources: [ 127.0.0.7/32 ]
    defaultAction: { forward: { targetGroup: echo } }
targetGroups:
  - name: echo
    proxyProtocol: v2
    healthCheck: { enabled: false }
    targets: [ { address: "127.0.0.1:${echoPort}" } ]
  - { name: plain, healthCheck: { enabled: false }, targets: [ { address: "${plain.address}" } ] }
`);
    const path = 'path' in haproxy ? haproxy.path : 'haproxy';
    peer = await startHaproxy(
      path,
      `global
  maxconn 256
defaults
  timeout client 10s
  timeout server 10s
  timeout connect 5s
frontend echo
  mode http
  bind 127.0.0.1:${echoPort} accept-proxy
  http-request return status 200 content-type text/plain lf-string "src=%[src] sport=%[src_port] dst=%[dst] dport=%[dst_port]"
frontend front_v2
  mode tcp
  bind 127.0.0.1:${frontV2Port}
  default_backend ferry_v2
backend ferry_v2
  mode tcp
  server ferry 127.0.0.1:${portOf('in-v2')} send-proxy-v2
frontend front_v1
  mode tcp
  bind 127.0.0.1:${frontV1Port}
  default_backend ferry_v1
backend ferry_v1
  mode tcp
  server ferry 127.0.0.1:${portOf('in-any')} send-proxy
frontend front_gated
  mode tcp
  bind 127.0.0.1:${frontGatedPort}
  default_backend ferry_gated
backend ferry_gated
  mode tcp
  server ferry 127.0.0.1:${portOf('gated')} send-proxy-v2
`,
      [echoPort, frontV2Port, frontV1Port, frontGatedPort],
    );
  });

  afterAll(async () => {
    await peer?.stop();
    await ferry?.stop(1_000);
    await plain?.close();
  });

  describe('when a target group sends PROXY v2', () => {
    it('gives HAProxy accept-proxy the client address and port and the listener address', async () => {
      const socket = net.connect({ host: '127.0.0.1', port: portOf('out'), localAddress: '127.0.0.5' });
      await once(socket, 'connect');
      const clientPort = socket.localPort;
      socket.write('GET / HTTP/1.0\r\n\r\n');
      let text = '';
      socket.on('data', (chunk) => {
        text += chunk.toString();
      });
      await once(socket, 'close');
      expect(text).toContain('200');
      expect(text).toContain(`src=127.0.0.5 sport=${clientPort} dst=127.0.0.1 dport=${portOf('out')}`);
    });
  });

  describe('when a listener accepts PROXY from trusted sources', () => {
    it('takes the client address from HAProxy send-proxy-v2 and passes it on', async () => {
      const text = await exchangeFrom('127.0.0.7', frontV2Port, 'GET / HTTP/1.0\r\n\r\n');
      expect(text).toContain(`src=127.0.0.7 `);
      expect(text).toContain(`dst=127.0.0.1 dport=${frontV2Port}`);
    });

    it('reads a v1 header (HAProxy send-proxy) on a listener that accepts any', async () => {
      const text = await exchangeFrom('127.0.0.8', frontV1Port, 'GET / HTTP/1.0\r\n\r\n');
      expect(text).toContain('src=127.0.0.8 ');
    });
  });

  describe('when a TCP listener has a sourceIp rule', () => {
    it('matches the client the header names, and a direct client by its own address', async () => {
      expect(await firstReplyFrom('127.0.0.9', frontV2Port, 'via haproxy')).toBe('plain:via haproxy');
      expect(await exchangeFrom('127.0.0.8', frontV2Port, 'GET / HTTP/1.0\r\n\r\n')).toContain(
        'src=127.0.0.8 ',
      );
      expect(await firstReplyFrom('127.0.0.9', portOf('in-v2'), 'direct')).toBe('plain:direct');
    });
  });

  describe('when the listener has allowedSources', () => {
    it('checks the client address the header carries, not the trusted sender', async () => {
      const allowed = await exchangeFrom('127.0.0.7', frontGatedPort, 'GET / HTTP/1.0\r\n\r\n');
      expect(allowed).toContain('src=127.0.0.7 ');
      const refused = await exchangeFrom('127.0.0.8', frontGatedPort, 'GET / HTTP/1.0\r\n\r\n');
      expect(refused).toBe('');
    });
  });

  describe('when a header is refused', () => {
    it('closes a connection whose header comes from an untrusted source, counts it and forwards nothing', async () => {
      const before = {
        refused: listenerCounter(ferry, STRICT, LISTENER_PROXY_REFUSED_TOTAL),
        seen: plain.connections,
      };
      const header = encodeProxyV2('203.0.113.9', 4242, '127.0.0.1', portOf('strict'), false, '', '');
      const text = await exchangeFrom(
        '127.0.0.1',
        portOf('strict'),
        Buffer.concat([header, Buffer.from('hi')]),
      );
      expect(text).toBe('');
      expect(listenerCounter(ferry, STRICT, LISTENER_PROXY_REFUSED_TOTAL)).toBe(before.refused + 1);
      expect(plain.connections).toBe(before.seen);
    });

    it('relays an untrusted client that sends no header', async () => {
      expect(await firstReplyFrom('127.0.0.1', portOf('strict'), 'hello')).toBe('plain:hello');
    });

    it('closes a trusted connection whose header is malformed, a wrong version or missing', async () => {
      const signature = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
      const wrongVersion = Buffer.concat([signature, Buffer.from([0x31, 0x11, 0, 12]), Buffer.alloc(12)]);
      const v1 = Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\nhi');
      const cases = [wrongVersion, v1, Buffer.from('hello, no header')];
      for (const bytes of cases) {
        const before = {
          refused: listenerCounter(ferry, TRUSTING, LISTENER_PROXY_REFUSED_TOTAL),
          seen: plain.connections,
        };
        expect(await exchangeFrom('127.0.0.3', portOf('trusting'), bytes)).toBe('');
        expect(listenerCounter(ferry, TRUSTING, LISTENER_PROXY_REFUSED_TOTAL)).toBe(before.refused + 1);
        expect(plain.connections).toBe(before.seen);
      }
    });

    it('closes a trusted connection whose header stays truncated past the preamble deadline', async () => {
      const before = listenerCounter(ferry, TRUSTING, LISTENER_PROXY_REFUSED_TOTAL);
      const header = encodeProxyV2('198.51.100.1', 1, '127.0.0.1', 2, false, '', '');
      const text = await exchangeFrom('127.0.0.3', portOf('trusting'), header.subarray(0, 20));
      expect(text).toBe('');
      expect(listenerCounter(ferry, TRUSTING, LISTENER_PROXY_REFUSED_TOTAL)).toBe(before + 1);
    });
  });
});
