/**
 * @module workers/record/observer
 *
 * One per worker: what the record phase shares across connections, namely
 * the table view and this worker's LISTENER rows, the access-log writer and
 * the tracer (each null while off). Thread: worker. Made by
 * workers/runtime.ts; `start()` is called by workers/entry.ts before any
 * listener is bound, `stop()` on drain.
 *
 * H4, observation is free when off: `isDetailed` is false unless an access
 * log or tracing is on, and then the per-request code takes no timestamps,
 * builds no objects; only the table counters run (a few
 * uncontended Atomics per request).
 */
import type { Logger } from 'pino';
import type { ObservabilityBootData, WorkerObservability } from '../../proto/observability.ts';
import {
  addListener,
  LISTENER_ACTIVE_CONNECTIONS,
  LISTENER_CLIENT_TIMEOUTS_TOTAL,
  LISTENER_REJECTED_CONNECTIONS_TOTAL,
  storeListener,
  type TableView,
} from '../../proto/table-layout.ts';
import type { TopologyListener } from '../../proto/thread-messages.ts';
import { AccessLog } from './access-log.ts';
import { type SpanBatch, Tracing } from './tracing.ts';

export class Observer {
  readonly view: TableView;
  readonly workerIndex: number;
  readonly log: Logger;
  /** Non-null while access logging is on. */
  accessLog: AccessLog | null;
  /** Non-null while tracing is on. */
  tracing: Tracing | null;
  /** True when access logging or tracing needs per-request details (timestamps, names). */
  isDetailed: boolean;
  private readonly listenerIndexByName: Map<string, number>;

  constructor(view: TableView, workerIndex: number, listeners: readonly TopologyListener[], log: Logger) {
    this.view = view;
    this.workerIndex = workerIndex;
    this.log = log;
    this.accessLog = null;
    this.tracing = null;
    this.isDetailed = false;
    this.listenerIndexByName = new Map();
    // Listener rows are indexed by position in the boot topology (listeners never change without a
    // restart). A worker replacing a dead one starts its gauge from zero; its totals carry on.
    for (let index = 0; index < listeners.length && index < view.listenerCapacity; index++) {
      this.listenerIndexByName.set(listeners[index]!.name, index);
      storeListener(view, workerIndex, index, LISTENER_ACTIVE_CONNECTIONS, 0);
    }
  }

  /** The listener's LISTENER row index, or -1 when the table has none for it (then it is not counted). */
  listenerIndexOf(listener: TopologyListener): number {
    return this.listenerIndexByName.get(listener.name) ?? -1;
  }

  /**
   * Turn on what the boot data asks for. Main has already checked that the
   * access-log file can be opened for append; a later write failure is
   * logged, not thrown. `postSpans` hands a batch of encoded spans to main
   * (workers/entry.ts transfers its bytes), which exports them.
   */
  start(workerData: unknown, postSpans: (batch: SpanBatch) => void = () => {}): void {
    const settings: WorkerObservability | undefined = (workerData as ObservabilityBootData | null)
      ?.observability;
    if (settings === undefined) return;
    if (settings.accessLog !== null) {
      this.accessLog = new AccessLog(settings.accessLog, (error) =>
        this.log.error(
          { err: error, destination: settings.accessLog?.destination },
          'access log write failed',
        ),
      );
    }
    if (settings.tracing !== null) this.tracing = new Tracing(settings.tracing, postSpans);
    this.isDetailed = this.accessLog !== null || this.tracing !== null;
  }

  /** A connection closed unserved (draining, or no target for a TCP connection). */
  connectionRejected(listener: TopologyListener): void {
    const listenerIndex = this.listenerIndexOf(listener);
    if (listenerIndex >= 0)
      addListener(this.view, this.workerIndex, listenerIndex, LISTENER_REJECTED_CONNECTIONS_TOTAL, 1);
  }

  /** A TLS handshake outlived its listener's deadline (issue 10; no RequestRecord exists yet). */
  tlsHandshakeTimedOut(listener: TopologyListener): void {
    const listenerIndex = this.listenerIndexOf(listener);
    if (listenerIndex >= 0)
      addListener(this.view, this.workerIndex, listenerIndex, LISTENER_CLIENT_TIMEOUTS_TOTAL, 1);
  }

  /** Flush the access log and hand the last spans to main (drain). Never throws. */
  stop(): void {
    this.accessLog?.close();
    this.tracing?.shutdown();
  }
}
