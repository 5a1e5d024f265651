/**
 * NLB TLS (issue 13): a TLS listener terminates with the HTTPS code's
 * certificates and policies and relays plaintext to a TCP group; a TCP
 * listener routes TLS passthrough by the ClientHello's SNI without
 * terminating it. Real clients: `openssl s_client` and curl; real worker
 * threads; certificates made by the test.
 *
 * "The target sees the original ClientHello": a passthrough target is a TLS
 * server with its own certificate, which Ferry does not hold; a TLS 1.3
 * handshake only completes when the server's transcript hash over the
 * ClientHello it received equals the client's over the one it sent, so a
 * completed handshake (and the target's own certificate at the client) shows
 * the bytes arrived untouched. The raw targets also keep the first bytes.
 */
import { once } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LISTENER_SNI_PEEK_FAILED_TOTAL } from '../../proto/table-layout.ts';
import { PEEK_NO_SNI, peekClientHello } from '../../workers/l4/client-hello.ts';
import { createPki, type TestCert, type TestPki } from '../helpers/certs.ts';
import { startTestFerry, type TestFerry } from '../helpers/ferry.ts';
import {
  type L4Target,
  listenerCounter,
  runTool,
  startTcpEcho,
  startTlsEcho,
  tcpExchange,
} from '../helpers/l4.ts';
import { targetCounters, waitForSettled } from '../helpers/table-counters.ts';
import { handshake } from '../helpers/tls-client.ts';

let pki: TestPki;
let edge: TestCert;
let ferry: TestFerry;
let targetA: L4Target;
let targetB: L4Target;
let fallback: L4Target;
let plain: L4Target;

/** Listener positions in the config below (listener counters are read by position). */
const PASSTHROUGH = 0;

function portOf(listener: string): number {
  return ferry.listenerPorts.get(listener)!;
}

beforeAll(async () => {
  pki = createPki('nlb');
  edge = pki.issue('edge', { dnsNames: ['edge.test'] });
  targetA = await startTlsEcho('a', pki.issue('a', { dnsNames: ['a.test'] }));
  targetB = await startTlsEcho('b', pki.issue('b', { dnsNames: ['b.test', 'www.b.test'] }));
  fallback = await startTcpEcho('fallback');
  plain = await startTcpEcho('plain', true);
  ferry = await startTestFerry(`workers: 2
admin: { address: "127.0.0.1:0" }
listeners:
  - name: passthrough
    protocol: TCP
    address: "127.0.0.1:0"
    rules:
      - { priority: 1, conditions: { sni: [a.test] }, action: { forward: { targetGroup: a } } }
      - { priority: 2, conditions: { sni: ["*.b.test", b.test] }, action: { forward: { targetGroup: b } } }
    defaultAction: { forward: { targetGroup: fallback } }
  - name: tls
    protocol: TLS
    address: "127.0.0.1:0"
    certificates: [ { cert: "${edge.certPath}", key: "${edge.keyPath}" } ]
    alpnPolicy: HTTP2Preferred
    defaultAction: { forward: { targetGroup: plain } }
targetGroups:
  - { name: a, healthCheck: { enabled: false }, targets: [ { address: "${targetA.address}" } ] }
  - { name: b, healthCheck: { enabled: false }, targets: [ { address: "${targetB.address}" } ] }
  - { name: fallback, healthCheck: { enabled: false }, targets: [ { address: "${fallback.address}" } ] }
  - { name: plain, healthCheck: { enabled: false }, targets: [ { address: "${plain.address}" } ] }
`);
});

afterAll(async () => {
  await ferry?.stop(1_000);
  for (const target of [targetA, targetB, fallback, plain]) await target?.close();
  pki?.cleanup();
});

