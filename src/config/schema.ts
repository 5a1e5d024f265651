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
  MAX_WORKERS,
  SHUTDOWN_GRACE_MS,
  UPSTREAM_CONNECT_TIMEOUT_MS,
  UPSTREAM_RESPONSE_TIMEOUT_MS,
} from '../shared/limits.ts';
import { parseAddress } from './address.ts';
import { describeValue } from './config-error.ts';
import { controlField, failoverField } from './control-schema.ts';
import { formatDurationMs } from './duration.ts';
import { booleanField, durationField, enumOf, integerIn, nameField, unlessMissing } from './fields.ts';
import { HASH_KEY_SYNTAX, parseHashKey } from './hash-key.ts';
import { identityField, identityOutput } from './identity-schema.ts';
import { parseMatcher } from './matcher.ts';
import { accessLogField, tracingField } from './observability-schema.ts';
import {
  allowedSourcesField,
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
export const LISTENER_PROTOCOLS = ['HTTP', 'HTTPS', 'TCP'] as const;
export type ListenerProtocol = (typeof LISTENER_PROTOCOLS)[number];
/** Listener protocols of the contract that later issues add; config naming them gets "not supported yet". */
export const PLANNED_LISTENER_PROTOCOLS = ['TLS', 'UDP', 'GENEVE'] as const;
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
    .meta({ 'x-allowed': '`source_ip`, `path`, `header:<name>`, `cookie:<name>`, `query:<name>`' });
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
        (PLANNED_LISTENER_PROTOCOLS as readonly unknown[]).includes(input)
          ? `protocol ${String(input)} is not supported yet; supported now: ${LISTENER_PROTOCOLS.join(' | ')}`
          : `expected one of ${LISTENER_PROTOCOLS.join(' | ')}, got ${describeValue(input)}`,
      ),
    })
    .meta({
      'x-allowed': `${LISTENER_PROTOCOLS.map((name) => `\`${name}\``).join(' | ')} (${PLANNED_LISTENER_PROTOCOLS.join(', ')}: not supported yet)`,
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
  })
  .transform((target) => ({ ...target.address, weight: target.weight }));

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
    failover: failoverField,
    protocol: targetGroupProtocolField,
    tls: upstreamTlsField,
    stickiness: stickinessField,
  })
  .transform((group) => ({
    name: group.name,
    algorithm: group.algorithm,
    /** Rules reject `hash` with another algorithm; here it is simply dropped. */
    hash:
      group.algorithm === 'hash'
        ? (group.hash?.key ?? { key: 'source_ip', kind: 'source_ip', name: null })
        : null,
    targets: group.targets,
    healthCheck: group.healthCheck,
    outlierDetection: group.outlierDetection,
    deregistrationDelayMs: group.deregistrationDelay,
    slowStartMs: group.slowStart,
    failOpen: group.failOpen,
    timeouts: group.timeouts,
    /** Hot failover to a standby group (control-schema.ts); null when none is named. */
    failover: group.failover ?? null,
    protocol: group.protocol,
    /** TLS to the targets (protocol HTTPS), paths as written; null for HTTP. See tls-schema.ts. */
    tls: upstreamTlsOutput(group.protocol, group.tls),
    /** Sticky sessions (routing-schema.ts). */
    stickiness: group.stickiness,
  }));

// === Listeners ===
const listenerSchema = z
  .strictObject({
    name: nameField('name').describe('Unique name, used in logs, metrics and the control port.'),
    protocol: listenerProtocolField()
      .default('HTTP')
      .describe(
        'HTTP: layer-7 proxying. HTTPS: layer 7 with TLS termination (HTTP/2 and HTTP/1.1 by ALPN; see docs/tls.md). TCP: layer-4 relaying.',
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
    /** certificates, sslPolicy, mutualAuthentication: filled for HTTPS, empty otherwise (tls-schema.ts). */
    ...listenerTlsOutput(listener),
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
      })
      .transform((admin) => admin.address)
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
        maxTargetGroups: integerIn(1, LIMITS_MAX_TARGET_GROUPS_CAP)
          .default(DEFAULT_MAX_TARGET_GROUPS)
          .describe(
            'Target-group rows in the shared table; more groups is a FERRY_ERR_CONFIG_CAPACITY error.',
          ),
      })
      .prefault({})
      .describe('Capacity of the shared table, fixed at start.'),
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
    shutdownGracePeriod: durationField(0, MS_PER_H)
      .prefault(formatDurationMs(SHUTDOWN_GRACE_MS))
      .describe('On SIGTERM/SIGINT, how long in-flight requests may finish before Ferry exits.'),
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
      admin: config.admin,
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
        const isTcpOnly = protocols !== undefined && protocols.size === 1 && protocols.has('TCP');
        const httpProtocol = group.protocol === 'HTTPS' ? 'HTTPS' : 'HTTP';
        const protocol: HealthCheckProtocol =
          group.healthCheck.protocol ?? (isTcpOnly ? 'TCP' : httpProtocol);
        return { ...group, healthCheck: { ...group.healthCheck, protocol } };
      }),
      shutdownGracePeriodMs: config.shutdownGracePeriod,
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
