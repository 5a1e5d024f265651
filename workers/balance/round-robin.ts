/**
 * @module workers/balance/round-robin
 *
 * `round_robin`: smooth weighted round robin, rotating globally across all
 * workers. Thread: worker (main in tests and benches). Place in the flow:
 * route -> **pick** -> upstream.
 *
 * Algorithm: nginx's smooth weighted round robin (ngx_http_upstream_round_robin.c,
 * `ngx_http_upstream_get_peer`): each step every member's current value grows
 * by its weight, the largest wins and pays back the weight total. Weights
 * 5,1,1 give `a a b a c a a`: heavy members are interleaved, not bunched.
 *
 * Global rotation: nginx keeps `current` per worker process, so N workers run
 * N independent rotations. Here rebuild() plays SWRR once into a sequence
 * (deterministic from member order and weights, so every worker computes the
 * same one) and pick() advances the group's shared GROUP_RR_CURSOR with one
 * Atomics.add: the workers together walk one sequence, and 300 picks over 3
 * equal targets give exactly 100 each however they interleave.
 *
 *   sequence (weights 5,1,1 after gcd):  [a a b a c a a]
 *   cursor:  addGroup(+1) -> 0 1 2 3 4 5 6 7 ...   index = (cursor >>> 0) % 7
 *
 * Cost: pick is one Atomics.add and one eligibility check, O(1); an
 * ineligible entry costs another add (up to PICK_ATTEMPTS_MAX), then a linear
 * scan of the members. rebuild is O(L * d) for a cycle of L <= 65,536
 * entries and d distinct weights, capped at RR_REBUILD_STEPS_MAX steps.
 * Skipping by taking the next shared cursor value (not the next local entry)
 * spreads a down member's turns over the others in proportion to their
 * weights instead of handing them all to its successor.
 *
 * Table fields read: TARGET_WEIGHT (rebuild), TARGET_STATE, TARGET_EJECTED,
 * TARGET_WEIGHT (every pick, via isTargetRoutable); GROUP_RR_CURSOR (add).
 *
 * Sequence length: weights are divided by their gcd; if they still sum above
 * RR_SEQUENCE_LENGTH_MAX, or the build would pass RR_REBUILD_STEPS_MAX, they
 * are scaled down (each positive weight keeps at least one entry), trading
 * weight precision for a bounded rebuild. Only groups of hundreds of targets
 * with hundreds of distinct weights get there.
 * The cursor wraps at 2^32: where 2^32 is not a multiple of the sequence
 * length, one cycle in four billion picks is cut short. Accepted.
 *
 * Alternatives rejected: per-worker SWRR state (N interleaved rotations, not
 * one; uneven across workers at low rates); Envoy's EDF scheduler (needs a
 * per-worker heap, same per-worker problem); HAProxy's `static-rr` map (not
 * smooth: bunches a heavy member's turns).
 */
import { addGroup, GROUP_RR_CURSOR, NO_SLOT, type TableView } from '../../proto/table-layout.ts';
import { PICK_ATTEMPTS_MAX } from '../../src/shared/limits.ts';
import {
  greatestCommonDivisor,
  isEligible,
  type MemberSnapshot,
  NO_MEMBERS,
  pickFirstEligible,
  snapshotMembers,
} from './member-scan.ts';
import type { AlgorithmName, Balancer, RandomSource } from './types.ts';

/** Longest precomputed rotation (entries, ~ +1 per member after scaling): 256 KiB of Int32 per group per worker. */
export const RR_SEQUENCE_LENGTH_MAX = 65_536;

export class RoundRobin implements Balancer {
  readonly algorithm: AlgorithmName = 'round_robin';
  private readonly groupIndex: number;
  private members: MemberSnapshot;
  /** Slots in rotation order; a member appears once per unit of (gcd-reduced) weight. */
  private sequence: Int32Array;
  private sequenceLength: number;

  constructor(groupIndex: number, _random: RandomSource) {
    this.groupIndex = groupIndex;
    this.members = NO_MEMBERS;
    this.sequence = new Int32Array(0);
    this.sequenceLength = 0;
  }

  rebuild(view: TableView, memberSlots: Int32Array, memberIds: readonly string[]): void {
    this.members = snapshotMembers(view, memberSlots, memberIds);
    const order = buildSmoothSequence(this.members.weights, RR_SEQUENCE_LENGTH_MAX);
    this.sequence = new Int32Array(order.length);
    for (let index = 0; index < order.length; index++)
      this.sequence[index] = this.members.slots[order[index]!]!;
    this.sequenceLength = order.length;
  }

  pick(view: TableView, _keyHash: number, _nowMs: number, eligibility: number): number {
    const memberCount = this.members.count;
    if (memberCount === 0) return NO_SLOT;
    let cursor = 0;
    for (let attempt = 0; attempt < PICK_ATTEMPTS_MAX; attempt++) {
      cursor = addGroup(view, this.groupIndex, GROUP_RR_CURSOR, 1) >>> 0;
      // No positive weight (fail-open over weight-0 members): the scan below
      // still rotates, starting from the cursor.
      if (this.sequenceLength === 0) break;
      const slot = this.sequence[cursor % this.sequenceLength]!;
      if (isEligible(view, slot, eligibility)) return slot;
    }
    return pickFirstEligible(view, this.members, cursor % memberCount, eligibility);
  }
}

