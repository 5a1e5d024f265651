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
 * Atomics.load). The O(M log M) build for M = 65,537 (2.6-3.6 ms) normally
 * runs once, in main's piscina pool (src/table/hash-tables.ts), and arrives
 * as a SharedArrayBuffer in the topology; rebuild then only maps member
 * indices to slots. It builds locally when the prebuilt table does not match
 * the members' current weights (a weight change not yet republished).
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
import { mixHash } from '../../src/shared/hash.ts';
import { PICK_ATTEMPTS_MAX } from '../../src/shared/limits.ts';
import { buildMaglevTable, MAGLEV_TABLE_SIZE } from '../../src/shared/maglev.ts';
import {
  isEligible,
  type MemberSnapshot,
  NO_MEMBERS,
  pickFirstEligible,
  snapshotMembers,
} from './member-scan.ts';
import type { AlgorithmName, Balancer, PrebuiltLookup, RandomSource } from './types.ts';

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

  rebuild(
    view: TableView,
    memberSlots: Int32Array,
    memberIds: readonly string[],
    prebuilt: PrebuiltLookup | null = null,
  ): void {
    const members = snapshotMembers(view, memberSlots, memberIds);
    const memberTable =
      prebuilt !== null &&
      prebuilt.memberTable.length === this.tableSize &&
      sameWeights(prebuilt.weights, members.weights)
        ? prebuilt.memberTable
        : buildMaglevTable(memberIds, members.weights, this.tableSize);
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

function sameWeights(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let index = 0; index < a.length; index++) if (a[index] !== b[index]) return false;
  return true;
}
