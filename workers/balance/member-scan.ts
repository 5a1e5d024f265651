/**
 * @module workers/balance/member-scan
 *
 * The pieces every balancer shares: the eligibility test, the bounded
 * fallback scans, the exact least-loaded scan, and P2C's two distinct draws.
 * Thread: worker (main in tests and benches). Place in the flow: route ->
 * **pick** -> upstream. These exist once so eight algorithms agree on what
 * "eligible" means and on how a pick ends when its fast path finds nothing.
 * (The fields and rebuild the randomised balancers share are in
 * randomized-balancer.ts.)
 *
 * Every function here is synchronous, allocation-free, bounded by the member
 * count, and reads the table only through proto/table-layout's accessors.
 *
 * Cost model (bench/micro/pick.bench.ts, Node 24 on the 2-core dev box):
 * one Atomics.load/add is ~12 ns (V8 calls a builtin; a plain typed-array
 * read is <1 ns), so a pick's cost is its number of table reads. Hence:
 *   - weights are snapshot at rebuild into MemberSnapshot.weights and read
 *     from there for scoring (main bumps HEADER_GENERATION on every weight
 *     change, so a worker rebuilds before it could use a stale one); the
 *     live weight is still checked, with state and ejection, by isEligible;
 *   - scans read counters with peekTarget (a relaxed plain read, see
 *     proto/table-layout.ts): ~0.8 ns instead of ~12 ns per member;
 *   - scans test eligibility only for a member that beats the best so far;
 *   - helpers return integers (Smis) only: a double returned from a call
 *     that V8 does not inline is boxed, i.e. allocated, on every pick.
 */
