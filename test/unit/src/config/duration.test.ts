/**
 * Durations: the text users write (`30s`, `1m30s`) to integer ms and back.
 * Unit tests for src/config/duration.ts, with fast-check properties for the
 * round trip and for rejecting garbage.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DURATION_MS_MAX,
  DURATION_WRITTEN_MS_MAX,
  formatDurationMs,
  parseDuration,
} from '../../../../src/config/duration.ts';

const UNIT_MS = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1_000, ms: 1 } as const;

describe('parseDuration', () => {
  describe('when the text is a valid duration', () => {
    it.each([
      ['0', 0],
      ['0s', 0],
      ['500ms', 500],
      ['30s', 30_000],
      ['5m', 300_000],
      ['1h', 3_600_000],
      ['1d', 86_400_000],
      ['1m30s', 90_000],
      ['2s500ms', 2_500],
      ['1d2h3m4s5ms', 93_784_005],
      ['24d', DURATION_WRITTEN_MS_MAX],
    ])('parses %s as %i ms', (text, ms) => {
      expect(parseDuration(text)).toEqual({ ok: true, ms });
    });
  });

  describe('when the text is not a duration', () => {
    it.each([
      '',
      '30',
      's',
      '-1s',
      '1.5s',
      '1 s',
      ' 1s',
      '1s ',
      '1S',
      '1sec',
      '1y',
      '1w',
      '1us',
      '0x10s',
      '1e3ms',
    ])('rejects %j with the syntax hint', (text) => {
      expect(parseDuration(text)).toEqual({
        ok: false,
        message: 'expected a duration with a unit, such as 500ms, 30s, 5m, 1h, 1d or 1m30s',
        isTooLong: false,
      });
    });

    it.each(['1s1m', '1s1s', '30s2h', '5ms1s'])('rejects %j whose units are not largest first', (text) => {
      expect(parseDuration(text)).toEqual({
        ok: false,
        message:
          'expected a duration with a unit, such as 500ms, 30s, 5m, 1h, 1d or 1m30s (each unit once, largest first)',
        isTooLong: false,
      });
    });

    it('rejects a duration longer than 24d, naming the bound as a user writes it', () => {
      expect(parseDuration('25d')).toEqual({
        ok: false,
        message: 'expected a duration of at most 24d',
        isTooLong: true,
      });
      expect(parseDuration('24d1ms').ok).toBe(false);
      expect(DURATION_WRITTEN_MS_MAX).toBeLessThanOrEqual(DURATION_MS_MAX);
    });

    it('rejects a duration above the bound its caller gives, naming that bound', () => {
      expect(parseDuration('90d', 90 * 86_400_000)).toEqual({ ok: true, ms: 90 * 86_400_000 });
      expect(parseDuration('91d', 90 * 86_400_000)).toEqual({
        ok: false,
        message: 'expected a duration of at most 90d',
        isTooLong: true,
      });
    });

    it('rejects text longer than DURATION_TEXT_LENGTH_MAX without scanning it', () => {
      expect(parseDuration('1'.repeat(100)).ok).toBe(false);
    });

    it('rejects any text with a character outside digits and units (property)', () => {
      fc.assert(
        fc.property(
          fc.string({ maxLength: 20 }).filter((text) => /[^0-9dhms]/.test(text)),
          (text) => !parseDuration(text).ok,
        ),
      );
    });
  });

  describe('when units are combined', () => {
    it('sums any largest-first combination of units (property)', () => {
      const count = fc.option(fc.integer({ min: 0, max: 20 }), { nil: undefined });
      fc.assert(
        fc.property(fc.tuple(count, count, count, count, count), (counts) => {
          const units = ['d', 'h', 'm', 's', 'ms'] as const;
          let text = '';
          let expectedMs = 0;
          counts.forEach((value, index) => {
            if (value === undefined) return;
            const unit = units[index]!;
            text += `${value}${unit}`;
            expectedMs += value * UNIT_MS[unit];
          });
          fc.pre(text.length > 0);
          expect(parseDuration(text)).toEqual({ ok: true, ms: expectedMs });
        }),
      );
    });
  });
});

describe('formatDurationMs', () => {
  it.each([
    [0, '0s'],
    [1, '1ms'],
    [1_000, '1s'],
    [90_000, '1m30s'],
    [3_600_000, '1h'],
    [86_400_000, '1d'],
    [93_784_005, '1d2h3m4s5ms'],
  ])('formats %i ms as %s', (ms, text) => {
    expect(formatDurationMs(ms)).toBe(text);
  });

  it('round-trips through parseDuration for every ms in range (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: DURATION_MS_MAX }), (ms) => {
        expect(parseDuration(formatDurationMs(ms), DURATION_MS_MAX)).toEqual({ ok: true, ms });
      }),
    );
  });

  it.each([-1, 1.5, DURATION_MS_MAX + 1, Number.NaN])('throws a RangeError for %d', (ms) => {
    expect(() => formatDurationMs(ms)).toThrow(RangeError);
  });
});
