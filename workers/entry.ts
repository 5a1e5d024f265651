/**
 * @module workers/entry
 *
 * A worker thread's boot: attach the shared table (refusing a layout version
 * it does not know), bind every listener with reusePort, tell main it is
 * ready, then serve until main says drain. Thread: worker. Spawned by
 * src/supervisor by URL; it imports only proto/, src/shared/ and workers/.
 */
import { parentPort, workerData } from 'node:worker_threads';
import pino from 'pino';
import pretty from 'pino-pretty';
import { attachTable, HEADER_CLOCK_ORIGIN_S, loadHeader } from '../proto/table-layout.ts';
import type { MainToWorker, WorkerBootData, WorkerToMain } from '../proto/thread-messages.ts';
import { type BoundListener, bindListener, SourceFilters } from './listen/index.ts';
import { WorkerRuntime } from './runtime.ts';

const boot = workerData as WorkerBootData;
const port = parentPort!;
// The main thread's format (src/telemetry/logger.ts): JSON lines, or pino-pretty for a terminal.
const log = pino(
  { level: boot.logLevel, base: { worker: boot.workerIndex } },
  boot.logFormat === 'pretty' ? pretty({ sync: true, colorize: process.stdout.isTTY === true }) : undefined,
);

function send(message: WorkerToMain): void {
  port.postMessage(message);
}

const view = attachTable(boot.tableBuffer);
const runtime = new WorkerRuntime(
  view,
  boot.workerIndex,
  boot.topology,
  loadHeader(view, HEADER_CLOCK_ORIGIN_S),
  log,
);
const servers: BoundListener[] = [];
/** Accept checks per listener (scheme internal, allowedSources), renewed with each topology. */
const sourceFilters = new SourceFilters(boot.topology);

async function start(): Promise<void> {
  try {
    // Access log and tracing first, so the first request is observed. Span batches go to main,
    // which exports them (src/telemetry/span-export.ts); their bytes are transferred, not copied.
    runtime.observer.start(workerData, (batch) =>
      port.postMessage(
        {
          type: 'spans',
          bytes: batch.bytes,
          spanCount: batch.spanCount,
          droppedSpanCount: batch.droppedSpanCount,
        } satisfies WorkerToMain,
        [batch.bytes.buffer as ArrayBuffer],
      ),
    );
    for (const listener of boot.topology.listeners)
      servers.push(await bindListener(runtime, sourceFilters, listener));
  } catch (error) {
    const err = error as NodeJS.ErrnoException;
    send({ type: 'listen-failed', code: err.code ?? 'ERROR', message: err.message });
    for (const server of servers) server.close();
    return;
  }
  runtime.onDrainRequested = drain;
  runtime.start();
  send({ type: 'ready' });
}

function drain(): void {
  if (runtime.isDraining) return; // asked twice: by the supervisor's message and by HEADER_DRAINING
  runtime.isDraining = true;
  for (const server of servers) server.close();
  runtime.pool.closeIdle();
  void runtime.httpPools.closeAll(); // HTTP/2 streams already sent finish; idle connections close
  for (const connection of runtime.connections) connection.drain();
  const check = setInterval(() => {
    if (runtime.connections.size > 0) return;
    clearInterval(check);
    // Upstream sockets released to the pool by exchanges that finished during the drain would keep
    // this thread alive until their idle timeout: nothing will pick them any more.
    runtime.pool.closeIdle();
    runtime.stop();
    // The last access-log lines are written and the last spans posted before main hears 'drained'.
    runtime.observer.stop();
    send({ type: 'drained' });
    port.close();
  }, 50);
}

port.on('message', (message: MainToWorker) => {
  if (message.type === 'topology') {
    const before = new Set(runtime.groups.slots());
    runtime.groups.apply(message.topology);
    runtime.router.apply(message.topology);
    sourceFilters.apply(message.topology);
    for (const slot of runtime.groups.slots()) before.delete(slot);
    for (const slot of before) {
      runtime.pool.closeSlot(slot);
      runtime.httpPools.closeSlot(slot);
    }
  } else if (message.type === 'drain') {
    drain();
  }
});

void start();
