/**
 * workers/route/sticky: the stickiness cookie is opaque, authenticated,
 * bound to its cookie name (and app session), and expires; the Set-Cookie
 * lines carry the attributes of the listener's scheme (the CORS companion
 * on HTTPS only); response Set-Cookie values are found.
 */
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createResponseHead } from '../../../../workers/http/parse-response-head.ts';
import {
  COOKIE_ATTRIBUTES_HTTP,
  COOKIE_ATTRIBUTES_HTTPS,
  cookieAttributesFor,
  LineCache,
  responseSetCookie,
  STICKY_COOKIE_CHARS,
  STICKY_KIND_APP,
  STICKY_KIND_GROUP,
  STICKY_KIND_LB,
  StickyCodec,
  setCookieLines,
} from '../../../../workers/route/sticky.ts';

const KEY = randomBytes(32).toString('base64');
const NOW_S = 1_800_000_000;

/** Flip one base64url character to another valid one. */
function tamper(value: string, index: number): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const at = index % value.length;
  const next = alphabet[(alphabet.indexOf(value[at]!) + 1) % alphabet.length]!;
  return value.slice(0, at) + next + value.slice(at + 1);
}

describe('StickyCodec', () => {
  describe('when a cookie round-trips', () => {
    it('gives back the id, generation and expiry it was made with', () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 0, max: 65_535 }),
          fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
          fc.integer({ min: 1, max: 604_800 }),
          (slot, generation, durationS) => {
            const codec = new StickyCodec(KEY);
            const value = codec.encode(
              STICKY_KIND_LB,
              'FERRYLB-app',
              slot,
              generation,
              NOW_S + durationS,
              '',
            );
            expect(value).toHaveLength(STICKY_COOKIE_CHARS);
            expect(value).toMatch(/^[A-Za-z0-9_-]+$/);
            expect(codec.verify(STICKY_KIND_LB, 'FERRYLB-app', value, '', NOW_S)).toBe(true);
            expect([codec.id, codec.generation, codec.expiryS]).toEqual([
              slot,
              generation,
              NOW_S + durationS,
            ]);
          },
        ),
        { numRuns: 300 },
      );
    });

    it('is accepted by another worker holding the same key (and its cache is not needed)', () => {
      const value = new StickyCodec(KEY).encode(STICKY_KIND_LB, 'FERRYLB-app', 3, 7, NOW_S + 60, '');
      const other = new StickyCodec(KEY);
      expect(other.verify(STICKY_KIND_LB, 'FERRYLB-app', value, '', NOW_S)).toBe(true);
      expect(other.id).toBe(3);
    });
  });

  describe('when a cookie is tampered with, forged or misused', () => {
    const codec = new StickyCodec(KEY);
    const value = codec.encode(STICKY_KIND_LB, 'FERRYLB-app', 5, 1, NOW_S + 3_600, '');

    it('rejects every single-character change', () => {
      for (let i = 0; i < value.length; i++) {
        const changed = tamper(value, i);
        // The last character carries padding bits base64url decoding may ignore; a change there can decode equal.
        if (Buffer.from(changed, 'base64url').equals(Buffer.from(value, 'base64url'))) continue;
        expect(
          new StickyCodec(KEY).verify(STICKY_KIND_LB, 'FERRYLB-app', changed, '', NOW_S),
          `index ${i}`,
        ).toBe(false);
      }
    });

    it('rejects random strings of the right length', () => {
      fc.assert(
        fc.property(fc.stringMatching(new RegExp(`^[A-Za-z0-9_-]{${STICKY_COOKIE_CHARS}}$`)), (forged) => {
          expect(codec.verify(STICKY_KIND_LB, 'FERRYLB-app', forged, '', NOW_S)).toBe(false);
        }),
        { numRuns: 500 },
      );
    });

    it('rejects a cookie made with another key', () => {
      const foreign = new StickyCodec(randomBytes(32).toString('base64'));
      const forged = foreign.encode(STICKY_KIND_LB, 'FERRYLB-app', 5, 1, NOW_S + 3_600, '');
      expect(codec.verify(STICKY_KIND_LB, 'FERRYLB-app', forged, '', NOW_S)).toBe(false);
    });

    it("rejects another group's cookie, another kind's and another session's", () => {
      expect(codec.verify(STICKY_KIND_LB, 'FERRYLB-other', value, '', NOW_S)).toBe(false);
      expect(codec.verify(STICKY_KIND_GROUP, 'FERRYLB-app', value, '', NOW_S)).toBe(false);
      const app = codec.encode(STICKY_KIND_APP, 'FERRYAPP-app', 5, 1, NOW_S + 60, 'session-a');
      expect(codec.verify(STICKY_KIND_APP, 'FERRYAPP-app', app, 'session-a', NOW_S)).toBe(true);
      expect(codec.verify(STICKY_KIND_APP, 'FERRYAPP-app', app, 'session-b', NOW_S)).toBe(false);
      expect(codec.verify(STICKY_KIND_APP, 'FERRYAPP-app', app, '', NOW_S)).toBe(false);
    });

    it('rejects truncated and padded values', () => {
      expect(codec.verify(STICKY_KIND_LB, 'FERRYLB-app', value.slice(1), '', NOW_S)).toBe(false);
      expect(codec.verify(STICKY_KIND_LB, 'FERRYLB-app', `${value}A`, '', NOW_S)).toBe(false);
      expect(codec.verify(STICKY_KIND_LB, 'FERRYLB-app', '', '', NOW_S)).toBe(false);
    });
  });

  describe('when the expiry passes', () => {
    it('rejects the cookie from its expiry second on, also from the cache', () => {
      const codec = new StickyCodec(KEY);
      const value = codec.encode(STICKY_KIND_LB, 'FERRYLB-app', 1, 1, NOW_S + 10, '');
      expect(codec.verify(STICKY_KIND_LB, 'FERRYLB-app', value, '', NOW_S + 9)).toBe(true);
      expect(codec.verify(STICKY_KIND_LB, 'FERRYLB-app', value, '', NOW_S + 10)).toBe(false);
      expect(new StickyCodec(KEY).verify(STICKY_KIND_LB, 'FERRYLB-app', value, '', NOW_S + 11)).toBe(false);
    });
  });

  it('does not carry the target address or the group name in the clear', () => {
    const value = new StickyCodec(KEY).encode(STICKY_KIND_LB, 'FERRYLB-app', 2, 1, NOW_S + 60, '');
    const decoded = Buffer.from(value, 'base64url').toString('latin1');
    for (const secret of ['127.0.0.1', 'app', ':80']) expect(decoded).not.toContain(secret);
  });
});

