/**
 * Request smuggling and strictness through a real listener: each malformed or
 * ambiguous request is answered by Ferry itself with a stable error code, the
 * connection is closed, and the target never sees a byte (RFC 9112 §6, §11.2;
 * issue 2 "Runtime"). Real worker threads, real sockets, exact bytes.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { simpleConfig, startTestFerry, type TestFerry } from '../helpers/ferry.ts';
import { type RawClient, type RawResponse, rawRequest } from '../helpers/raw-http.ts';
import { answerEachHead, type RawTarget, startRawTarget } from '../helpers/raw-target.ts';
import { waitForSettled, workerConnections } from '../helpers/table-counters.ts';

const OK = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok';

let ferry: TestFerry;
let target: RawTarget;
/** A client that sent half a head and stalled, started first so its deadline runs during the other tests. */
let stalled: Promise<{ client: RawClient; response: RawResponse }>;
/** A client that got an error response and keeps its side of the connection open, never closing. */
let halfOpen: net.Socket;

beforeAll(async () => {
  target = await startRawTarget(answerEachHead(() => OK));
  ferry = await startTestFerry(
    simpleConfig({ targets: [target.address], groupYaml: '    healthCheck: { enabled: false }' }),
  );
  stalled = rawRequest(ferry.port, 'GET /stalled HTTP/1.1\r\nHost: ferry.test\r\nX-Half: ');
  halfOpen = net.connect({ host: '127.0.0.1', port: ferry.port, allowHalfOpen: true });
  halfOpen.on('error', () => {});
  halfOpen.resume();
  halfOpen.write('GET / HTTP/1.1\r\n\r\n'); // no Host: refused with 400
});

afterAll(async () => {
  halfOpen?.destroy();
  await ferry?.stop(1_000);
  await target?.close();
});

const HOST = 'Host: ferry.test\r\n';
const manyHeaders = Array.from({ length: 101 }, (_, i) => `X-H${i}: v\r\n`).join('');

