/**
 * @module workers/balance/maglev-hash
 *
 * `hash`: consistent hashing, so requests with the same key (client address,
 * header, cookie; hashed by the caller into `keyHash`) keep reaching the same
 * target in every worker, after restarts, and across most membership changes.
 * Thread: worker (main may run `buildMaglevTable` too). Place in the flow:
 * route (computes keyHash) -> **pick** -> upstream.
 *
 * Algorithm: Maglev (Eisenbud et al., "Maglev: A Fast and Reliable Software
 * Network Load Balancer", NSDI 2016, section 3.4), weighted as Envoy's
 * maglev_lb does it in spirit. Each member walks its own permutation of a
 * prime-sized lookup table (offset and skip from two hashes of its id) and
 * claims the next free entry on its turns; a member of weight w gets w/wMax
 * turns per round, hence ~w/sum(w) of the entries. A pick is one lookup:
 *
 *   table[(keyHash >>> 0) % MAGLEV_TABLE_SIZE] -> member -> slot
 *
 * Identity: the table is built from `memberIds` (`host:port`), taken in id
 * order, never from slot numbers, so every worker and every restart builds
 * the same table. Adding one target to N moves about 1/(N+1) of the keys
 * (plus Maglev's small extra churn). The table size is one fixed prime for
 * every group size: a size that grew with N would remap nearly every key
 * whenever it stepped.
 *
 * Unavailable targets: if the looked-up member is not eligible, the key is
 * re-probed with a derived hash (`mixHash(keyHash, attempt)`) up to
 * PICK_ATTEMPTS_MAX times, then a linear scan from `keyHash % n` takes the
 * first eligible member. All of it is deterministic, so a down target's keys
 * move (the same way in every worker) and every other key stays put.
 *
 * Cost: pick O(1): one table read and one eligibility check (three
 * Atomics.load); rebuild O(M log M) for M = 65,537 (a few ms), 256 KiB of
 * Int32 per hash group per worker.
 *
 * Table fields read: TARGET_WEIGHT (rebuild, and every pick via the
 * eligibility check), TARGET_STATE, TARGET_EJECTED.
 *
 * Alternatives rejected: ketama ring hash (O(log n) lookup, needs ~100
 * virtual nodes per target for Maglev's balance); jump consistent hash
 * (minimal churn but only for numbered buckets: removing a middle target
 * remaps others, and it has no weights); rendezvous/HRW (O(n) per pick);
 * `keyHash % n` (remaps almost everything on any change).
 */
import { NO_SLOT, type TableView } from '../../proto/table-layout.ts';
import { assert } from '../../src/shared/assert.ts';
import { hashString, mixHash } from '../../src/shared/hash.ts';
import { PICK_ATTEMPTS_MAX } from '../../src/shared/limits.ts';
import {
  isEligible,
  type MemberSnapshot,
  NO_MEMBERS,
  pickFirstEligible,
  snapshotMembers,
} from './member-scan.ts';
import type { AlgorithmName, Balancer, RandomSource } from './types.ts';

/** Lookup-table entries (prime, as Maglev requires; the paper's small size). ~64 entries per target at 1,024 targets. */
export const MAGLEV_TABLE_SIZE = 65_537;
/** Seeds of the two id hashes: where a member's permutation starts, and its stride. */
const OFFSET_SEED = 0x2545f491;
const SKIP_SEED = 0x61c88647;

export class MaglevHash implements Balancer {
  readonly algorithm: AlgorithmName = 'hash';
  private readonly tableSize: number;
  private members: MemberSnapshot;
  /** Lookup table of slots (not member indices: saves one read per pick); NO_SLOT where no weight. */
  private lookup: Int32Array;
  private hasLookup: boolean;

  constructor(_groupIndex: number, _random: RandomSource, tableSize = MAGLEV_TABLE_SIZE) {
    this.tableSize = tableSize;
    this.members = NO_MEMBERS;
    this.lookup = new Int32Array(0);
    this.hasLookup = false;
  }

  rebuild(view: TableView, memberSlots: Int32Array, memberIds: readonly string[]): void {
    const members = snapshotMembers(view, memberSlots, memberIds);
    const memberTable = buildMaglevTable(memberIds, members.weights, this.tableSize);
    const lookup = new Int32Array(this.tableSize);
    for (let entry = 0; entry < this.tableSize; entry++) {
      const memberIndex = memberTable[entry]!;
      lookup[entry] = memberIndex >= 0 ? members.slots[memberIndex]! : NO_SLOT;
    }
    this.members = members;
    this.lookup = lookup;
    this.hasLookup = members.weights.some((weight) => weight > 0);
  }

  pick(view: TableView, keyHash: number, _nowMs: number, eligibility: number): number {
    const members = this.members;
    if (members.count === 0) return NO_SLOT;
    if (this.hasLookup) {
      let hash = keyHash;
      for (let attempt = 0; attempt < PICK_ATTEMPTS_MAX; attempt++) {
        const slot = this.lookup[(hash >>> 0) % this.tableSize]!;
        if (isEligible(view, slot, eligibility)) return slot;
        hash = mixHash(keyHash, attempt);
      }
    }
    return pickFirstEligible(view, members, (keyHash >>> 0) % members.count, eligibility);
  }
}

/**
 * Build a weighted Maglev lookup table: entry e holds the index (into `ids`)
 * of the member owning it, or -1 if no weight is positive. Depends only on
 * the (id, weight) pairs, not on their order. Members with weight <= 0 own
 * nothing; duplicate ids are taken in input order. Pure and thread-agnostic
 * (the main thread or a piscina task may run it). Allocates; O(M log M).
 * Throws if `tableSize` is not a prime (an assert: a caller bug).
 */
export function buildMaglevTable(
  ids: readonly string[],
  weights: ArrayLike<number>,
  tableSize: number,
): Int32Array {
  assert(ids.length === weights.length, 'buildMaglevTable: one weight per id');
  assert(isPrime(tableSize), `buildMaglevTable: table size ${tableSize} is not a prime`);
  const table = new Int32Array(tableSize).fill(-1);
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
