/**
 * @module src/config/discovery-schema
 *
 * The config keys of DNS discovery and zones, as zod fields that schema.ts
 * places:
 *
 *   zone: <name>                                  (top level; FERRY_ZONE overrides it, see parse.ts)
 *   targetGroups[].targets[].zone: <name>
 *   targetGroups[].discovery.dns: { name, type, port, refresh, minRefresh, maxRefresh, servers, zone }
 *   targetGroups[].crossZone: enabled | disabled
 *   targetGroups[].zoneAware: { enabled, overprovisioningFactor, minTargets }
 *
 * Thread: main (config time). Place in the flow: YAML -> schema.ts (+ these
 * fields) -> ConfigSnapshot -> src/discovery (resolution) and src/table
 * (zones into the topology) -> workers/balance/zone-aware.ts (picks).
 *
 * Kept apart from schema.ts so the discovery and zone keys, their limits and
 * their normalised shapes live in one place (like control-schema.ts).
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import { describeValue } from './config-error.ts';
import { formatDurationMs } from './duration.ts';
import { booleanField, durationField, enumOf, integerIn, nameField, unlessMissing } from './fields.ts';

/** DNS record types a group may discover: ANY asks A and AAAA (not the ANY query type, which servers may refuse: RFC 8482). */
export const DNS_RECORD_TYPES = ['A', 'AAAA', 'ANY', 'SRV'] as const;
export type DnsRecordType = (typeof DNS_RECORD_TYPES)[number];
/** Lowest `minRefresh`: the floor that keeps a TTL-0 record from turning into a query storm. */
export const DNS_MIN_REFRESH_FLOOR_MS = 100;
/** Default `minRefresh` (Envoy's dns_min_refresh_rate is 5 s; 1 s follows Kubernetes pod churn closer). */
export const DNS_MIN_REFRESH_DEFAULT_MS = 1_000;
/** Default `maxRefresh`: a record with a long TTL is still re-asked this often (HAProxy `hold valid` 10 s .. Envoy 5 s). */
export const DNS_MAX_REFRESH_DEFAULT_MS = 60_000;
/** Most `servers` a group may list (node:dns tries them in order). */
export const DNS_SERVERS_MAX = 8;
/** Longest DNS name (RFC 1035: 253 characters in text form). */
const DNS_NAME_LENGTH_MAX = 253;
/** A DNS name: dot-separated labels of letters, digits, '-' and '_' (SRV labels), optional trailing dot. */
const DNS_NAME_PATTERN =
  /^(?=.{1,253}\.?$)([A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?)*\.?$/;
/** Default zone-aware overprovisioning factor (Envoy's 1.4: a zone at 72 % healthy still keeps its traffic). */
export const ZONE_OVERPROVISIONING_DEFAULT = 1.4;
/** Default `zoneAware.minTargets`: below it zone-aware routing is off (Envoy's min_cluster_size is 6). */
export const ZONE_MIN_TARGETS_DEFAULT = 6;

/** Zone names: the same rule as group and listener names (they become metric labels). */
export function zoneField() {
  return nameField('zone name');
}

// === discovery.dns ===
/** `host:port` of a DNS server; IP literal only (the resolver cannot resolve its own server's name). */
function dnsServerField() {
  return z
    .string({
      error: unlessMissing((input) => `expected ip:port of a DNS server, got ${describeValue(input)}`),
    })
    .transform((text, ctx) => {
      const server = parseDnsServer(text);
      if (server !== null) return server;
      ctx.addIssue({
        code: 'custom',
        message: `expected an IP address with an optional port (127.0.0.1:5353, [::1]:53), got ${describeValue(text)}`,
        input: text,
      });
      return z.NEVER;
    })
    .meta({ 'x-type': 'ip[:port]', 'x-allowed': 'IPv4 or [IPv6], port 1..65535 (default 53)' });
}

/** `1.2.3.4`, `1.2.3.4:53`, `[::1]:53`, `::1` -> the form dns.Resolver#setServers takes; null when malformed. */
export function parseDnsServer(text: string): string | null {
  const bracketed = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(text);
  const plain = /^([0-9.]+)(?::(\d{1,5}))?$/.exec(text);
  const match = bracketed ?? plain;
  const host = match?.[1] ?? (isIP(text) === 6 ? text : undefined);
  const portText = match?.[2];
  if (host === undefined || isIP(host) === 0) return null;
  if (portText !== undefined) {
    const port = Number(portText);
    if (port < 1 || port > 65_535) return null;
    return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
  }
  return host;
}

const dnsDiscoverySchema = z
  .strictObject({
    name: z
      .string({ error: unlessMissing((input) => `expected a DNS name, got ${describeValue(input)}`) })
      .max(DNS_NAME_LENGTH_MAX, { error: `expected a DNS name of at most ${DNS_NAME_LENGTH_MAX} characters` })
      .regex(DNS_NAME_PATTERN, {
        error: (issue) =>
          `expected a DNS name such as api.default.svc.cluster.local, got ${describeValue(issue.input)}`,
      })
      .describe(
        'Name to resolve: a headless Service (`api.default.svc.cluster.local`) for A/AAAA/ANY, or `_port._proto.name` for SRV.',
      ),
    type: enumOf(DNS_RECORD_TYPES)
      .default('A')
      .describe('A, AAAA, ANY (both A and AAAA) or SRV (targets take each record’s port and weight).'),
    port: integerIn(1, 65_535).optional().meta({
      description:
        'Port of every discovered address. Required for A, AAAA and ANY; SRV records carry their own.',
    }),
    refresh: z
      .union([z.literal('ttl'), durationField(DNS_MIN_REFRESH_FLOOR_MS, 24 * 3_600_000)], {
        error: unlessMissing(
          (input) => `expected ttl or a duration such as 30s, got ${describeValue(input)}`,
        ),
      })
      .default('ttl')
      .meta({
        description:
          'When to ask again: `ttl` (the answer’s smallest TTL, kept within minRefresh..maxRefresh) or a fixed duration.',
        'x-type': 'ttl | duration',
        'x-default': '`ttl`',
      }),
    minRefresh: durationField(DNS_MIN_REFRESH_FLOOR_MS, 3_600_000)
      .prefault(formatDurationMs(DNS_MIN_REFRESH_DEFAULT_MS))
      .describe(
        'Shortest time between two resolutions, whatever the TTL (a TTL of 0 asks once per minRefresh).',
      ),
    maxRefresh: durationField(DNS_MIN_REFRESH_FLOOR_MS, 24 * 3_600_000)
      .prefault(formatDurationMs(DNS_MAX_REFRESH_DEFAULT_MS))
      .describe(
        'Longest time between two resolutions, whatever the TTL; also the longest retry backoff after a failure.',
      ),
    servers: z
      .array(dnsServerField(), {
        error: unlessMissing((input) => `expected a list of ip:port, got ${describeValue(input)}`),
      })
      .min(1, { error: 'expected at least one server (leave servers out for the system resolver)' })
      .max(DNS_SERVERS_MAX, { error: `expected at most ${DNS_SERVERS_MAX} servers` })
      .optional()
      .meta({
        description:
          'DNS servers to ask, in order. Default: the system resolver configuration (/etc/resolv.conf).',
      }),
    zone: zoneField()
      .optional()
      .meta({ description: 'Zone of every target this name discovers (see `zone`); default: no zone.' }),
  })
  .transform((dns, ctx) => {
    if (dns.type !== 'SRV' && dns.port === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['port'],
        message: `is required for type ${dns.type} (A/AAAA records carry no port)`,
        input: undefined,
      });
      return z.NEVER;
    }
    if (dns.type === 'SRV' && dns.port !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['port'],
        message: 'must be left out for type SRV (each SRV record carries its own port)',
        input: dns.port,
      });
      return z.NEVER;
    }
    if (dns.maxRefresh < dns.minRefresh) {
      ctx.addIssue({
        code: 'custom',
        path: ['maxRefresh'],
        message: `must be at least minRefresh (${formatDurationMs(dns.minRefresh)}), got ${formatDurationMs(dns.maxRefresh)}`,
        input: formatDurationMs(dns.maxRefresh),
      });
      return z.NEVER;
    }
    return {
      name: dns.name.endsWith('.') ? dns.name.slice(0, -1) : dns.name,
      type: dns.type,
      /** null for SRV. */
      port: dns.port ?? null,
      /** null = follow the TTL. */
      refreshMs: dns.refresh === 'ttl' ? null : dns.refresh,
      minRefreshMs: dns.minRefresh,
      maxRefreshMs: dns.maxRefresh,
      /** null = the system resolver's servers. */
      servers: dns.servers ?? null,
      zone: dns.zone ?? null,
    };
  });

