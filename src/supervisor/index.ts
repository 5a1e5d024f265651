/**
 * @module src/supervisor
 *
 * Spawns, restarts and drains the worker threads. Thread: main. Place in the
 * flow: boot (src/main.ts) -> table -> **spawn workers** -> control port.
 *
 * A worker that dies is replaced (with backoff) while the others keep
 * accepting on the same reusePort listeners. Before the replacement starts,
 * the dead worker's ledger is subtracted from the shared counters, so its
 * abandoned requests and connections do not make a target look busy forever.
 *
 * Why not piscina here: piscina runs short tasks on a pool; Ferry's workers
 * are long-lived servers that own listening sockets and a table row, and
 * must be restarted by index, not by task.
 */
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { ObservabilityBootData, WorkerObservability } from '../../proto/observability.ts';
import {
  addTarget,
  LEDGER_CONNECTIONS,
  LEDGER_IN_FLIGHT,
  loadLedger,
  storeLedger,
  TARGET_ACTIVE_CONNECTIONS,
  TARGET_IN_FLIGHT,
  type TableView,
} from '../../proto/table-layout.ts';
import type { MainToWorker, Topology, WorkerBootData, WorkerToMain } from '../../proto/thread-messages.ts';
import { ProxyError } from '../shared/errors.ts';

export {
  DrainController,
  type DrainControllerOptions,
  type DrainPhase,
  type DrainTrigger,
  type UndrainOutcome,
} from './drain.ts';

/** workers/entry.ts next to this build: .ts when run from source, .js from dist. */
const ENTRY_URL = new URL(
  `../../workers/entry${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`,
  import.meta.url,
);

const RESTART_BACKOFF_MS_MIN = 100;
const RESTART_BACKOFF_MS_MAX = 5_000;

export interface SupervisorOptions {
  readonly tableBuffer: SharedArrayBuffer;
  readonly view: TableView;
  readonly workerCount: number;
  readonly logLevel: string;
  /** The main thread's log format; workers log the same way (JSON when absent). */
  readonly logFormat?: 'json' | 'pretty';
  readonly shutdownGraceMs: number;
  readonly log: Logger;
  /** The topology a (re)started worker boots with: always the current one. */
  readonly topology: () => Topology;
  /** Access log and tracing for every worker (src/telemetry/settings.ts); absent = both off. */
  readonly observability?: WorkerObservability;
  /** A worker's batch of encoded spans (tracing on): src/telemetry/span-export.ts takes it. */
  readonly onSpans?: (
    workerIndex: number,
    spans: Uint8Array,
    spanCount: number,
    droppedSpanCount: number,
  ) => void;
}

interface WorkerSlot {
  worker: Worker | null;
  isReady: boolean;
  restartCount: number;
}

export class Supervisor {
  private readonly options: SupervisorOptions;
  private readonly slots: WorkerSlot[];
  private isStopping: boolean;
  /** Worker restarts since boot (a metric). */
  restartCount: number;

  constructor(options: SupervisorOptions) {
    this.options = options;
    this.slots = Array.from({ length: options.workerCount }, () => ({
      worker: null,
      isReady: false,
      restartCount: 0,
    }));
    this.isStopping = false;
    this.restartCount = 0;
  }

  /**
   * Start every worker; resolves when all listen. Rejects with
   * FERRY_ERR_LISTEN_FAILED (after stopping the others) if any cannot bind.
   */
  async start(): Promise<void> {
    try {
      await Promise.all(this.slots.map((_, index) => this.spawn(index)));
    } catch (error) {
      await this.terminate();
      throw error;
    }
  }

  get readyCount(): number {
    return this.slots.filter((slot) => slot.isReady).length;
  }

  /** Worker objects by index (tests crash one on purpose). */
  workerAt(index: number): Worker | null {
    return this.slots[index]?.worker ?? null;
  }

  broadcast(message: MainToWorker): void {
    for (const slot of this.slots) slot.worker?.postMessage(message);
  }

  /** Ask every worker to finish in-flight requests and exit; force-stop after the grace period. */
  async drain(graceMs: number): Promise<void> {
    this.isStopping = true;
    const exits = this.slots.map((slot) =>
      slot.worker === null
        ? Promise.resolve()
        : new Promise<void>((resolve) => slot.worker!.once('exit', () => resolve())),
    );
    this.broadcast({ type: 'drain' });
    const timer = setTimeout(() => void this.terminate(), graceMs);
    await Promise.all(exits);
    clearTimeout(timer);
  }

  async terminate(): Promise<void> {
    this.isStopping = true;
    await Promise.all(this.slots.map((slot) => slot.worker?.terminate()));
  }

  private spawn(index: number): Promise<void> {
    const { options } = this;
    const boot: WorkerBootData & ObservabilityBootData = {
      tableBuffer: options.tableBuffer,
      workerIndex: index,
      topology: options.topology(),
      logLevel: options.logLevel,
      ...(options.logFormat === undefined ? {} : { logFormat: options.logFormat }),
      shutdownGraceMs: options.shutdownGraceMs,
      ...(options.observability === undefined ? {} : { observability: options.observability }),
    };
    const worker = new Worker(ENTRY_URL, { workerData: boot });
    const slot = this.slots[index]!;
    slot.worker = worker;
    slot.isReady = false;
    return new Promise((resolve, reject) => {
      worker.on('message', (message: WorkerToMain) => {
        if (message.type === 'ready') {
          slot.isReady = true;
          resolve();
        } else if (message.type === 'spans') {
          options.onSpans?.(index, message.bytes, message.spanCount, message.droppedSpanCount);
        } else if (message.type === 'listen-failed') {
          reject(
            new ProxyError('FERRY_ERR_LISTEN_FAILED', `worker ${index}: ${message.code}: ${message.message}`),
          );
        }
      });
      worker.on('error', (error) => {
        options.log.error({ err: error, worker: index }, 'worker crashed');
        reject(error);
      });
      worker.on('exit', (code) => {
        slot.isReady = false;
        slot.worker = null;
        this.reconcileLedger(index);
        if (this.isStopping) return;
        options.log.warn({ worker: index, exitCode: code }, 'worker exited; restarting');
        this.restartCount++;
        const backoffMs = Math.min(RESTART_BACKOFF_MS_MAX, RESTART_BACKOFF_MS_MIN * 2 ** slot.restartCount++);
        setTimeout(() => {
          if (this.isStopping) return;
          this.spawn(index).then(
            () => {
              slot.restartCount = 0;
              options.log.info({ worker: index }, 'worker restarted');
            },
            (error: unknown) => options.log.error({ err: error, worker: index }, 'worker restart failed'),
          );
        }, backoffMs).unref();
      });
    });
  }

  /** Subtract a dead worker's share of the shared counters (its requests and sockets are gone). */
  private reconcileLedger(workerIndex: number): void {
    const { view } = this.options;
    for (let slot = 0; slot < view.targetCapacity; slot++) {
      const inFlight = loadLedger(view, workerIndex, slot, LEDGER_IN_FLIGHT);
      if (inFlight !== 0) {
        addTarget(view, slot, TARGET_IN_FLIGHT, -inFlight);
        storeLedger(view, workerIndex, slot, LEDGER_IN_FLIGHT, 0);
      }
      const connections = loadLedger(view, workerIndex, slot, LEDGER_CONNECTIONS);
      if (connections !== 0) {
        addTarget(view, slot, TARGET_ACTIVE_CONNECTIONS, -connections);
        storeLedger(view, workerIndex, slot, LEDGER_CONNECTIONS, 0);
      }
    }
  }
}
