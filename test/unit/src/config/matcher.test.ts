/** Health-check success codes (src/config/matcher.ts). */
import { describe, expect, it } from 'vitest';
import { parseMatcher } from '../../../../src/config/matcher.ts';

describe('parseMatcher', () => {
  describe('when the matcher is valid', () => {
    it.each([
      ['200', [{ from: 200, to: 200 }]],
      [
        '200,204',
        [
          { from: 200, to: 200 },
          { from: 204, to: 204 },
        ],
      ],
      ['200-299', [{ from: 200, to: 299 }]],
      [
        '200, 300-399',
        [
          { from: 200, to: 200 },
          { from: 300, to: 399 },
        ],
      ],
    ])('parses %s into its ranges', (text, ranges) => {
      expect(parseMatcher(text)).toEqual({ ok: true, value: { text, ranges } });
    });
  });

  describe('when the matcher is invalid', () => {
    const hint = 'expected status codes such as "200", "200,204" or "200-299"';
    it.each([
      ['', `${hint}, got ""`],
      ['ok', `${hint}, got "ok"`],
      ['200-', `${hint}, got "200-"`],
      ['2xx', `${hint}, got "2xx"`],
      ['200,,204', `${hint}, got "200,,204"`],
      ['099', `${hint} (codes 100..599), got "099"`],
      ['200-600', `${hint} (codes 100..599), got "200-600"`],
      ['299-200', `${hint} (a range goes low-high), got "299-200"`],
      [Array.from({ length: 33 }, () => '200').join(','), `${hint} (at most 32 items)`],
    ])('rejects %j: %s', (text, message) => {
      expect(parseMatcher(text)).toEqual({ ok: false, message });
    });
  });
});
