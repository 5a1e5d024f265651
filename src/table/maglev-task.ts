/**
 * @module src/table/maglev-task
 *
 * The piscina task behind src/table/hash-tables.ts: builds one weighted
 * Maglev table into a new SharedArrayBuffer. Thread: a piscina worker.
 */
import { buildMaglevTable } from '../shared/maglev.ts';

export interface MaglevTask {
  readonly ids: readonly string[];
  readonly weights: readonly number[];
  readonly tableSize: number;
}

export default function buildMaglevTask(task: MaglevTask): SharedArrayBuffer {
  const buffer = new SharedArrayBuffer(task.tableSize * Int32Array.BYTES_PER_ELEMENT);
  buildMaglevTable(task.ids, task.weights, task.tableSize, new Int32Array(buffer));
  return buffer;
}
