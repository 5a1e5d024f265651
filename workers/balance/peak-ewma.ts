/**
 * @module workers/balance/peak-ewma
 *
 * `peak_ewma`: power of two choices over a peak-sensitive latency cost, as
 * linkerd2-proxy balances (tower's `p2c` + `PeakEwma`). Thread: worker (main
 * in tests and benches). Place in the flow: route -> **pick** -> upstream;
 * `record` feeds it through src/shared/ewma.ts `recordLatency`.
 *
 * Algorithm: draw two DISTINCT random members (by weight when weights differ,
 * member-scan.ts `MemberSampler`; tower's p2c has no weights), compute for each
 *
 *   cost = peakEwmaUs(decayed for idleness) * (TARGET_IN_FLIGHT + 1) / weight
 *
 * and take the lower (the first on a tie). The peak EWMA jumps to a slow
 * sample at once and decays toward fast ones (tau PEAK_EWMA_TAU_MS), so a
 * target that starts stalling loses traffic within one response, while a
 * recovering one earns it back gradually. Unmeasured members cost 0 (probed
 * first), one probe at a time. A pair with one ineligible member yields the
 * other; an all-ineligible pair is redrawn up to PICK_ATTEMPTS_MAX times, then
 * a linear scan takes the first eligible member from a random start.
 *
 * Cost: O(1): two random draws, up to six Atomics.load for the costs and
 * six for the two eligibility checks (weights are the rebuild snapshot).
 *
 * Table fields read: TARGET_PEAK_EWMA_US, TARGET_LATENCY_UPDATED_MS,
 * TARGET_IN_FLIGHT, TARGET_WEIGHT, and TARGET_STATE / TARGET_EJECTED via the
 * eligibility check.
 *
 * Alternatives rejected: exact minimum over all members (that is
 * response_time; with a peak-sensitive cost it herds: every worker sees the
 * same minimum and piles on); choice of more than two (Envoy's choice_count:
 * gains little over two, costs loads); Finagle's aperture (subsets for
 * thousands of clients; a sidecar has one client).
 */
import { NO_SLOT, TARGET_PEAK_EWMA_US, type TableView } from '../../proto/table-layout.ts';
import { PICK_ATTEMPTS_MAX } from '../../src/shared/limits.ts';
import { drawIndex, isEligible, loadLatencyCost, pickFirstEligible } from './member-scan.ts';
import { SampledBalancer } from './randomized-balancer.ts';
import type { AlgorithmName, Balancer } from './types.ts';

export class PeakEwma extends SampledBalancer implements Balancer {
  readonly algorithm: AlgorithmName = 'peak_ewma';

  pick(view: TableView, _keyHash: number, nowMs: number, eligibility: number): number {
    const members = this.members;
    const count = members.count;
    if (count === 0) return NO_SLOT;
    if (count === 1) return pickFirstEligible(view, members, 0, eligibility);
    for (let attempt = 0; attempt < PICK_ATTEMPTS_MAX; attempt++) {
      const firstIndex = this.sampler.drawIndex(this.randomState);
      const secondIndex = this.sampler.drawOtherIndex(this.randomState, firstIndex);
      const first = members.slots[firstIndex]!;
      const second = members.slots[secondIndex]!;
      const isFirstEligible = isEligible(view, first, eligibility);
      const isSecondEligible = isEligible(view, second, eligibility);
      if (isFirstEligible && isSecondEligible) {
        const firstCost = loadLatencyCost(
          view,
          first,
          members.weights[firstIndex]!,
          TARGET_PEAK_EWMA_US,
          nowMs,
        );
        const secondCost = loadLatencyCost(
          view,
          second,
          members.weights[secondIndex]!,
          TARGET_PEAK_EWMA_US,
          nowMs,
        );
        return secondCost < firstCost ? second : first;
      }
      if (isFirstEligible) return first;
      if (isSecondEligible) return second;
    }
    return pickFirstEligible(view, members, drawIndex(this.randomState, count), eligibility);
  }
}
