/**
 * @module src/health/slow-start
 *
 * Slow start (ELB `slow_start.duration_seconds`): a target that becomes
 * healthy takes a linearly growing share of its weight, from 10% to 100%
 * over the window. The table applies the factor to TARGET_WEIGHT, which every
 * picker reads (least_outstanding_requests and response_time included, which
 * ELB cannot combine with slow start). Thread: main. Pure.
 *
 * ELB's rule for when a target enters slow start is kept: only when the
 * group has at least one other healthy target that is not in slow start
 * (ramping the only healthy target changes nothing but would look busy), and
 * targets registered together into a group with no healthy target (a fresh
 * start) do not ramp on their first healthy transition.
 */
import { PERMILLE_FULL } from '../table/index.ts';
import { SLOW_START_FIRST_PERMILLE, SLOW_START_STEP_PERMILLE } from './limits.ts';

/**
 * The weight factor, per-mille, `elapsedMs` into a window of `windowMs`:
 * SLOW_START_FIRST_PERMILLE at the start, rising linearly in steps of
 * SLOW_START_STEP_PERMILLE, PERMILLE_FULL from the end of the window on.
 */
export function slowStartPermille(elapsedMs: number, windowMs: number): number {
  if (windowMs <= 0 || elapsedMs >= windowMs) return PERMILLE_FULL;
  const span = PERMILLE_FULL - SLOW_START_FIRST_PERMILLE;
  const exact = SLOW_START_FIRST_PERMILLE + (span * Math.max(0, elapsedMs)) / windowMs;
  const steps = Math.floor((exact - SLOW_START_FIRST_PERMILLE) / SLOW_START_STEP_PERMILLE);
  return SLOW_START_FIRST_PERMILLE + steps * SLOW_START_STEP_PERMILLE;
}
