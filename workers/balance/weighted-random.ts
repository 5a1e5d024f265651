/**
 * @module workers/balance/weighted-random
 *
 * `weighted_random`: a random eligible member, each drawn with probability
 * proportional to its TARGET_WEIGHT. Thread: worker (main in tests and
 * benches). Place in the flow: route -> **pick** -> upstream.
 *
 * Algorithm: Walker's alias method, Vose's construction (M. D. Vose, "A
 * linear algorithm for generating random numbers with a given distribution",
 * IEEE TSE 1991), built in rebuild() from the weights (member-scan.ts
 * `MemberSampler`; uniform draws when all weights are equal). An ineligible
 * draw is redrawn up to PICK_ATTEMPTS_MAX times, so a down member's share
 * spreads over the others by weight; then a linear scan takes the first
 * eligible member from a random start. Members with weight 0 are never drawn
 * (only the fail-open scan can reach them). This is Envoy's RANDOM with
 * weights and HAProxy's `random` draw.
 *
 * Cost: pick O(1): one random draw, two typed-array reads, one eligibility
 * check (three Atomics.load). rebuild O(n).
 *
 * Table fields read: TARGET_WEIGHT (rebuild, and every pick via the
 * eligibility check), TARGET_STATE, TARGET_EJECTED.
 *
 * Alternatives rejected: binary search over cumulative weights (O(log n), 10
 * dependent reads at 1,024 targets); Envoy's EDF scheduler (deterministic,
 * per-worker state; that is what round_robin is for); rejection sampling
 * against the max weight (unbounded retries with skewed weights).
 */
import { NO_SLOT, type TableView } from '../../proto/table-layout.ts';
import { PICK_ATTEMPTS_MAX } from '../../src/shared/limits.ts';
import { drawIndex, isEligible, pickFirstEligible } from './member-scan.ts';
import { SampledBalancer } from './randomized-balancer.ts';
import type { AlgorithmName, Balancer } from './types.ts';

export class WeightedRandom extends SampledBalancer implements Balancer {
  readonly algorithm: AlgorithmName = 'weighted_random';

  pick(view: TableView, _keyHash: number, _nowMs: number, eligibility: number): number {
    const members = this.members;
    if (members.count === 0) return NO_SLOT;
    for (let attempt = 0; attempt < PICK_ATTEMPTS_MAX; attempt++) {
      const slot = members.slots[this.sampler.drawIndex(this.randomState)]!;
      if (isEligible(view, slot, eligibility)) return slot;
    }
    return pickFirstEligible(view, members, drawIndex(this.randomState, members.count), eligibility);
  }
}
