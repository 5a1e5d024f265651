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
  LEDGER_IN_FLIGHT,
  NO_SLOT,
  TARGET_ACTIVE_CONNECTIONS,
  TARGET_IN_FLIGHT,
} from '../../proto/table-layout.ts';
import type { TopologyListener } from '../../proto/thread-messages.ts';
import { monoUs } from '../../src/shared/clock.ts';
import { hashString } from '../../src/shared/hash.ts';
import { RECORD_STATUS_TCP_CONNECTED, recordExchange, TcpRecord } from '../record/index.ts';
import type { LiveConnection, WorkerRuntime } from '../runtime.ts';

class TcpConnection implements LiveConnection {
  private readonly runtime: WorkerRuntime;
  private readonly client: net.Socket;
  private readonly slot: number;
  private upstream: net.Socket | null;
  private isCounted: boolean;
  private isConnected: boolean;
  private readonly startUs: number;
  private deadlineMs: number;
  private readonly record: TcpRecord;

  constructor(
    runtime: WorkerRuntime,
    client: net.Socket,
    slot: number,
    connectTimeoutMs: number,
    record: TcpRecord,
  ) {
    this.runtime = runtime;
    this.client = client;
    this.slot = slot;
    this.upstream = null;
    this.isCounted = false;
    this.isConnected = false;
    this.startUs = monoUs();
    this.deadlineMs = runtime.nowMs + connectTimeoutMs;
    this.record = record;
  }

  start(host: string, port: number): void {
    const { runtime, slot, client } = this;
    this.isCounted = true;
    addTarget(runtime.view, slot, TARGET_IN_FLIGHT, 1);
    addLedger(runtime.view, runtime.workerIndex, slot, LEDGER_IN_FLIGHT, 1);
    runtime.add(this);
    const upstream = net.connect({ host, port, noDelay: true });
    this.upstream = upstream;
    client.pause();
    upstream.on('connect', () => {
      this.isConnected = true;
      addTarget(runtime.view, slot, TARGET_ACTIVE_CONNECTIONS, 1);
      addLedger(runtime.view, runtime.workerIndex, slot, LEDGER_CONNECTIONS, 1);
      recordExchange(
        runtime.view,
        slot,
        RECORD_STATUS_TCP_CONNECTED,
        monoUs() - this.startUs,
        runtime.readClock(),
      );
      this.record.connected();
      client.pipe(upstream);
      upstream.pipe(client);
      client.resume();
    });
    upstream.on('error', (error: NodeJS.ErrnoException) => {
      if (!this.isConnected) {
        recordExchange(runtime.view, slot, 0, monoUs() - this.startUs, runtime.readClock());
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
    if (this.isCounted) {
      this.isCounted = false;
      addTarget(this.runtime.view, this.slot, TARGET_IN_FLIGHT, -1);
      addLedger(this.runtime.view, this.runtime.workerIndex, this.slot, LEDGER_IN_FLIGHT, -1);
      this.runtime.remove(this);
    }
    this.client.destroy();
    this.record.closed();
    this.upstream?.destroy();
  }

  tick(nowMs: number): void {
    if (!this.isConnected && this.upstream !== null && nowMs - this.deadlineMs >= 0) {
      recordExchange(this.runtime.view, this.slot, 0, monoUs() - this.startUs, nowMs);
      this.record.connectFailed('FERRY_ERR_UPSTREAM_CONNECT_TIMEOUT');
      this.close();
    }
  }

  drain(): void {
    // A TCP stream has no message boundary to stop at: it runs until either side closes or the grace period ends.
  }
}

/** Accept one TCP connection on a TCP listener. */
export function acceptTcp(runtime: WorkerRuntime, listener: TopologyListener, client: net.Socket): void {
  const groups = runtime.groups;
  // The group index comes from the current topology (a reload may reorder groups), not the one bound at boot.
  const routes = runtime.router.listener(listener.name);
  const groupIndex =
    routes === undefined ? -1 : (routes.actions[routes.defaultActionIndex]?.groupIndices[0] ?? -1);
  const group = groups.group(groupIndex);
  const address = client.remoteAddress ?? '';
  // Only source_ip makes sense for a byte stream; any other hash key falls back to it.
  const keyHash = group !== undefined && group.algorithm === 'hash' ? hashString(address) : 0;
  const slot = groupIndex < 0 ? NO_SLOT : groups.pickTarget(groupIndex, keyHash, runtime.nowMs);
  const target = slot === NO_SLOT ? undefined : groups.targetAt(slot);
  if (target === undefined) {
    runtime.observer.connectionRejected(listener);
    client.destroy();
    return;
  }
  const serving = groups.group(groups.lastPickGroupIndex) ?? group;
  const record = new TcpRecord(
    runtime.observer,
    listener,
    client,
    serving,
    target,
    slot,
    groups.lastPickKind,
  );
  new TcpConnection(runtime, client, slot, serving?.connectTimeoutMs ?? 5_000, record).start(
    target.host,
    target.port,
  );
}
