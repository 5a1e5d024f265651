/**
 * @module workers/l4
 *
 * TCP listeners (Network-LB style): pick a target per connection and pipe
 * bytes both ways without looking at them. Thread: worker. Place in the flow:
 * accept -> pick -> connect -> relay -> finish.
 *
 * A connection counts as one in-flight "request" on its target for its whole
 * life, so least_connections and least_outstanding_requests balance TCP the
 * way HAProxy's leastconn does. A refused or failed connect closes the client
 * connection (there is no protocol to carry an error code) and counts a
 * gateway failure against the target.
 *
 * Record (workers/record/tcp-record.ts): listener and target connection
 * counters, processed bytes and one access-log line per connection, at close.
 */
import net from 'node:net';
import {
  addLedger,
  addTarget,
  LEDGER_CONNECTIONS,
  TARGET_ACTIVE_CONNECTIONS,
} from '../../proto/table-layout.ts';
import type { TopologyListener } from '../../proto/thread-messages.ts';
import { unmappedAddress } from '../../src/shared/ip.ts';
import { RECORD_STATUS_GATEWAY_FAILURE, RECORD_STATUS_TCP_CONNECTED, TcpRecord } from '../record/index.ts';
import type { LiveConnection, WorkerRuntime } from '../runtime.ts';
import { Exchange } from '../upstream/index.ts';

class TcpConnection implements LiveConnection {
  private readonly runtime: WorkerRuntime;
  private readonly client: net.Socket;
  /** The flow's pick and in-flight count (workers/upstream/exchange.ts). */
  private readonly ex: Exchange;
  private upstream: net.Socket | null;
  private isConnected: boolean;
  private deadlineMs: number;
  private readonly record: TcpRecord;

  constructor(runtime: WorkerRuntime, client: net.Socket, ex: Exchange, record: TcpRecord) {
    this.runtime = runtime;
    this.client = client;
    this.ex = ex;
    this.upstream = null;
    this.isConnected = false;
    this.deadlineMs = runtime.nowMs + ex.connectTimeoutMs;
    this.record = record;
  }

  start(host: string, port: number): void {
    const { runtime, client, ex } = this;
    const slot = ex.slot;
    ex.take();
    runtime.add(this);
    const upstream = net.connect({ host, port, noDelay: true });
    this.upstream = upstream;
    client.pause();
    upstream.on('connect', () => {
      this.isConnected = true;
      addTarget(runtime.view, slot, TARGET_ACTIVE_CONNECTIONS, 1);
      addLedger(runtime.view, runtime.workerIndex, slot, LEDGER_CONNECTIONS, 1);
      ex.recordOutcome(RECORD_STATUS_TCP_CONNECTED, runtime.readClock());
      this.record.connected();
      client.pipe(upstream);
      upstream.pipe(client);
      client.resume();
    });
    upstream.on('error', (error: NodeJS.ErrnoException) => {
      if (!this.isConnected) {
        ex.recordOutcome(RECORD_STATUS_GATEWAY_FAILURE, runtime.readClock());
        this.record.connectFailed(
          error.code === 'ECONNREFUSED' ? 'FERRY_ERR_UPSTREAM_CONNECT_REFUSED' : 'FERRY_ERR_UPSTREAM_RESET',
        );
      }
    });
    upstream.on('close', () => {
      if (this.isConnected) {
        addTarget(runtime.view, slot, TARGET_ACTIVE_CONNECTIONS, -1);
        addLedger(runtime.view, runtime.workerIndex, slot, LEDGER_CONNECTIONS, -1);
        this.isConnected = false;
      }
      this.close();
    });
    client.on('error', () => {});
    client.on('close', () => this.close());
  }

  private close(): void {
    this.ex.drop();
    this.runtime.remove(this);
    this.client.destroy();
    this.record.closed();
    this.upstream?.destroy();
  }

  tick(nowMs: number): void {
    if (!this.isConnected && this.upstream !== null && nowMs - this.deadlineMs >= 0) {
      this.ex.recordOutcome(RECORD_STATUS_GATEWAY_FAILURE, nowMs);
      this.record.connectFailed('FERRY_ERR_UPSTREAM_CONNECT_TIMEOUT');
      this.close();
    }
  }

  drain(): void {
    // A TCP stream has no message boundary to stop at: it runs until either side closes or the grace period ends.
  }
}

/** Accept one TCP connection on a TCP listener: route to the default action's group, pick, connect. */
export function acceptTcp(runtime: WorkerRuntime, listener: TopologyListener, client: net.Socket): void {
  // The group index comes from the current topology (a reload may reorder groups), not the one bound at boot.
  const routes = runtime.router.listener(listener.name);
  const groupIndex =
    routes === undefined ? -1 : (routes.actions[routes.defaultActionIndex]?.groupIndices[0] ?? -1);
  const ex = new Exchange(runtime.view, runtime.workerIndex);
  // The same pick as HTTP (workers/route Router.pick); a byte stream has no request, so a hash
  // group hashes the source address whatever its key, and no stickiness cookie applies.
  if (groupIndex >= 0)
    runtime.router.pick(ex, groupIndex, null, unmappedAddress(client.remoteAddress ?? ''), runtime.nowMs);
  const target = ex.target;
  if (target === null) {
    runtime.observer.connectionRejected(listener);
    client.destroy();
    return;
  }
  const record = new TcpRecord(runtime.observer, listener, client, ex.group, target, ex.slot, ex.pickKind);
  new TcpConnection(runtime, client, ex, record).start(target.host, target.port);
}
