/**
 * @module src/config/routing-schema
 *
 * The routing and stickiness keys of the config, as zod fields schema.ts
 * places into the listener and target-group schemas (ALB's words):
 *
 *   listeners[]:    rules, defaultAction (forward | redirect | fixedResponse),
 *                   allowedSources, internalSources        (scheme is in schema.ts)
 *   targetGroups[]: stickiness
 *
 * Thread: main (config time). Place in the flow: YAML -> schema.ts (+ these
 * fields) + rules.ts + routing-rules.ts (references, priorities, protocol
 * fit) -> ConfigSnapshot -> table/plan.ts -> Topology -> each worker compiles
 * the rules (workers/route/compile.ts).
 *
 * Outputs are already in the shape the workers receive (TopologyRule,
 * TopologyAction, TopologyStickiness in proto/thread-messages.ts): patterns
 * are checked here and compiled there, CIDR blocks are canonicalised here,
 * durations are integer ms. Kept apart from schema.ts so routing lives in one
 * place and schema.ts only gains the lines that place these fields.
 */
import { z } from 'zod';
import type {
  TopologyAction,
  TopologyRule,
  TopologyRuleConditions,
  TopologyStickiness,
} from '../../proto/thread-messages.ts';
import { parseCidr } from '../shared/ip.ts';
import {
  FIXED_RESPONSE_BODY_BYTES_MAX,
  FORWARD_TARGET_GROUPS_MAX,
  FORWARD_WEIGHT_MAX,
  ROUTE_CONDITION_VALUES_MAX,
  ROUTE_HEADER_CONDITIONS_MAX,
  ROUTE_PATTERN_LENGTH_MAX,
  ROUTE_RULES_MAX,
  SOURCE_CIDRS_MAX,
  STICKINESS_DURATION_MS_MAX,
  STICKINESS_DURATION_MS_MIN,
} from '../shared/limits.ts';
import { describeValue } from './config-error.ts';
import { booleanField, durationField, enumOf, integerIn, nameField, unlessMissing } from './fields.ts';

// === Vocabulary ===
export const STICKINESS_TYPES = ['lb_cookie', 'app_cookie'] as const;
export const REDIRECT_PROTOCOLS = ['HTTP', 'HTTPS', '#{protocol}'] as const;
export const REDIRECT_STATUS_CODES = [301, 302] as const;
/** Placeholders a redirect part may hold (ALB's). */
export const REDIRECT_PLACEHOLDERS = ['#{protocol}', '#{host}', '#{port}', '#{path}', '#{query}'] as const;
/** Lowest and highest rule priority (ALB's 1..50000). */
export const RULE_PRIORITY_MIN = 1;
export const RULE_PRIORITY_MAX = 50_000;
/**
 * Cookie names Ferry sets itself start with this (`FERRYLB-<group>`,
 * `FERRYAPP-<group>`, `FERRYTG-<listener>-<rule>` and their `…CORS`
 * companions), so an app_cookie `cookieName` may not.
 */
export const FERRY_COOKIE_PREFIX = 'FERRY';

