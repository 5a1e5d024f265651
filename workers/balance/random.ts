/**
 * @module workers/balance/random
 *
 * `random`: a uniformly random eligible member, ignoring weights and load.
 * Thread: worker (main in tests and benches). Place in the flow: route ->
 * **pick** -> upstream.
 *
 * Algorithm: HAProxy `balance random(1)` / Envoy RANDOM: draw a member; if it
 * is not eligible draw again, up to PICK_ATTEMPTS_MAX; then a linear scan
 * takes the first eligible member from a random start. Unweighted by design
 * (weighted_random honours weights): it is the baseline the other algorithms
 * are measured against and the cheapest pick with no shared writes.
 *
 * Cost: O(1) expected: one random draw and one eligibility check (three
 * Atomics.load); O(n) scan only when PICK_ATTEMPTS_MAX draws all miss.
 *
 * Table fields read: TARGET_STATE, TARGET_EJECTED, TARGET_WEIGHT (via the
 * eligibility check).
 *
 * Alternatives rejected: a random start plus linear scan every time (biases
 * toward members that follow ineligible runs); shuffled per-worker rotation
 * (that is round robin without the global cursor).
 */
import { NO_SLOT, type TableView } from '../../proto/table-layout.ts';
import { PICK_ATTEMPTS_MAX } from '../../src/shared/limits.ts';
import { drawIndex, isEligible, pickFirstEligible } from './member-scan.ts';
import { RandomizedBalancer } from './randomized-balancer.ts';
import type { AlgorithmName, Balancer } from './types.ts';

export class Random extends RandomizedBalancer implements Balancer {
  readonly algorithm: AlgorithmName = 'random';

  pick(view: TableView, _keyHash: number, _nowMs: number, eligibility: number): number {
    const members = this.members;
    const count = members.count;
    if (count === 0) return NO_SLOT;
    for (let attempt = 0; attempt < PICK_ATTEMPTS_MAX; attempt++) {
      const slot = members.slots[drawIndex(this.randomState, count)]!;
      if (isEligible(view, slot, eligibility)) return slot;
    }
    return pickFirstEligible(view, members, drawIndex(this.randomState, count), eligibility);
  }
}
