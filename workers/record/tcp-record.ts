/**
 * @module workers/record/tcp-record
 *
 * The record phase of one layer-4 (TCP listener) connection: listener
 * counters, target connection counters and one access-log line when the
 * connection ends (NLB style: a connection is the unit, not a request).
 * Thread: worker. Place in the flow: workers/l4 accept -> pick -> connect ->
 * relay -> **record**. No spans: a byte stream carries no trace context.
 *
 * Processed bytes are counted when the connection ends (a TCP stream has no
 * request boundary to count at), so `/metrics` sees a long-lived
 * connection's bytes when it closes.
 */
import type { Socket } from 'node:net';
import type { ErrorCode } from '../../proto/error-codes.ts';
import {
  addListener,
  addStats,
  LISTENER_ACTIVE_CONNECTIONS,
  LISTENER_BYTES_IN_TOTAL,
  LISTENER_BYTES_OUT_TOTAL,
  LISTENER_CONNECTIONS_TOTAL,
  STATS_CONNECT_ERRORS_TOTAL,
  STATS_NEW_CONNECTIONS_TOTAL,
} from '../../proto/table-layout.ts';
import type { TopologyGroup, TopologyListener, TopologyTarget } from '../../proto/thread-messages.ts';
import { monoUs } from '../../src/shared/clock.ts';
import { jsonMsBetween, jsonString, jsonStringOrNull } from './access-log.ts';
import type { Observer } from './observer.ts';
import { pickReasonOf } from './request-record.ts';

/** The client as the flow knows it (the socket peer, or what a trusted PROXY header carried). */
export interface FlowSource {
  readonly sourceAddress: string;
  readonly sourcePort: number;
}

export class TcpRecord {
  private readonly observer: Observer;
  private readonly listener: TopologyListener;
  private readonly listenerIndex: number;
  private readonly client: Socket;
  private readonly source: FlowSource;
  private readonly group: TopologyGroup | null;
  private readonly target: TopologyTarget;
  private readonly slot: number;
  private readonly pickKind: number;
  private readonly startUs: number;
  private connectedUs: number;
  private failureCode: ErrorCode | null;
  private isClosed: boolean;

  constructor(
    observer: Observer,
    listener: TopologyListener,
    client: Socket,
    source: FlowSource,
    group: TopologyGroup | null,
    target: TopologyTarget,
    slot: number,
    pickKind: number,
  ) {
    this.observer = observer;
    this.listener = listener;
    this.listenerIndex = observer.listenerIndexOf(listener);
    this.client = client;
    this.source = source;
    this.group = group;
    this.target = target;
    this.slot = slot;
    this.pickKind = pickKind;
    this.startUs = observer.isDetailed ? monoUs() : 0;
    this.connectedUs = 0;
    this.failureCode = null;
    this.isClosed = false;
    this.count(LISTENER_CONNECTIONS_TOTAL, 1);
    this.count(LISTENER_ACTIVE_CONNECTIONS, 1);
  }

  /** The upstream connection is up. */
  connected(): void {
    addStats(this.observer.view, this.slot, STATS_NEW_CONNECTIONS_TOTAL, 1);
    if (this.observer.isDetailed) this.connectedUs = monoUs();
  }

  /** The upstream connection failed or timed out before it was up, or (FERRY_ERR_FLOW_IDLE_TIMEOUT) the flow went idle. */
  connectFailed(code: ErrorCode): void {
    if (this.failureCode !== null) return;
    this.failureCode = code;
    // An idle flow and a local descriptor shortage are not connections the target failed.
    if (code !== 'FERRY_ERR_FLOW_IDLE_TIMEOUT' && code !== 'FERRY_ERR_INTERNAL_RESOURCES')
      addStats(this.observer.view, this.slot, STATS_CONNECT_ERRORS_TOTAL, 1);
  }

  /** Both sides are gone (called once per connection). */
  closed(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    const client = this.client;
    const bytesIn = client.bytesRead;
    const bytesOut = client.bytesWritten ?? 0;
    this.count(LISTENER_ACTIVE_CONNECTIONS, -1);
    this.count(LISTENER_BYTES_IN_TOTAL, bytesIn | 0);
    this.count(LISTENER_BYTES_OUT_TOTAL, bytesOut | 0);
    const accessLog = this.observer.accessLog;
    if (accessLog === null) return;
    if (this.failureCode === null && !accessLog.isSampled()) return;
    const endUs = monoUs();
    const code = this.failureCode;
    const group = this.group;
    accessLog.write(
      accessLog.listenerPrefix('tcp', this.listener.name, this.observer.workerIndex),
      `,"client":${jsonString(`${this.source.sourceAddress}:${this.source.sourcePort}`)}` +
        `,"upstream":${jsonString(this.target.id)}` +
        `,"targetGroup":${group === null ? 'null' : jsonString(group.name)}` +
        `,"pickReason":${group === null ? 'null' : jsonStringOrNull(pickReasonOf(this.pickKind, group.algorithm))}` +
        `,"connectMs":${jsonMsBetween(this.startUs, this.connectedUs)}` +
        `,"durationMs":${jsonMsBetween(this.startUs, endUs)}` +
        `,"receivedBytes":${bytesIn},"sentBytes":${bytesOut}` +
        `,"code":${jsonStringOrNull(code)}` +
        `,"phase":"${code === null ? 'finish' : code === 'FERRY_ERR_FLOW_IDLE_TIMEOUT' ? 'relay' : 'connect'}"`,
    );
  }

  private count(field: number, delta: number): void {
    if (this.listenerIndex >= 0)
      addListener(this.observer.view, this.observer.workerIndex, this.listenerIndex, field, delta);
  }
}
