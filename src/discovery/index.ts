/**
 * @module src/discovery
 *
 * Service discovery on the main thread: targets found by DNS name (A, AAAA,
 * A+AAAA, SRV), kept resolved within their TTL, merged into the table plan
 * so they live the same lifecycle as registered targets. Thread: main.
 * Place in the flow: config -> **discovery** -> table <- health. Never on a
 * worker's hot path. Nothing outside src/discovery/ imports its other files.
 * See docs/discovery.md.
 */
export { type DiscoveredTarget, type DnsQuery, type Resolution, resolveDns } from './dns-resolve.ts';
export { type DiscoveryStatus, type DnsSpec, DnsWatcher } from './dns-watcher.ts';
export { DNS_QUERY_TIMEOUT_MS, DNS_QUERY_TRIES, DNS_TARGETS_PER_NAME_MAX } from './limits.ts';
export { type DiscoveryEvents, DiscoveryManager, type DiscoveryManagerOptions } from './manager.ts';
export { ferryWeights, lowestPriorityTier, type SrvRecord } from './srv-weights.ts';
