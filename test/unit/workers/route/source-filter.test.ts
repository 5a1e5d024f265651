/**
 * workers/route/source-filter: the accept check for `scheme: internal` and
 * `allowedSources`, over many addresses (the real-socket refusal is in
 * test/integration/routing.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { isSourceAllowed, SourceFilter } from '../../../../workers/route/source-filter.ts';

const internal = new SourceFilter({ scheme: 'internal', allowedSources: [], internalSources: [] });

describe('isSourceAllowed', () => {
  describe('when the listener is internal', () => {
    it.each([
      '127.0.0.1',
      '127.255.255.254',
      '::1',
      '::ffff:127.0.0.1',
      '10.0.0.1',
      '10.255.255.255',
      '172.16.0.1',
      '172.31.255.255',
      '192.168.0.1',
      '192.168.255.255',
      '::ffff:192.168.1.10',
      'fc00::1',
      'fd12:3456:789a::1',
      'fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff',
    ])('accepts the private source %s', (address) => {
      expect(isSourceAllowed(internal, address)).toBe(true);
    });

    it.each([
      '8.8.8.8',
      '1.1.1.1',
      '9.255.255.255',
      '11.0.0.0',
      '172.15.255.255',
      '172.32.0.0',
      '192.167.255.255',
      '192.169.0.0',
      '100.64.0.1',
      '169.254.1.1',
      '::ffff:8.8.8.8',
      '2001:4860:4860::8888',
      'fe80::1',
      'fbff:ffff::1',
      'fe00::1',
      '::',
      '',
      'not-an-address',
    ])('refuses the public (or unparsable) source %j', (address) => {
      expect(isSourceAllowed(internal, address)).toBe(false);
    });

    it('refuses a socket that closed before its address was read', () => {
      expect(isSourceAllowed(internal, undefined)).toBe(false);
    });

    it('also accepts the blocks internalSources adds', () => {
      const filter = new SourceFilter({
        scheme: 'internal',
        allowedSources: [],
        internalSources: ['100.64.0.0/10', '2001:db8::/32'],
      });
      expect(isSourceAllowed(filter, '100.64.0.1')).toBe(true);
      expect(isSourceAllowed(filter, '100.127.255.255')).toBe(true);
      expect(isSourceAllowed(filter, '100.128.0.0')).toBe(false);
      expect(isSourceAllowed(filter, '2001:db8::5')).toBe(true);
      expect(isSourceAllowed(filter, '10.0.0.1')).toBe(true);
    });
  });

  describe('when the listener has allowedSources', () => {
    const allowed = new SourceFilter({
      scheme: 'internet-facing',
      allowedSources: ['203.0.113.0/24', '2001:db8:1::/48'],
      internalSources: [],
    });

    it('accepts only those blocks', () => {
      expect(isSourceAllowed(allowed, '203.0.113.7')).toBe(true);
      expect(isSourceAllowed(allowed, '::ffff:203.0.113.7')).toBe(true);
      expect(isSourceAllowed(allowed, '2001:db8:1:ffff::1')).toBe(true);
      expect(isSourceAllowed(allowed, '203.0.114.7')).toBe(false);
      expect(isSourceAllowed(allowed, '127.0.0.1')).toBe(false);
      expect(isSourceAllowed(allowed, '2001:db8:2::1')).toBe(false);
    });

    it('needs both checks when the listener is also internal', () => {
      const both = new SourceFilter({
        scheme: 'internal',
        allowedSources: ['10.1.0.0/16'],
        internalSources: [],
      });
      expect(isSourceAllowed(both, '10.1.2.3')).toBe(true);
      expect(isSourceAllowed(both, '10.2.0.1')).toBe(false);
      const publicAllowed = new SourceFilter({
        scheme: 'internal',
        allowedSources: ['8.8.8.0/24'],
        internalSources: [],
      });
      expect(isSourceAllowed(publicAllowed, '8.8.8.8')).toBe(false);
    });
  });

  describe('when the listener is internet-facing without allowedSources', () => {
    it('accepts anything, without parsing', () => {
      const open = new SourceFilter({ scheme: 'internet-facing', allowedSources: [], internalSources: [] });
      expect(open.isOpen).toBe(true);
      for (const address of ['8.8.8.8', '::1', '', undefined])
        expect(isSourceAllowed(open, address)).toBe(true);
    });
  });
});
