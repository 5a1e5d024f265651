/**
 * @module proto/simulate
 *
 * The contract between `ferry simulate` (src/simulate, the CLI's main
 * thread) and the simulation engine (workers/simulate, run in a worker thread
 * because it uses the data plane's balancers, which src/ may not import).
 * Shapes only; times are milliseconds of simulated time from the trace's
 * start, latencies microseconds where named `…Us`.
 */

/** One request of a trace. */
export interface SimRequest {
  /** Arrival, ms from the trace's start (non-decreasing). */
  readonly arrivalMs: number;
  /** The hash key (client address, session id …); `hash` picks by it. */
  readonly key: string;
  /** Service time on a target of speed 1 (ms). */
  readonly serviceMs: number;
  /** Per-target service times (ms) by address, overriding `serviceMs` (a trace recorded per target). */
  readonly serviceMsByTarget: Readonly<Record<string, number>> | null;
  /** The target answers this request with an error (5xx). */
  readonly isError: boolean;
}

export interface SimTarget {
  readonly address: string;
  /** Config weight 0..1000. */
  readonly weight: number;
  /** Service-time multiplier: 2 = twice as slow as the trace says. */
  readonly slowdown: number;
  /** Requests it serves at once (FIFO queue behind them); 1 = a single-server queue (M/M/1). */
  readonly concurrency: number;
}

/** A change during the run: a target becomes N× slower, fails (no more picks), or gets a new weight. */
export type SimWhatIf =
  | { readonly kind: 'slow'; readonly address: string; readonly atMs: number; readonly factor: number }
  | { readonly kind: 'fail'; readonly address: string; readonly atMs: number }
  | { readonly kind: 'weight'; readonly address: string; readonly atMs: number; readonly weight: number };

export interface SimInput {
  readonly algorithms: readonly string[];
  readonly targets: readonly SimTarget[];
  readonly requests: readonly SimRequest[];
  readonly whatIfs: readonly SimWhatIf[];
  /** Seeds each balancer's random stream (P2C, random, tie breaks): same seed, same picks. */
  readonly seed: number;
}

export interface SimAlgorithmResult {
  readonly algorithm: string;
  readonly requests: number;
  /** Requests no target could take (every target failed). */
  readonly unserved: number;
  readonly errors: number;
  readonly meanMs: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  /** Latency at each percentile 0..100 (101 points), for the CDF plot. */
  readonly cdfMs: readonly number[];
  /** Per target: requests served, share of all, mean latency. */
  readonly targets: readonly {
    readonly address: string;
    readonly requests: number;
    readonly sharePercent: number;
    readonly meanMs: number;
  }[];
}

export interface SimResult {
  readonly durationMs: number;
  readonly results: readonly SimAlgorithmResult[];
}
