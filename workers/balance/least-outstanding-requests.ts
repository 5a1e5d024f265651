/**
 * @module workers/balance/least-outstanding-requests
 *
 * `least_outstanding_requests`: the member with the fewest requests in
 * flight per unit of weight, across all workers (ALB's algorithm of the same
 * name). Thread: worker (main in tests and benches). Place in the flow:
 * route -> **pick** -> upstream.
 *
 * Algorithm: for groups of up to LOR_EXACT_MEMBERS_MAX members, an exact scan
 * for the lowest (TARGET_IN_FLIGHT + 1) / TARGET_WEIGHT from a random start
 * (ties spread, as in least_connections). Above that, Envoy's least_request
 * with choice_count 2 (power of two choices, Mitzenmacher): draw two DISTINCT
 * random members, keep the less loaded. With unequal weights the two are
 * drawn by weight (member-scan.ts `MemberSampler`), since a heavy member
 * drawn uniformly would compete in only ~2/n of picks whatever its weight
 * (the job Envoy gives its EDF scheduler). P2C is within a constant of the exact
 * answer in expected max load, costs O(1), and avoids the herd an exact scan
 * makes when many workers see the same minimum at the same instant.
 *
 *   members <= 16:  scan all, from a random start          O(n)
 *   members  > 16:  draw i, draw j != i; lower load wins    O(1)
 *                   ineligible pair -> redraw (<= PICK_ATTEMPTS_MAX)
 *                   -> exact scan fallback                 O(n)
 *
 * Cost: see above; two Atomics.load per member considered plus eligibility.
 *
 * Table fields read: TARGET_IN_FLIGHT, TARGET_WEIGHT, and TARGET_STATE /
 * TARGET_EJECTED via the eligibility check.
 *
 * Alternatives rejected: always exact (O(n) at 1,024 targets is ~µs per pick
 * and herds); always P2C (at small n it often compares a member with a
 * near-duplicate and is measurably worse than exact, which is also cheap
 * there); Envoy's bias exponent (active_request_bias) — one fixed bias of 1
 * keeps the score integer.
 */
import { NO_SLOT, TARGET_IN_FLIGHT, type TableView } from '../../proto/table-layout.ts';
import { PICK_ATTEMPTS_MAX } from '../../src/shared/limits.ts';
import {
  copyMembers,
  drawIndex,
  isEligible,
  loadMemberWeights,
  MemberSampler,
  pickLeastLoaded,
  pickLessLoaded,
} from './member-scan.ts';
import type { AlgorithmName, Balancer, RandomSource } from './types.ts';

/** Largest group picked by exact scan; larger groups use power of two choices. */
export const LOR_EXACT_MEMBERS_MAX = 16;

export class LeastOutstandingRequests implements Balancer {
  readonly algorithm: AlgorithmName = 'least_outstanding_requests';
  private readonly random: RandomSource;
  private readonly sampler: MemberSampler;
  private memberSlots: Int32Array;
  private memberCount: number;

  constructor(_groupIndex: number, random: RandomSource) {
    this.random = random;
    this.sampler = new MemberSampler();
    this.memberSlots = new Int32Array(0);
    this.memberCount = 0;
  }

  rebuild(view: TableView, memberSlots: Int32Array, memberIds: readonly string[]): void {
    this.memberSlots = copyMembers(view, memberSlots, memberIds);
    this.memberCount = this.memberSlots.length;
    this.sampler.rebuild(loadMemberWeights(view, this.memberSlots));
  }

  pick(view: TableView, _keyHash: number, _nowMs: number, eligibility: number): number {
    const memberCount = this.memberCount;
    if (memberCount === 0) return NO_SLOT;
    if (memberCount > LOR_EXACT_MEMBERS_MAX) {
      for (let attempt = 0; attempt < PICK_ATTEMPTS_MAX; attempt++) {
        const firstIndex = this.sampler.drawIndex(this.random);
        const secondIndex = this.sampler.drawOtherIndex(this.random, firstIndex);
        const first = this.memberSlots[firstIndex]!;
        const second = this.memberSlots[secondIndex]!;
        const isFirstEligible = isEligible(view, first, eligibility);
        const isSecondEligible = isEligible(view, second, eligibility);
        if (isFirstEligible && isSecondEligible) return pickLessLoaded(view, first, second, TARGET_IN_FLIGHT);
        if (isFirstEligible) return first;
        if (isSecondEligible) return second;
      }
    }
    const startIndex = drawIndex(this.random, memberCount);
    return pickLeastLoaded(view, this.memberSlots, memberCount, startIndex, TARGET_IN_FLIGHT, eligibility);
  }
}
