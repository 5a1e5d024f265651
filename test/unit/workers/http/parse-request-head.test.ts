import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HTTP_HEAD_BYTES_MAX, HTTP_HEADER_COUNT_MAX } from '../../../../src/shared/limits.ts';
import {
  BODY_CHUNKED,
  BODY_LENGTH,
  BODY_NONE,
  NEED_MORE,
  PARSE_ERR_BAD,
  PARSE_ERR_TOO_LARGE,
  PARSE_ERR_VERSION,
  type RequestHead,
} from '../../../../workers/http/http1-types.ts';
import { createRequestHead, parseRequestHead } from '../../../../workers/http/parse-request-head.ts';

/** Parses `text` (latin1, so every byte 0x00-0xFF is expressible) from offset 0. */
function parse(text: string, head: RequestHead = createRequestHead()): { result: number; head: RequestHead } {
  const buf = Buffer.from(text, 'latin1');
  return { result: parseRequestHead(buf, 0, buf.length, head), head };
}

function fieldsOf(head: RequestHead): [string, string][] {
  const fields: [string, string][] = [];
  for (let i = 0; i < head.headerCount; i++) fields.push([head.headerNames[i]!, head.headerValues[i]!]);
  return fields;
}

const GET_HOST = 'GET / HTTP/1.1\r\nHost: a.example\r\n';

