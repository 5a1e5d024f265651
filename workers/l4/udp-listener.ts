/**
 * @module workers/l4/udp-listener
 *
 * A UDP listener (and the UDP half of TCP_UDP): datagrams are grouped into
 * flows by the client's address and port, each flow is picked once and
 * sticks to its target through its own connected upstream socket until it
 * has been idle for the listener's idle timeout (ELB: 120 s). Replies go back
 * to the client from the listener's own socket, so the client sees them come
 * from the address it sent to. Thread: worker. Place in the flow:
 *
 *   datagram ──> flow table (key: client address|port) ──hit──> send on the flow's socket
 *                  │miss (bounded: limits.maxUdpFlows per worker, else drop + count)
 *                  └──> route (default action) ──> pick (Router.pick, flow tuple) ──> connect a socket ──> send
 *   reply on the flow's socket ──> listener socket.send(client)       tick: flows idle >= udpIdleTimeoutMs close
 *
 * Across workers: every worker binds the port with SO_REUSEPORT, and for UDP
 * the kernel picks the socket by a hash of the 4-tuple, so all datagrams of
 * one flow reach the same worker while the set of workers stays; each worker
 * keeps its own table (no shared state, nothing to lock). A worker that
 * restarts loses its flows: their next datagrams hash to another worker,
 * which picks again (with `hash` groups, the same target).
 *
 * A flow is one exchange (workers/upstream Exchange): in flight on its
 * target from its first datagram to its expiry, so least_connections counts
 * flows.
 */
import dgram from 'node:dgram';
import {
  addListener,
  addStats,
  LISTENER_BYTES_IN_TOTAL,
  LISTENER_BYTES_OUT_TOTAL,
  LISTENER_CONNECTIONS_TOTAL,
  LISTENER_UDP_DROPPED_TOTAL,
  LISTENER_UDP_FLOWS_ACTIVE,
  STATS_NEW_CONNECTIONS_TOTAL,
} from '../../proto/table-layout.ts';
import type { TopologyListener } from '../../proto/thread-messages.ts';
import { unmappedAddress } from '../../src/shared/ip.ts';
import { UDP_FLOW_QUEUE_MAX } from '../../src/shared/limits.ts';
import { RECORD_STATUS_TCP_CONNECTED } from '../record/index.ts';
import { FLOW_PROTOCOL_UDP, FlowTuple, isSourceAllowed, type SourceFilters } from '../route/index.ts';
import type { Ticker, WorkerRuntime } from '../runtime.ts';
import { Exchange } from '../upstream/index.ts';

/** ELB's UDP idle timeout and Ferry's default flow bound, for a topology that does not say. */
const UDP_IDLE_TIMEOUT_MS_FALLBACK = 120_000;
const MAX_UDP_FLOWS_FALLBACK = 16_384;

/** One UDP flow: a client address and port, its pick, and its connected socket to the target. */
class UdpFlow {
  readonly key: string;
  readonly clientAddress: string;
  readonly clientPort: number;
  readonly ex: Exchange;
  readonly upstream: dgram.Socket;
  isReady: boolean;
  /** Datagrams that arrived before the upstream socket was connected (at most UDP_FLOW_QUEUE_MAX). */
  queue: Buffer[];
  lastActivityMs: number;

  constructor(
    key: string,
    clientAddress: string,
    clientPort: number,
    ex: Exchange,
    upstream: dgram.Socket,
    nowMs: number,
  ) {
    this.key = key;
    this.clientAddress = clientAddress;
    this.clientPort = clientPort;
    this.ex = ex;
    this.upstream = upstream;
    this.isReady = false;
    this.queue = [];
    this.lastActivityMs = nowMs;
  }
}

export class UdpListener implements Ticker {
  private readonly runtime: WorkerRuntime;
  private readonly listener: TopologyListener;
  private readonly sourceFilters: SourceFilters;
  private readonly socket: dgram.Socket;
  private readonly flows: Map<string, UdpFlow>;
  private readonly idleTimeoutMs: number;
  private readonly maxFlows: number;
  /** Scratch flow tuple for picks (H1: one per listener). */
  private readonly tuple: FlowTuple;
  private isClosed: boolean;
  /** This listener's row in the table (workers/record Observer), looked up once: counted per datagram. */
  private readonly listenerIndex: number;

  constructor(
    runtime: WorkerRuntime,
    listener: TopologyListener,
    sourceFilters: SourceFilters,
    socket: dgram.Socket,
  ) {
    this.runtime = runtime;
    this.listener = listener;
    this.sourceFilters = sourceFilters;
    this.socket = socket;
    this.flows = new Map();
    this.idleTimeoutMs = listener.layer4?.udpIdleTimeoutMs ?? UDP_IDLE_TIMEOUT_MS_FALLBACK;
    this.maxFlows = listener.layer4?.maxUdpFlows ?? MAX_UDP_FLOWS_FALLBACK;
    this.tuple = new FlowTuple();
    this.tuple.protocol = FLOW_PROTOCOL_UDP;
    this.isClosed = false;
    this.listenerIndex = runtime.observer.listenerIndexOf(listener);
    socket.on('message', (message, remote) => this.receive(message, remote.address, remote.port));
    socket.on('error', () => {});
  }

