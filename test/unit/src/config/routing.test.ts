/**
 * Routing and stickiness config (src/config/routing-schema.ts and
 * routing-rules.ts): what valid input normalises to, and every kind of bad
 * input reported with its path.
 */
import { describe, expect, it } from 'vitest';
import { type ConfigResult, parseConfig } from '../../../../src/config/index.ts';

function parse(listenerYaml: string, groupsYaml = '', extraListeners = ''): ConfigResult {
  return parseConfig(
    `listeners:
  - name: web
    address: 127.0.0.1:8080
${listenerYaml}
${extraListeners}
targetGroups:
  - name: api
  - name: web
  - name: blue
  - name: green
${groupsYaml}
`,
    'routing.yaml',
  );
}

/** `path: message` of every error (lines left out). */
function errorsOf(result: ConfigResult): string[] {
  if (result.ok) return [];
  return result.errors.map((error) => `${error.path}: ${error.message}`);
}

function snapshotOf(result: ConfigResult) {
  if (!result.ok) throw new Error(`unexpected errors:\n${errorsOf(result).join('\n')}`);
  return result.snapshot;
}

const DEFAULT_FORWARD = '    defaultAction: { forward: { targetGroup: web } }';

describe('listener rules', () => {
  describe('when valid', () => {
    it('sorts rules by priority and normalises conditions and actions', () => {
      const snapshot = snapshotOf(
        parse(`    rules:
      - priority: 20
        conditions: { hostHeader: ["admin.*"] }
        action: { forward: { targetGroups: [ { name: blue, weight: 90 }, { name: green, weight: 10 } ], stickiness: { enabled: true, duration: 1h } } }
      - priority: 10
        conditions:
          pathPattern: ["/api/*"]
          httpRequestMethod: [GET, POST]
          httpHeader: { name: X-Env, values: [canary] }
          queryString: [ { key: Version, value: "v2*" }, { value: debug } ]
          sourceIp: ["10.0.0.0/8", "FD00::/8"]
        action: { forward: { targetGroup: api } }
${DEFAULT_FORWARD}`),
      );
      const listener = snapshot.listeners[0]!;
      expect(listener.rules.map((rule) => rule.priority)).toEqual([10, 20]);
      expect(listener.rules[0]!.conditions).toEqual({
        hostHeader: [],
        pathPattern: ['/api/*'],
        httpHeader: [{ name: 'x-env', values: ['canary'] }],
        httpRequestMethod: ['GET', 'POST'],
        queryString: [
          { key: 'version', value: 'v2*' },
          { key: null, value: 'debug' },
        ],
        sourceIp: ['10.0.0.0/8', 'fd00::/8'],
      });
      expect(listener.rules[1]!.action).toEqual({
        type: 'forward',
        targetGroups: [
          { name: 'blue', weight: 90 },
          { name: 'green', weight: 10 },
        ],
        stickiness: { enabled: true, durationMs: 3_600_000 },
      });
      expect(listener.forwardTargetGroups).toEqual(['web', 'api', 'blue', 'green']);
    });

    it('fills redirect and fixed response defaults (ALB)', () => {
      const snapshot = snapshotOf(
        parse(`    rules:
      - priority: 1
        conditions: { pathPattern: ["/old/*"] }
        action: { redirect: { protocol: HTTPS, statusCode: 301 } }
      - priority: 2
        conditions: { pathPattern: ["/ping"] }
        action: { fixedResponse: { statusCode: 200 } }
${DEFAULT_FORWARD}`),
      );
      const [redirect, fixed] = snapshot.listeners[0]!.rules.map((rule) => rule.action);
      expect(redirect).toEqual({
        type: 'redirect',
        protocol: 'HTTPS',
        host: '#{host}',
        port: '#{port}',
        path: '/#{path}',
        query: '#{query}',
        statusCode: 301,
      });
      expect(fixed).toEqual({ type: 'fixedResponse', statusCode: 200, contentType: 'text/plain', body: '' });
    });

    it('accepts a redirect or fixed response as the default action', () => {
      const snapshot = snapshotOf(
        parse('    defaultAction: { redirect: { protocol: HTTPS, port: 443, statusCode: 302 } }'),
      );
      expect(snapshot.listeners[0]!.defaultAction).toMatchObject({ type: 'redirect', port: '443' });
      expect(snapshot.listeners[0]!.forwardTargetGroups).toEqual([]);
    });

    it('canonicalises allowedSources and internalSources', () => {
      const snapshot = snapshotOf(
        parse(`    scheme: internal
    allowedSources: ["10.1.0.0/16", "::1"]
    internalSources: ["100.64.0.0/10"]
${DEFAULT_FORWARD}`),
      );
      expect(snapshot.listeners[0]).toMatchObject({
        scheme: 'internal',
        allowedSources: ['10.1.0.0/16', '::1/128'],
        internalSources: ['100.64.0.0/10'],
      });
    });
  });

  describe('when invalid', () => {
    const RULE = (conditions: string, action = '{ forward: { targetGroup: api } }', priority = 1) =>
      `      - { priority: ${priority}, conditions: ${conditions}, action: ${action} }`;
    const cases: [string, string, string][] = [
      [
        'a bad host wildcard',
        RULE('{ hostHeader: ["a b.com"] }'),
        "listeners[0].rules[0].conditions.hostHeader[0]: expected a host name pattern (letters, digits, '.', '-', and the wildcards * and ?), got \"a b.com\"",
      ],
      [
        'a doubled star',
        RULE('{ pathPattern: ["/a/**"] }'),
        'listeners[0].rules[0].conditions.pathPattern[0]: "**" is the same as "*"; write one * (got "/a/**")',
      ],
      [
        'a path not starting with /',
        RULE('{ pathPattern: ["api/*"] }'),
        'listeners[0].rules[0].conditions.pathPattern[0]: a path pattern starts with / (or a wildcard), got "api/*"',
      ],
      [
        'an empty pattern',
        RULE('{ pathPattern: [""] }'),
        'listeners[0].rules[0].conditions.pathPattern[0]: expected a path pattern, got ""',
      ],
      [
        'a pattern over 128 characters',
        RULE(`{ pathPattern: ["/${'a'.repeat(128)}"] }`),
        'listeners[0].rules[0].conditions.pathPattern[0]: expected a path pattern of at most 128 characters, got 129',
      ],
      [
        'an empty value list',
        RULE('{ hostHeader: [] }'),
        'listeners[0].rules[0].conditions.hostHeader: expected at least one host pattern',
      ],
      [
        'a lower-case method',
        RULE('{ httpRequestMethod: [get] }'),
        "listeners[0].rules[0].conditions.httpRequestMethod[0]: expected an upper-case method name such as GET (A-Z, '_' or '-', at most 40), got \"get\"",
      ],
      [
        'a header name that is not a token',
        RULE('{ httpHeader: { name: "X Env", values: [a] } }'),
        'listeners[0].rules[0].conditions.httpHeader.name: expected a header name (an HTTP token), got "X Env"',
      ],
      [
        'an invalid CIDR',
        RULE('{ sourceIp: ["10.0.0.0/33"] }'),
        'listeners[0].rules[0].conditions.sourceIp[0]: expected a prefix length 0..32 after /, got "10.0.0.0/33"',
      ],
      [
        'a CIDR with host bits',
        RULE('{ sourceIp: ["192.168.1.1/16"] }'),
        'listeners[0].rules[0].conditions.sourceIp[0]: host bits are set (did you mean 192.168.0.0/16?), got "192.168.1.1/16"',
      ],
      [
        'a CIDR that is no address',
        RULE('{ sourceIp: ["localhost/8"] }'),
        'listeners[0].rules[0].conditions.sourceIp[0]: expected a CIDR block such as 10.0.0.0/8 or fc00::/7 (the address is not valid), got "localhost/8"',
      ],
      [
        'a rule without conditions',
        RULE('{}'),
        'listeners[0].rules[0].conditions: a rule needs at least one condition (hostHeader, pathPattern, httpHeader, httpRequestMethod, queryString, sourceIp or sni); use defaultAction for everything else',
      ],
      [
        'an unknown condition',
        RULE('{ pathPatern: ["/x"] }'),
        'listeners[0].rules[0].conditions.pathPatern: unknown key (did you mean pathPattern?)',
      ],
      [
        'a weight above 999',
        RULE('{ pathPattern: ["/"] }', '{ forward: { targetGroups: [ { name: blue, weight: 1000 } ] } }'),
        'listeners[0].rules[0].action.forward.targetGroups[0].weight: expected an integer 0..999, got 1000',
      ],
      [
        'a negative weight',
        RULE('{ pathPattern: ["/"] }', '{ forward: { targetGroups: [ { name: blue, weight: -1 } ] } }'),
        'listeners[0].rules[0].action.forward.targetGroups[0].weight: expected an integer 0..999, got -1',
      ],
      [
        'all weights 0',
        RULE(
          '{ pathPattern: ["/"] }',
          '{ forward: { targetGroups: [ { name: blue, weight: 0 }, { name: green, weight: 0 } ] } }',
        ),
        'listeners[0].rules[0].action.forward.targetGroups: every weight is 0: at least one target group needs a weight above 0',
      ],
      [
        'six weighted groups',
        RULE(
          '{ pathPattern: ["/"] }',
          '{ forward: { targetGroups: [ {name: api}, {name: web}, {name: blue}, {name: green}, {name: api}, {name: web} ] } }',
        ),
        'listeners[0].rules[0].action.forward.targetGroups: expected at most 5 target groups',
      ],
      [
        'a group twice',
        RULE('{ pathPattern: ["/"] }', '{ forward: { targetGroups: [ { name: blue }, { name: blue } ] } }'),
        'listeners[0].rules[0].action.forward.targetGroups[1].name: duplicate target group "blue" (also targetGroups[0])',
      ],
      [
        'an unknown group in a rule',
        RULE('{ pathPattern: ["/"] }', '{ forward: { targetGroup: apii } }'),
        'listeners[0].rules[0].action.forward.targetGroup: no target group named "apii" (did you mean "api"?)',
      ],
      [
        'an unknown weighted group',
        RULE('{ pathPattern: ["/"] }', '{ forward: { targetGroups: [ { name: purple } ] } }'),
        'listeners[0].rules[0].action.forward.targetGroups[0].name: no target group named "purple" (known: api, web, blue, green)',
      ],
      [
        'both targetGroup and targetGroups',
        RULE('{ pathPattern: ["/"] }', '{ forward: { targetGroup: api, targetGroups: [ { name: blue } ] } }'),
        'listeners[0].rules[0].action.forward: expected exactly one of targetGroup (one group) or targetGroups (several, by weight)',
      ],
      [
        'stickiness on a single group',
        RULE('{ pathPattern: ["/"] }', '{ forward: { targetGroup: api, stickiness: { enabled: true } } }'),
        'listeners[0].rules[0].action.forward.stickiness: applies only with targetGroups (group-level stickiness); for one group use its stickiness attribute',
      ],
      [
        'two actions',
        RULE(
          '{ pathPattern: ["/"] }',
          '{ forward: { targetGroup: api }, fixedResponse: { statusCode: 200 } }',
        ),
        'listeners[0].rules[0].action: expected exactly one of forward, redirect or fixedResponse, got 2',
      ],
      [
        'no action',
        RULE('{ pathPattern: ["/"] }', '{}'),
        'listeners[0].rules[0].action: expected exactly one of forward, redirect or fixedResponse, got none',
      ],
      [
        'a redirect loop',
        RULE('{ pathPattern: ["/"] }', '{ redirect: { statusCode: 301 } }'),
        'listeners[0].rules[0].action.redirect: this redirect sends clients to the URL they asked for (a loop): change protocol, host, port, path or query',
      ],
      [
        'a redirect status 307',
        RULE('{ pathPattern: ["/"] }', '{ redirect: { path: "/x", statusCode: 307 } }'),
        'listeners[0].rules[0].action.redirect.statusCode: expected 301 or 302, got 307',
      ],
      [
        'an unknown placeholder',
        RULE('{ pathPattern: ["/"] }', '{ redirect: { path: "/#{uri}", statusCode: 301 } }'),
        'listeners[0].rules[0].action.redirect.path: unknown placeholder #{uri}; allowed: #{protocol} #{host} #{port} #{path} #{query}',
      ],
      [
        'a redirect path without /',
        RULE('{ pathPattern: ["/"] }', '{ redirect: { path: "x", statusCode: 301 } }'),
        'listeners[0].rules[0].action.redirect.path: expected a path starting with /, got "x"',
      ],
      [
        'a redirect port out of range',
        RULE('{ pathPattern: ["/"] }', '{ redirect: { port: "70000", statusCode: 301 } }'),
        'listeners[0].rules[0].action.redirect.port: expected #{port} or a port 1..65535, got 70000',
      ],
      [
        'a fixed response 3xx',
        RULE('{ pathPattern: ["/"] }', '{ fixedResponse: { statusCode: 302 } }'),
        'listeners[0].rules[0].action.fixedResponse.statusCode: expected a status code 200..299 or 400..599 (use redirect for 3xx), got 302',
      ],
      [
        'a fixed body over 1 KiB',
        RULE('{ pathPattern: ["/"] }', `{ fixedResponse: { statusCode: 200, body: "${'x'.repeat(1025)}" } }`),
        'listeners[0].rules[0].action.fixedResponse.body: expected a body of at most 1024 bytes (UTF-8)',
      ],
      [
        'a bad content type',
        RULE('{ pathPattern: ["/"] }', '{ fixedResponse: { statusCode: 200, contentType: "text plain" } }'),
        'listeners[0].rules[0].action.fixedResponse.contentType: expected a media type such as text/plain or application/json, got "text plain"',
      ],
      [
        'a priority of 0',
        RULE('{ pathPattern: ["/"] }', '{ forward: { targetGroup: api } }', 0),
        'listeners[0].rules[0].priority: expected an integer 1..50000, got 0',
      ],
    ];

    it.each(cases)('reports %s with its path', (_label, ruleYaml, expected) => {
      expect(errorsOf(parse(`    rules:\n${ruleYaml}\n${DEFAULT_FORWARD}`))).toEqual([expected]);
    });

    it('reports duplicate priorities with the path of the second', () => {
      const result = parse(`    rules:
${RULE('{ pathPattern: ["/a"] }', '{ forward: { targetGroup: api } }', 10)}
${RULE('{ pathPattern: ["/b"] }', '{ forward: { targetGroup: api } }', 20)}
${RULE('{ pathPattern: ["/c"] }', '{ forward: { targetGroup: api } }', 10)}
${DEFAULT_FORWARD}`);
      expect(errorsOf(result)).toEqual([
        'listeners[0].rules[2].priority: duplicate priority 10 in this listener (also rules[0]); priorities decide the order, so each must be unique',
      ]);
    });

    it('reports every problem at once, in file order', () => {
      const result = parse(`    allowedSources: ["10.0.0.1/8"]
    rules:
${RULE('{ pathPattern: ["x"] }', '{ forward: { targetGroup: nope } }')}
    defaultAction: { forward: { targetGroups: [ { name: blue, weight: 0 } ] } }`);
      expect(errorsOf(result)).toEqual([
        'listeners[0].allowedSources[0]: host bits are set (did you mean 10.0.0.0/8?), got "10.0.0.1/8"',
        'listeners[0].rules[0].conditions.pathPattern[0]: a path pattern starts with / (or a wildcard), got "x"',
        'listeners[0].rules[0].action.forward.targetGroup: no target group named "nope" (known: api, web, blue, green)',
        'listeners[0].defaultAction.forward.targetGroups: every weight is 0: at least one target group needs a weight above 0',
      ]);
    });

    it('reports internalSources without scheme internal', () => {
      expect(errorsOf(parse(`    internalSources: ["100.64.0.0/10"]\n${DEFAULT_FORWARD}`))).toEqual([
        'listeners[0].internalSources: applies only with scheme: internal (this listener is internet-facing); use allowedSources to limit sources',
      ]);
    });

    it('reports HTTP conditions, redirects and weighted forwards on a TCP listener', () => {
      const tcp = `  - name: db
    protocol: TCP
    address: 127.0.0.1:5432
    rules: [ { priority: 1, conditions: { sourceIp: ["10.0.0.0/8"], pathPattern: ["/x"] }, action: { forward: { targetGroup: api } } } ]
    defaultAction: { forward: { targetGroups: [ { name: api }, { name: web } ] } }
  - name: db2
    protocol: TCP
    address: 127.0.0.1:5433
    defaultAction: { fixedResponse: { statusCode: 200 } }`;
      expect(errorsOf(parse(DEFAULT_FORWARD, '', tcp))).toEqual([
        'listeners[1].rules[0].conditions.pathPattern: a TCP listener sees no HTTP request: its rules match only sni and sourceIp',
        'listeners[1].defaultAction.forward.targetGroups: a TCP listener forwards to one target group: use targetGroup',
        'listeners[2].defaultAction.fixedResponse: applies only to HTTP and HTTPS listeners; a TCP listener forwards to one target group',
      ]);
    });
  });
});

