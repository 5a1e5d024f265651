/**
 * @module workers/balance
 *
 * The balancer registry: config name -> algorithm, and the folder's public
 * surface. Thread: worker (main in tests and benches). Place in the flow:
 * route -> **pick** -> upstream.
 *
 * A worker makes one Balancer per target group with `createBalancer` when it
 * attaches the table, calls `rebuild` whenever HEADER_GENERATION moves, and
 * `pick` on every request. Each algorithm lives in its own file, whose header
 * gives the reference, cost, fields read and alternatives rejected:
 *
 *   round_robin                 round-robin.ts                 nginx smooth WRR, global cursor
 *   least_connections           least-connections.ts           exact weighted least conn
 *   least_outstanding_requests  least-outstanding-requests.ts  exact, or Envoy P2C above 16
 *   response_time               response-time.ts               least EWMA x (in-flight + 1)
 *   peak_ewma                   peak-ewma.ts                   linkerd P2C over peak EWMA
 *   hash                        maglev-hash.ts                 weighted Maglev
 *   random                      random.ts                      uniform
 *   weighted_random             weighted-random.ts             Vose alias table
 *
 * Zones wrap any of them (zone-aware.ts, `createZonedBalancer`): the wrapper
 * chooses the zone, the algorithm the target within it.
 */
import type { TopologyGroup } from '../../proto/thread-messages.ts';
import { assert } from '../../src/shared/assert.ts';
import { LeastConnections } from './least-connections.ts';
import { LeastOutstandingRequests } from './least-outstanding-requests.ts';
import { MaglevHash } from './maglev-hash.ts';
import { PeakEwma } from './peak-ewma.ts';
import { Random } from './random.ts';
import { ResponseTime } from './response-time.ts';
import { RoundRobin } from './round-robin.ts';
import { ALGORITHMS, type AlgorithmName, type Balancer, type RandomSource } from './types.ts';
import { WeightedRandom } from './weighted-random.ts';
import { ZoneAwareBalancer } from './zone-aware.ts';

export { isEligible } from './member-scan.ts';
export { buildSmoothSequence } from './round-robin.ts';
export {
  ALGORITHMS,
  type AlgorithmName,
  type Balancer,
  ELIGIBLE_ANY,
  ELIGIBLE_ROUTABLE,
  type PrebuiltLookup,
  type RandomSource,
} from './types.ts';

type BalancerConstructor = new (groupIndex: number, random: RandomSource) => Balancer;

const BALANCERS: { readonly [name in AlgorithmName]: BalancerConstructor } = {
  round_robin: RoundRobin,
  least_connections: LeastConnections,
  least_outstanding_requests: LeastOutstandingRequests,
  response_time: ResponseTime,
  peak_ewma: PeakEwma,
  hash: MaglevHash,
  random: Random,
  weighted_random: WeightedRandom,
};

/** True when `name` is an algorithm config may name. Never throws. */
export function isAlgorithmName(name: string): name is AlgorithmName {
  return (ALGORITHMS as readonly string[]).includes(name);
}

/**
 * Make the balancer for one target group in this worker. `groupIndex` is the
 * group's row in the table (round_robin's shared cursor lives there);
 * `random` (src/shared/random.ts createRandom, or Math.random) seeds the
 * balancer's own integer random stream once, here: a seeded source replays
 * the same picks, and picks never call it (see member-scan.ts). The balancer
 * has no members until `rebuild`. Thread: worker, config time (allocates).
 * Throws (assert) on an unknown name, which config validation rules out.
 */
export function createBalancer(algorithm: AlgorithmName, groupIndex: number, random: RandomSource): Balancer {
  const Constructor = BALANCERS[algorithm];
  assert(Constructor !== undefined, `createBalancer: unknown algorithm ${String(algorithm)}`);
  return new Constructor(groupIndex, random);
}

/**
 * The balancer of one target group as its topology asks: the group's
 * algorithm, wrapped in ZoneAwareBalancer when the group has a zone
 * preference and at least one member in Ferry's own zone (else zones play no
 * part and the plain balancer is returned). Thread: worker, config time
 * (allocates). Throws (assert) on an unknown algorithm.
 */
export function createGroupBalancer(group: TopologyGroup, random: RandomSource): Balancer {
  const algorithm = group.algorithm as AlgorithmName;
  const zones = group.zones ?? null;
  const localIds = new Set(group.members.filter((member) => member.isLocalZone === true).map((m) => m.id));
  if (zones === null || localIds.size === 0) return createBalancer(algorithm, group.groupIndex, random);
  return new ZoneAwareBalancer(
    () => createBalancer(algorithm, group.groupIndex, random),
    group.groupIndex,
    random,
    zones,
    localIds,
  );
}
