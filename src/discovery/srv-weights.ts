/**
 * @module src/discovery/srv-weights
 *
 * From SRV records to Ferry targets' weights (RFC 2782). Thread: main. Pure.
 *
 * - Priority: only the records with the lowest priority value are used
 *   (RFC 2782: a client MUST try the lowest-numbered priority it can reach).
 *   Higher-priority records are reported (status page, `ferryctl targets`)
 *   as `backup` but are not registered: Ferry has no priority levels inside a
 *   group, and registering them with a share of traffic would break the
 *   RFC's "only when the lower ones are unreachable". They become targets
 *   when every lower-priority record leaves DNS. (For health-based fallback
 *   between tiers, put the tiers in two groups and use `failover`.)
 * - Weight: SRV 1..65535 maps to Ferry 1..WEIGHT_MAX in proportion; when the
 *   largest weight fits (<= WEIGHT_MAX) the weights are kept as they are.
 *   SRV weight 0 ("very small chance", RFC 2782) becomes 1, the smallest
 *   share Ferry has; a tier where every weight is 0 gets 1 each (equal).
 * - Two records naming the same host and port add their weights.
 */
import { WEIGHT_MAX } from '../../proto/table-layout.ts';

export interface SrvRecord {
  readonly name: string;
  readonly port: number;
  readonly priority: number;
  readonly weight: number;
}

/** The records of the lowest priority, and how many of higher priorities were left out. */
export function lowestPriorityTier(records: readonly SrvRecord[]): {
  readonly tier: readonly SrvRecord[];
  readonly backupCount: number;
} {
  if (records.length === 0) return { tier: [], backupCount: 0 };
  let lowest = Number.POSITIVE_INFINITY;
  for (const record of records) lowest = Math.min(lowest, record.priority);
  const tier = records.filter((record) => record.priority === lowest);
  return { tier, backupCount: records.length - tier.length };
}

/** Ferry weights (1..WEIGHT_MAX) for SRV weights of one tier, index for index. */
export function ferryWeights(srvWeights: readonly number[]): number[] {
  let largest = 0;
  for (const weight of srvWeights) largest = Math.max(largest, weight);
  if (largest === 0) return srvWeights.map(() => 1);
  const scale = largest > WEIGHT_MAX ? WEIGHT_MAX / largest : 1;
  return srvWeights.map((weight) => Math.max(1, Math.min(WEIGHT_MAX, Math.round(weight * scale))));
}
