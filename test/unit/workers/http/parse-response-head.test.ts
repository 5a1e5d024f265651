import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HTTP_HEAD_BYTES_MAX, HTTP_HEADER_COUNT_MAX } from '../../../../src/shared/limits.ts';
import {
  BODY_CHUNKED,
  BODY_LENGTH,
  BODY_NONE,
  BODY_UNTIL_CLOSE,
  NEED_MORE,
  PARSE_ERR_BAD,
  PARSE_ERR_TOO_LARGE,
  PARSE_ERR_VERSION,
  type ResponseHead,
} from '../../../../workers/http/http1-types.ts';
import { createResponseHead, parseResponseHead } from '../../../../workers/http/parse-response-head.ts';

function parse(
  text: string,
  requestMethod = 'GET',
  head: ResponseHead = createResponseHead(),
): { result: number; head: ResponseHead } {
  const buf = Buffer.from(text, 'latin1');
  return { result: parseResponseHead(buf, 0, buf.length, head, requestMethod), head };
}

describe('parseResponseHead', () => {
  describe('when deciding the body', () => {
    // [what, raw head, request method, bodyKind, contentLength, isKeepAlive]
    const cases: [string, string, string, number, number, boolean][] = [
      [
        '200 with Content-Length',
        'HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n',
        'GET',
        BODY_LENGTH,
        9,
        true,
      ],
      [
        '200 with Content-Length 0',
        'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n',
        'GET',
        BODY_LENGTH,
        0,
        true,
      ],
      ['200 chunked', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n', 'GET', BODY_CHUNKED, -1, true],
      [
        '200 gzip then chunked',
        'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n',
        'POST',
        BODY_CHUNKED,
        -1,
        true,
      ],
      ['200 without framing', 'HTTP/1.1 200 OK\r\nServer: x\r\n\r\n', 'GET', BODY_UNTIL_CLOSE, -1, false],
      [
        'HTTP/1.0 200 with Content-Length',
        'HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\n',
        'GET',
        BODY_LENGTH,
        3,
        false,
      ],
      [
        'HTTP/1.0 200 with keep-alive',
        'HTTP/1.0 200 OK\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\n',
        'GET',
        BODY_LENGTH,
        3,
        true,
      ],
      [
        'HTTP/1.0 keep-alive without a length',
        'HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n',
        'GET',
        BODY_UNTIL_CLOSE,
        -1,
        false,
      ],
      [
        '200 with Connection: close',
        'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\n',
        'GET',
        BODY_LENGTH,
        3,
        false,
      ],
      ['100 Continue', 'HTTP/1.1 100 Continue\r\n\r\n', 'PUT', BODY_NONE, -1, true],
      [
        '103 Early Hints',
        'HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n',
        'GET',
        BODY_NONE,
        -1,
        true,
      ],
      ['204 No Content', 'HTTP/1.1 204 No Content\r\n\r\n', 'DELETE', BODY_NONE, -1, true],
      [
        '204 with Content-Length 0',
        'HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n',
        'GET',
        BODY_NONE,
        -1,
        true,
      ],
      [
        '304 with a Content-Length',
        'HTTP/1.1 304 Not Modified\r\nContent-Length: 1234\r\n\r\n',
        'GET',
        BODY_NONE,
        -1,
        true,
      ],
      [
        '304 with Transfer-Encoding',
        'HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n',
        'GET',
        BODY_NONE,
        -1,
        true,
      ],
      [
        'HEAD with Content-Length',
        'HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n',
        'HEAD',
        BODY_NONE,
        -1,
        true,
      ],
      [
        'HEAD with Transfer-Encoding',
        'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n',
        'HEAD',
        BODY_NONE,
        -1,
        true,
      ],
      ['HEAD without framing', 'HTTP/1.1 200 OK\r\n\r\n', 'HEAD', BODY_NONE, -1, true],
      ['2xx to CONNECT', 'HTTP/1.1 200 Connection Established\r\n\r\n', 'CONNECT', BODY_NONE, -1, true],
      [
        '407 to CONNECT with Content-Length',
        'HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 5\r\n\r\n',
        'CONNECT',
        BODY_LENGTH,
        5,
        true,
      ],
    ];

    it.each(cases)('frames %s', (_what, raw, method, bodyKind, contentLength, isKeepAlive) => {
      const { result, head } = parse(raw, method);
      expect(result).toBe(raw.length);
      expect(head.errorReason).toBe('');
      expect({
        bodyKind: head.bodyKind,
        contentLength: head.contentLength,
        isKeepAlive: head.isKeepAlive,
      }).toEqual({
        bodyKind,
        contentLength,
        isKeepAlive,
      });
    });
  });

  describe('when the response is valid', () => {
    it('parses the status line, fields and Connection tokens', () => {
      const raw =
        'HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: text/plain\r\nContent-Length: 9\r\nConnection: Keep-Alive, X-Hop\r\n\r\n';
      const { result, head } = parse(raw);
      expect(result).toBe(raw.length);
      expect(head.statusCode).toBe(200);
      expect(head.reason).toBe('OK');
      expect(head.versionMinor).toBe(1);
      expect(head.connectionTokens).toBe('keep-alive,x-hop');
      expect(head.headerNames.slice(0, head.headerCount)).toEqual([
        'server',
        'content-type',
        'content-length',
        'connection',
      ]);
      expect(head.headerValues.slice(0, head.headerCount)).toEqual([
        'nginx',
        'text/plain',
        '9',
        'Keep-Alive, X-Hop',
      ]);
    });

    it('reports the protocol of a 101 upgrade', () => {
      const { head } = parse(
        'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: WebSocket\r\nSec-WebSocket-Accept: x\r\n\r\n',
      );
      expect(head.statusCode).toBe(101);
      expect(head.bodyKind).toBe(BODY_NONE);
      expect(head.upgrade).toBe('websocket');
    });

    it('accepts a status line without a reason or its space', () => {
      const bare = parse('HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n');
      expect([bare.result > 0, bare.head.statusCode, bare.head.reason]).toEqual([true, 200, '']);
      const spaced = parse('HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n');
      expect([spaced.result > 0, spaced.head.statusCode, spaced.head.reason]).toEqual([true, 404, '']);
    });

    it('keeps tabs and obs-text in the reason phrase', () => {
      const { head } = parse('HTTP/1.1 500 Erreur\tinterne \xe9\r\nContent-Length: 0\r\n\r\n');
      expect(head.reason).toBe('Erreur\tinterne \xe9');
    });

    it('parses a 100 Continue then the final response from the returned offset', () => {
      const buf = Buffer.from(
        'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok',
      );
      const head = createResponseHead();
      const first = parseResponseHead(buf, 0, buf.length, head, 'PUT');
      expect(head.statusCode).toBe(100);
      const second = parseResponseHead(buf, first, buf.length, head, 'PUT');
      expect(head.statusCode).toBe(201);
      expect(first + second + head.contentLength).toBe(buf.length);
    });

    it('resets every field between parses on a reused head', () => {
      const head = createResponseHead();
      parse('HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: h2c\r\n\r\n', 'GET', head);
      parse('HTTP/1.0 200 Fine\r\n\r\n', 'GET', head);
      expect(head).toMatchObject({
        statusCode: 200,
        reason: 'Fine',
        headerCount: 0,
        upgrade: '',
        connectionTokens: '',
        bodyKind: BODY_UNTIL_CLOSE,
        isKeepAlive: false,
        versionMinor: 0,
        errorReason: '',
      });
    });
  });

  describe('when the framing is ambiguous or malformed', () => {
    // [what, raw head, request method, code, errorReason]
    const cases: [string, string, string, number, string][] = [
      [
        'Content-Length with Transfer-Encoding',
        'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n',
        'GET',
        PARSE_ERR_BAD,
        'both content-length and transfer-encoding',
      ],
      [
        'Content-Length with Transfer-Encoding on a HEAD response',
        'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n',
        'HEAD',
        PARSE_ERR_BAD,
        'both content-length and transfer-encoding',
      ],
      [
        'duplicate Content-Length',
        'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n',
        'GET',
        PARSE_ERR_BAD,
        'duplicate content-length',
      ],
      [
        'Content-Length list',
        'HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n',
        'GET',
        PARSE_ERR_BAD,
        'content-length list',
      ],
      [
        'Transfer-Encoding not ending in chunked',
        'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n',
        'GET',
        PARSE_ERR_BAD,
        'transfer-encoding does not end in chunked',
      ],
      [
        'Transfer-Encoding in an HTTP/1.0 response',
        'HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n',
        'GET',
        PARSE_ERR_BAD,
        'transfer-encoding in an HTTP/1.0 message',
      ],
      [
        'Transfer-Encoding on a 204',
        'HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n',
        'GET',
        PARSE_ERR_BAD,
        'transfer-encoding in a 1xx or 204 response',
      ],
      [
        'non-zero Content-Length on a 204',
        'HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n',
        'GET',
        PARSE_ERR_BAD,
        'non-zero content-length in a 1xx or 204 response',
      ],
      [
        'non-zero Content-Length on a 100',
        'HTTP/1.1 100 Continue\r\nContent-Length: 5\r\n\r\n',
        'GET',
        PARSE_ERR_BAD,
        'non-zero content-length in a 1xx or 204 response',
      ],
      [
        'obs-fold',
        'HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n',
        'GET',
        PARSE_ERR_BAD,
        'obs-fold or whitespace before field line',
      ],
      [
        'bare LF line ends',
        'HTTP/1.1 200 OK\nContent-Length: 0\n\n',
        'GET',
        PARSE_ERR_BAD,
        'bare LF in head',
      ],
      ['a leading empty line', '\r\nHTTP/1.1 200 OK\r\n\r\n', 'GET', PARSE_ERR_BAD, 'invalid HTTP version'],
      ['a two-digit status', 'HTTP/1.1 20 OK\r\n\r\n', 'GET', PARSE_ERR_BAD, 'invalid status code'],
      ['a four-digit status', 'HTTP/1.1 2000 OK\r\n\r\n', 'GET', PARSE_ERR_BAD, 'invalid status line'],
      ['a non-numeric status', 'HTTP/1.1 abc OK\r\n\r\n', 'GET', PARSE_ERR_BAD, 'invalid status code'],
      [
        'two spaces before the status',
        'HTTP/1.1  200 OK\r\n\r\n',
        'GET',
        PARSE_ERR_BAD,
        'invalid status code',
      ],
      ['a tab before the status', 'HTTP/1.1\t200 OK\r\n\r\n', 'GET', PARSE_ERR_BAD, 'invalid status line'],
      ['status 099', 'HTTP/1.1 099 Low\r\n\r\n', 'GET', PARSE_ERR_BAD, 'status code outside 100..599'],
      ['status 600', 'HTTP/1.1 600 High\r\n\r\n', 'GET', PARSE_ERR_BAD, 'status code outside 100..599'],
      [
        'a control byte in the reason',
        'HTTP/1.1 200 O\x01K\r\n\r\n',
        'GET',
        PARSE_ERR_BAD,
        'control byte in reason phrase',
      ],
      ['a bare CR in the reason', 'HTTP/1.1 200 O\rK\r\n\r\n', 'GET', PARSE_ERR_BAD, 'bare CR in head'],
      ['not HTTP', 'ICY 200 OK\r\n\r\n', 'GET', PARSE_ERR_BAD, 'invalid HTTP version'],
      ['HTTP/2 without a minor', 'HTTP/2 200\r\n\r\n', 'GET', PARSE_ERR_BAD, 'invalid HTTP version'],
      ['HTTP/2.0', 'HTTP/2.0 200 OK\r\n\r\n', 'GET', PARSE_ERR_VERSION, 'unsupported HTTP version'],
    ];

    it.each(cases)('refuses %s', (_what, raw, method, code, reason) => {
      const { result, head } = parse(raw, method);
      expect(result).toBe(code);
      expect(head.errorReason).toBe(reason);
    });
  });

  describe('when the head arrives in pieces', () => {
    const heads = [
      'HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Length: 9\r\nConnection: keep-alive\r\n\r\n',
      'HTTP/1.1 204\r\nX-Empty:\r\n\r\n',
      'HTTP/1.0 503 Service Unavailable\r\nRetry-After:  5 \r\n\r\n',
    ];

    it.each(heads.map((raw) => [JSON.stringify(raw.slice(0, 20)), raw]))(
      'returns NEED_MORE at every split of %s, then the same result',
      (_label, raw) => {
        const buf = Buffer.from(raw, 'latin1');
        const whole = createResponseHead();
        expect(parseResponseHead(buf, 0, buf.length, whole, 'GET')).toBe(buf.length);
        const head = createResponseHead();
        for (let split = 0; split < buf.length; split++) {
          expect(parseResponseHead(buf, 0, split, head, 'GET'), `split ${split}`).toBe(NEED_MORE);
        }
        expect(parseResponseHead(buf, 0, buf.length, head, 'GET')).toBe(buf.length);
        expect(head).toEqual(whole);
      },
    );
  });

  describe('when the head is too large', () => {
    it('refuses a head over HTTP_HEAD_BYTES_MAX', () => {
      const { result, head } = parse(`HTTP/1.1 200 OK\r\nX-Pad: ${'p'.repeat(HTTP_HEAD_BYTES_MAX)}\r\n\r\n`);
      expect(result).toBe(PARSE_ERR_TOO_LARGE);
      expect(head.errorReason).toBe('head larger than HTTP_HEAD_BYTES_MAX');
    });

    it('refuses more than HTTP_HEADER_COUNT_MAX fields', () => {
      let fields = '';
      for (let i = 0; i <= HTTP_HEADER_COUNT_MAX; i++) fields += `X-F${i}: ${i}\r\n`;
      const { result, head } = parse(`HTTP/1.1 200 OK\r\n${fields}\r\n`);
      expect(result).toBe(PARSE_ERR_TOO_LARGE);
      expect(head.errorReason).toBe('more than HTTP_HEADER_COUNT_MAX header fields');
    });
  });

  describe('when fuzzed (fast-check)', () => {
    function expectValidResult(result: number, length: number, head: ResponseHead): void {
      expect(
        [NEED_MORE, PARSE_ERR_BAD, PARSE_ERR_TOO_LARGE, PARSE_ERR_VERSION].includes(result) || result > 0,
      ).toBe(true);
      expect(result).toBeLessThanOrEqual(length);
      expect(head.errorReason !== '').toBe(result < 0);
    }

    it('never throws on arbitrary bytes and returns a valid code', () => {
      const head = createResponseHead();
      const prefix = fc.constantFrom('', 'HTTP/1.1 200 OK\r\n', 'HTTP/1.1 ');
      const method = fc.constantFrom('GET', 'HEAD', 'CONNECT');
      fc.assert(
        fc.property(prefix, fc.uint8Array({ maxLength: 300 }), method, (start, bytes, requestMethod) => {
          const buf = Buffer.concat([Buffer.from(start, 'latin1'), bytes]);
          expectValidResult(parseResponseHead(buf, 0, buf.length, head, requestMethod), buf.length, head);
        }),
        { numRuns: 1000 },
      );
    });

    it('never throws when one byte of a valid head is changed', () => {
      const head = createResponseHead();
      const raw = Buffer.from(
        'HTTP/1.1 200 OK\r\nServer: nginx\r\nTransfer-Encoding: chunked\r\nConnection: upgrade\r\nUpgrade: x\r\n\r\n',
      );
      fc.assert(
        fc.property(fc.nat(raw.length - 1), fc.integer({ min: 0, max: 255 }), (at, byte) => {
          const buf = Buffer.from(raw);
          buf[at] = byte;
          expectValidResult(parseResponseHead(buf, 0, buf.length, head, 'GET'), buf.length, head);
        }),
        { numRuns: 1000 },
      );
    });
  });
});
