/**
 * @module src/config/schema
 *
 * The one schema of Ferry's config (zod 4). It gives, from a single source:
 *   - the runtime validation of each field (types, ranges, syntax, unknown keys);
 *   - the normalised snapshot shape and its TypeScript types (`z.output`):
 *     durations become integer `…Ms`, addresses `{ address, host, port }`,
 *     hash keys `{ key, kind, name }`, every default filled in;
 *   - the config reference (docs/config-reference.md, see reference.ts), from
 *     the `.describe()`/`.meta()` text here via `z.toJSONSchema`.
 *
 * Thread: main (config time). Place in the flow:
 *
 *   YAML text -> parse.ts -> **configSchema** (fields) + rules.ts (across fields)
 *             -> deep-frozen ConfigSnapshot -> table/, health/, supervisor/, workers
 *
 * Rules that compare several entries (duplicate names, a listener forwarding to
 * an unknown group, capacity) live in rules.ts, which runs on the raw input so
 * they are reported together with field errors rather than after them. The
 * field builders every schema file uses (integers, booleans, enums, names,
 * durations and their error messages) live in fields.ts.
 *
 * Meta keys used by the reference: `description`, and `x-type` (how a value is
 * written), `x-allowed` (values or range in words), `x-default` (a default that
 * depends on other keys), `x-internal` (not for users).
 */
import { z } from 'zod';
import { ALGORITHMS } from '../../proto/algorithms.ts';
import { WEIGHT_MAX } from '../../proto/table-layout.ts';
import {
  DEFAULT_MAX_TARGET_GROUPS,
  DEFAULT_MAX_TARGETS,
  HTTP_HEADER_TIMEOUT_MS,
  HTTP_KEEP_ALIVE_TIMEOUT_MS,
  HTTP_REQUEST_BODY_MIN_RATE_BYTES_PER_S,
  HTTP_REQUEST_BODY_TIMEOUT_MS,
  HTTP_SEND_TIMEOUT_MS,
  MAX_CONNECTIONS_CAP,
  MAX_CONNECTIONS_FD_RESERVE,
  MAX_WORKERS,
  RETRY_ATTEMPTS_DEFAULT,
  RETRY_ATTEMPTS_MAX,
  RETRY_BUDGET_PERCENT_DEFAULT,
  RETRY_MIN_CONCURRENCY_DEFAULT,
  SHUTDOWN_GRACE_MS,
  TLS_HANDSHAKE_TIMEOUT_MS,
  UPSTREAM_CONNECT_TIMEOUT_MS,
  UPSTREAM_RESPONSE_TIMEOUT_MS,
} from '../shared/limits.ts';
import { parseAddress } from './address.ts';
import { describeValue } from './config-error.ts';
import { controlField, failoverField } from './control-schema.ts';
import { crossZoneField, discoveryField, zoneAwareField, zoneField } from './discovery-schema.ts';
import { formatDurationMs } from './duration.ts';
import { booleanField, durationField, enumOf, integerIn, nameField, unlessMissing } from './fields.ts';
import { HASH_KEY_SYNTAX, parseHashKey } from './hash-key.ts';
import { identityField, identityOutput } from './identity-schema.ts';
import { parseMatcher } from './matcher.ts';
import { accessLogField, tracingField } from './observability-schema.ts';
import {
  allowedSourcesField,
  cidrListField,
  defaultActionField,
  forwardTargetGroups,
  internalSourcesField,
  rulesField,
  stickinessField,
} from './routing-schema.ts';
import {
  certificatesField,
  listenerIdentityField,
  listenerTlsOutput,
  mutualAuthenticationField,
  sslPolicyField,
  targetGroupProtocolField,
  upstreamTlsField,
  upstreamTlsOutput,
} from './tls-schema.ts';

