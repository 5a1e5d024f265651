/**
 * @module workers/route/source-filter
 *
 * Who may connect, checked in the **accept** phase before a byte is read:
 * `scheme: internal` admits only loopback and private sources (10/8,
 * 172.16/12, 192.168/16, fc00::/7, plus the listener's `internalSources`),
 * and `allowedSources` (any listener, the security-group analogue) admits
 * only its CIDR blocks. Both apply when both are set. A refused connection
 * is destroyed at once and counted (LISTENER_SOURCE_REFUSED_TOTAL). Thread:
 * worker. Place in the flow: **accept** -> tls -> route.
 *
 * The address is the socket peer (what the kernel says), never a header:
 * X-Forwarded-For is the client's to write. The one exception is a PROXY
 * protocol header from a listener's trusted sources (workers/l4): the check
 * then runs on the client address it carries, once it is read. IPv4-mapped IPv6 peers of a
 * dual-stack socket count as the IPv4 address.
 *
 * Why at accept and not in a route rule: an internal listener must not parse
 * (or TLS-handshake) anything an outside client sends, and a TCP listener
 * has no request to route. It lives in route/ (not listen/) because both
 * listen and l4 (PROXY headers, UDP flows) run it.
 */
import type { Socket } from 'node:net';
import { addListener, LISTENER_SOURCE_REFUSED_TOTAL, type TableView } from '../../proto/table-layout.ts';
import type { Topology, TopologyRouting } from '../../proto/thread-messages.ts';
import { IP_NONE, parseIp } from '../../src/shared/ip.ts';
import { CidrTable } from './compile.ts';
import { matchCidr } from './match.ts';

/** What `scheme: internal` counts as private, besides `internalSources`. */
export const INTERNAL_SOURCES_BUILT_IN: readonly string[] = [
  '127.0.0.0/8',
  '::1/128',
  '10.0.0.0/8',
  '172.16.0.0/12',
  '192.168.0.0/16',
  'fc00::/7',
];

/** One listener's accept check, compiled. */
export class SourceFilter {
  /** Blocks an internal listener accepts; null when the listener is internet-facing. */
  readonly internal: CidrTable | null;
  /** Blocks `allowedSources` accepts; null when the list is empty (any source). */
  readonly allowed: CidrTable | null;

  constructor(routing: Pick<TopologyRouting, 'scheme' | 'allowedSources' | 'internalSources'>) {
    this.internal =
      routing.scheme === 'internal'
        ? new CidrTable([...INTERNAL_SOURCES_BUILT_IN, ...routing.internalSources])
        : null;
    this.allowed = routing.allowedSources.length === 0 ? null : new CidrTable(routing.allowedSources);
  }

  /** True when nothing is checked (the common case: no parse at accept). */
  get isOpen(): boolean {
    return this.internal === null && this.allowed === null;
  }
}

/** Scratch for the peer address (one per worker thread, H1). */
const words = new Int32Array(4);

/**
 * Whether a peer address passes the filter. An address that does not parse
 * (undefined: the socket already closed) passes only an open filter.
 * Never throws, never allocates.
 */
export function isSourceAllowed(filter: SourceFilter, remoteAddress: string | undefined): boolean {
  if (filter.isOpen) return true;
  if (remoteAddress === undefined) return false;
  const family = parseIp(remoteAddress, words);
  if (family === IP_NONE) return false;
  if (filter.internal !== null && !matchCidr(filter.internal, family, words)) return false;
  if (filter.allowed !== null && !matchCidr(filter.allowed, family, words)) return false;
  return true;
}

const OPEN_FILTER = new SourceFilter({ scheme: 'internet-facing', allowedSources: [], internalSources: [] });

/**
 * Every listener's filter in a worker, by listener name. Rebuilt from each
 * topology, so a reload changes who may connect.
 */
export class SourceFilters {
  private filters: Map<string, SourceFilter>;

  constructor(topology: Topology) {
    this.filters = new Map();
    this.apply(topology);
  }

  /** Compile a topology's filters. Allocates; message time only. */
  apply(topology: Topology): void {
    const filters = new Map<string, SourceFilter>();
    for (const listener of topology.listeners) {
      if (listener.routing !== undefined) filters.set(listener.name, new SourceFilter(listener.routing));
    }
    this.filters = filters;
  }

  /** The filter of a listener (an open one when the topology has none). */
  filter(listenerName: string): SourceFilter {
    return this.filters.get(listenerName) ?? OPEN_FILTER;
  }
}

/**
 * Refuse a connection at accept: count it in the listener's row
 * (`listenerIndex` from workers/record's Observer; -1 = not counted) and
 * reset it, so the client sees a refusal rather than an empty answer.
 */
export function refuseSource(
  view: TableView,
  workerIndex: number,
  listenerIndex: number,
  socket: Socket,
): void {
  if (listenerIndex >= 0) addListener(view, workerIndex, listenerIndex, LISTENER_SOURCE_REFUSED_TOTAL, 1);
  socket.resetAndDestroy();
}