const DEFAULT_STICKINESS_DURATION = '1d';
const DEFAULT_STICKINESS_DURATION_MS = 86_400_000;
const HTTP_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Host patterns: DNS characters plus the two wildcards. */
const HOST_PATTERN_CHARS = /^[A-Za-z0-9.*?-]+$/;
/** Printable ASCII without space. */
const VISIBLE_ASCII = /^[!-~]+$/;
/** Printable ASCII with inner spaces (header values such as User-Agent). */
const VISIBLE_ASCII_WITH_SPACES = /^[!-~](?:[ -~]*[!-~])?$/;
/** A media type with optional parameters, e.g. `text/html; charset=utf-8`. */
const MEDIA_TYPE =
  /^[A-Za-z0-9!#$&^_.+-]+\/[A-Za-z0-9!#$&^_.+-]+(?:\s*;\s*[A-Za-z0-9!#$&^_.+-]+=(?:[A-Za-z0-9!#$&^_.+-]+|"[^"\\\r\n]*"))*$/;
const MEDIA_TYPE_LENGTH_MAX = 128;
const REDIRECT_PART_LENGTH_MAX = 128;
const COOKIE_NAME_LENGTH_MAX = 128;

// === Leaves ===
// Only this file's; the shared ones (integers, enums, names, durations) are in fields.ts.

/** A list of at most `max` entries of `item`. */
function listOf<T extends z.ZodType>(item: T, max: number, noun: string) {
  return z
    .array(item, {
      error: unlessMissing((input) => `expected a list of ${noun}, got ${describeValue(input)}`),
    })
    .max(max, { error: `expected at most ${max} ${noun}` });
}

/** Stickiness durations: 1s..7d. */
function stickinessDurationField() {
  return durationField(STICKINESS_DURATION_MS_MIN, STICKINESS_DURATION_MS_MAX);
}

// === Wildcard patterns ===
/** What each condition's patterns may contain, and how it is told. */
interface PatternRule {
  readonly noun: string;
  readonly chars: RegExp;
  readonly charsText: string;
  readonly mustStart?: { readonly test: (text: string) => boolean; readonly text: string };
}

/**
 * Why a wildcard pattern is refused, or undefined when it is fine. Exported
 * for the unit tests. `*` matches any run of characters (also none), `?`
 * exactly one; `**` is refused as a likely typo (it means the same as `*`).
 */
export function wildcardProblem(text: string, rule: PatternRule): string | undefined {
  if (text.length === 0) return `expected a ${rule.noun}, got ""`;
  if (text.length > ROUTE_PATTERN_LENGTH_MAX) {
    return `expected a ${rule.noun} of at most ${ROUTE_PATTERN_LENGTH_MAX} characters, got ${text.length}`;
  }
  if (!rule.chars.test(text)) return `expected ${rule.charsText}, got ${describeValue(text)}`;
  if (text.includes('**')) return `"**" is the same as "*"; write one * (got ${describeValue(text)})`;
  if (rule.mustStart !== undefined && !rule.mustStart.test(text)) {
    return `${rule.mustStart.text}, got ${describeValue(text)}`;
  }
  return undefined;
}

const HOST_PATTERN: PatternRule = {
  noun: 'host pattern',
  chars: HOST_PATTERN_CHARS,
  charsText: "a host name pattern (letters, digits, '.', '-', and the wildcards * and ?)",
};
const PATH_PATTERN: PatternRule = {
  noun: 'path pattern',
  chars: VISIBLE_ASCII,
  charsText: 'a path pattern of printable ASCII without spaces',
  mustStart: {
    test: (text) => text.startsWith('/') || text.startsWith('*') || text.startsWith('?'),
    text: 'a path pattern starts with / (or a wildcard)',
  },
};
const HEADER_VALUE_PATTERN: PatternRule = {
  noun: 'header value pattern',
  chars: VISIBLE_ASCII_WITH_SPACES,
  charsText: 'printable ASCII (inner spaces allowed)',
};
const QUERY_VALUE_PATTERN: PatternRule = {
  noun: 'query value pattern',
  chars: /^[!-"$-%'-~]+$/,
  charsText: "printable ASCII without spaces, '&' or '#' (match the value as sent, percent-encoded)",
};

function patternField(rule: PatternRule) {
  return z
    .string({ error: unlessMissing((input) => `expected a ${rule.noun}, got ${describeValue(input)}`) })
    .superRefine((text, ctx) => {
      const problem = wildcardProblem(text, rule);
      if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem, input: text });
    })
    .meta({ 'x-type': 'wildcard pattern' });
}

function patternListField(rule: PatternRule, description: string) {
  return listOf(patternField(rule), ROUTE_CONDITION_VALUES_MAX, `${rule.noun}s`)
    .min(1, { error: `expected at least one ${rule.noun}` })
    .optional()
    .describe(description);
}

// === CIDR blocks ===
function cidrField() {
  return z
    .string({
      error: unlessMissing(
        (input) => `expected a CIDR block such as 10.0.0.0/8 or fc00::/7, got ${describeValue(input)}`,
      ),
    })
    .transform((text, ctx) => {
      const parsed = parseCidr(text);
      if (parsed.ok) return parsed.value.text;
      ctx.addIssue({ code: 'custom', message: `${parsed.message}, got ${describeValue(text)}`, input: text });
      return z.NEVER;
    })
    .meta({ 'x-type': 'CIDR', 'x-allowed': '`a.b.c.d/n` or `ipv6/n`; a bare address is /32 or /128' });
}