// === Vocabulary ===
/** Listener protocols Ferry serves today. */
export const LISTENER_PROTOCOLS = ['HTTP', 'HTTPS', 'TCP', 'TLS', 'UDP', 'TCP_UDP', 'GENEVE'] as const;
export type ListenerProtocol = (typeof LISTENER_PROTOCOLS)[number];
/** Listener protocols of the contract that later issues add; config naming them gets "not supported yet". */
export const PLANNED_LISTENER_PROTOCOLS: readonly string[] = [];
/** Layer-4 listener protocols (NLB): a flow per connection or datagram 5-tuple, no HTTP. */
export const LAYER4_PROTOCOLS: readonly string[] = ['TCP', 'TLS', 'UDP', 'TCP_UDP', 'GENEVE'];
/** `flowStickiness` of a GENEVE group (GWLB's 5-, 3- and 2-tuple stickiness) and its number in the topology. */
export const FLOW_STICKINESS = ['five_tuple', 'three_tuple', 'two_tuple'] as const;
const FLOW_STICKINESS_TUPLE = { five_tuple: 5, three_tuple: 3, two_tuple: 2 } as const;
/** `targetFailover.*` of a GENEVE group (GWLB's words). */
export const TARGET_FAILOVER_MODES = ['no_rebalance', 'rebalance'] as const;
/** `proxyProtocol.accept`: which PROXY protocol versions a listener reads from trusted sources. */
export const PROXY_PROTOCOL_ACCEPT = ['v1', 'v2', 'any'] as const;
/** `targetGroups[].proxyProtocol`: what Ferry sends to the targets before the client's bytes. */
export const PROXY_PROTOCOL_SEND = ['off', 'v2'] as const;
/** `alpnPolicy` of a TLS listener (NLB's names). */
export const ALPN_POLICIES = ['None', 'HTTP1Only', 'HTTP2Only', 'HTTP2Optional', 'HTTP2Preferred'] as const;
/** ALPN protocols offered by each policy, in preference order. */
export const ALPN_PROTOCOLS_BY_POLICY: Readonly<Record<(typeof ALPN_POLICIES)[number], readonly string[]>> = {
  None: [],
  HTTP1Only: ['http/1.1'],
  HTTP2Only: ['h2'],
  HTTP2Optional: ['http/1.1', 'h2'],
  HTTP2Preferred: ['h2', 'http/1.1'],
};
/** ELB's idle timeouts: TCP (and TLS) flows 350 s, UDP flows 120 s. */
export const TCP_IDLE_TIMEOUT_DEFAULT_MS = 350_000;
export const UDP_IDLE_TIMEOUT_DEFAULT_MS = 120_000;
/** Longest idle timeout (ELB's 6000 s). */
export const IDLE_TIMEOUT_MS_MAX = 6_000_000;
/** Default and largest `limits.maxUdpFlows` (flows per worker). */
export const DEFAULT_MAX_UDP_FLOWS = 16_384;
export const LIMITS_MAX_UDP_FLOWS_CAP = 1_048_576;
export const SCHEMES = ['internet-facing', 'internal'] as const;
export type Scheme = (typeof SCHEMES)[number];
export const HEALTH_CHECK_PROTOCOLS = ['TCP', 'HTTP', 'HTTPS'] as const;
export type HealthCheckProtocol = (typeof HEALTH_CHECK_PROTOCOLS)[number];

/** Largest `limits.maxTargets`: 65,536 target rows are 4 MiB of shared table. */
export const LIMITS_MAX_TARGETS_CAP = 65_536;
/** Largest `limits.maxTargetGroups`. */
export const LIMITS_MAX_TARGET_GROUPS_CAP = 4_096;
/** Where the admin endpoint listens unless `admin.address` says otherwise: loopback only. */
export const ADMIN_ADDRESS_DEFAULT = '127.0.0.1:9901';
/** Longest health-check path, in characters. */
export const HEALTH_CHECK_PATH_LENGTH_MAX = 1_024;

/** An absolute path of printable ASCII, as sent in the health-check request line. */
const HEALTH_CHECK_PATH_PATTERN = /^\/[!-~]*$/;

const MS_PER_S = 1_000;
const MS_PER_MIN = 60_000;
const MS_PER_H = 3_600_000;

// === Leaves ===
// Only this file's; the shared ones are in fields.ts.

/** `host:port`; `portMin` is 1 for targets, which Ferry must connect to. */
function addressField(portMin: 0 | 1) {
  return z
    .string({ error: unlessMissing((input) => `expected host:port, got ${describeValue(input)}`) })
    .transform((text, ctx) => {
      const parsed = parseAddress(text, portMin);
      if (parsed.ok) return parsed.value;
      ctx.addIssue({ code: 'custom', message: `${parsed.message}, got ${describeValue(text)}`, input: text });
      return z.NEVER;
    })
    .meta({
      'x-type': 'host:port',
      'x-allowed': `IPv4, [IPv6] or host name; port ${portMin}..65535`,
    });
}

function hashKeyField() {
  return z
    .string({ error: unlessMissing((input) => `expected ${HASH_KEY_SYNTAX}, got ${describeValue(input)}`) })
    .transform((text, ctx) => {
      const parsed = parseHashKey(text);
      if (parsed.ok) return parsed.value;
      ctx.addIssue({ code: 'custom', message: parsed.message, input: text });
      return z.NEVER;
    })
    .meta({
      'x-allowed':
        '`source_ip`, `path`, `header:<name>`, `cookie:<name>`, `query:<name>`; layer-4 flows: `source_ip_dest_ip`, `five_tuple`',
    });
}

/** Status codes; YAML reads an unquoted `200` as a number, which is accepted too. */
function matcherField() {
  const error = unlessMissing(
    (input) => `expected status codes such as "200", "200,204" or "200-299", got ${describeValue(input)}`,
  );
  return z
    .union([z.string({ error }), z.int({ error })], { error })
    .transform((value, ctx) => {
      const parsed = parseMatcher(String(value));
      if (parsed.ok) return parsed.value;
      ctx.addIssue({ code: 'custom', message: parsed.message, input: value });
      return z.NEVER;
    })
    .meta({ 'x-type': 'status codes', 'x-allowed': '`"200"`, `"200,204"`, `"200-299"` (codes 100..599)' });
}

