/**
 * @module workers/balance/types
 *
 * The balancer contract (after Pingora's SelectionAlgorithm and HAProxy's
 * lb_ops). Thread: worker (main only in tests and benches). Place in the flow:
 * route -> **pick** -> upstream.
 *
 * A Balancer is made once per target group per worker, rebuilt when the
 * table's HEADER_GENERATION moves (membership or weights changed), and asked
 * for a slot on every request. `pick` is synchronous, allocates nothing, is
 * bounded by PICK_ATTEMPTS_MAX (or a bounded scan) and returns NO_SLOT when no
 * member is eligible. Taking and dropping the in-flight/connection counters is
 * upstream/'s job, not the balancer's.
 */
import type { AlgorithmName } from '../../proto/algorithms.ts';
import type { TableView } from '../../proto/table-layout.ts';

/** Which members a pick may return. */
export const ELIGIBLE_ROUTABLE = 0;
/** Fail-open: any assigned, non-draining member, whatever its health. */
export const ELIGIBLE_ANY = 1;

/** Algorithm names as written in config; the list lives in proto/ so the config (main thread) can validate against it. */
export { ALGORITHMS, type AlgorithmName } from '../../proto/algorithms.ts';

/** A source of uniform numbers in [0, 1); injected so tests are deterministic. */
export type RandomSource = () => number;

/**
 * A lookup table built ahead of time by main (the `hash` algorithm's Maglev
 * table, from a piscina task): `memberTable[e]` is an index into the
 * members, built for exactly these `weights`. Other algorithms ignore it.
 */
export interface PrebuiltLookup {
  readonly memberTable: Int32Array;
  readonly weights: ArrayLike<number>;
}

export interface Balancer {
  readonly algorithm: AlgorithmName;
  /**
   * Recompute per-group state (rotation sequence, Maglev table, weights) from
   * the current members. `memberSlots[i]` is a slot index, `memberIds[i]` the
   * target's stable identity (its `host:port`), ascending by slot. Allocates;
   * config time only.
   */
  rebuild(
    view: TableView,
    memberSlots: Int32Array,
    memberIds: readonly string[],
    prebuilt?: PrebuiltLookup | null,
  ): void;
  /**
   * Pick a slot for one request. `keyHash` is the request's 32-bit hash key
   * (only `hash` reads it), `nowMs` the table clock, `eligibility` ELIGIBLE_*.
   * Returns a member slot or NO_SLOT. Never throws, never allocates.
   */
  pick(view: TableView, keyHash: number, nowMs: number, eligibility: number): number;
}
