/**
 * @module workers/simulate/entry
 *
 * The worker thread `ferry simulate` spawns by URL (src/simulate): it takes
 * the SimInput from workerData, runs the engine, and posts the SimResult (or
 * `{ error }`) back. Thread: worker. Why a worker: the engine runs the data
 * plane's balancers, which the control plane's code may not import, and a
 * long replay keeps the CLI's event loop free.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { SimInput } from '../../proto/simulate.ts';
import { simulate } from './index.ts';

try {
  parentPort?.postMessage({ result: simulate(workerData as SimInput) });
} catch (error) {
  parentPort?.postMessage({ error: (error as Error).message });
}