function listenerProtocolField() {
  return z
    .enum(LISTENER_PROTOCOLS, {
      error: unlessMissing((input) =>
        typeof input === 'string' && PLANNED_LISTENER_PROTOCOLS.includes(input)
          ? `protocol ${String(input)} is not supported yet; supported now: ${LISTENER_PROTOCOLS.join(' | ')}`
          : `expected one of ${LISTENER_PROTOCOLS.join(' | ')}, got ${describeValue(input)}`,
      ),
    })
    .meta({
      'x-allowed': `${LISTENER_PROTOCOLS.map((name) => `\`${name}\``).join(' | ')}${PLANNED_LISTENER_PROTOCOLS.length === 0 ? '' : ` (${PLANNED_LISTENER_PROTOCOLS.join(', ')}: not supported yet)`}`,
    });
}

// === Target groups ===
const targetSchema = z
  .strictObject({
    address: addressField(1).describe('Where the target listens. Its identity in logs and the control port.'),
    weight: integerIn(0, WEIGHT_MAX)
      .default(1)
      .describe(
        'Relative share of traffic for weighted algorithms; 0 takes no new traffic (like a drained target).',
      ),
    zone: zoneField()
      .optional()
      .meta({ description: 'The zone the target runs in (see `zone` and `zoneAware`); default: no zone.' }),
  })
  .transform((target) => ({ ...target.address, weight: target.weight, zone: target.zone ?? null }));

/** Default health-check timeout: ELB's 5 s, or half the interval when that is shorter, so it stays below it. */
const HEALTH_CHECK_TIMEOUT_DEFAULT_MS = 5 * MS_PER_S;

const healthCheckSchema = z
  .strictObject({
    enabled: booleanField()
      .default(true)
      .describe(
        'Run active health checks. When false every target is routable (state `unavailable`, Target.HealthCheckDisabled).',
      ),
    protocol: enumOf(HEALTH_CHECK_PROTOCOLS).optional().meta({
      description:
        'TCP: the port accepts a connection. HTTP/HTTPS: a GET of `path` answers a status in `matcher`.',
      'x-default':
        '`TCP` when only TCP listeners forward to the group, else the group’s `protocol` (`HTTP` or `HTTPS`)',
    }),
    port: z
      .union([z.literal('traffic-port'), integerIn(1, 65_535)], {
        error: unlessMissing(
          (input) => `expected traffic-port or an integer 1..65535, got ${describeValue(input)}`,
        ),
      })
      .default('traffic-port')
      .describe("Port to check: `traffic-port` (the target's own port) or another port on the same host."),
    path: z
      .string({
        error: unlessMissing((input) => `expected a path such as /health, got ${describeValue(input)}`),
      })
      .max(HEALTH_CHECK_PATH_LENGTH_MAX, {
        error: `expected a path of at most ${HEALTH_CHECK_PATH_LENGTH_MAX} characters`,
      })
      .regex(HEALTH_CHECK_PATH_PATTERN, {
        error: (issue) =>
          `expected a path that starts with / and has no spaces, got ${describeValue(issue.input)}`,
      })
      .optional()
      .meta({
        description: 'Request path of HTTP/HTTPS checks (query string allowed).',
        'x-default': '`/`',
        'x-allowed': `/… printable ASCII, at most ${HEALTH_CHECK_PATH_LENGTH_MAX} characters`,
      }),
    interval: durationField(1 * MS_PER_S, 300 * MS_PER_S)
      .prefault('30s')
      .describe('Time between checks of one target (checks of different targets are spread with jitter).'),
    timeout: durationField(100, 120 * MS_PER_S)
      .optional()
      .meta({
        description:
          'Time a check may take before it counts as failed (Target.Timeout). Must be below `interval`.',
        'x-default': '`5s`, or half of `interval` when that is shorter',
      }),
    healthyThreshold: integerIn(2, 10)
      .default(5)
      .describe('Consecutive passing checks that make an unhealthy target healthy.'),
    unhealthyThreshold: integerIn(2, 10)
      .default(2)
      .describe('Consecutive failing checks that make a healthy target unhealthy.'),
    matcher: matcherField()
      .optional()
      .meta({ description: 'Status codes that pass an HTTP/HTTPS check.', 'x-default': '`"200"`' }),
  })
  .transform((check, ctx) => {
    const timeoutMs =
      check.timeout ?? Math.min(HEALTH_CHECK_TIMEOUT_DEFAULT_MS, Math.floor(check.interval / 2));
    if (timeoutMs >= check.interval) {
      ctx.addIssue({
        code: 'custom',
        path: ['timeout'],
        message: `must be less than interval (${formatDurationMs(check.interval)}), got ${formatDurationMs(timeoutMs)}`,
        input: check.timeout,
      });
      return z.NEVER;
    }
    return {
      enabled: check.enabled,
      /** null until the top level resolves it from the listeners that use the group. */
      protocol: check.protocol ?? null,
      port: check.port,
      path: check.path ?? '/',
      intervalMs: check.interval,
      timeoutMs,
      healthyThreshold: check.healthyThreshold,
      unhealthyThreshold: check.unhealthyThreshold,
      matcher: check.matcher ?? { text: '200', ranges: [{ from: 200, to: 200 }] },
    };
  });

/** Default longest ejection (Envoy's `max_ejection_time`); a longer `baseEjectionTime` raises it to that. */
const OUTLIER_MAX_EJECTION_TIME_DEFAULT_MS = 300 * MS_PER_S;

const outlierDetectionSchema = z
  .strictObject({
    enabled: booleanField()
      .default(true)
      .describe(
        'Eject targets that fail real requests (passive health checking, from what the workers see); false turns it off.',
      ),
    consecutive5xx: integerIn(0, 1_000)
      .default(5)
      .describe('Consecutive 5xx responses from a target that eject it; 0 turns this trigger off.'),
    consecutiveGatewayFailure: integerIn(0, 1_000)
      .default(5)
      .describe(
        'Consecutive gateway failures (connect refused, reset, timeout: the 502/504 Ferry answers itself) that eject a target; 0 turns this trigger off.',
      ),
    baseEjectionTime: durationField(1 * MS_PER_S, MS_PER_H)
      .prefault('30s')
      .describe(
        'How long an ejection lasts, multiplied by the number of times the target was ejected (that count drops by one per baseEjectionTime without a failure).',
      ),
    maxEjectionTime: durationField(1 * MS_PER_S, 24 * MS_PER_H)
      .optional()
      .meta({
        description:
          'Longest single ejection, however often the target was ejected. At least `baseEjectionTime`.',
        'x-default': '`300s`, or `baseEjectionTime` when that is longer',
      }),
    maxEjectionPercent: integerIn(0, 100)
      .default(50)
      .describe(
        'Most of a group (percent of its registered targets, rounded down) ejected at once; one target may always be ejected when the group has two or more.',
      ),
  })
  .transform((detection, ctx) => {
    const maxEjectionMs =
      detection.maxEjectionTime ?? Math.max(OUTLIER_MAX_EJECTION_TIME_DEFAULT_MS, detection.baseEjectionTime);
    if (maxEjectionMs < detection.baseEjectionTime) {
      ctx.addIssue({
        code: 'custom',
        path: ['maxEjectionTime'],
        message: `must be at least baseEjectionTime (${formatDurationMs(detection.baseEjectionTime)}), got ${formatDurationMs(maxEjectionMs)}`,
        input: detection.maxEjectionTime,
      });
      return z.NEVER;
    }
    return {
      enabled: detection.enabled,
      consecutive5xx: detection.consecutive5xx,
      consecutiveGatewayFailure: detection.consecutiveGatewayFailure,
      baseEjectionMs: detection.baseEjectionTime,
      maxEjectionMs,
      maxEjectionPercent: detection.maxEjectionPercent,
    };
  });

const upstreamTimeoutsSchema = z
  .strictObject({
    connect: durationField(1, 10 * MS_PER_MIN)
      .prefault(formatDurationMs(UPSTREAM_CONNECT_TIMEOUT_MS))
      .describe(
        'Time to establish a connection to a target; beyond it the request fails with 504 FERRY_ERR_UPSTREAM_CONNECT_TIMEOUT.',
      ),
    response: durationField(1, 24 * MS_PER_H)
      .prefault(formatDurationMs(UPSTREAM_RESPONSE_TIMEOUT_MS))
      .describe(
        'Time from sending a request to receiving the response head; beyond it 504 FERRY_ERR_UPSTREAM_TIMEOUT.',
      ),
  })
  .transform((timeouts) => ({ connectMs: timeouts.connect, responseMs: timeouts.response }));

/** What a group's `retries.on` may name. */
const RETRY_ON = ['connect-failure', 'stale-connection'] as const;

/**
 * Retries on another target (issue 10). Only what cannot have reached a
 * target is retried elsewhere: a connect refused, reset or timed out before
 * any request byte was written. A request whose body was partly sent is
 * never retried (Ferry keeps no copy of a streamed body).
 */
const retriesSchema = z
  .strictObject({
    attempts: integerIn(0, RETRY_ATTEMPTS_MAX)
      .default(RETRY_ATTEMPTS_DEFAULT)
      .describe(
        'Retries after the first try (0 = off); each goes through the pick again, avoiding the target that failed.',
      ),
    on: z
      .array(enumOf(RETRY_ON))
      .max(RETRY_ON.length)
      .default([...RETRY_ON])
      .describe(
        'connect-failure: the connection to the target was refused, reset or timed out before any request byte was sent (any method). stale-connection: a reused keep-alive connection closed before answering (idempotent bodiless requests, once, on a new connection).',
      ),
    budgetPercent: integerIn(0, 100)
      .default(RETRY_BUDGET_PERCENT_DEFAULT)
      .describe(
        "Retries in flight on a worker may be at most this percentage of its requests in flight (Envoy's retry budget); a refused connect does not count.",
      ),
    minConcurrency: integerIn(0, 10_000)
      .default(RETRY_MIN_CONCURRENCY_DEFAULT)
      .describe('Retries in flight on a worker that are always allowed, whatever `budgetPercent` says.'),
  })
  .transform((retries) => ({
    attempts: retries.attempts,
    isOnConnectFailure: retries.on.includes('connect-failure'),
    isOnStaleConnection: retries.on.includes('stale-connection'),
    budgetPercent: retries.budgetPercent,
    minConcurrency: retries.minConcurrency,
  }));

const targetGroupSchema = z
  .strictObject({
    name: nameField('name').describe('Unique name; listeners forward to it by this name.'),
    algorithm: enumOf(ALGORITHMS)
      .default('round_robin')
      .describe(
        'How a target is picked: round_robin (smooth weighted, global across workers), least_connections, ' +
          'least_outstanding_requests (P2C on in-flight requests), response_time (latency x load), ' +
          'peak_ewma (linkerd-style P2C), hash (consistent, sticky by `hash.key`), random, weighted_random.',
      ),
    hash: z
      .strictObject({
        key: hashKeyField()
          .prefault('source_ip')
          .describe(
            'What is hashed: the client address, the request path, or a header, cookie or query parameter.',
          ),
      })
      .optional()
      .meta({
        description:
          'Only with `algorithm: hash`: the consistent-hash key. Header names are matched case-blind.',
        'x-default': '`{ key: source_ip }` when `algorithm` is `hash`',
      }),
    targets: z
      .array(targetSchema, {
        error: unlessMissing((input) => `expected a list, got ${describeValue(input)}`),
      })
      .prefault([])
      .describe('Registered targets. May be empty; the control port and DNS discovery add more at run time.'),
    healthCheck: healthCheckSchema.prefault({}).describe('Active health checks (ELB names and defaults).'),
    outlierDetection: outlierDetectionSchema
      .prefault({})
      .describe('Passive health checks: eject targets whose real requests fail (Envoy names and defaults).'),
    deregistrationDelay: durationField(0, MS_PER_H)
      .prefault('30s')
      .describe(
        'How long a deregistered target keeps its in-flight requests before they are closed; ends early when idle.',
      ),
    slowStart: durationField(30 * MS_PER_S, 15 * MS_PER_MIN, true)
      .prefault('0s')
      .describe("Ramp a newly healthy target's weight from 10% to 100% over this time; 0s turns it off."),
    failOpen: booleanField()
      .default(true)
      .describe('When no target is healthy, route to all of them (true, like ALB) or answer 503 (false).'),
    timeouts: upstreamTimeoutsSchema.prefault({}).describe('Upstream timeouts for requests to this group.'),
    retries: retriesSchema
      .prefault({})
      .describe('Retries on another target for failures no target saw (HTTP/1.1 listeners).'),
    failover: failoverField,
    protocol: targetGroupProtocolField,
    tls: upstreamTlsField,
    stickiness: stickinessField,
    flowStickiness: enumOf(FLOW_STICKINESS).optional().meta({
      description:
        'GENEVE groups only: which fields of the inner packet make a flow, hashed the same for both directions so a flow keeps one appliance: five_tuple (protocol, addresses, ports), three_tuple (protocol, addresses) or two_tuple (addresses). GWLB’s stickiness type.',
      'x-default': '`five_tuple` on GENEVE groups',
    }),
    targetFailover: z
      .strictObject({
        onUnhealthy: enumOf(TARGET_FAILOVER_MODES)
          .default('no_rebalance')
          .describe(
            'When a flow’s appliance turns unhealthy: no_rebalance keeps the flow there (new flows go elsewhere), rebalance moves it to a healthy appliance.',
          ),
        onDeregistration: enumOf(TARGET_FAILOVER_MODES)
          .default('no_rebalance')
          .describe('The same choice when a flow’s appliance is deregistered (draining).'),
      })
      .optional()
      .meta({
        description:
          'GENEVE groups only: what happens to existing flows when their appliance fails (GWLB target failover).',
      }),
    proxyProtocol: enumOf(PROXY_PROTOCOL_SEND)
      .default('off')
      .describe(
        'Layer-4 listeners: send a PROXY protocol v2 header (client address and port, and TLVs for the SNI and ALPN when known) to each target before the client bytes (NLB proxy_protocol_v2).',
      ),
    discovery: discoveryField,
    crossZone: crossZoneField,
    zoneAware: zoneAwareField,
  })
  .transform((group) => ({
    name: group.name,
    /** A GENEVE group always picks by its symmetric flow hash (rules refuse another algorithm). */
    algorithm: group.protocol === 'GENEVE' ? 'hash' : group.algorithm,
    /** Rules reject `hash` with another algorithm; here it is simply dropped. */
    hash:
      group.algorithm === 'hash' || group.protocol === 'GENEVE'
        ? (group.hash?.key ?? { key: 'source_ip', kind: 'source_ip', name: null })
        : null,
    targets: group.targets,
    healthCheck: group.healthCheck,
    outlierDetection: group.outlierDetection,
    deregistrationDelayMs: group.deregistrationDelay,
    slowStartMs: group.slowStart,
    failOpen: group.failOpen,
    timeouts: group.timeouts,
    retries: group.retries,
    /** Hot failover to a standby group (control-schema.ts); null when none is named. */
    failover: group.failover ?? null,
    protocol: group.protocol,
    /** TLS to the targets (protocol HTTPS), paths as written; null for HTTP. See tls-schema.ts. */
    tls: upstreamTlsOutput(group.protocol, group.tls),
    /** Sticky sessions (routing-schema.ts). */
    stickiness: group.stickiness,
    proxyProtocol: group.proxyProtocol,
    /** GENEVE appliance groups (GWLB): flow stickiness and target failover; null for other groups. */
    geneve:
      group.protocol === 'GENEVE'
        ? {
            stickiness: FLOW_STICKINESS_TUPLE[group.flowStickiness ?? 'five_tuple'],
            isRebalancedOnUnhealthy: group.targetFailover?.onUnhealthy === 'rebalance',
            isRebalancedOnDeregistration: group.targetFailover?.onDeregistration === 'rebalance',
          }
        : null,
    /** DNS discovery (discovery-schema.ts); null when the group has only static and control-port targets. */
    discovery: group.discovery,
    /** false = `crossZone: disabled` (local zone only, unless none of it is routable). */
    isCrossZone: group.crossZone === 'enabled',
    /** Zone-aware spill-over (discovery-schema.ts); null when off. */
    zoneAware: group.zoneAware,
  }));

// === Listeners ===
/**
 * Client-side deadlines of an HTTP/HTTPS listener (issue 10). Each is checked
 * by the worker's coarse tick, so it may fire up to one tick (250 ms) late.
 * Every one of them is the client's fault: it is counted on the listener and
 * never against a target (no outlier or response-time penalty).
 */
const listenerTimeoutsSchema = z
  .strictObject({
    requestHeader: durationField(1, 10 * MS_PER_MIN)
      .prefault(formatDurationMs(HTTP_HEADER_TIMEOUT_MS))
      .describe(
        'Time from accept (and from the first byte of each later request) to a complete request head; beyond it 408 FERRY_ERR_HTTP_HEADER_TIMEOUT, or a quiet close when the connection sent nothing (HTTP/2: a connection that opened no stream gets GOAWAY).',
      ),
    requestBody: durationField(1, 24 * MS_PER_H)
      .prefault(formatDurationMs(HTTP_REQUEST_BODY_TIMEOUT_MS))
      .describe(
        'Time a request body gets, counted from its head and extended by one second per `requestBodyMinRate` bytes received; beyond it 408 FERRY_ERR_HTTP_BODY_TIMEOUT.',
      ),
    requestBodyMinRate: integerIn(0, 1_000_000_000)
      .default(HTTP_REQUEST_BODY_MIN_RATE_BYTES_PER_S)
      .describe(
        'Bytes per second of request body that earn one more second of `requestBody` time (Apache MinRate); 0 = the body gets `requestBody` in total.',
      ),
    send: durationField(1, 24 * MS_PER_H)
      .prefault(formatDurationMs(HTTP_SEND_TIMEOUT_MS))
      .describe(
        'Time a client has to take a queued response write (at most 64 KiB); beyond it the connection is reset (FERRY_ERR_DOWNSTREAM_SEND_TIMEOUT; HTTP/2: the stream, RST_STREAM CANCEL).',
      ),
    tlsHandshake: durationField(1, 10 * MS_PER_MIN)
      .prefault(formatDurationMs(TLS_HANDSHAKE_TIMEOUT_MS))
      .describe(
        'HTTPS: time from accept to a finished TLS handshake; beyond it the connection is closed (FERRY_ERR_TLS_HANDSHAKE_TIMEOUT).',
      ),
    keepAlive: durationField(1, 24 * MS_PER_H)
      .prefault(formatDurationMs(HTTP_KEEP_ALIVE_TIMEOUT_MS))
      .describe(
        'Time an idle keep-alive connection (or HTTP/2 connection with no open stream) is kept between requests.',
      ),
  })
  .transform((timeouts) => ({
    requestHeaderMs: timeouts.requestHeader,
    requestBodyMs: timeouts.requestBody,
    requestBodyMinRateBytesPerS: timeouts.requestBodyMinRate,
    sendMs: timeouts.send,
    tlsHandshakeMs: timeouts.tlsHandshake,
    keepAliveMs: timeouts.keepAlive,
  }));

const listenerSchema = z
  .strictObject({
    name: nameField('name').describe('Unique name, used in logs, metrics and the control port.'),
    protocol: listenerProtocolField()
      .default('HTTP')
      .describe(
        'HTTP: layer-7 proxying. HTTPS: layer 7 with TLS termination (HTTP/2 and HTTP/1.1 by ALPN; see docs/tls.md). TCP: layer-4 relaying (TLS passthrough by `sni` rules). TLS: TLS termination, the plaintext relayed to a TCP group. UDP: datagram flows. TCP_UDP: TCP and UDP on one port. See docs/layer4.md.',
      ),
    address: addressField(0).describe('Where the listener accepts connections; port 0 lets the OS choose.'),
    scheme: enumOf(SCHEMES)
      .default('internet-facing')
      .describe('internet-facing: reachable from outside the network; internal: private addresses only.'),
    addTargetHeader: booleanField().optional().meta({
      description: 'Add an `x-ferry-target: host:port` header naming the target that answered (HTTP only).',
      'x-default': 'the value of `demo`',
    }),
    rules: rulesField,
    defaultAction: defaultActionField,
    allowedSources: allowedSourcesField,
    internalSources: internalSourcesField,
    certificates: certificatesField,
    sslPolicy: sslPolicyField,
    mutualAuthentication: mutualAuthenticationField,
    alpnPolicy: enumOf(ALPN_POLICIES).optional().meta({
      description:
        'TLS listeners only: the ALPN protocols offered to clients (NLB names): None, HTTP1Only, HTTP2Only, HTTP2Optional (http/1.1 first), HTTP2Preferred (h2 first). The plaintext is relayed as it comes whatever is negotiated.',
      'x-default': '`None` (no ALPN) on TLS listeners',
    }),
    idleTimeout: durationField(1_000, IDLE_TIMEOUT_MS_MAX).optional().meta({
      description:
        'Layer-4 listeners: a flow with no bytes either way for this long is closed (TCP, TLS) or forgotten (UDP). ELB allows 60s..6000s; Ferry also takes shorter values.',
      'x-default': '`350s` for TCP and TLS, `120s` for UDP (ELB’s); TCP_UDP uses each for its own half',
    }),
    proxyProtocol: z
      .strictObject({
        accept: enumOf(PROXY_PROTOCOL_ACCEPT).describe(
          'The PROXY protocol versions read before the client bytes: v1 (text), v2 (binary) or any.',
        ),
        trustedSources: cidrListField()
          .min(1, { error: 'expected at least one CIDR block' })
          .describe(
            'Senders allowed to send a header (your load balancer). A header from anyone else closes the connection.',
          ),
      })
      .optional()
      .meta({
        description:
          'HTTP, HTTPS, TCP and TCP_UDP listeners: read a PROXY protocol header (before any TLS byte) from trusted senders and use its client address for rules, hashing, allowedSources, X-Forwarded-For, logs, spans and PROXY headers sent on. A connection from a trusted source must carry one; from any other source none is read.',
      }),
    headersWithUnderscores: enumOf(['drop', 'allow', 'reject'] as const)
      .default('drop')
      .describe(
        "Request header names containing `_` (`X_Forwarded_For`), which applications that normalise `_` to `-` would read as another header: drop them (NGINX's and Envoy's default), allow them, or reject the request with 400.",
      ),
    maxConnections: integerIn(1, MAX_CONNECTIONS_CAP).optional().meta({
      description:
        'Connections this listener holds at once (over all workers); more are refused at accept. Within `limits.maxConnections`.',
      'x-default': 'no listener cap (only `limits.maxConnections`)',
    }),
    timeouts: listenerTimeoutsSchema
      .prefault({})
      .describe('Deadlines for slow and idle clients (HTTP and HTTPS listeners).'),
    identity: listenerIdentityField,
  })
  .transform((listener) => ({
    name: listener.name,
    protocol: listener.protocol,
    ...listener.address,
    scheme: listener.scheme,
    /** null until the top level resolves it from `demo`. */
    addTargetHeader: listener.addTargetHeader ?? null,
    /** Rules sorted by priority, actions normalised, CIDR blocks canonical (routing-schema.ts). */
    rules: listener.rules,
    defaultAction: listener.defaultAction,
    allowedSources: listener.allowedSources,
    internalSources: listener.internalSources,
    /** Every target group the listener's actions forward to (default action first). */
    forwardTargetGroups: forwardTargetGroups(listener.rules, listener.defaultAction),
    /** certificates, sslPolicy, mutualAuthentication: filled for HTTPS and TLS, empty otherwise (tls-schema.ts). */
    ...listenerTlsOutput(listener),
    /** ALPN protocols a TLS listener offers; empty for None and other protocols. */
    alpnProtocols: listener.protocol === 'TLS' ? ALPN_PROTOCOLS_BY_POLICY[listener.alpnPolicy ?? 'None'] : [],
    /** Flow idle timeouts (layer-4 listeners): the TCP half and the UDP half. */
    tcpIdleTimeoutMs: listener.idleTimeout ?? TCP_IDLE_TIMEOUT_DEFAULT_MS,
    udpIdleTimeoutMs: listener.idleTimeout ?? UDP_IDLE_TIMEOUT_DEFAULT_MS,
    /** PROXY protocol in; null when off. */
    proxyProtocol: listener.proxyProtocol ?? null,
    timeouts: listener.timeouts,
    headersWithUnderscores: listener.headersWithUnderscores,
    /** null: only the process-wide cap. */
    maxConnections: listener.maxConnections ?? null,
  }));

// === Top level ===
const WORKERS_ERROR = unlessMissing(
  (input) => `expected auto or an integer 1..${MAX_WORKERS}, got ${describeValue(input)}`,
);

/**
 * The whole config. Input: the YAML document as plain JS. Output: the
 * normalised snapshot minus what depends on the machine or the file
 * (workerCount, sourceName, configDir), which parse.ts adds.
 */
export const configSchema = z
  .strictObject({
    workers: z
      .union([z.literal('auto', { error: WORKERS_ERROR }), integerIn(1, MAX_WORKERS)], {
        error: WORKERS_ERROR,
      })
      .default('auto')
      .describe(
        `Worker threads that accept connections: auto (os.availableParallelism(), at most ${MAX_WORKERS}) or a number.`,
      ),
    admin: z
      .strictObject({
        address: addressField(0)
          .prefault(ADMIN_ADDRESS_DEFAULT)
          .describe('Read-only admin HTTP endpoint: /healthz, /readyz, /metrics and the status page.'),
        probeAddress: addressField(0)
          .optional()
          .describe(
            "A second address serving only /healthz and /readyz, for kubelet probes on the pod IP while the admin endpoint stays on loopback (like Istio's health port). Absent: none.",
          ),
      })
      .prefault({})
      .describe('Admin endpoint.'),
    control: controlField,
    limits: z
      .strictObject({
        maxTargets: integerIn(1, LIMITS_MAX_TARGETS_CAP)
          .default(DEFAULT_MAX_TARGETS)
          .describe(
            'Target slots in the shared table, over all groups; more targets is a FERRY_ERR_CONFIG_CAPACITY error.',
          ),
        maxConnections: z
          .union([z.literal('auto'), integerIn(1, MAX_CONNECTIONS_CAP)], {
            error: unlessMissing(
              (input) => `expected auto or an integer 1..${MAX_CONNECTIONS_CAP}, got ${describeValue(input)}`,
            ),
          })
          .default('auto')
          .describe(
            `Downstream connections the whole process holds at once (every listener, every worker); more are refused at accept (HTTP: 503 with Retry-After, TCP: closed). auto: (open-file limit - ${MAX_CONNECTIONS_FD_RESERVE}) / 2, leaving descriptors for targets, health checks and the admin port.`,
          ),
        maxTargetGroups: integerIn(1, LIMITS_MAX_TARGET_GROUPS_CAP)
          .default(DEFAULT_MAX_TARGET_GROUPS)
          .describe(
            'Target-group rows in the shared table; more groups is a FERRY_ERR_CONFIG_CAPACITY error.',
          ),
        maxUdpFlows: integerIn(1, LIMITS_MAX_UDP_FLOWS_CAP)
          .default(DEFAULT_MAX_UDP_FLOWS)
          .describe(
            'UDP flows each worker tracks at once (each holds one connected socket to its target); a datagram that would start one more is dropped and counted (FERRY_ERR_UDP_FLOW_TABLE_FULL).',
          ),
      })
      .prefault({})
      .describe('Capacity of the shared table and flow tables, fixed at start.'),
    demo: booleanField().default(false).meta({
      description:
        'Set by the embedded default config. Demo targets run in-process and responses carry x-ferry-target.',
      'x-internal': true,
    }),
    listeners: z
      .array(listenerSchema, {
        error: unlessMissing((input) => `expected a list of listeners, got ${describeValue(input)}`),
      })
      .min(1, { error: 'at least one listener is required' })
      .describe('Where Ferry accepts traffic, and where each listener sends it.'),
    targetGroups: z
      .array(targetGroupSchema, {
        error: unlessMissing((input) => `expected a list of target groups, got ${describeValue(input)}`),
      })
      .prefault([])
      .describe('Named sets of targets with their algorithm, health checks and attributes.'),
    zone: zoneField().optional().meta({
      description:
        'The zone this Ferry runs in (`eu-west-1a`); the environment variable FERRY_ZONE overrides it. Targets in the same zone are local for `crossZone` and `zoneAware`.',
      'x-default': 'FERRY_ZONE, else none',
    }),
    shutdownGracePeriod: durationField(0, MS_PER_H)
      .prefault(formatDurationMs(SHUTDOWN_GRACE_MS))
      .describe('On SIGTERM/SIGINT, how long in-flight requests may finish before Ferry exits.'),
    drainDelay: durationField(0, MS_PER_H)
      .prefault('0s')
      .describe(
        'On SIGTERM/SIGINT or `ferryctl drain`: how long Ferry keeps serving with /readyz at 503 before it stops accepting, so endpoint controllers and peers stop sending first (Istio terminationDrainDuration). Set it to your endpoint propagation time in Kubernetes (5s is common).',
      ),
    accessLog: accessLogField,
    tracing: tracingField,
    identity: identityField,
  })
  .transform((config) => {
    const protocolsByGroup = new Map<string, Set<ListenerProtocol>>();
    for (const listener of config.listeners) {
      for (const groupName of listener.forwardTargetGroups) {
        const protocols = protocolsByGroup.get(groupName) ?? new Set<ListenerProtocol>();
        protocols.add(listener.protocol);
        protocolsByGroup.set(groupName, protocols);
      }
    }
    // A standby serves its primary's listeners after a failover, so its health check follows theirs.
    for (const group of config.targetGroups) {
      const primaryProtocols = protocolsByGroup.get(group.name);
      if (group.failover === null || primaryProtocols === undefined) continue;
      const standbyProtocols = protocolsByGroup.get(group.failover.standby) ?? new Set<ListenerProtocol>();
      for (const protocol of primaryProtocols) standbyProtocols.add(protocol);
      protocolsByGroup.set(group.failover.standby, standbyProtocols);
    }
    return {
      workers: config.workers,
      admin: config.admin.address,
      /** Probe-only endpoint (/healthz, /readyz) or null. */
      probeAddress: config.admin.probeAddress ?? null,
      /** The control port (control-schema.ts); null when the key is absent: no control port. */
      control: config.control ?? null,
      limits: config.limits,
      demo: config.demo,
      listeners: config.listeners.map((listener) => ({
        ...listener,
        addTargetHeader: listener.addTargetHeader ?? config.demo,
      })),
      targetGroups: config.targetGroups.map((group) => {
        const protocols = protocolsByGroup.get(group.name);
        // Only layer-4 listeners: TCP checks (ELB's default for TCP, TLS and UDP target groups).
        const isTcpOnly =
          protocols !== undefined && [...protocols].every((protocol) => LAYER4_PROTOCOLS.includes(protocol));
        const httpProtocol = group.protocol === 'HTTPS' ? 'HTTPS' : 'HTTP';
        const protocol: HealthCheckProtocol =
          group.healthCheck.protocol ?? (isTcpOnly ? 'TCP' : httpProtocol);
        return { ...group, healthCheck: { ...group.healthCheck, protocol } };
      }),
      shutdownGracePeriodMs: config.shutdownGracePeriod,
      drainDelayMs: config.drainDelay,
      /** Ferry's own zone as written; parse.ts applies FERRY_ZONE. null = no zone (zones then play no part). */
      zone: config.zone ?? null,
      /** src/telemetry resolves the path and the OTEL_* environment (observability-schema.ts). */
      accessLog: config.accessLog,
      tracing: config.tracing,
      /** Mesh identity (identity-schema.ts); null when the block is absent. */
      identity: identityOutput(config.identity),
    };
  });

/** The schema's output: the snapshot before parse.ts adds the machine- and file-dependent fields and freezes it. */
export type ParsedConfig = z.output<typeof configSchema>;
/** What a config file holds before validation (all defaults optional). */
export type ConfigInput = z.input<typeof configSchema>;
