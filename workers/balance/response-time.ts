/**
 * @module workers/balance/response-time
 *
 * `response_time`: prefer the member answering fastest, discounted by the
 * work already queued on it. Thread: worker (main in tests and benches).
 * Place in the flow: route -> **pick** -> upstream; `record` feeds it through
 * src/shared/ewma.ts `recordLatency`.
 *
 * Algorithm: the "least time" family (NGINX Plus `least_time header`, F5's
 * "fastest"), scored as in Finagle/linkerd's cost:
 *
 *   cost = latencyEwmaUs(decayed for idleness) * (TARGET_IN_FLIGHT + 1) / weight
 *
 * lowest wins, exact over all members, scanning from a random start so ties
 * spread. Multiplying by in-flight + 1 keeps the fastest target from taking
 * everything: its cost rises with each request it already holds, so traffic
 * settles where latency x queue is balanced (a 5 ms target takes ~10x the
 * concurrency of a 50 ms one). Unmeasured members are probed first, one probe
 * at a time; an average not refreshed for IDLE_HALF_LIFE_MS halves per
 * half-life, so a target that was slow gets re-tried and re-measured.
 *
 * Cost: O(n) per pick; three relaxed reads (peekTarget), an idle-decay and
 * one multiply-divide per member (weights are the rebuild snapshot),
 * eligibility (three Atomics.load) only when a member beats the best so far:
 * ~930 ns at 64 targets (bench/micro/pick.bench.ts; ~2.5 µs with
 * Atomics.load per member), most of it the per-member decay arithmetic.
 *
 * Table fields read: TARGET_LATENCY_EWMA_US, TARGET_LATENCY_UPDATED_MS,
 * TARGET_IN_FLIGHT, TARGET_WEIGHT, and TARGET_STATE / TARGET_EJECTED via the
 * eligibility check.
 *
 * Alternatives rejected: pure lowest EWMA (sends everything to one target
 * until its average moves, ~LATENCY_EWMA_TAU_MS later); P2C (that is peak_ewma;
 * users picking "response time" expect the best target, and pay n table
 * reads per pick for it — choose peak_ewma for large groups); per-worker
 * latency windows (each worker would see only its own traffic).
 */
import { NO_SLOT, TARGET_LATENCY_EWMA_US, type TableView } from '../../proto/table-layout.ts';
import { drawIndex, isEligible, loadLatencyCost } from './member-scan.ts';
import { RandomizedBalancer } from './randomized-balancer.ts';
import type { AlgorithmName, Balancer } from './types.ts';

export class ResponseTime extends RandomizedBalancer implements Balancer {
  readonly algorithm: AlgorithmName = 'response_time';

  pick(view: TableView, _keyHash: number, nowMs: number, eligibility: number): number {
    const members = this.members;
    const count = members.count;
    if (count === 0) return NO_SLOT;
    let index = drawIndex(this.randomState, count);
    let bestSlot = NO_SLOT;
    let bestCost = 0;
    for (let scanned = 0; scanned < count; scanned++) {
      if (index >= count) index = 0;
      const slot = members.slots[index]!;
      const cost = loadLatencyCost(view, slot, members.weights[index]!, TARGET_LATENCY_EWMA_US, nowMs);
      index++;
      if (bestSlot !== NO_SLOT && cost >= bestCost) continue;
      if (!isEligible(view, slot, eligibility)) continue;
      bestSlot = slot;
      bestCost = cost;
    }
    return bestSlot;
  }
}
