/**
 * workers/route/match: the hot-path matchers, checked against naive
 * references (a RegExp built from the pattern; BigInt prefix comparison for
 * CIDR blocks), and the rule semantics (first match by priority, AND across
 * conditions, OR within one) on compiled listeners.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { TopologyListener, TopologyRule } from '../../../../proto/thread-messages.ts';
import { IP_NONE, IP_V4, IP_V6, parseCidr, parseIp } from '../../../../src/shared/ip.ts';
import { LISTENER_TIMEOUTS_DEFAULT } from '../../../../src/shared/limits.ts';
import type { RequestHead } from '../../../../workers/http/http1-types.ts';
import { createRequestHead } from '../../../../workers/http/parse-request-head.ts';
import { CidrTable, CompiledListener, WildcardPattern } from '../../../../workers/route/compile.ts';
import { matchCidr, matchFlow, matchListener, matchWildcard } from '../../../../workers/route/match.ts';

// === Wildcards ===
/** Reference: the pattern as an anchored RegExp (`*` -> any run, `?` -> one character). */
function referenceMatch(pattern: string, text: string, isCaseFold: boolean): boolean {
  const source = [...pattern]
    .map((c) =>
      c === '*' ? '[\\s\\S]*' : c === '?' ? '[\\s\\S]' : c.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&'),
    )
    .join('');
  return new RegExp(`^${source}$`, isCaseFold ? 'i' : '').test(text);
}

/** Small alphabets make matches (and near misses) likely. */
const patternArbitrary = fc.stringMatching(/^[abAB*?/.]{0,12}$/);
const textArbitrary = fc.stringMatching(/^[abAB/.]{0,16}$/);

