/**
 * @module workers/balance/member-scan
 *
 * The pieces every balancer shares: the eligibility test, the bounded
 * fallback scans, the exact least-loaded scan, and P2C's two distinct draws.
 * Thread: worker (main in tests and benches). Place in the flow: route ->
 * **pick** -> upstream. These exist once so eight algorithms agree on what
 * "eligible" means and on how a pick ends when its fast path finds nothing.
 *
 * Every function here is synchronous, allocation-free, bounded by the member
 * count, and reads the table only through proto/table-layout's accessors.
 */
import {
  isTargetRoutable,
  loadTarget,
  NO_SLOT,
  TARGET_IN_FLIGHT,
  TARGET_LATENCY_UPDATED_MS,
  TARGET_STATE,
  TARGET_STATE_DRAINING,
  TARGET_STATE_EMPTY,
  TARGET_WEIGHT,
  type TableView,
} from '../../proto/table-layout.ts';
import { assert } from '../../src/shared/assert.ts';
import { elapsedMs } from '../../src/shared/clock.ts';
import { decayIdleUs, LATENCY_US_MAX } from '../../src/shared/ewma.ts';
import { ELIGIBLE_ANY, type RandomSource } from './types.ts';

// === Eligibility ===

/**
 * True when `slot` may be returned under `eligibility`: ELIGIBLE_ROUTABLE
 * means `isTargetRoutable` (healthy or unchecked, not ejected, weight > 0);
 * ELIGIBLE_ANY (fail-open) means assigned and not draining, whatever the
 * health, ejection or weight. Any other value is treated as ROUTABLE, the
 * stricter reading. Thread: worker. Never throws, never allocates.
 */
export function isEligible(view: TableView, slot: number, eligibility: number): boolean {
  if (eligibility !== ELIGIBLE_ANY) return isTargetRoutable(view, slot);
  const state = loadTarget(view, slot, TARGET_STATE);
  return state !== TARGET_STATE_EMPTY && state !== TARGET_STATE_DRAINING;
}

/**
 * The first eligible member at or after `startIndex` (wrapping), or NO_SLOT.
 * Bounded by `memberCount`. The fallback of every picker whose fast path ran
 * out of attempts, so "NO_SLOT only when nothing is eligible" holds for all.
 */
export function pickFirstEligible(
  view: TableView,
  memberSlots: Int32Array,
  memberCount: number,
  startIndex: number,
  eligibility: number,
): number {
  let index = startIndex;
  for (let scanned = 0; scanned < memberCount; scanned++) {
    if (index >= memberCount) index = 0;
    const slot = memberSlots[index]!;
    if (isEligible(view, slot, eligibility)) return slot;
    index++;
  }
  return NO_SLOT;
}

// === Least loaded ===

/**
 * The eligible member with the lowest `(field + 1) / weight`, exact over all
 * members, scanning from `startIndex` so ties go to whichever tied member the
 * scan meets first (a random start spreads simultaneous picks). Weight 0
 * (only reachable under fail-open) sorts after every positive weight.
 * Compared by cross-multiplication, integers only: (a+1)*wb < (b+1)*wa,
 * exact below 2^53 (counters < 2^31, weights <= WEIGHT_MAX).
 *
 * Eligibility is checked only for members that would beat the best so far:
 * the answer is the same and most members cost two loads instead of five.
 * Thread: worker. Never throws, never allocates.
 */
export function pickLeastLoaded(
  view: TableView,
  memberSlots: Int32Array,
  memberCount: number,
  startIndex: number,
  field: number,
  eligibility: number,
): number {
  let bestSlot = NO_SLOT;
  let bestLoad = 0;
  let bestWeight = 0;
  let index = startIndex;
  for (let scanned = 0; scanned < memberCount; scanned++) {
    if (index >= memberCount) index = 0;
    const slot = memberSlots[index]!;
    index++;
    const load = loadPlusOne(view, slot, field);
    const weight = loadWeight(view, slot);
    if (bestSlot !== NO_SLOT && load * bestWeight >= bestLoad * weight) continue;
    if (!isEligible(view, slot, eligibility)) continue;
    bestSlot = slot;
    bestLoad = load;
    bestWeight = weight;
  }
  return bestSlot;
}

/**
 * Of two candidate slots, the one with the lower `(field + 1) / weight`; the
 * first on a tie. Both must be eligible. Never throws, never allocates.
 */