describe('target-group stickiness', () => {
  it('defaults to off, lb_cookie, 1d', () => {
    const snapshot = snapshotOf(parse(DEFAULT_FORWARD));
    expect(snapshot.targetGroups[0]!.stickiness).toEqual({
      enabled: false,
      type: 'lb_cookie',
      durationMs: 86_400_000,
      cookieName: '',
    });
  });

  it('normalises app_cookie with its cookie name and duration', () => {
    const snapshot = snapshotOf(
      parse(
        DEFAULT_FORWARD,
        '  - name: sessions\n    stickiness: { enabled: true, type: app_cookie, cookieName: JSESSIONID, duration: 30m }',
      ),
    );
    expect(snapshot.targetGroups[4]!.stickiness).toEqual({
      enabled: true,
      type: 'app_cookie',
      durationMs: 1_800_000,
      cookieName: 'JSESSIONID',
    });
  });

  it.each([
    [
      'a duration under 1s',
      '{ enabled: true, duration: 500ms }',
      'targetGroups[4].stickiness.duration: expected a duration 1s..7d, got "500ms"',
    ],
    [
      'a duration over 7d',
      '{ enabled: true, duration: 8d }',
      'targetGroups[4].stickiness.duration: expected a duration 1s..7d, got "8d"',
    ],
    [
      'app_cookie without a name',
      '{ enabled: true, type: app_cookie }',
      "targetGroups[4].stickiness.cookieName: is required with type app_cookie (the application's session cookie)",
    ],
    [
      'a name with lb_cookie',
      '{ enabled: true, cookieName: SID }',
      'targetGroups[4].stickiness.cookieName: applies only to type app_cookie (lb_cookie uses a cookie Ferry names itself)',
    ],
    [
      "Ferry's own cookie name",
      '{ type: app_cookie, cookieName: FERRYLB-x }',
      "targetGroups[4].stickiness.cookieName: cookie names starting with FERRY are Ferry's own",
    ],
    [
      'an unknown type',
      '{ type: source_ip }',
      'targetGroups[4].stickiness.type: expected one of lb_cookie | app_cookie, got "source_ip"',
    ],
  ])('reports %s with its path', (_label, stickiness, expected) => {
    expect(errorsOf(parse(DEFAULT_FORWARD, `  - name: sessions\n    stickiness: ${stickiness}`))).toEqual([
      expected,
    ]);
  });

  it('reports stickiness on a group only TCP listeners reach', () => {
    const tcp = `  - name: db
    protocol: TCP
    address: 127.0.0.1:5432
    defaultAction: { forward: { targetGroup: sessions } }`;
    expect(
      errorsOf(parse(DEFAULT_FORWARD, '  - name: sessions\n    stickiness: { enabled: true }', tcp)),
    ).toEqual([
      'targetGroups[4].stickiness.enabled: stickiness needs HTTP requests (it works by cookies), but TCP listener "db" forwards to this group',
    ]);
  });
});