/** A list of CIDR blocks, canonicalised. */
export function cidrListField() {
  return listOf(cidrField(), SOURCE_CIDRS_MAX, 'CIDR blocks').meta({
    'x-allowed': `at most ${SOURCE_CIDRS_MAX} blocks`,
  });
}

// === Conditions ===
const METHOD_PATTERN = /^[A-Z_-]{1,40}$/;
const QUERY_KEY_PATTERN = /^[!-"$-%'-<>-~]{1,128}$/;

const httpHeaderConditionSchema = z.strictObject({
  name: z
    .string({ error: unlessMissing((input) => `expected a header name, got ${describeValue(input)}`) })
    .max(256, { error: 'expected a header name of at most 256 characters' })
    .regex(HTTP_TOKEN, {
      error: (issue) => `expected a header name (an HTTP token), got ${describeValue(issue.input)}`,
    })
    .describe('Header name, matched case-blind.'),
  values: listOf(patternField(HEADER_VALUE_PATTERN), ROUTE_CONDITION_VALUES_MAX, 'header value patterns')
    .min(1, { error: 'expected at least one header value pattern' })
    .describe('Wildcard patterns, case-insensitive; any one matching a value of the header is enough.'),
});

const queryStringPairSchema = z
  .strictObject({
    key: z
      .string({
        error: unlessMissing((input) => `expected a query parameter name, got ${describeValue(input)}`),
      })
      .regex(QUERY_KEY_PATTERN, {
        error: (issue) =>
          `expected a query parameter name (1..128 printable characters, no spaces, '&', '=' or '#'), got ${describeValue(issue.input)}`,
      })
      .optional()
      .describe('Parameter name, case-insensitive and exact; leave it out to match any parameter.'),
    value: patternField(QUERY_VALUE_PATTERN).describe('Wildcard pattern for the value, case-insensitive.'),
  })
  .transform((pair) => ({ key: pair.key?.toLowerCase() ?? null, value: pair.value }));

const conditionsSchema = z
  .strictObject({
    hostHeader: patternListField(
      HOST_PATTERN,
      'Host names (`*` any run of characters, `?` one), case-insensitive, matched against the Host header without its port.',
    ),
    pathPattern: patternListField(
      PATH_PATTERN,
      'Path patterns (`*`, `?`), case-sensitive, matched against the path without the query string.',
    ),
    httpHeader: z
      .union(
        [
          httpHeaderConditionSchema,
          listOf(httpHeaderConditionSchema, ROUTE_HEADER_CONDITIONS_MAX, 'header conditions'),
        ],
        {
          // Only when neither form fits the input's type: otherwise zod reports the fitting form's own issues.
          error: (issue) =>
            issue.input === undefined || issue.code !== 'invalid_union'
              ? undefined
              : `expected { name, values } or a list of them, got ${describeValue(issue.input)}`,
        },
      )
      .optional()
      .meta({
        'x-type': '{ name, values } or a list of them',
        description:
          'A header whose value matches one of `values` (case-insensitive wildcards); a list needs every entry to match.',
      }),
    httpRequestMethod: listOf(
      z
        .string({ error: unlessMissing((input) => `expected a method name, got ${describeValue(input)}`) })
        .regex(METHOD_PATTERN, {
          error: (issue) =>
            `expected an upper-case method name such as GET (A-Z, '_' or '-', at most 40), got ${describeValue(issue.input)}`,
        }),
      ROUTE_CONDITION_VALUES_MAX,
      'methods',
    )
      .min(1, { error: 'expected at least one method' })
      .optional()
      .describe('Request methods, exact and case-sensitive (GET, POST, ...).'),
    queryString: listOf(queryStringPairSchema, ROUTE_CONDITION_VALUES_MAX, 'key/value pairs')
      .min(1, { error: 'expected at least one key/value pair' })
      .optional()
      .describe('Query parameters `{ key, value }`; any pair matching one parameter is enough.'),
    sourceIp: cidrListField()
      .min(1, { error: 'expected at least one CIDR block' })
      .optional()
      .describe(
        'CIDR blocks (IPv4 and IPv6) the client address must fall in (the socket peer, not X-Forwarded-For).',
      ),
    sni: patternListField(
      HOST_PATTERN,
      'TCP listeners only (TLS passthrough): server names (`*`, `?`), case-insensitive, matched against the SNI of the client’s TLS ClientHello, read without terminating TLS. A connection without SNI, or that is not TLS, takes the default action.',
    ),
  })
  .transform((conditions, ctx): TopologyRuleConditions => {
    const header = conditions.httpHeader;
    const output: TopologyRuleConditions = {
      hostHeader: conditions.hostHeader ?? [],
      pathPattern: conditions.pathPattern ?? [],
      httpHeader: (header === undefined ? [] : Array.isArray(header) ? header : [header]).map(
        (condition) => ({
          name: condition.name.toLowerCase(),
          values: condition.values,
        }),
      ),
      httpRequestMethod: conditions.httpRequestMethod ?? [],
      queryString: conditions.queryString ?? [],
      sourceIp: conditions.sourceIp ?? [],
      ...(conditions.sni === undefined ? {} : { sni: conditions.sni }),
    };
    const count =
      output.hostHeader.length +
      output.pathPattern.length +
      output.httpHeader.length +
      output.httpRequestMethod.length +
      output.queryString.length +
      output.sourceIp.length +
      (output.sni?.length ?? 0);
    // An unknown key (a misspelt condition) is reported on its own; "no condition" would only repeat it.
    const isMisspelt = ctx.issues.some((issue) => issue.code === 'unrecognized_keys');
    if (count === 0 && !isMisspelt) {
      ctx.addIssue({
        code: 'custom',
        message:
          'a rule needs at least one condition (hostHeader, pathPattern, httpHeader, httpRequestMethod, queryString, sourceIp or sni); use defaultAction for everything else',
        input: conditions,
      });
      return z.NEVER;
    }
    return output;
  });

// === Actions ===
const weightedGroupSchema = z.strictObject({
  name: nameField('target group name').describe('Target group name.'),
  weight: integerIn(0, FORWARD_WEIGHT_MAX)
    .default(1)
    .describe('Share of requests, relative to the other groups; 0 sends no new requests there.'),
});

const forwardSchema = z
  .strictObject({
    targetGroup: nameField('target group name').optional().describe('Forward to this one target group.'),
    targetGroups: listOf(weightedGroupSchema, FORWARD_TARGET_GROUPS_MAX, 'target groups')
      .min(1, { error: 'expected at least one target group' })
      .optional()
      .describe('Forward to several target groups by weight (blue/green, canary).'),
    stickiness: z
      .strictObject({
        enabled: booleanField().default(false).describe('Keep a client on the target group it got.'),
        duration: stickinessDurationField()
          .prefault(DEFAULT_STICKINESS_DURATION)
          .describe('How long a client stays on its group after its last request.'),
      })
      .optional()
      .describe('Group-level stickiness (only with `targetGroups`), by a cookie of its own.'),
  })
  .transform((forward, ctx): TopologyAction => {
    if ((forward.targetGroup === undefined) === (forward.targetGroups === undefined)) {
      ctx.addIssue({
        code: 'custom',
        message: 'expected exactly one of targetGroup (one group) or targetGroups (several, by weight)',
        input: forward,
      });
      return z.NEVER;
    }
    if (forward.targetGroup !== undefined) {
      if (forward.stickiness !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['stickiness'],
          message:
            'applies only with targetGroups (group-level stickiness); for one group use its stickiness attribute',
          input: forward.stickiness,
        });
        return z.NEVER;
      }
      return {
        type: 'forward',
        targetGroups: [{ name: forward.targetGroup, weight: 1 }],
        stickiness: { enabled: false, durationMs: DEFAULT_STICKINESS_DURATION_MS },
      };
    }
    const groups = forward.targetGroups ?? [];
    let isBad = false;
    const firstIndex = new Map<string, number>();
    groups.forEach((group, index) => {
      const first = firstIndex.get(group.name);
      if (first === undefined) firstIndex.set(group.name, index);
      else {
        isBad = true;
        ctx.addIssue({
          code: 'custom',
          path: ['targetGroups', index, 'name'],
          message: `duplicate target group ${JSON.stringify(group.name)} (also targetGroups[${first}])`,
          input: group.name,
        });
      }
    });
    if (groups.every((group) => group.weight === 0)) {
      isBad = true;
      ctx.addIssue({
        code: 'custom',
        path: ['targetGroups'],
        message: 'every weight is 0: at least one target group needs a weight above 0',
        input: groups,
      });
    }
    if (isBad) return z.NEVER;
    return {
      type: 'forward',
      targetGroups: groups.map((group) => ({ name: group.name, weight: group.weight })),
      stickiness: {
        enabled: forward.stickiness?.enabled ?? false,
        durationMs: forward.stickiness?.duration ?? DEFAULT_STICKINESS_DURATION_MS,
      },
    };
  });

