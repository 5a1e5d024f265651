/**
 * The replay simulator's engine (workers/simulate) against queueing theory
 * (issue 15 §3, validation (a)): synthetic traces with a seeded RNG, where
 * the answer is known in closed form.
 *
 * - `random` over identical targets splits a Poisson stream into Poisson
 *   streams: each target is an M/M/1 queue, mean latency 1 / (μ − λ/N).
 * - `round_robin` (smooth weighted, Ferry's) gives each of N identical
 *   targets every N-th arrival: Erlang-N inter-arrival times, a GI/M/1
 *   queue whose mean latency is 1 / (μ (1 − σ)), σ the root in (0, 1) of
 *   σ = (Nλ' / (Nλ' + μ (1 − σ)))^N with λ' = λ/N. (Plain M/M/1 would be
 *   ~20% off for round robin at ρ = 0.5: arrivals that alternate are more
 *   regular than Poisson ones, so they queue less.)
 * - With one target 3× slower, least-outstanding and response-time beat
 *   round robin, which keeps sending the slow one half of the traffic.
 */
import { describe, expect, it } from 'vitest';
import type { SimInput, SimRequest } from '../../../../proto/simulate.ts';
import { createRandom } from '../../../../src/shared/random.ts';
import { simulate } from '../../../../workers/simulate/index.ts';

/** Poisson arrivals at `ratePerMs`, exponential service with mean `meanServiceMs`, seeded. */
function poissonTrace(count: number, ratePerMs: number, meanServiceMs: number, seed: number): SimRequest[] {
  const random = createRandom(seed);
  const requests: SimRequest[] = [];
  let nowMs = 0;
  for (let i = 0; i < count; i++) {
    nowMs += -Math.log(1 - random()) / ratePerMs;
    requests.push({
      arrivalMs: nowMs,
      key: `client-${i % 1000}`,
      serviceMs: -Math.log(1 - random()) * meanServiceMs,
      serviceMsByTarget: null,
      isError: false,
    });
  }
  return requests;
}

function input(algorithms: string[], slowdowns: number[], requests: SimRequest[]): SimInput {
  return {
    algorithms,
    targets: slowdowns.map((slowdown, i) => ({
      address: `10.0.0.${i + 1}:80`,
      weight: 1,
      slowdown,
      concurrency: 1,
    })),
    requests,
    whatIfs: [],
    seed: 7,
  };
}

/** GI/M/1 with Erlang-k arrivals of rate λ (per server) and service rate μ: mean time in system. */
function erlangArrivalsMeanLatency(k: number, lambda: number, mu: number): number {
  let sigma = 0.5;
  for (let i = 0; i < 10_000; i++) sigma = ((k * lambda) / (k * lambda + mu * (1 - sigma))) ** k;
  return 1 / (mu * (1 - sigma));
}

const COUNT = 200_000;

describe('simulate', () => {
  describe('when arrivals are Poisson and targets identical (exponential service)', () => {
    const lambda = 1.2; // per ms, over 2 targets of μ = 1 per ms: ρ = 0.6 each
    const result = simulate(input(['random', 'round_robin'], [1, 1], poissonTrace(COUNT, lambda, 1, 42)));
    const byName = new Map(result.results.map((r) => [r.algorithm, r]));

    it('gives random the M/M/1 mean latency 1/(μ − λ/2) within 10%', () => {
      const expected = 1 / (1 - lambda / 2);
      expect(byName.get('random')!.meanMs).toBeGreaterThan(expected * 0.9);
      expect(byName.get('random')!.meanMs).toBeLessThan(expected * 1.1);
    });

    it("gives round robin the Erlang-2-arrival (GI/M/1) mean within 10%, below M/M/1's", () => {
      const expected = erlangArrivalsMeanLatency(2, lambda / 2, 1);
      const mm1 = 1 / (1 - lambda / 2);
      const rr = byName.get('round_robin')!;
      expect(rr.meanMs).toBeGreaterThan(expected * 0.9);
      expect(rr.meanMs).toBeLessThan(expected * 1.1);
      expect(expected).toBeLessThan(mm1 * 0.85);
      expect(rr.targets.map((t) => t.requests)).toEqual([COUNT / 2, COUNT / 2]);
    });

    it('replays the same picks for the same seed', () => {
      const again = simulate(input(['random'], [1, 1], poissonTrace(COUNT, lambda, 1, 42)));
      expect(again.results[0]).toEqual(byName.get('random'));
    });
  });

  describe('when one target is 3× slower', () => {
    const result = simulate(
      input(
        ['round_robin', 'least_outstanding_requests', 'response_time', 'peak_ewma'],
        [1, 3],
        poissonTrace(COUNT / 2, 0.55, 1, 9),
      ),
    );
    const byName = new Map(result.results.map((r) => [r.algorithm, r]));

    it('gives least-outstanding and response-time a lower mean and p99 than round robin', () => {
      const rr = byName.get('round_robin')!;
      for (const name of ['least_outstanding_requests', 'response_time']) {
        const better = byName.get(name)!;
        expect(better.meanMs, name).toBeLessThan(rr.meanMs);
        expect(better.p99Ms, name).toBeLessThan(rr.p99Ms);
      }
    });

    it('sends the fast target more than half of the traffic under least-outstanding, and exactly half under round robin', () => {
      expect(byName.get('least_outstanding_requests')!.targets[0]!.sharePercent).toBeGreaterThan(60);
      expect(byName.get('round_robin')!.targets[0]!.sharePercent).toBe(50);
    });
  });

  describe('when a what-if fails a target part way', () => {
    it('sends it nothing after that time, and counts requests nobody could take once every target failed', () => {
      const requests = poissonTrace(1_000, 0.5, 1, 3);
      const half = requests[499]!.arrivalMs;
      const result = simulate({
        ...input(['round_robin'], [1, 1], requests),
        whatIfs: [
          { kind: 'fail', address: '10.0.0.2:80', atMs: half },
          { kind: 'fail', address: '10.0.0.1:80', atMs: requests[899]!.arrivalMs },
        ],
      });
      const rr = result.results[0]!;
      expect(rr.targets[1]!.requests).toBe(Math.floor(499 / 2)); // requests 0..498 alternate; 499 arrives as it fails
      expect(rr.unserved).toBe(101);
    });
  });
});
