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
 * Cost: see above; one Atomics.load per member considered (weights are the
 * rebuild snapshot) plus eligibility (three loads) per candidate.
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
import { drawIndex, isEligible, pickLeastLoaded, pickLessLoaded } from './member-scan.ts';
import { SampledBalancer } from './randomized-balancer.ts';
import type { AlgorithmName, Balancer } from './types.ts';

/** Largest group picked by exact scan; larger groups use power of two choices. */
export const LOR_EXACT_MEMBERS_MAX = 16;

export class LeastOutstandingRequests extends SampledBalancer implements Balancer {
  readonly algorithm: AlgorithmName = 'least_outstanding_requests';

  pick(view: TableView, _keyHash: number, _nowMs: number, eligibility: number): number {
    const members = this.members;
    if (members.count === 0) return NO_SLOT;
    if (members.count > LOR_EXACT_MEMBERS_MAX) {
      for (let attempt = 0; attempt < PICK_ATTEMPTS_MAX; attempt++) {
        const firstIndex = this.sampler.drawIndex(this.randomState);
        const secondIndex = this.sampler.drawOtherIndex(this.randomState, firstIndex);
        const isFirstEligible = isEligible(view, members.slots[firstIndex]!, eligibility);
        const isSecondEligible = isEligible(view, members.slots[secondIndex]!, eligibility);
        if (isFirstEligible && isSecondEligible) {
          return pickLessLoaded(view, members, firstIndex, secondIndex, TARGET_IN_FLIGHT);
        }
        if (isFirstEligible) return members.slots[firstIndex]!;
        if (isSecondEligible) return members.slots[secondIndex]!;
      }
    }
    const startIndex = drawIndex(this.randomState, members.count);
    return pickLeastLoaded(view, members, startIndex, TARGET_IN_FLIGHT, eligibility);
  }
}
