/**
 * @module src/simulate
 *
 * `ferry simulate --config ferry.yaml --trace FILE [--algorithms all|a,b]
 * [--target-group G] [--what-if …] [--concurrency N] [--seed N] [--out PREFIX]`:
 * replays a recorded workload through every algorithm and prints, per
 * algorithm, p50/p90/p99 and mean latency, each target's share and the error
 * rate; writes the text report and a latency-CDF SVG next to the trace (or
 * at --out). Thread: the CLI's main thread; the replay itself runs in a
 * worker thread (workers/simulate/entry.ts, spawned by URL) because it runs
 * the data plane's own balancers, which src/ may not import.
 *
 * What-ifs (repeatable):  slow:HOST:PORT:FACTOR@T   the target is FACTOR× slower from T on
 *                         fail:HOST:PORT@T          the target takes nothing from T on
 *                         weight:HOST:PORT:W@T      its weight becomes W at T
 * T is a duration from the trace's start (`30s`, `1500ms`, `0`).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { ALGORITHMS } from '../../proto/algorithms.ts';
import type { SimInput, SimResult, SimWhatIf } from '../../proto/simulate.ts';
import { formatConfigErrors, parseConfigFile, parseDuration } from '../config/index.ts';
import { isProxyError, ProxyError } from '../shared/errors.ts';
import { latencyCdfSvg } from './plot.ts';
import { parseTrace } from './trace.ts';

export { latencyCdfSvg } from './plot.ts';
export { parseTrace, TRACE_REQUESTS_MAX } from './trace.ts';

const ENGINE_URL = new URL(
  `../../workers/simulate/entry${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`,
  import.meta.url,
);

export const SIMULATE_USAGE = `usage: ferry simulate --config ferry.yaml --trace FILE [options]

  --trace FILE             CSV (arrival_ms,key,service_ms[,error][,service_ms@HOST:PORT…]) or Ferry access-log lines
  --target-group G         the group to replay against (default: the config's first)
  --algorithms LIST        all (default) or a comma list: ${ALGORITHMS.join(',')}
  --what-if SPEC           slow:HOST:PORT:FACTOR@T | fail:HOST:PORT@T | weight:HOST:PORT:W@T (repeatable)
  --concurrency N          requests a target serves at once (default 1: one FIFO server per target)
  --seed N                 random seed for P2C and random picks (default 1)
  --out PREFIX             write PREFIX.txt and PREFIX.svg (default: next to the trace, FILE.simulate.*)
  --json                   print the result as JSON
`;

function badArgs(message: string): ProxyError {
  return new ProxyError('FERRY_ERR_SIMULATE_BAD_ARGS', message);
}

/** `kind:HOST:PORT[:VALUE]@T` -> a what-if. Throws FERRY_ERR_SIMULATE_BAD_ARGS. */
export function parseWhatIf(spec: string, addresses: readonly string[]): SimWhatIf {
  const at = spec.lastIndexOf('@');
  if (at < 0) throw badArgs(`--what-if ${spec}: expected …@T (a time from the trace's start, e.g. @30s)`);
  const time = spec.slice(at + 1) === '0' ? { ok: true as const, ms: 0 } : parseDuration(spec.slice(at + 1));
  if (!time.ok) throw badArgs(`--what-if ${spec}: ${time.message}`);
  const [kind, ...rest] = spec.slice(0, at).split(':');
  const needsValue = kind === 'slow' || kind === 'weight';
  if (kind !== 'slow' && kind !== 'fail' && kind !== 'weight') {
    throw badArgs(`--what-if ${spec}: the kind must be slow, fail or weight`);
  }
  const address = (needsValue ? rest.slice(0, -1) : rest).join(':');
  if (!addresses.includes(address)) {
    throw badArgs(
      `--what-if ${spec}: no target ${JSON.stringify(address)} (targets: ${addresses.join(', ')})`,
    );
  }
  if (kind === 'fail') return { kind, address, atMs: time.ms };
  const value = Number(rest.at(-1));
  if (!Number.isFinite(value) || value < 0 || (kind === 'slow' && value === 0)) {
    throw badArgs(
      `--what-if ${spec}: ${kind === 'slow' ? 'FACTOR must be a number > 0' : 'W must be 0..1000'}`,
    );
  }
  return kind === 'slow'
    ? { kind, address, atMs: time.ms, factor: value }
    : { kind, address, atMs: time.ms, weight: Math.min(1000, Math.round(value)) };
}

/** Run the engine in its worker thread. */
export function runEngine(input: SimInput): Promise<SimResult> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(ENGINE_URL, { workerData: input });
    worker.once('message', (message: { result?: SimResult; error?: string }) => {
      if (message.result !== undefined) resolve(message.result);
      else reject(badArgs(message.error ?? 'the simulation failed'));
    });
    worker.once('error', reject);
    worker.once('exit', (code) => {
      if (code !== 0) reject(new Error(`the simulation worker exited with ${code}`));
    });
  });
}

/** A column cell: padded to `width`, and always followed by at least one space. */
function pad(text: string, width: number): string {
  return text.length >= width ? `${text} ` : text.padEnd(width);
}

