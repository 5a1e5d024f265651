/**
 * Writes the worked example's trace (docs/simulate.md) to stdout: 20 000
 * Poisson arrivals at 2 per ms-unit (λ = 2 requests per 1 ms of service, so
 * ρ = 0.67 per target under round robin), exponential service with a 1 ms
 * mean, 200 clients as keys, and the third target 3× slower (its own
 * `service_ms@` column). Seeded: the same file every run.
 *
 *   node examples/simulate/make-trace.ts > trace.csv
 */
import { createRandom } from '../../src/shared/random.ts';

const random = createRandom(15);
const exponential = (mean: number) => -Math.log(1 - random()) * mean;
const rows = ['arrival_ms,key,service_ms,service_ms@10.0.1.13:8080'];
let nowMs = 0;
for (let i = 0; i < 20_000; i++) {
  nowMs += exponential(1 / 2);
  const serviceMs = exponential(1);
  rows.push(
    `${nowMs.toFixed(3)},client-${Math.floor(random() * 200)},${serviceMs.toFixed(3)},${(serviceMs * 3).toFixed(3)}`,
  );
}
process.stdout.write(`${rows.join('\n')}\n`);