export function pickLessLoaded(view: TableView, slotA: number, slotB: number, field: number): number {
  const loadA = loadPlusOne(view, slotA, field);
  const loadB = loadPlusOne(view, slotB, field);
  return loadB * loadWeight(view, slotA) < loadA * loadWeight(view, slotB) ? slotB : slotA;
}

/** A counter plus one, clamped at 1: a negative count is a bug elsewhere and must not win every pick. */
function loadPlusOne(view: TableView, slot: number, field: number): number {
  const count = loadTarget(view, slot, field);
  return count > 0 ? count + 1 : 1;
}

/** Weight clamped at 0 so a bad negative weight sorts last rather than first. */
export function loadWeight(view: TableView, slot: number): number {
  const weight = loadTarget(view, slot, TARGET_WEIGHT);
  return Math.max(weight, 0);
}

// === Latency cost ===

/**
 * A member's latency cost for response_time and peak_ewma: its average from
 * `latencyField` (TARGET_LATENCY_EWMA_US or TARGET_PEAK_EWMA_US), decayed
 * for idleness (`decayIdleUs`), times (TARGET_IN_FLIGHT + 1), over its
 * weight. Lower is better.
 *
 *   unmeasured (0), nothing in flight  -> 0          probe it first
 *   unmeasured (0), a probe in flight  -> LATENCY_US_MAX * (in-flight + 1) / w
 *                                         (one probe at a time, not a herd)
 *   weight 0 (fail-open only)          -> Infinity   last resort
 *
 * Returns a double (products pass 2^31). Thread: worker. Never throws, never
 * allocates when inlined into its caller's loop.
 */
export function loadLatencyCost(view: TableView, slot: number, latencyField: number, nowMs: number): number {
  const weight = loadWeight(view, slot);
  if (weight === 0) return Number.POSITIVE_INFINITY;
  const inFlight = loadTarget(view, slot, TARGET_IN_FLIGHT);
  const requests = inFlight > 0 ? inFlight + 1 : 1;
  let latencyUs = loadTarget(view, slot, latencyField);
  if (latencyUs <= 0) {
    if (requests === 1) return 0;
    latencyUs = LATENCY_US_MAX;
  } else {
    latencyUs = decayIdleUs(latencyUs, elapsedMs(nowMs, loadTarget(view, slot, TARGET_LATENCY_UPDATED_MS)));
  }
  return (latencyUs * requests) / weight;
}

// === Random draws ===

/** A uniform index in [0, count). Precondition: count >= 1. */
export function drawIndex(random: RandomSource, count: number): number {
  const index = (random() * count) | 0;
  // A RandomSource breaking its [0, 1) contract must not index out of range.
  return index >= 0 && index < count ? index : 0;
}

/**
 * A uniform index in [0, count) different from `firstIndex` (P2C's second
 * draw): draw from the count-1 others and step over the first. Distinct by
 * construction, one random call, no retry loop. Precondition: count >= 2.
 */
export function drawOtherIndex(random: RandomSource, count: number, firstIndex: number): number {
  const offset = 1 + drawIndex(random, count - 1);
  const index = firstIndex + offset;
  return index >= count ? index - count : index;
}

/**
 * Draws member indices with probability proportional to their weights
 * (snapshot at rebuild), uniformly when every positive weight is equal (the
 * common case: one random call, no table reads). Weighted draws use Walker's
 * alias method with Vose's construction (M. D. Vose, IEEE TSE 1991): one
 * uniform draw is split into a column and a coin, O(1) per draw.
 *
 *   u = random() * n;  i = floor(u);  (u - i) < keepShare[i] ? i : alias[i]
 *
 * Members of weight 0 are never drawn by a weighted sampler. Used by
 * weighted_random and by the P2C pickers, whose candidates must be drawn by
 * weight or a heavy member in a large group only competes when it happens
 * to be drawn (~2/n of picks, whatever its weight). One per balancer; the
 * arrays are allocated in rebuild, draws allocate nothing.
 */
export class MemberSampler {
  private memberCount: number;
  private isWeighted: boolean;
  /** Probability that column i yields member i rather than alias[i]. */
  private keepShare: Float64Array;
  /** Member index column i yields otherwise. */
  private alias: Int32Array;

  constructor() {
    this.memberCount = 0;
    this.isWeighted = false;
    this.keepShare = new Float64Array(0);
    this.alias = new Int32Array(0);
  }

  /** Snapshot `weights` (member order). Config time; allocates. */
  rebuild(weights: Float64Array): void {
    this.memberCount = weights.length;
    this.keepShare = new Float64Array(weights.length);
    this.alias = new Int32Array(weights.length);
    this.isWeighted = !areWeightsEqual(weights) && buildAliasTable(weights, this.keepShare, this.alias);
  }

