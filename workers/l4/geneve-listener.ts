/**
 * @module workers/l4/geneve-listener
 *
 * A GENEVE listener (Gateway Load Balancer, in userland): GENEVE packets from
 * the traffic side are kept on one appliance per flow, both directions, and
 * what the appliance sends back returns to the side it came from. Thread:
 * worker. Place in the flow:
 *
 *   traffic side ──GENEVE──> listener socket (UDP 6081, reusePort)
 *     decode (drop + count: bad version, OAM, unknown critical option, bad inner packet)
 *     flow table (key: the inner packet's fields, endpoints ordered, so both directions meet)
 *       miss: route (default action) -> pick (Router.pick, symmetric flow hash) -> take
 *       hit:  its appliance; if that appliance is no longer routable: rebalance (re-pick) or
 *             no_rebalance (stay), per targetFailover.onUnhealthy / onDeregistration
 *     ──GENEVE + GWLB options (endpoint id, attachment id, flow cookie)──> appliance
 *   appliance ──GENEVE (options echoed)──> this worker's appliance socket
 *     flow cookie -> flow and direction -> the original GENEVE header + the returned inner
 *     packet ──> the traffic-side sender of that direction, from the listener socket
 *
 * The flow cookie is (flow id << 1 | direction): appliances must return
 * GWLB's options unchanged, as on AWS. Each worker sends to appliances from
 * its own socket, so the answers come back to the worker that holds the flow.
 * With reusePort the kernel hashes the traffic side's outer 4-tuple to one
 * worker; the symmetric hash is Maglev (the group's `hash` table), so two
 * workers that see the two directions of a flow pick the same appliance.
 *
 * Bounded: at most limits.maxUdpFlows flows per worker; idle flows expire
 * (inner TCP: the listener's TCP idle timeout, 350 s by default; anything
 * else: the UDP one, 120 s). Every drop is counted (LISTENER_UDP_DROPPED_TOTAL)
 * and flows are a gauge (LISTENER_UDP_FLOWS_ACTIVE).
 *
 * The flow key is a string built per datagram (one allocation), like the UDP
 * listener's; a numeric open-addressing table is the optimisation to make
 * when bench:l4 says GENEVE needs it. TODO(l4): measure.
 */
import dgram from 'node:dgram';
import {
  addListener,
  isTargetRoutable,
  LISTENER_BYTES_IN_TOTAL,
  LISTENER_BYTES_OUT_TOTAL,
  LISTENER_CONNECTIONS_TOTAL,
  LISTENER_UDP_DROPPED_TOTAL,
  LISTENER_UDP_FLOWS_ACTIVE,
  loadTarget,
  TARGET_STATE,
  TARGET_STATE_DRAINING,
  TARGET_STATE_EMPTY,
  TARGET_STATE_UNUSED,
} from '../../proto/table-layout.ts';
import type { TopologyListener } from '../../proto/thread-messages.ts';
import { FlowTuple } from '../route/index.ts';
import type { Ticker, WorkerRuntime } from '../runtime.ts';
import { Exchange } from '../upstream/index.ts';
import {
  decodeGeneve,
  directionOf,
  encodeGeneveGwlb,
  FLOW_STICKINESS_FIVE_TUPLE,
  GENEVE_OK,
  GenevePacket,
  idHalvesOf,
  symmetricFlowHash,
  symmetricFlowKey,
} from './geneve.ts';

const PROTOCOL_TCP = 6;
const TCP_IDLE_TIMEOUT_MS_FALLBACK = 350_000;
const UDP_IDLE_TIMEOUT_MS_FALLBACK = 120_000;
const MAX_FLOWS_FALLBACK = 16_384;
/** Flow ids wrap below 2^31 so id << 1 | direction fits the 32-bit cookie. */
const FLOW_ID_MAX = 0x7fff_ffff;

const NO_ID: readonly [number, number] = [0, 0];

class GeneveFlow {
  readonly key: string;
  readonly id: number;
  readonly ex: Exchange;
  readonly idleTimeoutMs: number;
  lastActivityMs: number;
  /** Per direction (0, 1): the traffic-side sender and the GENEVE header it used, for the way back. */
  readonly returnAddresses: [string, string];
  readonly returnPorts: [number, number];
  readonly returnHeaders: [Buffer | null, Buffer | null];
  /** Per direction: GWLB's endpoint id of that sender (two 32-bit halves), made when the sender changes. */
  readonly endpointIds: [readonly [number, number], readonly [number, number]];

  constructor(key: string, id: number, ex: Exchange, idleTimeoutMs: number, nowMs: number) {
    this.key = key;
    this.id = id;
    this.ex = ex;
    this.idleTimeoutMs = idleTimeoutMs;
    this.lastActivityMs = nowMs;
    this.returnAddresses = ['', ''];
    this.returnPorts = [0, 0];
    this.returnHeaders = [null, null];
    this.endpointIds = [NO_ID, NO_ID];
  }
}

