/**
 * @module src/shared/maglev
 *
 * The weighted Maglev lookup-table builder behind the `hash` algorithm.
 * Thread: any. The main thread runs it in a piscina task (src/table/
 * hash-tables.ts) so a 65,537-entry build never stalls the control plane or a
 * worker's data plane; workers/balance/maglev-hash.ts uses the prebuilt table,
 * and builds one itself only when none matches its members and weights.
 * Pure: no I/O, depends only on the (id, weight) pairs.
 */
import { assert } from './assert.ts';
import { hashString } from './hash.ts';

/** Lookup-table entries (prime, as Maglev requires; the paper's small size). ~64 entries per target at 1,024 targets. */
export const MAGLEV_TABLE_SIZE = 65_537;
/** Seeds of the two id hashes: where a member's permutation starts, and its stride. */
const OFFSET_SEED = 0x2545f491;
const SKIP_SEED = 0x61c88647;

/**
 * Build a weighted Maglev lookup table: entry e holds the index (into `ids`)
 * of the member owning it, or -1 if no weight is positive. Depends only on
 * the (id, weight) pairs, not on their order. Members with weight <= 0 own
 * nothing; duplicate ids are taken in input order. Pure and thread-agnostic
 * (the main thread or a piscina task may run it). Writes into `out` (a view
 * on a SharedArrayBuffer, for the piscina task) or a new array; O(M log M).
 * Throws if `tableSize` is not a prime (an assert: a caller bug).
 */
export function buildMaglevTable(
  ids: readonly string[],
  weights: ArrayLike<number>,
  tableSize: number,
  out: Int32Array = new Int32Array(tableSize),
): Int32Array {
  assert(ids.length === weights.length, 'buildMaglevTable: one weight per id');
  assert(isPrime(tableSize), `buildMaglevTable: table size ${tableSize} is not a prime`);
  assert(out.length === tableSize, 'buildMaglevTable: output length is not the table size');
  const table = out.fill(-1);
  const order: number[] = [];
  let weightMax = 0;
  for (let index = 0; index < ids.length; index++) {
    const weight = weights[index]!;
    if (!(weight > 0)) continue;
    order.push(index);
    if (weight > weightMax) weightMax = weight;
  }
  if (order.length === 0) return table;
  order.sort((a, b) => {
    const idA = ids[a]!;
    const idB = ids[b]!;
    return idA < idB ? -1 : idA > idB ? 1 : a - b;
  });

  const count = order.length;
  const position = new Int32Array(count);
  const skip = new Int32Array(count);
  const turns = new Float64Array(count);
  for (let rank = 0; rank < count; rank++) {
    const id = ids[order[rank]!]!;
    position[rank] = (hashString(id, OFFSET_SEED) >>> 0) % tableSize;
    skip[rank] = ((hashString(id, SKIP_SEED) >>> 0) % (tableSize - 1)) + 1;
  }

  let filled = 0;
  for (let round = 1; filled < tableSize; round++) {
    for (let rank = 0; rank < count && filled < tableSize; rank++) {
      const memberIndex = order[rank]!;
      // Turn rule: a member of weight w has claimed ceil(round * w / wMax)
      // entries after `round` rounds; the heaviest claims one per round.
      if (turns[rank]! * weightMax >= round * weights[memberIndex]!) continue;
      turns[rank] = turns[rank]! + 1;
      let entry = position[rank]!;
      const stride = skip[rank]!;
      while (table[entry]! >= 0) {
        entry += stride;
        if (entry >= tableSize) entry -= tableSize;
      }
      table[entry] = memberIndex;
      filled++;
      entry += stride;
      position[rank] = entry >= tableSize ? entry - tableSize : entry;
    }
  }
  return table;
}

function isPrime(value: number): boolean {
  if (!Number.isInteger(value) || value < 2) return false;
  for (let divisor = 2; divisor * divisor <= value; divisor++) {
    if (value % divisor === 0) return false;
  }
  return true;
}