describe('matchWildcard', () => {
  it('agrees with a RegExp reference, case-sensitive', () => {
    fc.assert(
      fc.property(patternArbitrary, textArbitrary, (pattern, text) => {
        const compiled = new WildcardPattern(pattern, false);
        expect(matchWildcard(compiled, text, 0, text.length)).toBe(referenceMatch(pattern, text, false));
      }),
      { numRuns: 5_000 },
    );
  });

  it('agrees with a RegExp reference, case-blind', () => {
    fc.assert(
      fc.property(patternArbitrary, textArbitrary, (pattern, text) => {
        const compiled = new WildcardPattern(pattern, true);
        expect(matchWildcard(compiled, text, 0, text.length)).toBe(referenceMatch(pattern, text, true));
      }),
      { numRuns: 5_000 },
    );
  });

  it('matches only inside the given range of a longer string', () => {
    fc.assert(
      fc.property(
        patternArbitrary,
        textArbitrary,
        textArbitrary,
        textArbitrary,
        (pattern, before, text, after) => {
          const compiled = new WildcardPattern(pattern, false);
          const whole = before + text + after;
          expect(matchWildcard(compiled, whole, before.length, before.length + text.length)).toBe(
            referenceMatch(pattern, text, false),
          );
        },
      ),
      { numRuns: 2_000 },
    );
  });

  it.each([
    ['/api/*', '/api/users', true],
    ['/api/*', '/api', false],
    ['/api/*', '/api/', true],
    ['*.example.com', 'www.example.com', true],
    ['*.example.com', 'example.com', false],
    ['admin.*', 'ADMIN.example.com', true],
    ['/img/??.png', '/img/ab.png', true],
    ['/img/??.png', '/img/abc.png', false],
    ['*', '', true],
    ['a*b*c', 'abc', true],
    ['a*b*c', 'acb', false],
    ['*a*a*a*b', 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', false],
  ])('%j against %j is %s', (pattern, text, expected) => {
    const compiled = new WildcardPattern(pattern, pattern.includes('example') || pattern.startsWith('admin'));
    expect(matchWildcard(compiled, text, 0, text.length)).toBe(expected);
  });

  it.each([
    [`/*${'a'.repeat(60)}b*${'a'.repeat(60)}c`, 61],
    ['/*aaaa*aaaa*b*', 4],
  ])(
    'reads at most (path length x longest segment) characters of a 16 KiB path for %s',
    (pattern, longestSegment) => {
      const path = `/${'a'.repeat(16_383)}`;
      const compiled = new WildcardPattern(pattern, false);
      // The path, counting its character reads (the matcher's only access to it): a step count, not a
      // clock. Past the bound it throws, so a backtracking matcher fails here instead of running for hours.
      const readsMax = path.length * longestSegment;
      let reads = 0;
      const counted = {
        length: path.length,
        charCodeAt(index: number): number {
          reads++;
          if (reads > readsMax) throw new Error(`more than ${readsMax} character reads`);
          return path.charCodeAt(index);
        },
      } as unknown as string;
      expect(matchWildcard(compiled, counted, 0, path.length)).toBe(false);
      expect(reads).toBeGreaterThan(0);
    },
  );
});

// === CIDR ===
function bigOf(family: number, words: Int32Array): bigint {
  if (family === IP_V4) return BigInt(words[0]! >>> 0);
  let value = 0n;
  for (let i = 0; i < 4; i++) value = (value << 32n) | BigInt(words[i]! >>> 0);
  return value;
}

/** Reference: same family and the top `prefix` bits equal, in BigInt. */
function referenceInBlock(address: string, block: string): boolean {
  const words = new Int32Array(4);
  const family = parseIp(address, words);
  const parsed = parseCidr(block);
  if (!parsed.ok || family === IP_NONE || family !== parsed.value.family) return false;
  const bits = family === IP_V4 ? 32 : 128;
  const shift = BigInt(bits - parsed.value.prefixLength);
  const networkWords = Int32Array.from(parsed.value.words);
  return bigOf(family, words) >> shift === bigOf(family, networkWords) >> shift;
}

function dotted(value: number): string {
  return [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join('.');
}

function v6Text(value: bigint): string {
  return Array.from({ length: 8 }, (_, i) => ((value >> BigInt(112 - 16 * i)) & 0xffffn).toString(16)).join(
    ':',
  );
}

/** A canonical block from an address and a prefix (host bits cleared). */
function blockOf(address: string, prefixLength: number): string {
  const words = new Int32Array(4);
  const family = parseIp(address, words);
  const bits = family === IP_V4 ? 32 : 128;
  const value = bigOf(family, words);
  const network = (value >> BigInt(bits - prefixLength)) << BigInt(bits - prefixLength);
  const text = family === IP_V4 ? dotted(Number(network)) : v6Text(network);
  return `${text}/${prefixLength}`;
}

/** An address near a given one (same high bits, random low bits) so prefix hits are frequent. */
const v4Pair = fc
  .tuple(
    fc.integer({ min: 0, max: 2 ** 32 - 1 }),
    fc.integer({ min: 0, max: 32 }),
    fc.integer({ min: 0, max: 31 }),
    fc.boolean(),
  )
  .map(([base, prefix, flipBit, isSame]) => {
    const other = (base ^ (1 << flipBit)) >>> 0;
    return { block: blockOf(dotted(base), prefix), address: dotted(isSame ? base : other) };
  });
const v6Pair = fc
  .tuple(
    fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }),
    fc.integer({ min: 0, max: 128 }),
    fc.integer({ min: 0, max: 127 }),
  )
  .filter(([base]) => base >> 32n !== 0xffffn) // IPv4-mapped space parses as IPv4
  .map(([base, prefix, flipBit]) => ({
    block: blockOf(v6Text(base), prefix),
    address: v6Text(flipBit % 2 === 0 ? base : base ^ (1n << BigInt(flipBit))),
  }));