export class GeneveListener implements Ticker {
  private readonly runtime: WorkerRuntime;
  private readonly listener: TopologyListener;
  private readonly socket: dgram.Socket;
  private readonly applianceSocket: dgram.Socket;
  private readonly flows: Map<string, GeneveFlow>;
  private readonly flowsById: Map<number, GeneveFlow>;
  private readonly packet: GenevePacket;
  private readonly tuple: FlowTuple;
  private readonly maxFlows: number;
  private readonly tcpIdleTimeoutMs: number;
  private readonly udpIdleTimeoutMs: number;
  private readonly attachmentId: readonly [number, number];
  private nextFlowId: number;
  private isClosed: boolean;
  /** This listener's row in the table (workers/record Observer), looked up once: counted per datagram. */
  private readonly listenerIndex: number;

  constructor(
    runtime: WorkerRuntime,
    listener: TopologyListener,
    socket: dgram.Socket,
    applianceSocket: dgram.Socket,
  ) {
    this.runtime = runtime;
    this.listener = listener;
    this.socket = socket;
    this.applianceSocket = applianceSocket;
    this.flows = new Map();
    this.flowsById = new Map();
    this.packet = new GenevePacket();
    this.tuple = new FlowTuple();
    this.tuple.hasKeyHash = true;
    this.maxFlows = listener.layer4?.maxUdpFlows ?? MAX_FLOWS_FALLBACK;
    this.tcpIdleTimeoutMs = listener.layer4?.tcpIdleTimeoutMs ?? TCP_IDLE_TIMEOUT_MS_FALLBACK;
    this.udpIdleTimeoutMs = listener.layer4?.udpIdleTimeoutMs ?? UDP_IDLE_TIMEOUT_MS_FALLBACK;
    // GWLB's attachment id names the load balancer attachment: here, the listener.
    this.attachmentId = idHalvesOf(`listener:${listener.name}`);
    this.nextFlowId = 1;
    this.isClosed = false;
    this.listenerIndex = runtime.observer.listenerIndexOf(listener);
    socket.on('message', (message, remote) => this.fromTraffic(message, remote.address, remote.port));
    socket.on('error', () => {});
    applianceSocket.on('message', (message) => this.fromAppliance(message));
    applianceSocket.on('error', () => {});
  }

  // === traffic side -> appliance ===
  private fromTraffic(message: Buffer, address: string, port: number): void {
    const { runtime, packet } = this;
    if (this.isClosed || decodeGeneve(message, message.length, packet) !== GENEVE_OK) {
      this.count(LISTENER_UDP_DROPPED_TOTAL, 1);
      return;
    }
    const routes = runtime.router.listener(this.listener.name);
    const groupIndex =
      routes === undefined ? -1 : (routes.actions[routes.defaultActionIndex]?.groupIndices[0] ?? -1);
    const geneve = groupIndex < 0 ? undefined : runtime.groups.group(groupIndex)?.geneve;
    const stickiness = geneve?.stickiness ?? FLOW_STICKINESS_FIVE_TUPLE;
    const key = symmetricFlowKey(packet, stickiness);
    let flow = this.flows.get(key);
    if (flow === undefined) {
      flow = this.open(key, groupIndex, stickiness) ?? undefined;
      if (flow === undefined) {
        this.count(LISTENER_UDP_DROPPED_TOTAL, 1);
        return;
      }
    } else if (!isTargetRoutable(runtime.view, flow.ex.slot) && geneve !== undefined) {
      const state = loadTarget(runtime.view, flow.ex.slot, TARGET_STATE);
      // Draining, unused, or its slot already freed: the appliance was deregistered.
      const isDeregistered =
        state === TARGET_STATE_DRAINING || state === TARGET_STATE_UNUSED || state === TARGET_STATE_EMPTY;
      const isRebalanced = isDeregistered
        ? geneve.isRebalancedOnDeregistration
        : geneve.isRebalancedOnUnhealthy;
      if (isRebalanced) this.repick(flow, groupIndex, stickiness);
    }
    const target = flow.ex.target;
    if (target === null) {
      this.count(LISTENER_UDP_DROPPED_TOTAL, 1);
      return;
    }
    const direction = directionOf(packet, stickiness);
    flow.lastActivityMs = runtime.nowMs;
    if (flow.returnPorts[direction] !== port || flow.returnAddresses[direction] !== address) {
      flow.returnAddresses[direction] = address;
      flow.returnPorts[direction] = port;
      flow.returnHeaders[direction] = Buffer.from(message.subarray(0, packet.innerOffset));
      flow.endpointIds[direction] = idHalvesOf(`endpoint:${address}:${port}`);
    }
    const endpointId = direction === 0 ? flow.endpointIds[0] : flow.endpointIds[1];
    const attachment = this.attachmentId;
    const out = encodeGeneveGwlb(
      packet.vni,
      packet.protocolType,
      endpointId[0],
      endpointId[1],
      attachment[0],
      attachment[1],
      ((flow.id << 1) | direction) >>> 0,
      message.subarray(packet.innerOffset),
    );
    this.count(LISTENER_BYTES_IN_TOTAL, message.length);
    this.applianceSocket.send(out, target.port, target.host);
  }

