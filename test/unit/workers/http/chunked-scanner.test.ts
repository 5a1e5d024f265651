import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  HTTP_CHUNK_LINE_BYTES_MAX,
  HTTP_HEAD_BYTES_MAX,
  HTTP_HEADER_COUNT_MAX,
} from '../../../../src/shared/limits.ts';
import { ChunkedScanner } from '../../../../workers/http/chunked-scanner.ts';
import { CHUNKED_ERR_BAD, CHUNKED_NEED_MORE } from '../../../../workers/http/http1-types.ts';

function scanAll(text: string, scanner = new ChunkedScanner()): { result: number; scanner: ChunkedScanner } {
  const buf = Buffer.from(text, 'latin1');
  return { result: scanner.scan(buf, 0, buf.length), scanner };
}

const BODY = '5\r\nhello\r\n6;name=value\r\n world\r\n0\r\nX-Checksum: 42\r\n\r\n';

describe('ChunkedScanner', () => {
  describe('when the body arrives whole', () => {
    it('returns the index just after the final CRLF', () => {
      const { result, scanner } = scanAll(BODY);
      expect(result).toBe(BODY.length);
      expect(scanner.bodyBytes).toBe(11);
      expect(scanner.wireBytes).toBe(BODY.length);
      expect(scanner.isDone()).toBe(true);
      expect(scanner.errorReason).toBe('');
    });

    it('stops at the end of the message when the next one follows', () => {
      const next = 'GET / HTTP/1.1\r\n';
      const { result, scanner } = scanAll(`0\r\n\r\n${next}`);
      expect(result).toBe(5);
      expect(scanner.wireBytes).toBe(5);
    });

    it('honours start and end inside a larger buffer', () => {
      const buf = Buffer.from(`junk${BODY}junk`, 'latin1');
      const scanner = new ChunkedScanner();
      expect(scanner.scan(buf, 4, 4 + BODY.length)).toBe(4 + BODY.length);
    });

    it('reads upper-case hex, leading zeros and BWS before extensions', () => {
      const body = `000A\r\n${'x'.repeat(10)}\r\n1f ; a="q s" ;b\r\n${'y'.repeat(31)}\r\n00\r\n\r\n`;
      const { result, scanner } = scanAll(body);
      expect(result).toBe(body.length);
      expect(scanner.bodyBytes).toBe(41);
    });

    it('accepts chunk data holding CRLF and chunk-looking bytes', () => {
      const data = '\r\n0\r\n\r\n';
      const body = `${data.length.toString(16)}\r\n${data}\r\n0\r\n\r\n`;
      expect(scanAll(body).result).toBe(body.length);
    });

    it('accepts the largest safe chunk size and waits for its data', () => {
      const { result, scanner } = scanAll('1FFFFFFFFFFFFF\r\nabc');
      expect(result).toBe(CHUNKED_NEED_MORE);
      expect(scanner.bodyBytes).toBe(3);
    });
  });

  describe('when the body arrives in pieces', () => {
    it('returns NEED_MORE until the last piece at every two-way split', () => {
      const buf = Buffer.from(BODY, 'latin1');
      for (let split = 0; split < buf.length; split++) {
        const scanner = new ChunkedScanner();
        expect(scanner.scan(buf, 0, split), `split ${split}`).toBe(CHUNKED_NEED_MORE);
        expect(scanner.scan(buf, split, buf.length), `split ${split}`).toBe(buf.length);
        expect(scanner.bodyBytes).toBe(11);
        expect(scanner.wireBytes).toBe(buf.length);
      }
    });

    it('scans one byte at a time', () => {
      const buf = Buffer.from(BODY, 'latin1');
      const scanner = new ChunkedScanner();
      for (let i = 0; i < buf.length - 1; i++) expect(scanner.scan(buf, i, i + 1)).toBe(CHUNKED_NEED_MORE);
      expect(scanner.scan(buf, buf.length - 1, buf.length)).toBe(buf.length);
    });

    it('scans the next message after reset()', () => {
      const scanner = new ChunkedScanner();
      expect(scanAll(BODY, scanner).result).toBe(BODY.length);
      scanner.reset();
      const { result } = scanAll('3\r\nabc\r\n0\r\n\r\n', scanner);
      expect(result).toBe(13);
      expect(scanner.bodyBytes).toBe(3);
    });

    it('throws when scanned again after the end without reset()', () => {
      const scanner = new ChunkedScanner();
      scanAll('0\r\n\r\n', scanner);
      expect(() => scanAll('0\r\n\r\n', scanner)).toThrow(/reset/);
    });
  });

  describe('when the framing is broken', () => {
    // [what, raw bytes, errorReason]
    const cases: [string, string, string][] = [
      ['a non-hex chunk size', 'g\r\n', 'invalid chunk size'],
      ['a negative chunk size', '-5\r\nhello\r\n', 'invalid chunk size'],
      ['a 0x-prefixed chunk size', '0x5\r\nhello\r\n', 'invalid chunk size'],
      ['a missing chunk size', '\r\nhello\r\n', 'missing chunk size'],
      ['16 hex digits', '0000000000000005\r\nhello\r\n', 'chunk size longer than 15 hex digits'],
      ['a chunk size of 2^53', '20000000000000\r\n', 'chunk size over 2^53'],
      ['a chunk size over 2^53', 'FFFFFFFFFFFFFFF\r\n', 'chunk size over 2^53'],
      [
        'whitespace after the size without an extension',
        '5 \r\nhello\r\n0\r\n\r\n',
        'invalid chunk extension',
      ],
      ['a bare LF after the size', '5\nhello\r\n0\r\n\r\n', 'bare LF in chunk line'],
      ['a bare LF after an extension', '5;a=b\nhello\r\n', 'bare LF in chunk line'],
      ['a bare CR after the size', '5\rhello\r\n', 'bare CR in chunk line'],
      ['a control byte in an extension', '5;a=\x01\r\nhello\r\n', 'control byte in chunk extension'],
      ['NUL in an extension', '5;a\x00\r\nhello\r\n', 'control byte in chunk extension'],
      [
        'a chunk line longer than the limit',
        `5;${'e'.repeat(HTTP_CHUNK_LINE_BYTES_MAX)}\r\n`,
        'chunk line longer than HTTP_CHUNK_LINE_BYTES_MAX',
      ],
      ['data longer than its size', '5\r\nhelloX\r\n0\r\n\r\n', 'missing CRLF after chunk data'],
      ['data ended by a bare LF', '5\r\nhello\n0\r\n\r\n', 'missing CRLF after chunk data'],
      ['data ended by a bare CR', '5\r\nhello\rX0\r\n\r\n', 'missing CRLF after chunk data'],
      ['obs-fold in the trailers', '0\r\nX: a\r\n b\r\n\r\n', 'obs-fold in trailer section'],
      ['a bare LF ending a trailer', '0\r\nX: a\n\r\n', 'bare LF in trailer section'],
      ['a bare LF as the final line', '0\r\n\n', 'bare LF in trailer section'],
      ['a bare CR ending a trailer', '0\r\nX: a\rb\r\n\r\n', 'bare CR in trailer section'],
      ['a bare CR as the final line', '0\r\n\rX', 'bare CR in trailer section'],
      [
        'whitespace before a trailer colon',
        '0\r\nX : a\r\n\r\n',
        'whitespace between trailer field name and colon',
      ],
      ['an empty trailer name', '0\r\n: a\r\n\r\n', 'empty trailer field name'],
      ['a non-token trailer name', '0\r\nX(y): a\r\n\r\n', 'trailer field name is not a token'],
      ['a trailer line without a colon', '0\r\nXy\r\n\r\n', 'trailer field name is not a token'],
      ['a control byte in a trailer value', '0\r\nX: a\x01\r\n\r\n', 'control byte in trailer value'],
      ['NUL in a trailer value', '0\r\nX: \x00\r\n\r\n', 'control byte in trailer value'],
      [
        'a trailer section over the limit',
        `0\r\nX: ${'t'.repeat(HTTP_HEAD_BYTES_MAX)}\r\n\r\n`,
        'trailer section larger than HTTP_HEAD_BYTES_MAX',
      ],
      [
        'more trailer fields than the limit',
        `0\r\n${'X: 1\r\n'.repeat(HTTP_HEADER_COUNT_MAX + 1)}\r\n`,
        'more than HTTP_HEADER_COUNT_MAX trailer fields',
      ],
    ];

    it.each(cases)('refuses %s', (_what, raw, reason) => {
      const { result, scanner } = scanAll(raw);
      expect(result).toBe(CHUNKED_ERR_BAD);
      expect(scanner.errorReason).toBe(reason);
    });

    it('keeps refusing after an error', () => {
      const { scanner } = scanAll('zz');
      expect(scanAll('0\r\n\r\n', scanner).result).toBe(CHUNKED_ERR_BAD);
      expect(scanner.errorReason).toBe('invalid chunk size');
    });
  });

  describe('when fuzzed (fast-check)', () => {
    const TCHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    const token = fc
      .array(fc.constantFrom(...TCHARS), { minLength: 1, maxLength: 12 })
      .map((chars) => chars.join(''));
    const extension = fc.option(
      fc
        .tuple(fc.constantFrom('', ' ', '\t '), token, fc.option(token, { nil: undefined }))
        .map(([bws, name, value]) => `${bws};${name}${value === undefined ? '' : `=${value}`}`),
      { nil: undefined },
    );
    const chunk = fc.tuple(fc.uint8Array({ minLength: 1, maxLength: 300 }), extension, fc.boolean());
    const trailer = fc.tuple(token, fc.stringMatching(/^[ -~]{0,20}$/));
    const message = fc.record({
      chunks: fc.array(chunk, { maxLength: 8 }),
      trailers: fc.array(trailer, { maxLength: 4 }),
      lastExtension: extension,
    });

    function encode(m: typeof message extends fc.Arbitrary<infer T> ? T : never): {
      wire: Buffer;
      bodyBytes: number;
    } {
      const parts: Buffer[] = [];
      let bodyBytes = 0;
      for (const [data, ext, isUpper] of m.chunks) {
        const size = isUpper ? data.length.toString(16).toUpperCase() : data.length.toString(16);
        parts.push(Buffer.from(`${size}${ext ?? ''}\r\n`, 'latin1'), Buffer.from(data), Buffer.from('\r\n'));
        bodyBytes += data.length;
      }
      let tail = `0${m.lastExtension ?? ''}\r\n`;
      for (const [name, value] of m.trailers) tail += `${name}: ${value}\r\n`;
      parts.push(Buffer.from(`${tail}\r\n`, 'latin1'));
      return { wire: Buffer.concat(parts), bodyBytes };
    }

    it('scans generated bodies split at random points to exactly their encoded length', () => {
      const scanner = new ChunkedScanner();
      fc.assert(
        fc.property(
          message,
          fc.array(fc.nat(), { maxLength: 6 }),
          fc.uint8Array({ maxLength: 16 }),
          (m, cuts, next) => {
            const { wire, bodyBytes } = encode(m);
            const buf = Buffer.concat([wire, next]);
            const splits = [...new Set(cuts.map((cut) => cut % (wire.length + 1)))].sort((a, b) => a - b);
            scanner.reset();
            let from = 0;
            for (const split of splits) {
              if (split === from || split === wire.length) continue;
              expect(scanner.scan(buf, from, split)).toBe(CHUNKED_NEED_MORE);
              from = split;
            }
            expect(scanner.scan(buf, from, buf.length)).toBe(wire.length);
            expect(scanner.bodyBytes).toBe(bodyBytes);
            expect(scanner.wireBytes).toBe(wire.length);
          },
        ),
        { numRuns: 300 },
      );
    });

    it('never throws on arbitrary bytes and returns a valid result', () => {
      const scanner = new ChunkedScanner();
      const prefix = fc.constantFrom('', '5\r\nhello\r\n', '0\r\n');
      fc.assert(
        fc.property(prefix, fc.uint8Array({ maxLength: 200 }), (start, bytes) => {
          const buf = Buffer.concat([Buffer.from(start, 'latin1'), bytes]);
          scanner.reset();
          const result = scanner.scan(buf, 0, buf.length);
          expect(
            result === CHUNKED_NEED_MORE ||
              result === CHUNKED_ERR_BAD ||
              (result > 0 && result <= buf.length),
          ).toBe(true);
          expect(scanner.errorReason !== '').toBe(result === CHUNKED_ERR_BAD);
        }),
        { numRuns: 1000 },
      );
    });
  });
});