describe('setCookieLines', () => {
  describe('when the listener is HTTPS', () => {
    it('sets the cookie Secure; HttpOnly; SameSite=Lax and its SameSite=None companion with the same value and expiry', () => {
      const lines = setCookieLines(
        'FERRYLB-app',
        'FERRYLBCORS-app',
        'VALUE',
        1_800_000_000,
        COOKIE_ATTRIBUTES_HTTPS,
      );
      expect(lines).toBe(
        'set-cookie: FERRYLB-app=VALUE; Expires=Fri, 15 Jan 2027 08:00:00 GMT; Path=/; Secure; HttpOnly; SameSite=Lax\r\n' +
          'set-cookie: FERRYLBCORS-app=VALUE; Expires=Fri, 15 Jan 2027 08:00:00 GMT; Path=/; Secure; HttpOnly; SameSite=None\r\n',
      );
    });
  });

  describe('when the listener is HTTP', () => {
    it('sets only the cookie, HttpOnly; SameSite=Lax without Secure', () => {
      const lines = setCookieLines(
        'FERRYLB-app',
        'FERRYLBCORS-app',
        'VALUE',
        1_800_000_000,
        COOKIE_ATTRIBUTES_HTTP,
      );
      expect(lines).toBe(
        'set-cookie: FERRYLB-app=VALUE; Expires=Fri, 15 Jan 2027 08:00:00 GMT; Path=/; HttpOnly; SameSite=Lax\r\n',
      );
    });
  });
});

describe('cookieAttributesFor', () => {
  it('gives HTTPS listeners the secure attributes and every other protocol the HTTP ones', () => {
    expect(cookieAttributesFor('HTTPS')).toBe(COOKIE_ATTRIBUTES_HTTPS);
    expect(cookieAttributesFor('HTTP')).toBe(COOKIE_ATTRIBUTES_HTTP);
  });
});

describe('LineCache', () => {
  it('returns lines only for the same id, generation, expiry and session', () => {
    const cache = new LineCache();
    cache.set(3, 1, 100, '', 'lines');
    expect(cache.get(3, 1, 100, '')).toBe('lines');
    expect(cache.get(3, 2, 100, '')).toBe('');
    expect(cache.get(3, 1, 101, '')).toBe('');
    expect(cache.get(3, 1, 100, 's')).toBe('');
    expect(cache.get(67, 1, 100, '')).toBe('');
  });
});

describe('responseSetCookie', () => {
  function response(setCookies: string[]) {
    const res = createResponseHead();
    res.headerNames = setCookies.map(() => 'set-cookie');
    res.headerValues = setCookies;
    res.headerCount = setCookies.length;
    return res;
  }

  it('finds the value the application sets for its cookie among others', () => {
    const res = response(['other=1; Path=/', 'SESSIONID=abc123; Path=/; HttpOnly', 'SESSIONIDX=no']);
    expect(responseSetCookie(res, 'SESSIONID')).toBe('abc123');
  });

  it('is empty when the cookie is not set, or set empty', () => {
    expect(responseSetCookie(response(['other=1']), 'SESSIONID')).toBe('');
    expect(responseSetCookie(response(['SESSIONID=; Max-Age=0']), 'SESSIONID')).toBe('');
  });
});
