/**
 * `host:port` parsing for listeners, targets and the admin endpoint
 * (src/config/address.ts): IPv4, bracketed IPv6, host names, port ranges.
 */
import { describe, expect, it } from 'vitest';
import { isWildcardHost, parseAddress } from '../../../../src/config/address.ts';

describe('parseAddress', () => {
  describe('when the address is valid', () => {
    it.each([
      ['127.0.0.1:9001', '127.0.0.1', 9001],
      ['0.0.0.0:0', '0.0.0.0', 0],
      ['[::1]:8080', '::1', 8080],
      ['[::]:443', '::', 443],
      ['[2001:db8::7]:65535', '2001:db8::7', 65_535],
      ['localhost:80', 'localhost', 80],
      ['api-3.internal:9003', 'api-3.internal', 9003],
      ['svc.ns.svc.cluster.local:5432', 'svc.ns.svc.cluster.local', 5432],
    ])('splits %s into host %s and port %i, keeping the text', (text, host, port) => {
      expect(parseAddress(text, 0)).toEqual({ ok: true, value: { address: text, host, port } });
    });
  });

  describe('when the address is not host:port', () => {
    it.each([
      ['nohost', 'expected host:port (the port is missing)'],
      [':8080', 'expected host:port (the host is missing; use 0.0.0.0 for every interface)'],
      ['127.0.0.1:', 'expected host:port (port 0..65535)'],
      ['127.0.0.1:http', 'expected host:port (port 0..65535)'],
      ['127.0.0.1:65536', 'expected host:port (port 0..65535)'],
      ['127.0.0.1:-1', 'expected host:port (port 0..65535)'],
      ['::1:8080', 'expected host:port (write IPv6 addresses in brackets, e.g. [::1]:8080)'],
      ['[::1]8080', 'expected host:port (IPv6 as [addr]:port)'],
      ['[::1:8080', 'expected host:port (IPv6 as [addr]:port)'],
      ['[1.2.3.4]:80', 'expected host:port ("1.2.3.4" is not an IPv6 address)'],
      ['256.0.0.1:80', 'expected host:port ("256.0.0.1" is not an IPv4 address)'],
      ['1.2.3:80', 'expected host:port ("1.2.3" is not an IPv4 address)'],
      ['-bad.example:80', 'expected host:port ("-bad.example" is not a valid host name)'],
      ['under_score:80', 'expected host:port ("under_score" is not a valid host name)'],
      ['a..b:80', 'expected host:port ("a..b" is not a valid host name)'],
      ['http://x:80', 'expected host:port without a scheme (drop "http://")'],
    ])('rejects %s: %s', (text, message) => {
      expect(parseAddress(text, 0)).toEqual({ ok: false, message });
    });

    it('rejects port 0 where Ferry must connect (portMin 1)', () => {
      expect(parseAddress('127.0.0.1:0', 1)).toEqual({
        ok: false,
        message: 'expected host:port (port 1..65535)',
      });
    });

    it('rejects a host name longer than 253 characters', () => {
      const host = `${'a'.repeat(60)}.`.repeat(5).slice(0, -1);
      expect(parseAddress(`${host}:80`, 0).ok).toBe(false);
    });
  });
});

describe('isWildcardHost', () => {
  it('is true for the any-address of both families', () => {
    expect(['0.0.0.0', '::'].every(isWildcardHost)).toBe(true);
  });

  it('is false for a specific address', () => {
    expect(['127.0.0.1', '::1', 'localhost'].some(isWildcardHost)).toBe(false);
  });
});
