/**
 * workers/record/access-log: the JSON members the record phase writes by
 * hand are what JSON.stringify would write, for any string (control
 * characters, quotes, backslashes, lone surrogates, non-ASCII) and any span.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { jsonMsBetween, jsonString, jsonStringOrNull } from '../../../../workers/record/access-log.ts';

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

describe('jsonMsBetween', () => {
  it('writes what JSON.stringify writes for the rounded milliseconds, in either direction', () => {
    const readingUs = fc.double({ min: 1, max: 1e12, noNaN: true });
    fc.assert(
      fc.property(readingUs, readingUs, (fromUs, toUs) => {
        expect(jsonMsBetween(fromUs, toUs)).toBe(JSON.stringify(Math.round(toUs - fromUs) / 1000));
      }),
      { numRuns: 5_000 },
    );
  });

  it('writes null when a reading is missing', () => {
    expect(jsonMsBetween(0, 5)).toBe('null');
    expect(jsonMsBetween(5, 0)).toBe('null');
  });
});