/** [case, status, code, request bytes] */
const REFUSED: readonly (readonly [string, number, string, string])[] = [
  [
    'Content-Length and Transfer-Encoding together',
    400,
    'FERRY_ERR_HTTP_BAD_REQUEST',
    `POST / HTTP/1.1\r\n${HOST}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
  ],
  [
    'duplicate equal Content-Length',
    400,
    'FERRY_ERR_HTTP_BAD_REQUEST',
    `POST / HTTP/1.1\r\n${HOST}Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello`,
  ],
  [
    'conflicting Content-Length',
    400,
    'FERRY_ERR_HTTP_BAD_REQUEST',
    `POST / HTTP/1.1\r\n${HOST}Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!`,
  ],
  [
    'a Content-Length list',
    400,
    'FERRY_ERR_HTTP_BAD_REQUEST',
    `POST / HTTP/1.1\r\n${HOST}Content-Length: 5, 5\r\n\r\nhello`,
  ],
  [
    'a signed Content-Length',
    400,
    'FERRY_ERR_HTTP_BAD_REQUEST',
    `POST / HTTP/1.1\r\n${HOST}Content-Length: +5\r\n\r\nhello`,
  ],
  [
    'Transfer-Encoding not ending in chunked',
    400,
    'FERRY_ERR_HTTP_BAD_REQUEST',
    `POST / HTTP/1.1\r\n${HOST}Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n`,
  ],
  [
    'Transfer-Encoding without chunked',
    400,
    'FERRY_ERR_HTTP_BAD_REQUEST',
    `POST / HTTP/1.1\r\n${HOST}Transfer-Encoding: gzip\r\n\r\n`,
  ],
  [
    'Transfer-Encoding: chunked, chunked',
    400,
    'FERRY_ERR_HTTP_BAD_REQUEST',
    `POST / HTTP/1.1\r\n${HOST}Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n`,
  ],
  [
    'Transfer-Encoding in an HTTP/1.0 request',
    400,
    'FERRY_ERR_HTTP_BAD_REQUEST',
    'POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
  ],
  [
    'an obs-fold continuation line',
    400,
    'FERRY_ERR_HTTP_BAD_REQUEST',
    `GET / HTTP/1.1\r\n${HOST}X-Folded: a\r\n b\r\n\r\n`,
  ],
  ['bare LF line endings', 400, 'FERRY_ERR_HTTP_BAD_REQUEST', 'GET / HTTP/1.1\nHost: ferry.test\n\n'],
  [
    'a bare LF inside the field lines',
    400,
    'FERRY_ERR_HTTP_BAD_REQUEST',
    `GET / HTTP/1.1\r\n${HOST}X-A: 1\nX-B: 2\r\n\r\n`,
  ],
  [
    'a bare CR inside the field lines',
    400,
    'FERRY_ERR_HTTP_BAD_REQUEST',
    `GET / HTTP/1.1\r\n${HOST}X-A: 1\rX-B: 2\r\n\r\n`,
  ],
  [
    'whitespace before a colon',
    400,
    'FERRY_ERR_HTTP_BAD_REQUEST',
    `POST / HTTP/1.1\r\n${HOST}Content-Length : 5\r\n\r\nhello`,
  ],
  ['a NUL byte in a value', 400, 'FERRY_ERR_HTTP_BAD_REQUEST', `GET / HTTP/1.1\r\n${HOST}X-A: a\0b\r\n\r\n`],
  [
    'a control byte in a value',
    400,
    'FERRY_ERR_HTTP_BAD_REQUEST',
    `GET / HTTP/1.1\r\n${HOST}X-A: a\x01b\r\n\r\n`,
  ],
  ['a missing Host in HTTP/1.1', 400, 'FERRY_ERR_HTTP_BAD_REQUEST', 'GET / HTTP/1.1\r\nX-A: 1\r\n\r\n'],
  [
    'two Host headers',
    400,
    'FERRY_ERR_HTTP_BAD_REQUEST',
    `GET / HTTP/1.1\r\n${HOST}Host: other.test\r\n\r\n`,
  ],
  [
    'a chunk size that is not hex',
    400,
    'FERRY_ERR_HTTP_BAD_REQUEST',
    `POST / HTTP/1.1\r\n${HOST}Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n`,
  ],
  [
    'a chunk size that overflows',
    400,
    'FERRY_ERR_HTTP_BAD_REQUEST',
    `POST / HTTP/1.1\r\n${HOST}Transfer-Encoding: chunked\r\n\r\n10000000000000000005\r\nhello\r\n0\r\n\r\n`,
  ],
  [
    'a head over 16 KiB',
    431,
    'FERRY_ERR_HTTP_HEADERS_TOO_LARGE',
    `GET / HTTP/1.1\r\n${HOST}X-Big: ${'a'.repeat(17 * 1024)}\r\n\r\n`,
  ],
  [
    'more than 100 header fields',
    431,
    'FERRY_ERR_HTTP_HEADERS_TOO_LARGE',
    `GET / HTTP/1.1\r\n${HOST}${manyHeaders}\r\n`,
  ],
  ['HTTP/2.0 in the request line', 505, 'FERRY_ERR_HTTP_VERSION', `GET / HTTP/2.0\r\n${HOST}\r\n`],
  ['CONNECT', 400, 'FERRY_ERR_HTTP_BAD_REQUEST', `CONNECT ferry.test:443 HTTP/1.1\r\n${HOST}\r\n`],
];

describe('HttpConnection', () => {
  describe('when a request is malformed or ambiguous', () => {
    it.each(REFUSED)(
      'refuses %s with %i %s, closes, and forwards nothing',
      async (name, status, code, bytes) => {
        const connectionsBefore = target.connections;
        const { client, response } = await rawRequest(ferry.port, bytes);
        expect(response.status).toBe(status);
        expect(response.header('x-ferry-error')).toBe(code);
        expect(response.header('connection')).toBe('close');
        expect(response.body.toString()).toBe(`${status} ${code}\n`);
        // Ferry closes after an error; anything else it could have sent would be unframed.
        client.socket.end();
        await client.closed;
        expect(client.unread.length).toBe(0);
        expect(target.bytesReceived).toBe(0);
        // A bad chunk is found while streaming the body of a valid head, so an
        // upstream connection may already be open; the corked head on it is
        // discarded with it. Every other refusal happens before pick.
        if (!name.startsWith('a chunk size')) expect(target.connections).toBe(connectionsBefore);
      },
    );
  });

  describe('when a client stalls in the middle of a head', () => {
    // The deadline is HTTP_HEADER_TIMEOUT_MS (10 s); the client was started in
    // beforeAll, so this waits only for the event, and asserts no time.
    it('answers 408 FERRY_ERR_HTTP_HEADER_TIMEOUT and forwards nothing', async () => {
      const { client, response } = await stalled;
      expect(response.status).toBe(408);
      expect(response.header('x-ferry-error')).toBe('FERRY_ERR_HTTP_HEADER_TIMEOUT');
      await client.closed;
      expect(target.bytesReceived).toBe(0);
    }, 20_000);
  });

  describe('when a client never closes its side after an error response', () => {
    // Ferry ended its side at once; it gives the client the header deadline to
    // close, then destroys the socket. Started in beforeAll like the stalled client.
    it('destroys the connection, so no worker holds it', async () => {
      const counts = await waitForSettled(
        () => workerConnections(ferry, 2),
        (all) => all.every((n) => n === 0),
        15_000,
        100,
      );
      expect(counts).toEqual([0, 0]);
      expect(halfOpen.destroyed).toBe(false);
    }, 20_000);
  });

  describe('when the request is well formed', () => {
    // The control row: the same listener and target do forward a valid request.
    it('forwards it to the target', async () => {
      const { client, response } = await rawRequest(ferry.port, `GET / HTTP/1.1\r\n${HOST}\r\n`);
      expect(response.status).toBe(200);
      expect(response.body.toString()).toBe('ok');
      expect(target.bytesReceived).toBeGreaterThan(0);
      client.destroy();
    });
  });
});