import {
  isTargetRoutable,
  loadTarget,
  NO_SLOT,
  peekTarget,
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
import { createRandomState, nextRandomInt32 } from '../../src/shared/random.ts';
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
 * Bounded by the member count. The fallback of every picker whose fast path
 * ran out of attempts, so "NO_SLOT only when nothing is eligible" holds for all.
 */
export function pickFirstEligible(
  view: TableView,
  members: MemberSnapshot,
  startIndex: number,
  eligibility: number,
): number {
  const count = members.count;
  let index = startIndex;
  for (let scanned = 0; scanned < count; scanned++) {
    if (index >= count) index = 0;
    const slot = members.slots[index]!;
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
 * One table read per member, plus eligibility for members that beat the
 * best so far (~ln n of them). Thread: worker. Never throws, never allocates.
 */
export function pickLeastLoaded(
  view: TableView,
  members: MemberSnapshot,
  startIndex: number,
  field: number,
  eligibility: number,
): number {
  const count = members.count;
  let bestSlot = NO_SLOT;
  let bestLoad = 0;
  let bestWeight = 0;
  let index = startIndex;
  for (let scanned = 0; scanned < count; scanned++) {
    if (index >= count) index = 0;
    const slot = members.slots[index]!;
    const weight = members.weights[index]!;
    index++;
    const load = loadPlusOne(view, slot, field);
    if (bestSlot !== NO_SLOT && load * bestWeight >= bestLoad * weight) continue;
    if (!isEligible(view, slot, eligibility)) continue;
    bestSlot = slot;
    bestLoad = load;
    bestWeight = weight;
  }
  return bestSlot;
}

/**
 * Of two members (by index), the slot of the one with the lower
 * `(field + 1) / weight`; the first on a tie. Both must be eligible.
 * Never throws, never allocates.
 */
export function pickLessLoaded(
  view: TableView,
  members: MemberSnapshot,
  indexA: number,
  indexB: number,
  field: number,
): number {
  const slotA = members.slots[indexA]!;
  const slotB = members.slots[indexB]!;
  const loadA = loadPlusOne(view, slotA, field);
  const loadB = loadPlusOne(view, slotB, field);
  return loadB * members.weights[indexA]! < loadA * members.weights[indexB]! ? slotB : slotA;
}

/** A counter plus one, clamped at 1: a negative count is a bug elsewhere and must not win every pick. */
function loadPlusOne(view: TableView, slot: number, field: number): number {
  const count = peekTarget(view, slot, field);
  return count > 0 ? count + 1 : 1;
}

// === Latency cost ===

/** The largest latency cost; also the cost of a weight-0 member (fail-open only). */
export const LATENCY_COST_MAX = 0x7fffffff;

/**
 * A member's latency cost for response_time and peak_ewma: its average from
 * `latencyField` (TARGET_LATENCY_EWMA_US or TARGET_PEAK_EWMA_US), decayed
 * for idleness (`decayIdleUs`), times (TARGET_IN_FLIGHT + 1), over its
 * weight, as an integer saturating at LATENCY_COST_MAX. Lower is better.
 *
 *   unmeasured (0), nothing in flight  -> 0                probe it first
 *   unmeasured (0), a probe in flight  -> LATENCY_US_MAX * (in-flight + 1) / w
 *                                         (one probe at a time, not a herd)
 *   weight 0 (fail-open only)          -> LATENCY_COST_MAX  last resort
 *
 * An integer, not a double: see the header. Saturation makes targets with
 * more than ~35 minutes x requests of queued work tie, which they may.
 * Two or three table reads. Thread: worker. Never throws, never allocates.
 */
export function loadLatencyCost(
  view: TableView,
  slot: number,
  weight: number,
  latencyField: number,
  nowMs: number,
): number {
  if (weight <= 0) return LATENCY_COST_MAX;
  const inFlight = peekTarget(view, slot, TARGET_IN_FLIGHT);
  const requests = inFlight > 0 ? inFlight + 1 : 1;
  let latencyUs = peekTarget(view, slot, latencyField);
  if (latencyUs <= 0) {
    if (requests === 1) return 0;
    latencyUs = LATENCY_US_MAX;
  } else {
    latencyUs = decayIdleUs(latencyUs, elapsedMs(nowMs, peekTarget(view, slot, TARGET_LATENCY_UPDATED_MS)));
  }
  const cost = (latencyUs * requests) / weight;
  return cost >= LATENCY_COST_MAX ? LATENCY_COST_MAX : cost | 0;
}

// === Random draws ===
// Draws take the balancer's own integer stream (src/shared/random.ts
// `nextRandomInt32`, seeded once from the injected RandomSource), so no
// double crosses a call boundary on the hot path (see the header).

/** A uniform index in [0, count) from `randomState`. Precondition: count >= 1. */
export function drawIndex(randomState: Int32Array, count: number): number {
  // Multiply-shift: (u32 * count) / 2^32 is exact in a double for count < 2^21.
  return (((nextRandomInt32(randomState) >>> 0) * count) / 4294967296) | 0;
}

/**
 * A uniform index in [0, count) different from `firstIndex` (P2C's second
 * draw): draw from the count-1 others and step over the first. Distinct by
 * construction, one draw, no retry loop. Precondition: count >= 2.
 */
export function drawOtherIndex(randomState: Int32Array, count: number, firstIndex: number): number {
  const index = firstIndex + 1 + drawIndex(randomState, count - 1);
  return index >= count ? index - count : index;
}

/**
 * Draws member indices with probability proportional to their weights
 * (snapshot at rebuild), uniformly when every positive weight is equal (the
 * common case: one random call, no table reads). Weighted draws use Walker's
 * alias method with Vose's construction (M. D. Vose, IEEE TSE 1991): one
 * uniform draw is split into a column and a coin, O(1) per draw.
 *
 *   u = uniform * n;  i = floor(u);  (u - i) < keepShare[i] ? i : alias[i]
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
  rebuild(weights: Int32Array): void {
    this.memberCount = weights.length;
    this.keepShare = new Float64Array(weights.length);
    this.alias = new Int32Array(weights.length);
    this.isWeighted = !areWeightsEqual(weights) && buildAliasTable(weights, this.keepShare, this.alias);
  }

  /** A member index drawn by weight. Precondition: at least one member. */
  drawIndex(randomState: Int32Array): number {
    if (!this.isWeighted) return drawIndex(randomState, this.memberCount);
    const draw = ((nextRandomInt32(randomState) >>> 0) * this.memberCount) / 4294967296;
    const column = draw | 0;
    return draw - column < this.keepShare[column]! ? column : this.alias[column]!;
  }

  /**
   * A member index other than `firstIndex`, drawn by weight: one weighted
   * draw, and if it repeats the first, a uniform draw over the others (so it
   * is distinct by construction and never loops). Precondition: >= 2 members.
   */
  drawOtherIndex(randomState: Int32Array, firstIndex: number): number {
    if (this.isWeighted) {
      const index = this.drawIndex(randomState);
      if (index !== firstIndex) return index;
    }
    return drawOtherIndex(randomState, this.memberCount, firstIndex);
  }
}

/** True when every positive weight is the same (zero weights aside) and none is zero. */
function areWeightsEqual(weights: Int32Array): boolean {
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
export function buildAliasTable(
  weights: ArrayLike<number>,
  keepShare: Float64Array,
  alias: Int32Array,
): boolean {
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

/**
 * A balancer's own integer random stream, seeded once from the injected
 * RandomSource (so a seeded source replays the same picks). Allocates;
 * constructor time.
 */
export function seedRandomState(random: RandomSource): Int32Array {
  return createRandomState((random() * 4294967296) | 0);
}

// === Rebuild helpers ===

/**
 * A group's members as rebuild saw them: slots, and weights snapshot from
 * TARGET_WEIGHT (clamped at 0). Immutable; a rebuild makes a new one.
 */
export interface MemberSnapshot {
  readonly slots: Int32Array;
  readonly weights: Int32Array;
  readonly count: number;
}

/** The snapshot of a balancer that has not been rebuilt yet. */
export const NO_MEMBERS: MemberSnapshot = { slots: new Int32Array(0), weights: new Int32Array(0), count: 0 };

/**
 * Copy and check the members handed to `rebuild` and read their weights
 * (config time; allocates; throws on a broken caller invariant).
 */
export function snapshotMembers(
  view: TableView,
  memberSlots: Int32Array,
  memberIds: readonly string[],
): MemberSnapshot {
  assert(memberSlots.length === memberIds.length, 'balancer rebuild: one id per member slot');
  const count = memberSlots.length;
  const slots = new Int32Array(count);
  const weights = new Int32Array(count);
  for (let index = 0; index < count; index++) {
    const slot = memberSlots[index]!;
    assert(slot >= 0 && slot < view.targetCapacity, `balancer rebuild: slot ${slot} is outside the table`);
    slots[index] = slot;
    weights[index] = Math.max(loadTarget(view, slot, TARGET_WEIGHT), 0);
  }
  return { slots, weights, count };
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
