/**
 * workers/record/access-log: the JSON members the record phase writes by
 * hand are what JSON.stringify would write, for any string (control
 * characters, quotes, backslashes, lone surrogates, non-ASCII) and any number.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { jsonNumberOrNull, jsonString, jsonStringOrNull } from '../../../../workers/record/access-log.ts';

describe('jsonString', () => {
  it('writes what JSON.stringify writes, for any string', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (value) => {
        expect(jsonString(value)).toBe(JSON.stringify(value));
      }),
      { numRuns: 2_000 },
    );
  });

  it('escapes the characters a request line can smuggle into a log line', () => {
    const value = 'GET /a"b\\c\nd\u0000e\ud800 HTTP/1.1';
    expect(JSON.parse(jsonString(value))).toBe(value);
    expect(jsonString(value)).not.toContain('\n');
  });
});

describe('jsonStringOrNull', () => {
  it('writes null for null', () => {
    expect(jsonStringOrNull(null)).toBe('null');
    expect(jsonStringOrNull('x')).toBe('"x"');
  });
});

describe('jsonNumberOrNull', () => {
  it('writes what JSON.stringify writes, for any number and null', () => {
    fc.assert(
      fc.property(fc.option(fc.double(), { nil: null }), (value) => {
        expect(jsonNumberOrNull(value)).toBe(JSON.stringify(value));
      }),
    );
  });
});