/** `openssl s_client` to a Ferry listener; stdin is sent once the handshake is done, then it waits for the target to close. */
function sClient(port: number, args: readonly string[], input: string) {
  return runTool(
    'openssl',
    [
      's_client',
      '-connect',
      `127.0.0.1:${port}`,
      '-CAfile',
      pki.ca.certPath,
      '-verify_return_error',
      '-brief',
      '-ign_eof',
      ...args,
    ],
    input,
  );
}

/** A real ClientHello for `servername`, as Node's TLS client sends it, captured by a plain TCP server. */
async function captureClientHello(servername: string | undefined): Promise<Buffer> {
  const capture = net.createServer();
  capture.listen(0, '127.0.0.1');
  await once(capture, 'listening');
  const port = (capture.address() as net.AddressInfo).port;
  const received = once(capture, 'connection').then(async (args) => {
    const socket = args[0] as net.Socket;
    const [chunk] = (await once(socket, 'data')) as [Buffer];
    socket.destroy();
    return chunk;
  });
  const client = tls.connect({
    host: '127.0.0.1',
    port,
    ...(servername === undefined ? {} : { servername }),
  });
  client.on('error', () => {});
  const hello = await received;
  client.destroy();
  capture.close();
  return hello;
}

describe('TCP listener with sni rules (TLS passthrough)', () => {
  it('sends openssl s_client with SNI a.test to group a, whose own certificate the client verifies', async () => {
    const run = await sClient(
      portOf('passthrough'),
      ['-servername', 'a.test', '-verify_hostname', 'a.test'],
      'hello\n',
    );
    expect(run.stderr).toMatch(/Peer certificate: CN = a\n/);
    expect(run.stdout).toContain('a:hello');
  });

  it('matches a wildcard rule for curl reaching www.b.test', async () => {
    const port = portOf('passthrough');
    const run = await runTool('curl', [
      '-sS',
      '--cacert',
      pki.ca.certPath,
      '--resolve',
      `www.b.test:${port}:127.0.0.1`,
      '--max-time',
      '10',
      '-o',
      '/dev/null',
      '-w',
      '%{ssl_verify_result}',
      `https://www.b.test:${port}/`,
    ]);
    // The b target is a TLS echo, not HTTP: curl verifies its certificate (result 0), then gets no HTTP answer.
    expect(run.stdout).toBe('0');
    expect(targetB.connections).toBeGreaterThanOrEqual(1);
  });

  it('sends a ClientHello without SNI to the default action, untouched', async () => {
    const hello = await captureClientHello(undefined);
    const before = fallback.firstChunks.length;
    const reply = await tcpExchange(portOf('passthrough'), hello, 'fallback:');
    expect(reply.startsWith('fallback:')).toBe(true);
    const received = fallback.firstChunks[before]!;
    expect(received.equals(hello.subarray(0, received.length))).toBe(true);
    expect(peekClientHello(received, received.length, { serverName: '' })).toBe(PEEK_NO_SNI);
  });

  it('sends bytes that are not TLS to the default action', async () => {
    const reply = await tcpExchange(portOf('passthrough'), 'GET / HTTP/1.0\r\n\r\n', 'fallback:');
    expect(reply).toContain('fallback:GET / HTTP/1.0');
  });

  it('routes a ClientHello split over many TCP segments by its SNI', async () => {
    const hello = await captureClientHello('a.test');
    const before = targetA.connections;
    const socket = net.connect({ port: portOf('passthrough'), host: '127.0.0.1', noDelay: true });
    await once(socket, 'connect');
    socket.on('error', () => {});
    const answered = once(socket, 'data');
    for (let i = 0; i < hello.length; i += 97) {
      socket.write(hello.subarray(i, Math.min(hello.length, i + 97)));
      await new Promise((resolve) => setImmediate(resolve));
    }
    const [chunk] = (await answered) as [Buffer];
    socket.destroy();
    // The target answered with a TLS handshake record (a ServerHello), so it is the a target's TLS server.
    expect(chunk[0]).toBe(0x16);
    expect(targetA.connections).toBe(before + 1);
  });

  it('counts a malformed ClientHello and sends it to the default action as it came', async () => {
    const before = listenerCounter(ferry, PASSTHROUGH, LISTENER_SNI_PEEK_FAILED_TOTAL);
    // A handshake record whose ClientHello claims a session id of 200 bytes (at most 32 exist).
    const body = Buffer.alloc(40);
    body[0] = 3;
    body[1] = 3;
    body[34] = 200;
    const handshake = Buffer.concat([Buffer.from([1, 0, 0, body.length]), body]);
    const record = Buffer.concat([Buffer.from([0x16, 3, 1, 0, handshake.length]), handshake]);
    const reply = await tcpExchange(portOf('passthrough'), record, 'fallback:');
    expect(reply.startsWith('fallback:')).toBe(true);
    expect(listenerCounter(ferry, PASSTHROUGH, LISTENER_SNI_PEEK_FAILED_TOTAL)).toBe(before + 1);
  });

  it('counts an oversized ClientHello and does not wait for its bytes', async () => {
    const before = listenerCounter(ferry, PASSTHROUGH, LISTENER_SNI_PEEK_FAILED_TOTAL);
    // A record of 16 KiB announcing a 16 MiB ClientHello.
    const header = Buffer.from([0x16, 3, 1, 0x40, 0x00, 1, 0xff, 0xff, 0xff]);
    const record = Buffer.concat([header, Buffer.alloc(16_384 - 4, 0x41)]);
    const reply = await tcpExchange(portOf('passthrough'), record, 'fallback:');
    expect(reply.startsWith('fallback:')).toBe(true);
    expect(listenerCounter(ferry, PASSTHROUGH, LISTENER_SNI_PEEK_FAILED_TOTAL)).toBe(before + 1);
  });

  it('leaves no flow in flight once the connections close', async () => {
    const settled = await waitForSettled(
      () => targetCounters(ferry),
      (rows) => rows.every((row) => row.inFlight === 0 && row.activeConnections === 0),
    );
    expect(settled.every((row) => row.inFlight === 0 && row.activeConnections === 0)).toBe(true);
  });
});

