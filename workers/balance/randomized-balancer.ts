/**
 * @module workers/balance/randomized-balancer
 *
 * The state every randomised balancer keeps, and how rebuild refreshes it:
 * the member snapshot, the balancer's own integer random stream, and (for the
 * algorithms that draw members by weight) a MemberSampler. Thread: worker
 * (main in tests and benches). Place in the flow: route -> **pick** ->
 * upstream; this file only runs at construction and rebuild (config time).
 *
 *   RandomizedBalancer   members + randomState    least_connections,
 *                                                 response_time, random
 *     SampledBalancer    + sampler (by weight)    least_outstanding_requests,
 *                                                 peak_ewma, weighted_random
 *
 * Why it exists: those six algorithms repeated the same fields, constructor
 * and rebuild word for word. Only that part is shared. Each algorithm's
 * `pick` stays in its own file and reads `members`, `randomState` and
 * `sampler` as plain fields of its own instance (one hidden class per
 * algorithm, so the loads stay monomorphic) and calls nothing here: the hot
 * path gains no call, no virtual dispatch and no allocation. Measured with
 * bench/micro/pick.bench.ts at 64 targets, best of 21 runs on the 2-core dev
 * box, before -> after the split: least_connections 532.7 -> 525.6 ns,
 * least_outstanding_requests 91.3 -> 91.4, response_time 921.5 -> 930.4,
 * peak_ewma 114.4 -> 114.5, random 31.0 -> 30.8, weighted_random 40.4 ->
 * 40.3 (round_robin, untouched, 39.7 -> 38.4: that much is noise); 0.000
 * bytes per pick throughout. Keep pick-time code out of this file: a method
 * here called from six picks would see six hidden classes (a polymorphic
 * call on every request), which is what the split avoids.
 *
 * round_robin and hash do not extend it: they draw no random numbers (the
 * shared cursor and the request's key order their picks) and keep their own
 * rebuild-time tables.
 */
import type { TableView } from '../../proto/table-layout.ts';
import {
  MemberSampler,
  type MemberSnapshot,
  NO_MEMBERS,
  seedRandomState,
  snapshotMembers,
} from './member-scan.ts';
import type { RandomSource } from './types.ts';

/**
 * Members and a random stream, refreshed by `rebuild`. Subclasses add
 * `algorithm` and `pick` (and declare `implements Balancer`). The
 * constructor matches index.ts's BalancerConstructor; the group index is
 * unused. Construction allocates; thread: worker.
 */
export abstract class RandomizedBalancer {
  /** This balancer's integer random stream, seeded from the injected RandomSource. */
  protected readonly randomState: Int32Array;
  protected members: MemberSnapshot;

  constructor(_groupIndex: number, random: RandomSource) {
    this.randomState = seedRandomState(random);
    this.members = NO_MEMBERS;
  }

  /** Snapshot the members and their weights. Config time; allocates; throws (assert) on a broken caller invariant. */
  rebuild(view: TableView, memberSlots: Int32Array, memberIds: readonly string[]): void {
    this.members = snapshotMembers(view, memberSlots, memberIds);
  }
}

/** A RandomizedBalancer that also draws members by weight (member-scan.ts `MemberSampler`). */
export abstract class SampledBalancer extends RandomizedBalancer {
  protected readonly sampler: MemberSampler;

  constructor(groupIndex: number, random: RandomSource) {
    super(groupIndex, random);
    this.sampler = new MemberSampler();
  }

  /** Snapshot the members, then rebuild the sampler from their weights. Config time; allocates. */
  override rebuild(view: TableView, memberSlots: Int32Array, memberIds: readonly string[]): void {
    super.rebuild(view, memberSlots, memberIds);
    this.sampler.rebuild(this.members.weights);
  }
}