export const discoveryField = z
  .strictObject({
    dns: dnsDiscoverySchema.describe(
      'Targets from a DNS name, re-resolved as its TTL says (see docs/discovery.md).',
    ),
  })
  .optional()
  .transform((discovery) => discovery?.dns ?? null)
  .meta({
    description:
      'Find targets by name at run time; they join the static `targets` and go through the same health checks and draining.',
  });

// === Zones ===
export const crossZoneField = enumOf(['enabled', 'disabled'] as const)
  .default('enabled')
  .describe(
    'ELB cross-zone load balancing. disabled: only targets in Ferry’s own zone take traffic, unless none of them is routable (then every zone, counted in ferry_target_group_cross_zone_requests_total).',
  );

export const zoneAwareField = z
  .strictObject({
    enabled: booleanField()
      .default(true)
      .describe('Prefer Ferry’s own zone, spilling over as it loses healthy targets.'),
    overprovisioningFactor: z
      .number({
        error: unlessMissing((input) => `expected a number 1..10, got ${describeValue(input)}`),
      })
      .min(1, { error: (issue) => `expected a number 1..10, got ${describeValue(issue.input)}` })
      .max(10, { error: (issue) => `expected a number 1..10, got ${describeValue(issue.input)}` })
      .default(ZONE_OVERPROVISIONING_DEFAULT)
      .describe(
        'The local zone keeps all traffic while (routable local targets / local targets) x factor >= 1; below, it keeps that share and the rest spills to the other zones.',
      ),
    minTargets: integerIn(1, 65_536)
      .default(ZONE_MIN_TARGETS_DEFAULT)
      .describe(
        'Zone-aware routing applies only to groups with at least this many targets (Envoy min_cluster_size).',
      ),
  })
  .optional()
  .transform((zoneAware) =>
    zoneAware === undefined || !zoneAware.enabled
      ? null
      : {
          /** Factor in percent (1.4 -> 140), an integer for the workers. */
          overprovisioningPercent: Math.round(zoneAware.overprovisioningFactor * 100),
          minTargets: zoneAware.minTargets,
        },
  )
  .meta({
    description:
      'Envoy-style zone-aware routing: keep traffic in Ferry’s own zone while it has enough healthy targets; spill the rest over the other zones.',
    'x-default': 'off',
  });
