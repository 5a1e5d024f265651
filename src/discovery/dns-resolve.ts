/**
 * @module src/discovery/dns-resolve
 *
 * One resolution of a group's DNS name into targets, with node:dns's
 * `Resolver` (c-ares, real UDP/TCP DNS to the configured servers). Thread:
 * main, asynchronous; never on a worker. Place in the flow: dns-watcher.ts
 * (when) -> **resolve** (what) -> table plan.
 *
 * What counts as an answer, and what as a failure (docs/discovery.md):
 *
 *   records .......................... success: these targets
 *   NODATA (the name exists, no record
 *     of the type) ................... success: no targets (the set is empty)
 *   NXDOMAIN, SERVFAIL, REFUSED,
 *     timeout, connection refused .... failure: the last good set is kept
 *   ANY (A + AAAA), SRV (+ A/AAAA of
 *     each SRV host) ................. one failed part fails the whole
 *                                      resolution, so a half answer never
 *                                      removes the other half's targets
 *
 * NXDOMAIN is a failure, not an empty answer: a transient NXDOMAIN (a
 * Kubernetes DNS restart, a zone reload, a negative-cache glitch) emptying a
 * group is the worst outage users of other proxies report, and a name that
 * is really gone costs nothing worse than stale targets that health checks
 * take out of rotation. An operator who wants the targets gone removes the
 * `discovery` block (they drain).
 *
 * TTLs: `resolve4`/`resolve6` with `{ ttl: true }` give each address's TTL.
 * node:dns does not expose an SRV record's own TTL, so an SRV group refreshes
 * on the smallest TTL of its hosts' A/AAAA records (always within
 * minRefresh..maxRefresh). No DNS packet parsing is hand-written here.
 */