/** Placeholders in `text` that are not ALB's five, or undefined. */
function unknownPlaceholder(text: string): string | undefined {
  for (const match of text.matchAll(/#\{[^}]*\}?/g)) {
    if (!(REDIRECT_PLACEHOLDERS as readonly string[]).includes(match[0])) return match[0];
  }
  return undefined;
}

function redirectPartField(noun: string, chars: RegExp, charsText: string, mustStartWithSlash: boolean) {
  return z
    .string({ error: unlessMissing((input) => `expected a ${noun}, got ${describeValue(input)}`) })
    .superRefine((text, ctx) => {
      const fail = (message: string) => ctx.addIssue({ code: 'custom', message, input: text });
      if (text.length > REDIRECT_PART_LENGTH_MAX) {
        fail(`expected a ${noun} of at most ${REDIRECT_PART_LENGTH_MAX} characters`);
        return;
      }
      const bare = text.replace(/#\{[a-z]*\}/g, ''); // placeholders are checked below
      if (bare.length > 0 && !chars.test(bare)) {
        fail(`expected ${charsText}, got ${describeValue(text)}`);
        return;
      }
      if (mustStartWithSlash && !text.startsWith('/')) {
        fail(`expected a path starting with /, got ${describeValue(text)}`);
        return;
      }
      const unknown = unknownPlaceholder(text);
      if (unknown !== undefined) {
        fail(`unknown placeholder ${unknown}; allowed: ${REDIRECT_PLACEHOLDERS.join(' ')}`);
      }
    });
}

const redirectSchema = z
  .strictObject({
    protocol: enumOf(REDIRECT_PROTOCOLS).default('#{protocol}').describe('Protocol of the new URL.'),
    host: redirectPartField(
      'host',
      /^[A-Za-z0-9.:[\]-]+$/,
      "a host name, address or placeholder (letters, digits, '.', '-', ':', '[', ']')",
      false,
    )
      .default('#{host}')
      .describe('Host of the new URL (`#{host}` is the request Host without its port).'),
    port: z
      .union([z.literal('#{port}'), integerIn(1, 65_535), z.string().regex(/^[1-9]\d{0,4}$/)], {
        error: unlessMissing((input) => `expected #{port} or a port 1..65535, got ${describeValue(input)}`),
      })
      .default('#{port}')
      .transform((port, ctx) => {
        const text = String(port);
        if (text !== '#{port}' && Number(text) > 65_535) {
          ctx.addIssue({
            code: 'custom',
            message: `expected #{port} or a port 1..65535, got ${text}`,
            input: port,
          });
          return z.NEVER;
        }
        return text;
      })
      .meta({
        'x-type': 'port or `#{port}`',
        description:
          'Port of the new URL; left out of the Location when it is the protocol’s default (80, 443).',
      }),
    path: redirectPartField('path', /^[!-"$-~]+$/, "printable ASCII without spaces or '#'", true)
      .default('/#{path}')
      .describe('Path of the new URL; `#{path}` is the request path without its leading `/` (as ALB).'),
    query: redirectPartField(
      'query',
      /^[!-"$-~]+$/,
      "printable ASCII without spaces or '#', and without the leading '?'",
      false,
    )
      .default('#{query}')
      .describe('Query of the new URL without `?`; `#{query}` is the request query. Empty: none.'),
    statusCode: z
      .union([z.literal(301), z.literal(302)], {
        error: unlessMissing((input) => `expected 301 or 302, got ${describeValue(input)}`),
      })
      .describe('301 (permanent) or 302 (found).'),
  })
  .transform((redirect, ctx): TopologyAction => {
    if (redirect.query.startsWith('?')) {
      ctx.addIssue({
        code: 'custom',
        path: ['query'],
        message: 'write the query without its leading ?',
        input: redirect.query,
      });
      return z.NEVER;
    }
    const isUnchanged =
      redirect.protocol === '#{protocol}' &&
      redirect.host === '#{host}' &&
      redirect.port === '#{port}' &&
      redirect.path === '/#{path}' &&
      redirect.query === '#{query}';
    if (isUnchanged) {
      ctx.addIssue({
        code: 'custom',
        message:
          'this redirect sends clients to the URL they asked for (a loop): change protocol, host, port, path or query',
        input: redirect,
      });
      return z.NEVER;
    }
    return {
      type: 'redirect',
      protocol: redirect.protocol,
      host: redirect.host,
      port: redirect.port,
      path: redirect.path,
      query: redirect.query,
      statusCode: redirect.statusCode,
    };
  });

const fixedResponseSchema = z
  .strictObject({
    statusCode: z
      .int({
        error: unlessMissing(
          (input) => `expected a status code 200..299 or 400..599, got ${describeValue(input)}`,
        ),
      })
      .refine((code) => (code >= 200 && code <= 299) || (code >= 400 && code <= 599), {
        error: (issue) =>
          `expected a status code 200..299 or 400..599 (use redirect for 3xx), got ${describeValue(issue.input)}`,
      })
      // The refine is invisible to the JSON schema, which would print the safe-integer range.
      .meta({ 'x-allowed': '200..299 or 400..599' })
      .describe('Status of the response (2xx, 4xx or 5xx).'),
    contentType: z
      .string({ error: unlessMissing((input) => `expected a media type, got ${describeValue(input)}`) })
      .max(MEDIA_TYPE_LENGTH_MAX, {
        error: `expected a media type of at most ${MEDIA_TYPE_LENGTH_MAX} characters`,
      })
      .regex(MEDIA_TYPE, {
        error: (issue) =>
          `expected a media type such as text/plain or application/json, got ${describeValue(issue.input)}`,
      })
      .default('text/plain')
      .describe('Content-Type of the response, sent as written.'),
    body: z
      .string({ error: unlessMissing((input) => `expected a string, got ${describeValue(input)}`) })
      .refine((body) => Buffer.byteLength(body, 'utf8') <= FIXED_RESPONSE_BODY_BYTES_MAX, {
        error: `expected a body of at most ${FIXED_RESPONSE_BODY_BYTES_MAX} bytes (UTF-8)`,
      })
      .default('')
      .describe(`Body of the response (UTF-8, at most ${FIXED_RESPONSE_BODY_BYTES_MAX} bytes).`),
  })
  .transform(
    (fixed): TopologyAction => ({
      type: 'fixedResponse',
      statusCode: fixed.statusCode,
      contentType: fixed.contentType,
      body: fixed.body,
    }),
  );

/** An action: exactly one of forward, redirect, fixedResponse. */
function actionField(description: string) {
  return z
    .strictObject({
      forward: forwardSchema.optional().describe('Forward to one target group, or to several by weight.'),
      redirect: redirectSchema.optional().describe('Answer with a 301/302 redirect built from the request.'),
      fixedResponse: fixedResponseSchema
        .optional()
        .describe('Answer with a fixed status, content type and body.'),
    })
    .transform((action, ctx): TopologyAction => {
      const chosen = [action.forward, action.redirect, action.fixedResponse].filter(
        (part) => part !== undefined,
      );
      if (chosen.length !== 1) {
        ctx.addIssue({
          code: 'custom',
          message: `expected exactly one of forward, redirect or fixedResponse, got ${chosen.length === 0 ? 'none' : chosen.length}`,
          input: action,
        });
        return z.NEVER;
      }
      return chosen[0]!;
    })
    .describe(description);
}

export const defaultActionField = actionField(
  'What the listener does with requests no rule matches (TCP listeners: forward to one group only).',
);

const ruleSchema = z.strictObject({
  priority: integerIn(RULE_PRIORITY_MIN, RULE_PRIORITY_MAX).describe(
    'Order of evaluation, lowest first; unique within the listener. The first rule that matches wins.',
  ),
  conditions: conditionsSchema.describe(
    'What a request must match: every condition given (AND), any value within one (OR).',
  ),
  action: actionField('What to do with a request the conditions match.'),
});

/** `listeners[].rules`: evaluated by priority, first match wins; output sorted. */
export const rulesField = listOf(ruleSchema, ROUTE_RULES_MAX, 'rules')
  .prefault([])
  .transform((rules): TopologyRule[] => [...rules].sort((a, b) => a.priority - b.priority))
  .describe(
    'Listener rules, by priority: conditions and an action (HTTP and HTTPS listeners; TCP listeners: `sni` conditions forwarding to one target group).',
  );

export const allowedSourcesField = cidrListField()
  .prefault([])
  .describe(
    'Accept connections only from these CIDR blocks (the security-group analogue, any listener); empty: any source.',
  );

export const internalSourcesField = cidrListField()
  .prefault([])
  .describe(
    'With `scheme: internal`: blocks treated as private besides loopback, 10/8, 172.16/12, 192.168/16 and fc00::/7.',
  );

/** Every target group a listener's actions forward to (default action first), without repeats. */
export function forwardTargetGroups(rules: readonly TopologyRule[], defaultAction: TopologyAction): string[] {
  const names = new Set<string>();
  for (const action of [defaultAction, ...rules.map((rule) => rule.action)]) {
    if (action.type === 'forward') for (const group of action.targetGroups) names.add(group.name);
  }
  return [...names];
}

// === Target-group stickiness ===
export const stickinessField = z
  .strictObject({
    enabled: booleanField().default(false).describe('Turn sticky sessions on.'),
    type: enumOf(STICKINESS_TYPES)
      .default('lb_cookie')
      .describe(
        'lb_cookie: Ferry sets its own cookie on the first response; app_cookie: only once the application sets `cookieName`.',
      ),
    duration: stickinessDurationField()
      .prefault(DEFAULT_STICKINESS_DURATION)
      .describe('How long a client stays on its target after its last request.'),
    cookieName: z
      .string({ error: unlessMissing((input) => `expected a cookie name, got ${describeValue(input)}`) })
      .max(COOKIE_NAME_LENGTH_MAX, {
        error: `expected a cookie name of at most ${COOKIE_NAME_LENGTH_MAX} characters`,
      })
      .regex(HTTP_TOKEN, {
        error: (issue) => `expected a cookie name (an HTTP token), got ${describeValue(issue.input)}`,
      })
      .optional()
      .describe(
        `app_cookie only: the application's session cookie (not starting with ${FERRY_COOKIE_PREFIX}).`,
      ),
  })
  .transform((stickiness, ctx): TopologyStickiness => {
    if (stickiness.type === 'app_cookie' && stickiness.cookieName === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['cookieName'],
        message: "is required with type app_cookie (the application's session cookie)",
        input: undefined,
      });
      return z.NEVER;
    }
    if (stickiness.type === 'lb_cookie' && stickiness.cookieName !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['cookieName'],
        message: 'applies only to type app_cookie (lb_cookie uses a cookie Ferry names itself)',
        input: stickiness.cookieName,
      });
      return z.NEVER;
    }
    if (stickiness.cookieName?.toUpperCase().startsWith(FERRY_COOKIE_PREFIX) === true) {
      ctx.addIssue({
        code: 'custom',
        path: ['cookieName'],
        message: `cookie names starting with ${FERRY_COOKIE_PREFIX} are Ferry's own`,
        input: stickiness.cookieName,
      });
      return z.NEVER;
    }
    return {
      enabled: stickiness.enabled,
      type: stickiness.type,
      durationMs: stickiness.duration,
      cookieName: stickiness.cookieName ?? '',
    };
  })
  .prefault({})
  .describe('Sticky sessions (ELB target-group attributes stickiness.*): keep a client on one target.');
