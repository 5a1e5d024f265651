/**
 * @module workers/balance/least-connections
 *
 * `least_connections`: the member holding the fewest open upstream
 * connections per unit of weight, across all workers. Thread: worker (main in
 * tests and benches). Place in the flow: route -> **pick** -> upstream.
 *
 * Algorithm: weighted least connections, as nginx `least_conn` and HAProxy
 * `leastconn`: lowest (TARGET_ACTIVE_CONNECTIONS + 1) / TARGET_WEIGHT,
 * compared by cross-multiplication (integers only). The "+ 1" makes an idle
 * weight-10 target beat an idle weight-1 target, as Envoy's weighted least
 * request does. The count is every worker's, read from the shared table, so
 * the choice is global without a lock.
 *
 * Exact: every pick scans all members (bounded by the member count). Ties go
 * to the first tied member met from a random start, so simultaneous picks in
 * different workers spread over tied targets instead of herding on one.
 * (A tied member right after a run of busier ones catches the starts that
 * land in that run, so shares of ties are even only when the ties are
 * contiguous; reservoir sampling would fix it at one random draw per tie.)
 *
 * Cost: O(n) per pick: one relaxed read (peekTarget) per member (weights are
 * the rebuild snapshot) plus an eligibility check (three Atomics.load) only
 * when a member beats the best so far (~ln n times): ~550 ns at 64 targets,
 * ~7 µs at 1,024 (bench/micro/pick.bench.ts; ~930 ns at 64 with Atomics.load
 * per member). The price of being exact; least_outstanding_requests is the
 * P2C alternative for large groups.
 *
 * Table fields read: TARGET_ACTIVE_CONNECTIONS, TARGET_WEIGHT, and
 * TARGET_STATE / TARGET_EJECTED via the eligibility check.
 *
 * Alternatives rejected: power of two choices (what least_outstanding_requests
 * does for large groups: cheaper, but not "the fewest", which is what users
 * of least_conn ask for; choose least_outstanding_requests for large
 * groups); a per-worker heap keyed by count (other workers' adds
 * make it stale on every pick); a scan from index 0 (herds ties on member 0).
 */
import { NO_SLOT, TARGET_ACTIVE_CONNECTIONS, type TableView } from '../../proto/table-layout.ts';
import { drawIndex, pickLeastLoaded } from './member-scan.ts';
import { RandomizedBalancer } from './randomized-balancer.ts';
import type { AlgorithmName, Balancer } from './types.ts';

export class LeastConnections extends RandomizedBalancer implements Balancer {
  readonly algorithm: AlgorithmName = 'least_connections';

  pick(view: TableView, _keyHash: number, _nowMs: number, eligibility: number): number {
    const members = this.members;
    if (members.count === 0) return NO_SLOT;
    const startIndex = drawIndex(this.randomState, members.count);
    return pickLeastLoaded(view, members, startIndex, TARGET_ACTIVE_CONNECTIONS, eligibility);
  }
}