/** The text report: one row per algorithm, then each algorithm's per-target shares. */
export function reportText(result: SimResult, header: string): string {
  const lines = [header, ''];
  lines.push(
    `${pad('ALGORITHM', 28)}${pad('P50 MS', 10)}${pad('P90 MS', 10)}${pad('P99 MS', 10)}${pad('MEAN MS', 10)}${pad('ERRORS', 9)}UNSERVED`,
  );
  for (const r of result.results) {
    const served = r.requests - r.unserved;
    lines.push(
      `${pad(r.algorithm, 28)}${pad(String(r.p50Ms), 10)}${pad(String(r.p90Ms), 10)}${pad(String(r.p99Ms), 10)}${pad(String(r.meanMs), 10)}${pad(`${served === 0 ? 0 : Math.round((r.errors / served) * 1000) / 10}%`, 9)}${r.unserved}`,
    );
  }
  lines.push('', 'load share per target (requests, share, mean ms):');
  for (const r of result.results) {
    lines.push(
      `  ${pad(r.algorithm, 28)}${r.targets.map((t) => `${t.address} ${t.requests} ${t.sharePercent}% ${t.meanMs}ms`).join('  ')}`,
    );
  }
  const best = [...result.results].sort((a, b) => a.p99Ms - b.p99Ms || a.meanMs - b.meanMs)[0];
  if (best !== undefined) lines.push('', `lowest p99: ${best.algorithm} (${best.p99Ms} ms)`);
  return `${lines.join('\n')}\n`;
}

/** `ferry simulate …`: exit code 0 done, 1 the run failed, 2 bad arguments, config or trace. */
export async function runSimulate(argv: readonly string[]): Promise<number> {
  let values: Record<string, string | boolean | string[] | undefined>;
  try {
    values = parseArgs({
      args: [...argv],
      options: {
        config: { type: 'string', short: 'c' },
        trace: { type: 'string' },
        'target-group': { type: 'string' },
        algorithms: { type: 'string' },
        'what-if': { type: 'string', multiple: true },
        concurrency: { type: 'string' },
        seed: { type: 'string' },
        out: { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (error) {
    process.stderr.write(`ferry simulate: ${(error as Error).message}\n${SIMULATE_USAGE}`);
    return 2;
  }
  if (values['help'] === true) {
    process.stdout.write(SIMULATE_USAGE);
    return 0;
  }
  try {
    const configPath = values['config'];
    const tracePath = values['trace'];
    if (typeof configPath !== 'string' || typeof tracePath !== 'string') {
      throw badArgs('--config and --trace are required');
    }
    const parsed = await parseConfigFile(configPath);
    if (!parsed.ok) throw badArgs(`${configPath}: invalid config\n${formatConfigErrors(parsed.errors)}`);
    const groups = parsed.snapshot.targetGroups;
    const groupName = values['target-group'];
    const group = typeof groupName === 'string' ? groups.find((g) => g.name === groupName) : groups[0];
    if (group === undefined) {
      throw badArgs(
        `no target group ${JSON.stringify(groupName)} (groups: ${groups.map((g) => g.name).join(', ')})`,
      );
    }
    const algorithmsText = typeof values['algorithms'] === 'string' ? values['algorithms'] : 'all';
    const algorithms =
      algorithmsText === 'all' ? [...ALGORITHMS] : algorithmsText.split(',').map((a) => a.trim());
    for (const name of algorithms) {
      if (!(ALGORITHMS as readonly string[]).includes(name)) {
        throw badArgs(
          `--algorithms: unknown algorithm ${JSON.stringify(name)} (one of ${ALGORITHMS.join(', ')})`,
        );
      }
    }
    const concurrency = Number(values['concurrency'] ?? 1);
    if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 10_000) {
      throw badArgs('--concurrency must be an integer 1..10000');
    }
    const seed = Number(values['seed'] ?? 1);
    if (!Number.isInteger(seed)) throw badArgs('--seed must be an integer');
    const addresses = group.targets.map((target) => target.address);
    const whatIfSpecs = (values['what-if'] as string[] | undefined) ?? [];
    const input: SimInput = {
      algorithms,
      targets: group.targets.map((target) => ({
        address: target.address,
        weight: target.weight,
        slowdown: 1,
        concurrency,
      })),
      requests: parseTrace(await readFile(tracePath, 'utf8')),
      whatIfs: whatIfSpecs.map((spec) => parseWhatIf(spec, addresses)),
      seed,
    };
    const result = await runEngine(input);
    const header = `ferry simulate: ${input.requests.length} requests over ${(result.durationMs / 1000).toFixed(1)} s from ${basename(tracePath)}, target group ${group.name} (${addresses.length} targets, concurrency ${concurrency})${whatIfSpecs.length === 0 ? '' : `, what-if ${whatIfSpecs.join(' ')}`}`;
    const text = reportText(result, header);
    const prefix = typeof values['out'] === 'string' ? values['out'] : `${tracePath}.simulate`;
    await writeFile(`${prefix}.txt`, text);
    await writeFile(`${prefix}.svg`, latencyCdfSvg(result.results, header.replace(/^ferry simulate: /, '')));
    if (values['json'] === true) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    else process.stdout.write(`${text}\nwrote ${prefix}.txt and ${prefix}.svg (latency CDF per algorithm)\n`);
    return 0;
  } catch (error) {
    if (isProxyError(error)) {
      process.stderr.write(`ferry simulate: ${error.code}: ${error.message}\n`);
      return 2;
    }
    process.stderr.write(`ferry simulate: ${(error as Error).message}\n`);
    return 1;
  }
}
