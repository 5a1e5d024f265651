/** Hash keys for `algorithm: hash` (src/config/hash-key.ts). */
import { describe, expect, it } from 'vitest';
import { parseHashKey } from '../../../../src/config/hash-key.ts';

describe('parseHashKey', () => {
  describe('when the key is valid', () => {
    it.each([
      ['source_ip', 'source_ip', null],
      ['path', 'path', null],
      ['header:X-User', 'header', 'x-user'],
      ['cookie:SessionId', 'cookie', 'SessionId'],
      ['query:user_id', 'query', 'user_id'],
    ])('parses %s into kind %s and name %s', (key, kind, name) => {
      expect(parseHashKey(key)).toEqual({ ok: true, value: { key, kind, name } });
    });
  });

  describe('when the key is invalid', () => {
    it.each([
      [
        'ip',
        'expected source_ip, source_ip_dest_ip, five_tuple, path, header:<name>, cookie:<name> or query:<name>, got "ip"',
      ],
      [
        'body:x',
        'expected source_ip, source_ip_dest_ip, five_tuple, path, header:<name>, cookie:<name> or query:<name>, got "body:x"',
      ],
      ['header', 'expected header:<name>; the name is missing'],
      ['header:', 'expected header:<name>; the name is missing'],
      ['header:x y', 'header name "x y" is not a valid HTTP token'],
      ['cookie:a;b', 'cookie name "a;b" is not a valid HTTP token'],
      ['query:a&b', 'query name "a&b" may not contain spaces, control characters, &, = or #'],
      [`header:${'x'.repeat(257)}`, 'the header name is longer than 256 characters'],
    ])('rejects %s: %s', (key, message) => {
      expect(parseHashKey(key)).toEqual({ ok: false, message });
    });
  });
});