  /** A member index drawn by weight. Precondition: at least one member. */
  drawIndex(random: RandomSource): number {
    if (!this.isWeighted) return drawIndex(random, this.memberCount);
    const draw = random() * this.memberCount;
    let column = draw | 0;
    if (column < 0 || column >= this.memberCount) column = 0;
    return draw - column < this.keepShare[column]! ? column : this.alias[column]!;
  }

  /**
   * A member index other than `firstIndex`, drawn by weight: one weighted
   * draw, and if it repeats the first, a uniform draw over the others (so it
   * is distinct by construction and never loops). Precondition: >= 2 members.
   */
  drawOtherIndex(random: RandomSource, firstIndex: number): number {
    if (this.isWeighted) {
      const index = this.drawIndex(random);
      if (index !== firstIndex) return index;
    }
    return drawOtherIndex(random, this.memberCount, firstIndex);
  }
}

/** True when every positive weight is the same (zero weights aside) and none is zero. */
function areWeightsEqual(weights: Float64Array): boolean {
  for (let index = 1; index < weights.length; index++) {
    if (weights[index] !== weights[0]) return false;
  }
  return weights.length === 0 || weights[0]! > 0;
}

/**
 * Vose's alias construction over `weights` into `keepShare` and `alias`
 * (both sized like `weights`). Returns false when no weight is positive.
 * Pure; config time (allocates). Exported for tests.
 */
export function buildAliasTable(weights: Float64Array, keepShare: Float64Array, alias: Int32Array): boolean {
  const count = weights.length;
  let total = 0;
  for (let index = 0; index < count; index++) total += Math.max(0, weights[index]!);
  if (total <= 0) return false;
  const scaled = new Float64Array(count);
  const small = new Int32Array(count);
  const large = new Int32Array(count);
  let smallCount = 0;
  let largeCount = 0;
  for (let index = 0; index < count; index++) {
    scaled[index] = (Math.max(0, weights[index]!) * count) / total;
    if (scaled[index]! < 1) small[smallCount++] = index;
    else large[largeCount++] = index;
  }
  while (smallCount > 0 && largeCount > 0) {
    const lesser = small[--smallCount]!;
    const greater = large[--largeCount]!;
    keepShare[lesser] = scaled[lesser]!;
    alias[lesser] = greater;
    scaled[greater] = scaled[greater]! + scaled[lesser]! - 1;
    if (scaled[greater]! < 1) small[smallCount++] = greater;
    else large[largeCount++] = greater;
  }
  // Leftovers are 1 up to rounding error, so they keep themselves, except a
  // zero weight left over by rounding, which must never be drawn.
  let positiveIndex = 0;
  while (!(weights[positiveIndex]! > 0)) positiveIndex++;
  while (largeCount > 0) {
    const index = large[--largeCount]!;
    keepShare[index] = 1;
    alias[index] = index;
  }
  while (smallCount > 0) {
    const index = small[--smallCount]!;
    const isPositive = weights[index]! > 0;
    keepShare[index] = isPositive ? 1 : 0;
    alias[index] = isPositive ? index : positiveIndex;
  }
  return true;
}

/** Each member's TARGET_WEIGHT now (clamped at 0), in member order. Config time; allocates. */
export function loadMemberWeights(view: TableView, memberSlots: Int32Array): Float64Array {
  const weights = new Float64Array(memberSlots.length);
  for (let index = 0; index < memberSlots.length; index++)
    weights[index] = loadWeight(view, memberSlots[index]!);
  return weights;
}

// === Rebuild helpers ===

/**
 * Copy and check the members handed to `rebuild` (config time; allocates,
 * throws on a broken caller invariant).
 */
export function copyMembers(
  view: TableView,
  memberSlots: Int32Array,
  memberIds: readonly string[],
): Int32Array {
  assert(memberSlots.length === memberIds.length, 'balancer rebuild: one id per member slot');
  for (let index = 0; index < memberSlots.length; index++) {
    const slot = memberSlots[index]!;
    assert(slot >= 0 && slot < view.targetCapacity, `balancer rebuild: slot ${slot} is outside the table`);
  }
  return Int32Array.from(memberSlots);
}

/** Greatest common divisor of two non-negative integers (gcd(0, b) = b). */
export function greatestCommonDivisor(a: number, b: number): number {
  let x = a;
  let y = b;
  while (y !== 0) {
    const rest = x % y;
    x = y;
    y = rest;
  }
  return x;
}
