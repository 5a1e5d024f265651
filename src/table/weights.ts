/**
 * @module src/table/weights
 *
 * Effective weights of one target group: configured weights, scaled while a
 * member ramps up in slow start. Thread: main. Place in the flow: health
 * (slow start factor) -> **table weights** -> TARGET_WEIGHT -> every picker.
 *
 * Why scale the whole group: TARGET_WEIGHT is an integer and most groups use
 * weight 1, so "10% of 1" has no integer. While any member ramps, every member
 * of its group is multiplied by the same scale (up to SLOW_START_SCALE_MAX,
 * never past WEIGHT_MAX), which keeps the steady members' proportions exact and
 * gives the ramping one up to 100 steps; when no member ramps the weights go
 * back to the configured integers, so a group without slow start is untouched.
 * Pure: no table access, so it is unit-tested alone.
 */
import { WEIGHT_MAX } from '../../proto/table-layout.ts';

/** Slow-start factor of a member at full weight, in per-mille. */
export const PERMILLE_FULL = 1000;
/** Largest factor weights are multiplied by while a member of the group ramps. */
export const SLOW_START_SCALE_MAX = 100;

/** One member's inputs. `slowStartPermille` is its slow-start factor (PERMILLE_FULL when not ramping). */
export interface WeightInput {
  readonly configuredWeight: number;
  readonly slowStartPermille: number;
  readonly isDraining: boolean;
}

/**
 * The weight to store for each member, in input order. A draining member gets
 * 0; a ramping member with a positive configured weight never drops to 0 (it
 * is healthy and must get some traffic). Allocates the result array.
 */
export function effectiveWeights(members: readonly WeightInput[]): number[] {
  let maxConfigured = 0;
  let isAnyRamping = false;
  for (const member of members) {
    if (member.isDraining) continue;
    if (member.configuredWeight > maxConfigured) maxConfigured = member.configuredWeight;
    if (member.slowStartPermille < PERMILLE_FULL && member.configuredWeight > 0) isAnyRamping = true;
  }
  const scale = isAnyRamping
    ? Math.max(1, Math.min(SLOW_START_SCALE_MAX, Math.floor(WEIGHT_MAX / Math.max(1, maxConfigured))))
    : 1;
  return members.map((member) => {
    if (member.isDraining || member.configuredWeight === 0) return 0;
    const full = member.configuredWeight * scale;
    if (member.slowStartPermille >= PERMILLE_FULL) return full;
    return Math.max(1, Math.round((full * Math.max(0, member.slowStartPermille)) / PERMILLE_FULL));
  });
}