import type { Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { TableTargetPlan } from '../table/index.ts';
import { DNS_SRV_HOSTS_MAX, DNS_TARGETS_PER_NAME_MAX } from './limits.ts';
import { ferryWeights, lowestPriorityTier, type SrvRecord } from './srv-weights.ts';

/** What a group asks of DNS (the normalised `discovery.dns` block). */
export interface DnsQuery {
  readonly name: string;
  readonly type: 'A' | 'AAAA' | 'ANY' | 'SRV';
  /** Port of every address (A/AAAA/ANY); null for SRV. */
  readonly port: number | null;
  readonly zone: string | null;
}

/** A discovered target: what the table plan needs, with its source. */
export type DiscoveredTarget = TableTargetPlan;

export type Resolution =
  | {
      readonly ok: true;
      readonly targets: readonly DiscoveredTarget[];
      /** Smallest TTL of the answer in seconds; null when the answer had no records. */
      readonly ttlS: number | null;
      /** SRV records of higher priority values, not registered (srv-weights.ts). */
      readonly backupCount: number;
    }
  | {
      readonly ok: false;
      /** node:dns error code: ENOTFOUND (NXDOMAIN), ESERVFAIL, EREFUSED, ETIMEOUT, ECONNREFUSED, … */
      readonly code: string;
      readonly message: string;
    };

interface Address {
  readonly address: string;
  readonly ttl: number;
}

/** Resolve `query` once. Never rejects: a failure is a value. Thread: main. */
export async function resolveDns(resolver: Resolver, query: DnsQuery): Promise<Resolution> {
  try {
    if (query.type === 'SRV') return await resolveSrvTargets(resolver, query);
    const addresses = await resolveAddresses(resolver, query.name, query.type);
    const port = query.port ?? 0;
    const targets = addresses.map((entry) => target(entry.address, port, 1, query));
    return { ok: true, targets: dedupe(targets), ttlS: smallestTtl(addresses), backupCount: 0 };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'EUNKNOWN';
    return { ok: false, code, message: describeDnsError(code, query.name) };
  }
}

/** A, AAAA or both; NODATA is an empty success, anything else throws. */
async function resolveAddresses(
  resolver: Resolver,
  name: string,
  type: 'A' | 'AAAA' | 'ANY',
): Promise<Address[]> {
  if (isIP(name) !== 0) return [{ address: name, ttl: Number.MAX_SAFE_INTEGER }];
  const [v4, v6] = await Promise.all([
    type === 'AAAA' ? [] : orNoData(resolver.resolve4(name, { ttl: true })),
    type === 'A' ? [] : orNoData(resolver.resolve6(name, { ttl: true })),
  ]);
  return [...v4, ...v6];
}

async function resolveSrvTargets(resolver: Resolver, query: DnsQuery): Promise<Resolution> {
  const records: SrvRecord[] = await orNoData(resolver.resolveSrv(query.name));
  const { tier, backupCount } = lowestPriorityTier(records);
  const hosts = [...new Set(tier.map((record) => record.name))].slice(0, DNS_SRV_HOSTS_MAX);
  const resolved = await Promise.all(hosts.map((host) => resolveAddresses(resolver, host, 'ANY')));
  const addressesByHost = new Map(hosts.map((host, index) => [host, resolved[index] ?? []]));
  const weights = ferryWeights(tier.map((record) => record.weight));
  const targets: DiscoveredTarget[] = [];
  const ttls: Address[] = [];
  tier.forEach((record, index) => {
    for (const entry of addressesByHost.get(record.name) ?? []) {
      targets.push(target(entry.address, record.port, weights[index] ?? 1, query));
      ttls.push(entry);
    }
  });
  return { ok: true, targets: dedupe(targets), ttlS: smallestTtl(ttls), backupCount };
}

/** The records, or none when the server says the name has no record of this type (NODATA). */
async function orNoData<T>(query: Promise<T[]>): Promise<T[]> {
  try {
    return await query;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENODATA') return [];
    throw error;
  }
}

function target(ip: string, port: number, weight: number, query: DnsQuery): DiscoveredTarget {
  const isV6 = isIP(ip) === 6;
  return {
    address: isV6 ? `[${ip}]:${port}` : `${ip}:${port}`,
    host: ip,
    port,
    weight,
    zone: query.zone,
    source: 'dns',
    discoveredBy: query.name,
  };
}

/** One target per address (weights of duplicates add up, capped by ferryWeights' range), at most DNS_TARGETS_PER_NAME_MAX, sorted for a stable plan. */
function dedupe(targets: readonly DiscoveredTarget[]): DiscoveredTarget[] {
  const byAddress = new Map<string, DiscoveredTarget>();
  for (const entry of targets) {
    const seen = byAddress.get(entry.address);
    byAddress.set(
      entry.address,
      seen === undefined ? entry : { ...seen, weight: Math.min(1000, seen.weight + entry.weight) },
    );
  }
  return [...byAddress.values()]
    .sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0))
    .slice(0, DNS_TARGETS_PER_NAME_MAX);
}

function smallestTtl(addresses: readonly Address[]): number | null {
  if (addresses.length === 0) return null;
  let smallest = Number.MAX_SAFE_INTEGER;
  for (const entry of addresses) smallest = Math.min(smallest, entry.ttl);
  return smallest === Number.MAX_SAFE_INTEGER ? null : smallest;
}

const DNS_ERROR_WORDS: Readonly<Record<string, string>> = {
  ENOTFOUND: 'NXDOMAIN (the name does not exist)',
  ESERVFAIL: 'SERVFAIL (the server failed)',
  EREFUSED: 'REFUSED (the server refused the query)',
  ETIMEOUT: 'timeout (no answer from any server)',
  ECONNREFUSED: 'connection refused (no DNS server at the address)',
  EBADRESP: 'malformed answer',
  ECANCELLED: 'cancelled',
};

function describeDnsError(code: string, name: string): string {
  return `${name}: ${DNS_ERROR_WORDS[code] ?? code}`;
}