  /** Flows this worker tracks now (tests and the status page read the table gauge). */
  get flowCount(): number {
    return this.flows.size;
  }

  private receive(message: Buffer, address: string, port: number): void {
    const key = `${address}|${port}`;
    let flow = this.flows.get(key);
    if (flow === undefined) {
      flow = this.open(key, address, port) ?? undefined;
      if (flow === undefined) {
        this.count(LISTENER_UDP_DROPPED_TOTAL, 1);
        return;
      }
    }
    this.count(LISTENER_BYTES_IN_TOTAL, message.length);
    flow.lastActivityMs = this.runtime.nowMs;
    if (flow.isReady) flow.upstream.send(message);
    else if (flow.queue.length < UDP_FLOW_QUEUE_MAX) flow.queue.push(message);
    else this.count(LISTENER_UDP_DROPPED_TOTAL, 1);
  }

  /** A new flow: check the source, route, pick, connect its socket. Null when the datagram is dropped. */
  private open(key: string, address: string, port: number): UdpFlow | null {
    const { runtime, listener } = this;
    if (this.isClosed || runtime.isDraining) return null;
    const clientAddress = unmappedAddress(address);
    if (!isSourceAllowed(this.sourceFilters.filter(listener.name), clientAddress)) return null;
    if (this.flows.size >= this.maxFlows) {
      if (runtime.log.isLevelEnabled('debug'))
        runtime.log.debug(
          { listener: listener.name, code: 'FERRY_ERR_UDP_FLOW_TABLE_FULL', phase: 'accept' },
          'UDP flow table full; datagram dropped',
        );
      return null;
    }
    const routes = runtime.router.listener(listener.name);
    const groupIndex =
      routes === undefined ? -1 : (routes.actions[routes.defaultActionIndex]?.groupIndices[0] ?? -1);
    if (groupIndex < 0) return null;
    const tuple = this.tuple;
    tuple.sourceAddress = clientAddress;
    tuple.sourcePort = port;
    tuple.destinationAddress = listener.host;
    tuple.destinationPort = this.socket.address().port;
    const ex = new Exchange(runtime.view, runtime.workerIndex);
    runtime.router.pick(ex, groupIndex, null, clientAddress, runtime.nowMs, tuple);
    const target = ex.target;
    if (target === null) return null;
    ex.take();
    const upstream = dgram.createSocket(target.host.includes(':') ? 'udp6' : 'udp4');
    const flow = new UdpFlow(key, address, port, ex, upstream, runtime.nowMs);
    upstream.on('message', (reply) => {
      flow.lastActivityMs = this.runtime.nowMs;
      this.count(LISTENER_BYTES_OUT_TOTAL, reply.length);
      this.socket.send(reply, flow.clientPort, flow.clientAddress);
    });
    // ICMP port unreachable and the like: the flow stays until idle (the target may come back), as on NLB.
    upstream.on('error', () => {});
    upstream.connect(target.port, target.host, () => {
      if (!this.flows.has(key)) return;
      flow.isReady = true;
      ex.recordOutcome(RECORD_STATUS_TCP_CONNECTED, runtime.readClock());
      addStats(runtime.view, ex.slot, STATS_NEW_CONNECTIONS_TOTAL, 1);
      for (const queued of flow.queue) upstream.send(queued);
      flow.queue = [];
    });
    this.flows.set(key, flow);
    this.count(LISTENER_CONNECTIONS_TOTAL, 1);
    this.count(LISTENER_UDP_FLOWS_ACTIVE, 1);
    return flow;
  }

  private closeFlow(flow: UdpFlow): void {
    this.flows.delete(flow.key);
    flow.ex.drop();
    flow.upstream.close();
    this.count(LISTENER_UDP_FLOWS_ACTIVE, -1);
  }

  /** Expire idle flows (the worker's coarse tick). O(flows), bounded by maxUdpFlows. */
  tick(nowMs: number): void {
    const idleTimeoutMs = this.idleTimeoutMs;
    for (const flow of this.flows.values()) {
      if (nowMs - flow.lastActivityMs >= idleTimeoutMs) this.closeFlow(flow);
    }
  }

  /** Stop receiving and forget every flow (drain: UDP has no end to wait for). */
  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.runtime.tickers.delete(this);
    for (const flow of this.flows.values()) this.closeFlow(flow);
    this.socket.close();
  }

  private count(field: number, delta: number): void {
    const listenerIndex = this.listenerIndex;
    if (listenerIndex >= 0)
      addListener(this.runtime.view, this.runtime.workerIndex, listenerIndex, field, delta);
  }
}

/**
 * Bind a UDP listener's socket (reusePort, like every listener) on
 * `listener.port` and start its flow table. Resolves once bound; rejects with
 * the bind error.
 */
export function bindUdpListener(
  runtime: WorkerRuntime,
  sourceFilters: SourceFilters,
  listener: TopologyListener,
): Promise<UdpListener> {
  const socket = dgram.createSocket({ type: listener.host.includes(':') ? 'udp6' : 'udp4', reusePort: true });
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind({ address: listener.host, port: listener.port, exclusive: false }, () => {
      socket.off('error', reject);
      const udp = new UdpListener(runtime, listener, sourceFilters, socket);
      runtime.tickers.add(udp);
      resolve(udp);
    });
  });
}