describe('parseRequestHead', () => {
  describe('when a request smuggles or is malformed', () => {
    // [what, raw head, code, errorReason]
    const cases: [string, string, number, string][] = [
      // --- framing: Content-Length / Transfer-Encoding ---
      [
        'Content-Length with Transfer-Encoding',
        `POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n`,
        PARSE_ERR_BAD,
        'both content-length and transfer-encoding',
      ],
      [
        'Transfer-Encoding before Content-Length',
        `POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n`,
        PARSE_ERR_BAD,
        'both content-length and transfer-encoding',
      ],
      [
        'duplicate identical Content-Length lines',
        `POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n`,
        PARSE_ERR_BAD,
        'duplicate content-length',
      ],
      [
        'conflicting Content-Length lines',
        `POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n`,
        PARSE_ERR_BAD,
        'duplicate content-length',
      ],
      [
        'Content-Length list of identical members',
        `POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n`,
        PARSE_ERR_BAD,
        'content-length list',
      ],
      [
        'Content-Length list of different members',
        `POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5,6\r\n\r\n`,
        PARSE_ERR_BAD,
        'content-length list',
      ],
      [
        'Content-Length with a letter',
        `POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5a\r\n\r\n`,
        PARSE_ERR_BAD,
        'content-length is not digits',
      ],
      [
        'negative Content-Length',
        `POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n`,
        PARSE_ERR_BAD,
        'content-length is not digits',
      ],
      [
        'Content-Length with a plus sign',
        `POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n`,
        PARSE_ERR_BAD,
        'content-length is not digits',
      ],
      [
        'hexadecimal Content-Length',
        `POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\n`,
        PARSE_ERR_BAD,
        'content-length is not digits',
      ],
      [
        'Content-Length with inner space',
        `POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 2\r\n\r\n`,
        PARSE_ERR_BAD,
        'content-length is not digits',
      ],
      [
        'empty Content-Length',
        `POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n`,
        PARSE_ERR_BAD,
        'empty content-length',
      ],
      [
        'Content-Length of 16 digits',
        `POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000000000000\r\n\r\n`,
        PARSE_ERR_BAD,
        'content-length longer than 15 digits',
      ],
      [
        'Transfer-Encoding without chunked',
        `POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n`,
        PARSE_ERR_BAD,
        'transfer-encoding does not end in chunked',
      ],
      [
        'Transfer-Encoding with chunked not last',
        `POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n`,
        PARSE_ERR_BAD,
        'transfer-encoding does not end in chunked',
      ],
      [
        'Transfer-Encoding with a chunked look-alike',
        `POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n`,
        PARSE_ERR_BAD,
        'transfer-encoding does not end in chunked',
      ],
      [
        'Transfer-Encoding chunked twice',
        `POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n`,
        PARSE_ERR_BAD,
        'chunked applied more than once',
      ],
      [
        'Transfer-Encoding chunked with a parameter',
        `POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;q=1\r\n\r\n`,
        PARSE_ERR_BAD,
        'transfer-encoding is not a list of codings',
      ],
      [
        'Transfer-Encoding with an empty leading element',
        `POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: , chunked\r\n\r\n`,
        PARSE_ERR_BAD,
        'transfer-encoding is not a list of codings',
      ],
      [
        'Transfer-Encoding with a trailing comma',
        `POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked,\r\n\r\n`,
        PARSE_ERR_BAD,
        'transfer-encoding is not a list of codings',
      ],
      [
        'empty Transfer-Encoding',
        `POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n\r\n`,
        PARSE_ERR_BAD,
        'transfer-encoding is not a list of codings',
      ],
      [
        'two Transfer-Encoding lines',
        `POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n`,
        PARSE_ERR_BAD,
        'duplicate transfer-encoding',
      ],
      [
        'Transfer-Encoding split over lines with chunked last',
        `POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n`,
        PARSE_ERR_BAD,
        'transfer-encoding does not end in chunked',
      ],
      [
        'Transfer-Encoding in HTTP/1.0',
        `POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n`,
        PARSE_ERR_BAD,
        'transfer-encoding in an HTTP/1.0 message',
      ],
      [
        'Transfer-Encoding with a vertical tab',
        `POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \x0bchunked\r\n\r\n`,
        PARSE_ERR_BAD,
        'control byte in field value',
      ],
      // --- line structure ---
      [
        'obs-fold continuation line',
        `${GET_HOST}X-Long: a\r\n b\r\n\r\n`,
        PARSE_ERR_BAD,
        'obs-fold or whitespace before field line',
      ],
      [
        'obs-fold with a tab',
        `${GET_HOST}X-Long: a\r\n\tb\r\n\r\n`,
        PARSE_ERR_BAD,
        'obs-fold or whitespace before field line',
      ],
      [
        'whitespace between request line and first field',
        `GET / HTTP/1.1\r\n Host: a\r\n\r\n`,
        PARSE_ERR_BAD,
        'obs-fold or whitespace before field line',
      ],
      ['bare LF ending a field line', `GET / HTTP/1.1\r\nHost: a\n\r\n`, PARSE_ERR_BAD, 'bare LF in head'],
      [
        'bare LF ending the request line',
        `GET / HTTP/1.1\nHost: a\r\n\r\n`,
        PARSE_ERR_BAD,
        'bare LF in head',
      ],
      ['bare LF as the final empty line', `${GET_HOST}\n`, PARSE_ERR_BAD, 'bare LF in head'],
      ['bare LF starting a line', `${GET_HOST}\nX: 1\r\n\r\n`, PARSE_ERR_BAD, 'bare LF in head'],
      ['bare CR inside a field value', `${GET_HOST}X: a\rb\r\n\r\n`, PARSE_ERR_BAD, 'bare CR in head'],
      [
        'bare CR ending the request line',
        `GET / HTTP/1.1\rHost: a\r\n\r\n`,
        PARSE_ERR_BAD,
        'bare CR in head',
      ],
      ['bare CR as the final empty line', `${GET_HOST}\rX`, PARSE_ERR_BAD, 'bare CR in head'],
      [
        'space between field name and colon',
        `GET / HTTP/1.1\r\nHost : a\r\n\r\n`,
        PARSE_ERR_BAD,
        'whitespace between field name and colon',
      ],
      [
        'tab between field name and colon',
        `GET / HTTP/1.1\r\nHost\t: a\r\n\r\n`,
        PARSE_ERR_BAD,
        'whitespace between field name and colon',
      ],
      ['empty field name', `${GET_HOST}: a\r\n\r\n`, PARSE_ERR_BAD, 'empty field name'],
      [
        'field name with a parenthesis',
        `${GET_HOST}X(y): a\r\n\r\n`,
        PARSE_ERR_BAD,
        'field name is not a token',
      ],
      [
        'field name with a non-ASCII byte',
        `${GET_HOST}X\xe9: a\r\n\r\n`,
        PARSE_ERR_BAD,
        'field name is not a token',
      ],
      ['field name with NUL', `${GET_HOST}X\x00Y: a\r\n\r\n`, PARSE_ERR_BAD, 'field name is not a token'],
      ['field line without a colon', `${GET_HOST}Foo\r\n\r\n`, PARSE_ERR_BAD, 'field line without colon'],
      ['NUL in a field value', `${GET_HOST}X: a\x00b\r\n\r\n`, PARSE_ERR_BAD, 'control byte in field value'],
      [
        'control byte in a field value',
        `${GET_HOST}X: a\x01b\r\n\r\n`,
        PARSE_ERR_BAD,
        'control byte in field value',
      ],
      ['DEL in a field value', `${GET_HOST}X: a\x7fb\r\n\r\n`, PARSE_ERR_BAD, 'control byte in field value'],
      [
        'escape byte in a field value',
        `${GET_HOST}X: \x1b[31m\r\n\r\n`,
        PARSE_ERR_BAD,
        'control byte in field value',
      ],
      // --- Host ---
      ['missing Host in HTTP/1.1', `GET / HTTP/1.1\r\nAccept: */*\r\n\r\n`, PARSE_ERR_BAD, 'missing host'],
      ['two Host lines', `GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n`, PARSE_ERR_BAD, 'duplicate host'],
      [
        'two identical Host lines',
        `GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n`,
        PARSE_ERR_BAD,
        'duplicate host',
      ],
      ['Host with inner whitespace', `GET / HTTP/1.1\r\nHost: a b\r\n\r\n`, PARSE_ERR_BAD, 'invalid host'],
      [
        'Host with userinfo',
        `GET / HTTP/1.1\r\nHost: user@evil.example\r\n\r\n`,
        PARSE_ERR_BAD,
        'invalid host',
      ],
      ['Host with a path', `GET / HTTP/1.1\r\nHost: a.example/evil\r\n\r\n`, PARSE_ERR_BAD, 'invalid host'],
      [
        'Host with a backslash',
        `GET / HTTP/1.1\r\nHost: a.example\\evil\r\n\r\n`,
        PARSE_ERR_BAD,
        'invalid host',
      ],
      ['Host list', `GET / HTTP/1.1\r\nHost: a,b\r\n\r\n`, PARSE_ERR_BAD, 'invalid host'],
      ['Host with a query', `GET / HTTP/1.1\r\nHost: a?b\r\n\r\n`, PARSE_ERR_BAD, 'invalid host'],
      // --- request line ---
      ['method with a non-token byte', `G(T / HTTP/1.1\r\nHost: a\r\n\r\n`, PARSE_ERR_BAD, 'invalid method'],
      ['empty method', ` / HTTP/1.1\r\nHost: a\r\n\r\n`, PARSE_ERR_BAD, 'invalid method'],
      ['tab after the method', `GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n`, PARSE_ERR_BAD, 'invalid method'],
      [
        'two spaces after the method',
        `GET  / HTTP/1.1\r\nHost: a\r\n\r\n`,
        PARSE_ERR_BAD,
        'invalid request target',
      ],
      [
        'two spaces before the version',
        `GET /  HTTP/1.1\r\nHost: a\r\n\r\n`,
        PARSE_ERR_BAD,
        'invalid HTTP version',
      ],
      [
        'control byte in the target',
        `GET /a\x01b HTTP/1.1\r\nHost: a\r\n\r\n`,
        PARSE_ERR_BAD,
        'invalid request target',
      ],
      ['tab in the target', `GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n`, PARSE_ERR_BAD, 'invalid request target'],
      [
        'DEL in the target',
        `GET /a\x7fb HTTP/1.1\r\nHost: a\r\n\r\n`,
        PARSE_ERR_BAD,
        'invalid request target',
      ],
      ['HTTP/0.9 request line', `GET /\r\n\r\n`, PARSE_ERR_BAD, 'invalid request target'],
      ['lower-case version', `GET / http/1.1\r\nHost: a\r\n\r\n`, PARSE_ERR_BAD, 'invalid HTTP version'],
      [
        'version with two-digit minor',
        `GET / HTTP/1.10\r\nHost: a\r\n\r\n`,
        PARSE_ERR_BAD,
        'invalid request line',
      ],
      [
        'space after the version',
        `GET / HTTP/1.1 \r\nHost: a\r\n\r\n`,
        PARSE_ERR_BAD,
        'invalid request line',
      ],
      [
        'two empty lines before the request line',
        `\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n`,
        PARSE_ERR_BAD,
        'more than one empty line before request line',
      ],
      [
        'bare LF before the request line',
        `\nGET / HTTP/1.1\r\nHost: a\r\n\r\n`,
        PARSE_ERR_BAD,
        'bare LF in head',
      ],
      [
        'asterisk-form outside OPTIONS',
        `GET * HTTP/1.1\r\nHost: a\r\n\r\n`,
        PARSE_ERR_BAD,
        'asterisk-form target outside OPTIONS',
      ],
      [
        'CONNECT with an origin-form target',
        `CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n`,
        PARSE_ERR_BAD,
        'CONNECT target is not host:port',
      ],
      [
        'CONNECT without a port',
        `CONNECT a.example HTTP/1.1\r\nHost: a.example\r\n\r\n`,
        PARSE_ERR_BAD,
        'CONNECT target is not host:port',
      ],
      [
        'CONNECT with userinfo',
        `CONNECT u@a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n`,
        PARSE_ERR_BAD,
        'CONNECT target is not host:port',
      ],
      [
        'target in no known form',
        `GET foo HTTP/1.1\r\nHost: a\r\n\r\n`,
        PARSE_ERR_BAD,
        'invalid request target',
      ],
      [
        'Connection with a non-token element',
        `${GET_HOST}Connection: close; x\r\n\r\n`,
        PARSE_ERR_BAD,
        'connection is not a list of tokens',
      ],
      // --- versions ---
      ['HTTP/2.0', `GET / HTTP/2.0\r\nHost: a\r\n\r\n`, PARSE_ERR_VERSION, 'unsupported HTTP version'],
      ['HTTP/1.2', `GET / HTTP/1.2\r\nHost: a\r\n\r\n`, PARSE_ERR_VERSION, 'unsupported HTTP version'],
      [
        'HTTP/0.9 with a version',
        `GET / HTTP/0.9\r\nHost: a\r\n\r\n`,
        PARSE_ERR_VERSION,
        'unsupported HTTP version',
      ],
      [
        'the HTTP/2 connection preface',
        `PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n`,
        PARSE_ERR_VERSION,
        'unsupported HTTP version',
      ],
    ];

    it.each(cases)('refuses %s', (_what, raw, code, reason) => {
      const { result, head } = parse(raw);
      expect(result).toBe(code);
      expect(head.errorReason).toBe(reason);
    });
  });

  describe('when the request is valid', () => {
    it('parses a typical HTTP/1.1 GET', () => {
      const raw =
        'GET /api/v1/users/42?expand=orders HTTP/1.1\r\nHost: api.example:8080\r\nUser-Agent: curl/8.5.0\r\n' +
        'Accept: */*\r\nX-Request-Id: 6f1c\r\n\r\n';
      const { result, head } = parse(raw);
      expect(result).toBe(raw.length);
      expect(head.method).toBe('GET');
      expect(head.target).toBe('/api/v1/users/42?expand=orders');
      expect(head.versionMinor).toBe(1);
      expect(head.host).toBe('api.example:8080');
      expect(head.isKeepAlive).toBe(true);
      expect(head.bodyKind).toBe(BODY_NONE);
      expect(head.contentLength).toBe(-1);
      expect(head.errorReason).toBe('');
      expect(fieldsOf(head)).toEqual([
        ['host', 'api.example:8080'],
        ['user-agent', 'curl/8.5.0'],
        ['accept', '*/*'],
        ['x-request-id', '6f1c'],
      ]);
    });

    it('lower-cases names and trims OWS from values', () => {
      const raw = `${GET_HOST}X-Custom-Thing: \t padded \t\r\nACCEPT:*/*\r\nX-Empty:\r\nX-Spaces:   \r\n\r\n`;
      const { result, head } = parse(raw);
      expect(result).toBe(raw.length);
      expect(fieldsOf(head).slice(1)).toEqual([
        ['x-custom-thing', 'padded'],
        ['accept', '*/*'],
        ['x-empty', ''],
        ['x-spaces', ''],
      ]);
    });

    it('keeps tabs, spaces and obs-text inside values', () => {
      const raw = `${GET_HOST}X-Text: caf\xe9 \t au lait\r\n\r\n`;
      const { result, head } = parse(raw);
      expect(result).toBe(raw.length);
      expect(head.headerValues[1]).toBe('caf\xe9 \t au lait');
    });

    it('keeps HTTP/1.0 without keep-alive closing and needs no Host', () => {
      const { result, head } = parse('GET /old HTTP/1.0\r\nUser-Agent: lynx\r\n\r\n');
      expect(result).toBeGreaterThan(0);
      expect(head.versionMinor).toBe(0);
      expect(head.isKeepAlive).toBe(false);
      expect(head.host).toBe('');
    });

    it('keeps HTTP/1.0 with Connection: keep-alive open', () => {
      const { head } = parse('GET / HTTP/1.0\r\nHost: a\r\nConnection: Keep-Alive\r\n\r\n');
      expect(head.isKeepAlive).toBe(true);
      expect(head.connectionTokens).toBe('keep-alive');
    });

    it('closes HTTP/1.1 on Connection: close', () => {
      const { head } = parse(`${GET_HOST}Connection: close\r\n\r\n`);
      expect(head.isKeepAlive).toBe(false);
      expect(head.connectionTokens).toBe('close');
    });

    it('collects lower-cased tokens of every Connection line', () => {
      const { head } = parse(`${GET_HOST}Connection: Keep-Alive, X-Foo,,\r\nConnection: TE\r\n\r\n`);
      expect(head.connectionTokens).toBe('keep-alive,x-foo,te');
      expect(head.isKeepAlive).toBe(true);
    });

    it('reports the Upgrade protocol when Connection names upgrade', () => {
      const { head } = parse(
        `${GET_HOST}Connection: Upgrade\r\nUpgrade: WebSocket\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
      expect(head.upgrade).toBe('websocket');
      expect(head.connectionTokens).toBe('upgrade');
    });

    it('ignores Upgrade when Connection does not name it', () => {
      const { head } = parse(`${GET_HOST}Upgrade: websocket\r\n\r\n`);
      expect(head.upgrade).toBe('');
    });

    it('parses an absolute-form target into origin-form, with its authority as Host', () => {
      const { result, head } = parse('GET http://a.example:8080/x?y=1 HTTP/1.1\r\nHost: b.example\r\n\r\n');
      expect(result).toBeGreaterThan(0);
      expect(head.target).toBe('/x?y=1');
      expect(head.host).toBe('a.example:8080');
      expect(head.headerValues[0]).toBe('a.example:8080');
    });

    it('takes an absolute-form target with a query and no path as /?query, and OPTIONS with neither as *', () => {
      expect(parse('GET HTTPS://a.example?y=1 HTTP/1.1\r\nHost: a.example\r\n\r\n').head.target).toBe(
        '/?y=1',
      );
      expect(parse('OPTIONS http://a.example HTTP/1.1\r\nHost: a.example\r\n\r\n').head.target).toBe('*');
    });

    it('parses OPTIONS *', () => {
      const { result, head } = parse('OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n');
      expect(result).toBeGreaterThan(0);
      expect(head.method).toBe('OPTIONS');
      expect(head.target).toBe('*');
    });

    it('parses CONNECT with an authority-form target', () => {
      const { result, head } = parse('CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n');
      expect(result).toBeGreaterThan(0);
      expect(head.method).toBe('CONNECT');
      expect(head.target).toBe('a.example:443');
    });

    it('parses CONNECT to an IPv6 literal', () => {
      const { result, head } = parse('CONNECT [::1]:8443 HTTP/1.1\r\nHost: [::1]:8443\r\n\r\n');
      expect(result).toBeGreaterThan(0);
      expect(head.target).toBe('[::1]:8443');
    });

    it('parses HEAD', () => {
      const { result, head } = parse('HEAD /index.html HTTP/1.1\r\nHost: a\r\n\r\n');
      expect(result).toBeGreaterThan(0);
      expect(head.method).toBe('HEAD');
      expect(head.bodyKind).toBe(BODY_NONE);
    });

    it('decodes methods it does not intern', () => {
      const { head } = parse('M-SEARCH * HTTP/1.1\r\nHost: a\r\n\r\n'.replace('*', '/'));
      expect(head.method).toBe('M-SEARCH');
      const { head: propfind } = parse('PROPFIND /d HTTP/1.1\r\nHost: a\r\n\r\n');
      expect(propfind.method).toBe('PROPFIND');
    });

    it('reports Expect: 100-continue in any case', () => {
      const { head } = parse(
        'PUT /f HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\nExpect: 100-Continue\r\n\r\n',
      );
      expect(head.isExpectContinue).toBe(true);
      expect(head.bodyKind).toBe(BODY_LENGTH);
      expect(head.contentLength).toBe(10);
    });

    it('ignores other expectations and Expect in HTTP/1.0', () => {
      expect(parse(`${GET_HOST}Expect: something-else\r\n\r\n`).head.isExpectContinue).toBe(false);
      expect(parse('PUT / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n').head.isExpectContinue).toBe(false);
    });

    it('frames a Content-Length body, including length 0 and 15 digits', () => {
      const zero = parse('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n').head;
      expect([zero.bodyKind, zero.contentLength]).toEqual([BODY_LENGTH, 0]);
      const big = parse('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 999999999999999\r\n\r\n').head;
      expect([big.bodyKind, big.contentLength]).toEqual([BODY_LENGTH, 999_999_999_999_999]);
    });

    it('frames a chunked body whatever the case and earlier codings', () => {
      for (const coding of ['chunked', 'Chunked', 'CHUNKED', 'gzip, chunked', 'gzip,deflate ,  chunked']) {
        const { result, head } = parse(`POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ${coding}\r\n\r\n`);
        expect(result, coding).toBeGreaterThan(0);
        expect(head.bodyKind).toBe(BODY_CHUNKED);
        expect(head.contentLength).toBe(-1);
      }
    });

    it('accepts an empty Host', () => {
      const { result, head } = parse('GET / HTTP/1.1\r\nHost:\r\n\r\n');
      expect(result).toBeGreaterThan(0);
      expect(head.host).toBe('');
    });

    it('skips one leading empty line and counts it as consumed', () => {
      const raw = `\r\n${GET_HOST}\r\n`;
      const { result, head } = parse(raw);
      expect(result).toBe(raw.length);
      expect(head.method).toBe('GET');
    });

    it('parses pipelined heads back to back from the returned offsets', () => {
      const first = 'GET /1 HTTP/1.1\r\nHost: a\r\n\r\n';
      const second = 'POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n';
      const body = 'abc';
      const third = 'HEAD /3 HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n';
      const buf = Buffer.from(first + second + body + third, 'latin1');
      const head = createRequestHead();
      let offset = 0;
      const seen: string[] = [];
      // Bounded by the three heads in the buffer.
      for (let n = 0; n < 3; n++) {
        const consumed = parseRequestHead(buf, offset, buf.length, head);
        expect(consumed).toBeGreaterThan(0);
        seen.push(`${head.method} ${head.target} ${head.host} ${head.isKeepAlive}`);
        offset += consumed + (head.bodyKind === BODY_LENGTH ? head.contentLength : 0);
      }
      expect(seen).toEqual(['GET /1 a true', 'POST /2 a true', 'HEAD /3 b false']);
      expect(offset).toBe(buf.length);
      expect(parseRequestHead(buf, offset, buf.length, head)).toBe(NEED_MORE);
    });

    it('reads only buf[start, end)', () => {
      const raw = `${GET_HOST}\r\n`;
      const buf = Buffer.from(`\x00\x01garbage${raw}\x00\r\n\r\n`, 'latin1');
      const start = 9;
      const head = createRequestHead();
      expect(parseRequestHead(buf, start, start + raw.length, head)).toBe(raw.length);
      expect(parseRequestHead(buf, start, start + raw.length - 1, head)).toBe(NEED_MORE);
    });

    it('resets every field between parses on a reused head', () => {
      const head = createRequestHead();
      parse(
        'PUT /a HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nConnection: Upgrade, close\r\nUpgrade: h2c\r\nContent-Length: 4\r\n\r\n',
        head,
      );
      expect(head.upgrade).toBe('h2c');
      const { result } = parse('GET /b HTTP/1.0\r\n\r\n', head);
      expect(result).toBeGreaterThan(0);
      expect(head).toMatchObject({
        method: 'GET',
        target: '/b',
        host: '',
        headerCount: 0,
        isExpectContinue: false,
        connectionTokens: '',
        upgrade: '',
        bodyKind: BODY_NONE,
        contentLength: -1,
        isKeepAlive: false,
        errorReason: '',
      });
    });
  });

  describe('when the head arrives in pieces', () => {
    const heads = [
      'GET /api/v1/users/42?expand=orders HTTP/1.1\r\nHost: api.example:8080\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n',
      '\r\nPOST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\nX-Pad:  v \r\n\r\n',
      'GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n',
      'CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\nX-Empty:\r\n\r\n',
      'OPTIONS * HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 7\r\n\r\n',
      `PATCH /long HTTP/1.1\r\nHost: a\r\nCookie: ${'c=1; '.repeat(300)}\r\nX-After: 1\r\n\r\n`,
    ];

    it.each(heads.map((raw) => [JSON.stringify(raw.slice(0, 24)), raw]))(
      'returns NEED_MORE at every split of %s, then the same result',
      (_label, raw) => {
        const buf = Buffer.from(raw, 'latin1');
        const whole = createRequestHead();
        const wholeResult = parseRequestHead(buf, 0, buf.length, whole);
        expect(wholeResult).toBe(buf.length);
        const head = createRequestHead();
        for (let split = 0; split < buf.length; split++) {
          // The full buffer with a short `end` proves no byte past `end` is read.
          expect(parseRequestHead(buf, 0, split, head), `split ${split}`).toBe(NEED_MORE);
          const prefix = Buffer.from(buf.subarray(0, split));
          expect(parseRequestHead(prefix, 0, prefix.length, head), `copy ${split}`).toBe(NEED_MORE);
        }
        expect(parseRequestHead(buf, 0, buf.length, head)).toBe(wholeResult);
        expect(head).toEqual(whole);
      },
    );
  });

  describe('when a partial head is longer than 1 KiB', () => {
    it('waits for the end of the head before refusing a bad byte', () => {
      const raw = `GET / HTTP/1.1\nHost: a\r\nX-Pad: ${'p'.repeat(2000)}\r\n\r\n`;
      expect(parse(raw.slice(0, 100)).result).toBe(PARSE_ERR_BAD);
      expect(parse(raw.slice(0, 1500)).result).toBe(NEED_MORE);
      const { result, head } = parse(raw);
      expect(result).toBe(PARSE_ERR_BAD);
      expect(head.errorReason).toBe('bare LF in head');
    });

    it('ignores a CRLFCRLF past `end`', () => {
      const raw = `${GET_HOST}X-Pad: ${'p'.repeat(2000)}\r\n\r\n`;
      const buf = Buffer.from(raw, 'latin1');
      expect(parseRequestHead(buf, 0, buf.length - 1, createRequestHead())).toBe(NEED_MORE);
      expect(parseRequestHead(buf, 0, buf.length, createRequestHead())).toBe(buf.length);
    });
  });

  describe('when the head is too large', () => {
    function headOfBytes(totalBytes: number): string {
      const prefix = `${GET_HOST}X-Pad: `;
      const suffix = '\r\n\r\n';
      return prefix + 'p'.repeat(totalBytes - prefix.length - suffix.length) + suffix;
    }

    it('accepts a head of exactly HTTP_HEAD_BYTES_MAX bytes', () => {
      const raw = headOfBytes(HTTP_HEAD_BYTES_MAX);
      expect(parse(raw).result).toBe(HTTP_HEAD_BYTES_MAX);
    });

    it('refuses a head one byte over HTTP_HEAD_BYTES_MAX', () => {
      const { result, head } = parse(headOfBytes(HTTP_HEAD_BYTES_MAX + 1));
      expect(result).toBe(PARSE_ERR_TOO_LARGE);
      expect(head.errorReason).toBe('head larger than HTTP_HEAD_BYTES_MAX');
    });

    it('refuses an unterminated head once HTTP_HEAD_BYTES_MAX bytes arrived', () => {
      const raw = headOfBytes(HTTP_HEAD_BYTES_MAX * 2).slice(0, HTTP_HEAD_BYTES_MAX);
      expect(parse(raw).result).toBe(PARSE_ERR_TOO_LARGE);
      expect(parse(raw.slice(0, -1)).result).toBe(NEED_MORE);
    });

    it('accepts HTTP_HEADER_COUNT_MAX fields and refuses one more', () => {
      const fields = (count: number): string => {
        let text = '';
        for (let i = 1; i < count; i++) text += `X-F${i}: ${i}\r\n`;
        return text;
      };
      const atMax = parse(`${GET_HOST}${fields(HTTP_HEADER_COUNT_MAX)}\r\n`);
      expect(atMax.result).toBeGreaterThan(0);
      expect(atMax.head.headerCount).toBe(HTTP_HEADER_COUNT_MAX);
      const over = parse(`${GET_HOST}${fields(HTTP_HEADER_COUNT_MAX + 1)}\r\n`);
      expect(over.result).toBe(PARSE_ERR_TOO_LARGE);
      expect(over.head.errorReason).toBe('more than HTTP_HEADER_COUNT_MAX header fields');
    });
  });

  describe('when fuzzed (fast-check)', () => {
    const TCHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    const ROLE_NAMES = ['content-length', 'transfer-encoding', 'connection', 'upgrade', 'host', 'expect'];
    const token = fc
      .array(fc.constantFrom(...TCHARS), { minLength: 1, maxLength: 16 })
      .map((chars) => chars.join(''));
    const fieldName = token.filter((name) => !ROLE_NAMES.includes(name.toLowerCase()));
    const visible = fc.integer({ min: 0x21, max: 0xff }).filter((b) => b !== 0x7f);
    const valueByte = fc.oneof(visible, fc.constantFrom(0x20, 0x09));
    const fieldValue = fc.array(valueByte, { maxLength: 40 }).map((bytes) =>
      Buffer.from(bytes)
        .toString('latin1')
        .replace(/^[ \t]+|[ \t]+$/g, ''),
    );
    const ows = fc.constantFrom('', ' ', '\t', '  ', ' \t');
    const method = fc
      .oneof(fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD'), token)
      .filter((m) => m !== 'CONNECT');
    const target = fc
      .array(
        visible.filter((b) => b < 0x7f),
        { maxLength: 60 },
      )
      .map((bytes) => `/${Buffer.from(bytes).toString('latin1')}`);
    const request = fc.record({
      method,
      target,
      isHttp10: fc.boolean(),
      host: fc.constantFrom('a.example', 'a.example:8080', '[::1]:80', '10.0.0.1', ''),
      fields: fc.array(fc.tuple(fieldName, ows, fieldValue, ows), { maxLength: 30 }),
      body: fc.option(fc.uint8Array({ maxLength: 64 }), { nil: undefined }),
    });

    function encode(r: typeof request extends fc.Arbitrary<infer T> ? T : never): {
      head: string;
      text: string;
    } {
      let head = `${r.method} ${r.target} HTTP/1.${r.isHttp10 ? 0 : 1}\r\nHost: ${r.host}\r\n`;
      for (const [name, before, value, after] of r.fields) head += `${name}:${before}${value}${after}\r\n`;
      if (r.body !== undefined) head += `Content-Length: ${r.body.length}\r\n`;
      head += '\r\n';
      const body = r.body === undefined ? '' : Buffer.from(r.body).toString('latin1');
      return { head, text: head + body };
    }

    it('returns exactly the head length and recovers every field of generated requests', () => {
      const head = createRequestHead();
      fc.assert(
        fc.property(request, (r) => {
          const { head: rawHead, text } = encode(r);
          const buf = Buffer.from(text, 'latin1');
          expect(parseRequestHead(buf, 0, buf.length, head)).toBe(Buffer.byteLength(rawHead, 'latin1'));
          expect(head.method).toBe(r.method);
          expect(head.target).toBe(r.target);
          expect(head.host).toBe(r.host);
          const expected: [string, string][] = [['host', r.host]];
          for (const [name, , value] of r.fields) expected.push([name.toLowerCase(), value]);
          if (r.body !== undefined) expected.push(['content-length', String(r.body.length)]);
          expect(fieldsOf(head)).toEqual(expected);
          expect(head.bodyKind).toBe(r.body === undefined ? BODY_NONE : BODY_LENGTH);
        }),
        { numRuns: 300 },
      );
    });

    function expectValidResult(result: number, length: number, head: RequestHead): void {
      expect(
        [NEED_MORE, PARSE_ERR_BAD, PARSE_ERR_TOO_LARGE, PARSE_ERR_VERSION].includes(result) || result > 0,
      ).toBe(true);
      expect(result).toBeLessThanOrEqual(length);
      expect(head.errorReason !== '').toBe(result < 0);
    }

    it('never throws on arbitrary bytes and returns a valid code', () => {
      const head = createRequestHead();
      const prefix = fc.constantFrom('', 'GET / HTTP/1.1\r\n', 'GET / HTTP/1.1\r\nHost: a\r\n', '\r\n');
      fc.assert(
        fc.property(prefix, fc.uint8Array({ maxLength: 300 }), (start, bytes) => {
          const buf = Buffer.concat([Buffer.from(start, 'latin1'), bytes]);
          expectValidResult(parseRequestHead(buf, 0, buf.length, head), buf.length, head);
        }),
        { numRuns: 1000 },
      );
    });

    it('never throws when one byte of a valid head is changed', () => {
      const head = createRequestHead();
      fc.assert(
        fc.property(request, fc.nat(), fc.integer({ min: 0, max: 255 }), (r, at, byte) => {
          const buf = Buffer.from(encode(r).text, 'latin1');
          buf[at % buf.length] = byte;
          expectValidResult(parseRequestHead(buf, 0, buf.length, head), buf.length, head);
        }),
        { numRuns: 1000 },
      );
    });
  });
});
