/**
 * @module proto/algorithms
 *
 * The balancing algorithm names as written in config (`targetGroups[].algorithm`).
 * Thread: both. The main thread validates config against this list
 * (src/config/schema.ts); workers register one picker per name
 * (workers/balance/). It lives in proto/ because both sides must agree on the
 * names and src/ may not import workers/.
 */

/** Algorithm names as written in config, in the order the config reference lists them. */
export const ALGORITHMS = [
  'round_robin',
  'least_connections',
  'least_outstanding_requests',
  'response_time',
  'peak_ewma',
  'hash',
  'random',
  'weighted_random',
] as const;
export type AlgorithmName = (typeof ALGORITHMS)[number];
