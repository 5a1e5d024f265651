/**
 * SPIFFE IDs and ID patterns (src/shared/spiffe.ts): what counts as a
 * workload ID, and which IDs a pattern admits. Both sides of the mesh rely
 * on these answers: the issuer before it signs, a listener before it lets a
 * caller in, a group before it sends a request.
 */
import { describe, expect, it } from 'vitest';
import {
  compileSpiffePatterns,
  parseSpiffeId,
  spiffeIdOfSan,
  spiffeIdProblem,
} from '../../../../src/shared/spiffe.ts';

describe('spiffeIdProblem', () => {
  it.each([
    'spiffe://ferry.local/ns/default/sa/web',
    'spiffe://example.org/a',
    'spiffe://td_1.example-2/x.y/z_-',
  ])('accepts %s', (id) => {
    expect(spiffeIdProblem(id)).toBeNull();
  });

  it.each([
    ['https://ferry.local/ns/a', 'must start with spiffe://'],
    ['spiffe://ferry.local', 'has no path'],
    ['spiffe://ferry.local/', 'has no path'],
    ['spiffe:///ns/a', 'has no trust domain'],
    ['spiffe://Ferry.Local/ns/a', 'trust domain'],
    ['spiffe://ferry.local:8443/ns/a', 'trust domain'],
    ['spiffe://ferry.local/ns//a', 'has an empty path segment'],
    ['spiffe://ferry.local/ns/../a', 'has a . or .. path segment'],
    ['spiffe://ferry.local/ns/a?x=1', 'path segment'],
    ['spiffe://ferry.local/ns/*', 'path segment'],
  ])('refuses %s', (id, problem) => {
    expect(spiffeIdProblem(id)).toContain(problem);
  });

  it('accepts * segments and a final /** in patterns only', () => {
    expect(spiffeIdProblem('spiffe://ferry.local/ns/*/sa/web-*', true)).toBeNull();
    expect(spiffeIdProblem('spiffe://ferry.local/ns/payments/**', true)).toBeNull();
    expect(spiffeIdProblem('spiffe://ferry.local/**/sa', true)).toContain(
      '** may only be the whole last segment',
    );
  });
});

describe('parseSpiffeId', () => {
  it('splits the trust domain from the path', () => {
    expect(parseSpiffeId('spiffe://ferry.local/ns/default/sa/web')).toEqual({
      trustDomain: 'ferry.local',
      path: '/ns/default/sa/web',
    });
    expect(parseSpiffeId('spiffe://ferry.local')).toBeNull();
  });
});

describe('compileSpiffePatterns', () => {
  const isAllowed = compileSpiffePatterns([
    'spiffe://ferry.local/ns/default/sa/*',
    'spiffe://ferry.local/ns/payments/**',
    'spiffe://ferry.local/exact',
  ]);

  it.each([
    ['spiffe://ferry.local/ns/default/sa/web', true],
    ['spiffe://ferry.local/ns/default/sa/a/b', false],
    ['spiffe://ferry.local/ns/payments/sa/api', true],
    ['spiffe://ferry.local/ns/payments', false],
    ['spiffe://ferry.local/exact', true],
    ['spiffe://ferry.local/exactly', false],
    ['spiffe://other.local/ns/default/sa/web', false],
    ['spiffe://ferry.localx/ns/default/sa/web', false],
    // A dot in a pattern is a dot, not "any character".
    ['spiffe://ferryxlocal/ns/default/sa/web', false],
  ])('when the ID is %s, answers %s', (id, expected) => {
    expect(isAllowed(id)).toBe(expected);
  });

  it('admits nothing with no patterns', () => {
    expect(compileSpiffePatterns([])('spiffe://ferry.local/ns/a')).toBe(false);
  });
});

describe('spiffeIdOfSan', () => {
  it('reads the one URI SAN as the SPIFFE ID', () => {
    expect(spiffeIdOfSan('URI:spiffe://ferry.local/ns/a, DNS:web.example')).toBe('spiffe://ferry.local/ns/a');
  });

  it('sees no identity in several URI SANs, none, or a URI that is not a SPIFFE ID', () => {
    expect(spiffeIdOfSan('URI:spiffe://ferry.local/ns/a, URI:spiffe://ferry.local/ns/b')).toBeNull();
    expect(spiffeIdOfSan('DNS:web.example')).toBeNull();
    expect(spiffeIdOfSan(undefined)).toBeNull();
    expect(spiffeIdOfSan('URI:https://web.example/')).toBeNull();
  });
});