  /** A new flow: pick an appliance by the symmetric hash and count it in flight. Null when none can be picked. */
  private open(key: string, groupIndex: number, stickiness: number): GeneveFlow | null {
    const runtime = this.runtime;
    if (groupIndex < 0 || runtime.isDraining || this.flows.size >= this.maxFlows) return null;
    const ex = new Exchange(runtime.view, runtime.workerIndex);
    if (!this.pick(ex, groupIndex, stickiness)) return null;
    const id = this.nextFlowId;
    this.nextFlowId = id >= FLOW_ID_MAX ? 1 : id + 1;
    const idleTimeoutMs =
      this.packet.protocol === PROTOCOL_TCP ? this.tcpIdleTimeoutMs : this.udpIdleTimeoutMs;
    const flow = new GeneveFlow(key, id, ex, idleTimeoutMs, runtime.nowMs);
    this.flows.set(key, flow);
    this.flowsById.set(id, flow);
    this.count(LISTENER_CONNECTIONS_TOTAL, 1);
    this.count(LISTENER_UDP_FLOWS_ACTIVE, 1);
    return flow;
  }

  /** Move a flow whose appliance failed (targetFailover: rebalance); its in-flight count moves with it. */
  private repick(flow: GeneveFlow, groupIndex: number, stickiness: number): void {
    const ex = flow.ex;
    ex.drop();
    ex.reset();
    this.pick(ex, groupIndex, stickiness);
  }

  private pick(ex: Exchange, groupIndex: number, stickiness: number): boolean {
    const runtime = this.runtime;
    const tuple = this.tuple;
    tuple.protocol = this.packet.protocol;
    tuple.keyHash = symmetricFlowHash(this.packet, stickiness);
    runtime.router.pick(ex, groupIndex, null, '', runtime.nowMs, tuple);
    if (ex.target === null) return false;
    ex.take();
    return true;
  }

  // === appliance -> traffic side ===
  private fromAppliance(message: Buffer): void {
    const packet = this.packet;
    if (decodeGeneve(message, message.length, packet) !== GENEVE_OK || packet.flowCookie < 0) {
      this.count(LISTENER_UDP_DROPPED_TOTAL, 1);
      return;
    }
    const flow = this.flowsById.get(packet.flowCookie >>> 1);
    const direction = packet.flowCookie & 1;
    const header = flow?.returnHeaders[direction] ?? null;
    if (flow === undefined || header === null) {
      this.count(LISTENER_UDP_DROPPED_TOTAL, 1);
      return;
    }
    flow.lastActivityMs = this.runtime.nowMs;
    const back = Buffer.concat([header, message.subarray(packet.innerOffset)]);
    this.count(LISTENER_BYTES_OUT_TOTAL, back.length);
    this.socket.send(back, flow.returnPorts[direction], flow.returnAddresses[direction]);
  }

  // === expiry, close ===
  private closeFlow(flow: GeneveFlow): void {
    this.flows.delete(flow.key);
    this.flowsById.delete(flow.id);
    flow.ex.drop();
    this.count(LISTENER_UDP_FLOWS_ACTIVE, -1);
  }

  /** Expire idle flows (the worker's coarse tick). O(flows), bounded by maxUdpFlows. */
  tick(nowMs: number): void {
    for (const flow of this.flows.values()) {
      if (nowMs - flow.lastActivityMs >= flow.idleTimeoutMs) this.closeFlow(flow);
    }
  }

  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.runtime.tickers.delete(this);
    for (const flow of this.flows.values()) this.closeFlow(flow);
    this.socket.close();
    this.applianceSocket.close();
  }

  private count(field: number, delta: number): void {
    const listenerIndex = this.listenerIndex;
    if (listenerIndex >= 0)
      addListener(this.runtime.view, this.runtime.workerIndex, listenerIndex, field, delta);
  }
}

/** Bind a GENEVE listener (reusePort) and this worker's appliance socket. Rejects with the bind error. */
export async function bindGeneveListener(
  runtime: WorkerRuntime,
  listener: TopologyListener,
): Promise<GeneveListener> {
  const type = listener.host.includes(':') ? 'udp6' : 'udp4';
  const socket = dgram.createSocket({ type, reusePort: true });
  const applianceSocket = dgram.createSocket(type);
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind({ address: listener.host, port: listener.port, exclusive: false }, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  await new Promise<void>((resolve, reject) => {
    applianceSocket.once('error', reject);
    applianceSocket.bind({ address: listener.host, port: 0 }, () => {
      applianceSocket.off('error', reject);
      resolve();
    });
  });
  const geneve = new GeneveListener(runtime, listener, socket, applianceSocket);
  runtime.tickers.add(geneve);
  return geneve;
}