describe('matchCidr', () => {
  const words = new Int32Array(4);

  it.each([
    ['IPv4', v4Pair],
    ['IPv6', v6Pair],
  ])('agrees with a BigInt prefix reference for %s', (_family, pairs) => {
    fc.assert(
      fc.property(pairs, ({ block, address }) => {
        const table = new CidrTable([block]);
        const family = parseIp(address, words);
        expect(matchCidr(table, family, words)).toBe(referenceInBlock(address, block));
      }),
      { numRuns: 3_000 },
    );
  });

  it('matches when any block of a mixed table does', () => {
    const table = new CidrTable(['10.0.0.0/8', 'fc00::/7', '192.168.1.0/24']);
    const cases: [string, boolean][] = [
      ['10.1.2.3', true],
      ['11.0.0.0', false],
      ['192.168.1.200', true],
      ['192.168.2.1', false],
      ['fd12::1', true],
      ['fe80::1', false],
      ['::ffff:10.9.9.9', true],
    ];
    for (const [address, expected] of cases) {
      expect(matchCidr(table, parseIp(address, words), words), address).toBe(expected);
    }
  });

  it('never matches an unparsable address', () => {
    expect(matchCidr(new CidrTable(['0.0.0.0/0', '::/0']), IP_NONE, words)).toBe(false);
  });

  it('keeps IPv4 and IPv6 apart (0.0.0.0/0 is not ::/0)', () => {
    expect(matchCidr(new CidrTable(['0.0.0.0/0']), parseIp('::1', words), words)).toBe(false);
    expect(matchCidr(new CidrTable(['::/0']), parseIp('127.0.0.1', words), words)).toBe(false);
    expect(parseIp('::1', words)).toBe(IP_V6);
  });
});

// === Listener rules ===
function request(
  fields: Partial<Pick<RequestHead, 'method' | 'target' | 'host'>>,
  headers: [string, string][] = [],
) {
  const req = createRequestHead();
  req.method = fields.method ?? 'GET';
  req.target = fields.target ?? '/';
  req.host = fields.host ?? 'example.com';
  req.headerNames = headers.map(([name]) => name);
  req.headerValues = headers.map(([, value]) => value);
  req.headerCount = headers.length;
  return req;
}

const EMPTY_CONDITIONS = {
  hostHeader: [],
  pathPattern: [],
  httpHeader: [],
  httpRequestMethod: [],
  queryString: [],
  sourceIp: [],
};

function rule(priority: number, conditions: Partial<TopologyRule['conditions']>): TopologyRule {
  return {
    priority,
    conditions: { ...EMPTY_CONDITIONS, ...conditions },
    action: { type: 'fixedResponse', statusCode: 200, contentType: 'text/plain', body: `rule ${priority}` },
  };
}

function compile(rules: TopologyRule[]): CompiledListener {
  const listener: TopologyListener = {
    name: 'web',
    protocol: 'HTTP',
    host: '127.0.0.1',
    port: 8080,
    timeouts: LISTENER_TIMEOUTS_DEFAULT,
    defaultGroupIndex: 0,
    isTargetHeaderOn: false,
    tls: null,
    routing: {
      rules,
      defaultAction: { type: 'fixedResponse', statusCode: 404, contentType: 'text/plain', body: 'default' },
      scheme: 'internet-facing',
      allowedSources: [],
      internalSources: [],
    },
  };
  return new CompiledListener(listener, new Map([['app', 0]]));
}

/** Priority of the rule that matched, or 0 for the default action. */
function matchedPriority(listener: CompiledListener, req: RequestHead, remoteAddress = '127.0.0.1'): number {
  const index = matchListener(listener, req, remoteAddress);
  return index === listener.defaultActionIndex ? 0 : listener.rules[index]!.priority;
}