describe('TLS listener', () => {
  it('terminates openssl s_client with the listener certificate and relays the plaintext', async () => {
    const run = await sClient(
      portOf('tls'),
      ['-servername', 'edge.test', '-verify_hostname', 'edge.test'],
      'ping\n',
    );
    expect(run.stderr).toMatch(/Peer certificate: CN = edge\n/);
    expect(run.stdout).toContain('plain:ping');
    expect(plain.firstChunks.at(-1)?.toString()).toBe('ping\n');
  });

  it('offers the ALPN of its alpnPolicy (HTTP2Preferred: h2 first)', async () => {
    const offered = await handshake(portOf('tls'), 'edge.test', pki.ca.cert, {
      ALPNProtocols: ['http/1.1', 'h2'],
    });
    expect(offered.alpnProtocol).toBe('h2');
    const http1Only = await handshake(portOf('tls'), 'edge.test', pki.ca.cert, {
      ALPNProtocols: ['http/1.1'],
    });
    expect(http1Only.alpnProtocol).toBe('http/1.1');
  });

  it('serves curl over HTTPS with a plaintext HTTP/1.0 exchange behind it', async () => {
    const port = portOf('tls');
    const run = await runTool('curl', [
      '-sS',
      '--http1.1',
      '--cacert',
      pki.ca.certPath,
      '--resolve',
      `edge.test:${port}:127.0.0.1`,
      '--max-time',
      '5',
      `https://edge.test:${port}/hello`,
    ]);
    // The plain target echoes the request line it got in plaintext; curl prints it as a (non-HTTP) reply or fails on it.
    expect(plain.firstChunks.some((chunk) => chunk.toString().startsWith('GET /hello HTTP/1.1'))).toBe(true);
    expect(run.code === 0 || run.stderr.length > 0).toBe(true);
  });
});