/**
 * Play nginx SWRR over `weights` (member order) for one full cycle and return
 * member indices in pick order: exactly nginx's sequence for the weights it
 * ends up using. Weights <= 0 get no entries. Weights are divided by their
 * gcd, then scaled down (each positive weight keeps >= 1 entry) so the cycle
 * is at most ~`lengthMax` long and the build at most ~RR_REBUILD_STEPS_MAX
 * steps. Pure; config time (allocates). Exported for tests and benches.
 *
 * Speed-up (exact, not an approximation): members of equal weight are
 * picked in index order among themselves, so one step only compares one
 * candidate per distinct weight. Step t's value of the member at position r
 * of a class of m members with weight w, after p picks of that class, is
 * nginx's current_weight t*w - total*floor(p/m), with r = p mod m; the
 * largest value wins, the lower member index on a tie (nginx's strict `>`).
 * A group of 1,023 targets at weight 100 and one slow-starting at 37 builds
 * its 65,495-entry cycle with 2 compares per entry instead of 1,024: ~1 ms
 * instead of ~300 ms for the per-member loop (bench/micro/pick.bench.ts,
 * "rebuild ms" column, 2-core dev box). It does not help when nearly every
 * member has its own weight; RR_REBUILD_STEPS_MAX bounds that case.
 */
export function buildSmoothSequence(weights: Int32Array, lengthMax: number): Int32Array {
  let reduced = reduceWeights(weights);
  let total = sumOf(reduced);
  if (total === 0) return new Int32Array(0);
  if (total > lengthMax) {
    reduced = scaleWeights(reduced, lengthMax / total);
    total = sumOf(reduced);
  }
  let classes = groupByWeight(reduced);
  if (total * classes.weights.length > RR_REBUILD_STEPS_MAX) {
    reduced = scaleWeights(reduced, RR_REBUILD_STEPS_MAX / classes.weights.length / total);
    total = sumOf(reduced);
    classes = groupByWeight(reduced);
  }

  // Per class: its current candidate (member index) and nginx's accumulated
  // payback total * floor(picks / size), so one step is a multiply and a compare.
  const classCount = classes.weights.length;
  const classWeights = classes.weights;
  const classSizes = classes.sizes;
  const classStarts = classes.starts;
  const classMembers = classes.members;
  const candidates = new Int32Array(classCount);
  const positions = new Int32Array(classCount);
  const paybacks = new Float64Array(classCount);
  for (let classIndex = 0; classIndex < classCount; classIndex++) {
    candidates[classIndex] = classMembers[classStarts[classIndex]!]!;
  }
  const sequence = new Int32Array(total);
  for (let step = 1; step <= total; step++) {
    let bestClass = 0;
    let bestValue = step * classWeights[0]! - paybacks[0]!;
    let bestMember = candidates[0]!;
    for (let classIndex = 1; classIndex < classCount; classIndex++) {
      const value = step * classWeights[classIndex]! - paybacks[classIndex]!;
      if (value < bestValue) continue;
      const member = candidates[classIndex]!;
      if (value > bestValue || member < bestMember) {
        bestClass = classIndex;
        bestValue = value;
        bestMember = member;
      }
    }
    sequence[step - 1] = bestMember;
    let position = positions[bestClass]! + 1;
    if (position === classSizes[bestClass]!) {
      position = 0;
      paybacks[bestClass] = paybacks[bestClass]! + total;
    }
    positions[bestClass] = position;
    candidates[bestClass] = classMembers[classStarts[bestClass]! + position]!;
  }
  return sequence;
}

/** Most SWRR comparison steps one rebuild may take (~4 ns each: ~16 ms); beyond it weights are scaled down. */
export const RR_REBUILD_STEPS_MAX = 1 << 22;

/** Members grouped by equal weight; each class lists its members in index order. */
interface WeightClasses {
  readonly weights: Int32Array;
  readonly sizes: Int32Array;
  readonly starts: Int32Array;
  readonly members: Int32Array;
}

function reduceWeights(weights: Int32Array): Int32Array {
  const reduced = new Int32Array(weights.length);
  let divisor = 0;
  for (const weight of weights) if (weight > 0) divisor = greatestCommonDivisor(weight, divisor);
  if (divisor === 0) return reduced;
  for (let index = 0; index < weights.length; index++) {
    const weight = weights[index]!;
    reduced[index] = weight > 0 ? weight / divisor : 0;
  }
  return reduced;
}

function scaleWeights(weights: Int32Array, scale: number): Int32Array {
  const scaled = new Int32Array(weights.length);
  for (let index = 0; index < weights.length; index++) {
    const weight = weights[index]!;
    scaled[index] = weight > 0 ? Math.max(1, Math.floor(weight * scale)) : 0;
  }
  return reduceWeights(scaled);
}

function sumOf(weights: Int32Array): number {
  let total = 0;
  for (const weight of weights) total += weight;
  return total;
}

function groupByWeight(weights: Int32Array): WeightClasses {
  const order: number[] = [];
  for (let index = 0; index < weights.length; index++) if (weights[index]! > 0) order.push(index);
  order.sort((a, b) => weights[a]! - weights[b]! || a - b);
  const classWeights: number[] = [];
  const sizes: number[] = [];
  const starts: number[] = [];
  for (let position = 0; position < order.length; position++) {
    const weight = weights[order[position]!]!;
    if (classWeights.length === 0 || classWeights[classWeights.length - 1] !== weight) {
      classWeights.push(weight);
      sizes.push(0);
      starts.push(position);
    }
    sizes[sizes.length - 1]!++;
  }
  return {
    weights: Int32Array.from(classWeights),
    sizes: Int32Array.from(sizes),
    starts: Int32Array.from(starts),
    members: Int32Array.from(order),
  };
}