describe('matchListener', () => {
  describe('when several rules match', () => {
    it('picks the lowest priority, whatever the order rules were listed in', () => {
      const listener = compile([
        rule(30, { pathPattern: ['/*'] }),
        rule(10, { pathPattern: ['/api/*'] }),
        rule(20, { hostHeader: ['*.com'] }),
      ]);
      expect(matchedPriority(listener, request({ target: '/api/x' }))).toBe(10);
      expect(matchedPriority(listener, request({ target: '/web' }))).toBe(20);
      expect(matchedPriority(listener, request({ target: '/web', host: 'example.org' }))).toBe(30);
      expect(listener.actionLabels).toEqual(['10', '20', '30', 'default']);
    });
  });

  describe('when a rule has several conditions', () => {
    it('needs every condition (AND) and any value of each (OR)', () => {
      const listener = compile([
        rule(1, {
          pathPattern: ['/a/*', '/b/*'],
          httpRequestMethod: ['GET', 'HEAD'],
          httpHeader: [{ name: 'x-env', values: ['canary', 'beta*'] }],
        }),
      ]);
      const headers: [string, string][] = [['x-env', 'BETA-2']];
      expect(matchedPriority(listener, request({ target: '/b/1', method: 'HEAD' }, headers))).toBe(1);
      expect(matchedPriority(listener, request({ target: '/c/1', method: 'HEAD' }, headers))).toBe(0);
      expect(matchedPriority(listener, request({ target: '/b/1', method: 'POST' }, headers))).toBe(0);
      expect(matchedPriority(listener, request({ target: '/b/1' }, [['x-env', 'prod']]))).toBe(0);
      expect(matchedPriority(listener, request({ target: '/b/1' }))).toBe(0);
    });
  });

  it('matches the host without its port, and an absolute-form target by its path', () => {
    const listener = compile([rule(1, { hostHeader: ['api.example.com'], pathPattern: ['/v1/*'] })]);
    expect(matchedPriority(listener, request({ host: 'API.example.com:8443', target: '/v1/x' }))).toBe(1);
    expect(
      matchedPriority(
        listener,
        request({ host: 'api.example.com', target: 'http://api.example.com/v1/y?q' }),
      ),
    ).toBe(1);
  });

  it('matches query parameters by key (case-blind) and raw value, or by value alone', () => {
    const listener = compile([
      rule(1, { queryString: [{ key: 'version', value: 'v2*' }] }),
      rule(2, { queryString: [{ key: null, value: 'debug' }] }),
    ]);
    expect(matchedPriority(listener, request({ target: '/?a=1&VERSION=v2.1' }))).toBe(1);
    expect(matchedPriority(listener, request({ target: '/?version=v1&x=debug' }))).toBe(2);
    expect(matchedPriority(listener, request({ target: '/?version' }))).toBe(0);
    expect(matchedPriority(listener, request({ target: '/path?version=v1%32' }))).toBe(0);
  });

  it('matches the client address against sourceIp blocks', () => {
    const listener = compile([rule(1, { sourceIp: ['10.0.0.0/8', '::1/128'] })]);
    expect(matchedPriority(listener, request({}), '10.2.3.4')).toBe(1);
    expect(matchedPriority(listener, request({}), '::1')).toBe(1);
    expect(matchedPriority(listener, request({}), '127.0.0.1')).toBe(0);
    expect(matchedPriority(listener, request({}), '')).toBe(0);
  });

  it('returns the default action when no rule matches', () => {
    const listener = compile([rule(1, { httpRequestMethod: ['DELETE'] })]);
    expect(matchListener(listener, request({}), '127.0.0.1')).toBe(listener.defaultActionIndex);
  });
});

describe('matchFlow', () => {
  const listener = compile([
    rule(1, { sni: ['db.test'], sourceIp: ['10.0.0.0/8'] }),
    rule(2, { sni: ['*.test'] }),
    rule(3, { sourceIp: ['192.0.2.0/24'] }),
  ]);
  function flowPriority(serverName: string, sourceAddress: string): number {
    const index = matchFlow(listener, serverName, sourceAddress);
    return index === listener.defaultActionIndex ? 0 : listener.rules[index]!.priority;
  }

  it('needs both sni and sourceIp when a rule has both, and matches either alone otherwise', () => {
    expect(flowPriority('db.test', '10.1.2.3')).toBe(1);
    expect(flowPriority('db.test', '192.0.2.1')).toBe(2);
    expect(flowPriority('api.test', '10.1.2.3')).toBe(2);
    expect(flowPriority('other.example', '192.0.2.1')).toBe(3);
  });

  it('matches no sni condition when the connection named no server', () => {
    expect(flowPriority('', '10.1.2.3')).toBe(0);
    expect(flowPriority('', '192.0.2.9')).toBe(3);
  });
});
