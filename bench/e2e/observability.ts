/**
 * @module bench/e2e/observability
 *
 * `npm run bench:observability`: what tracing and access logging cost, as
 * requests per second of Ferry (1 worker, pinned) with each turned on,
 * divided by requests per second with both off, measured in one run on one
 * machine (issue 6, "Benchmarks"). Thread: a plain Node process outside
 * Ferry; Ferry runs as children with `node src/cli/ferry.ts --config …`.
 *
 *   install wrk/nginx if missing (bench/e2e/host.ts, the same as bench:http)
 *   start one NGINX as the 3 targets (bench/e2e/configs.ts) and an OTLP/HTTP sink (a tiny node
 *     server answering 200 to every export), both on core 0 with wrk
 *   start one Ferry per variant, each pinned to core 1, all at once on their own ports:
 *     off        access log and tracing off (metrics are always on)
 *     tracing    tracing.enabled, sampleRatio 1.0, exporting to the sink
 *     accesslog  accessLog.enabled to a file, sampleRatio 1.0
 *     baseline   (only with --baseline PATH) another checkout's Ferry, e.g. the commit before
 *                issue 6, to put a number on the always-on metrics
 *   warm each up, then ROUNDS rounds of one wrk cell per variant, interleaved, so drift of the
 *   machine hits every variant alike; report the median req/s, p99 and Ferry CPU µs/req
 *
 * Goals (issue 6): tracing at full sampling costs ≤ 25%, access logs ≤ 10%, metrics ≤ 3%.
 * Only one Ferry is under load at a time; the idle ones cost nothing measurable.
 * Every process it starts dies with it, also on an error or Ctrl-C.
 */

import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, release } from 'node:os';
import { join, resolve } from 'node:path';
import {
  type BenchChild,
  CLOCK_TICKS_PER_S,
  readGroupCpuTicks,
  startChild,
  stopChild,
  tailLog,
} from './children.ts';
import {
  type BenchDirs,
  OTLP_SINK_SOURCE,
  renderFerryYaml,
  renderTargetsNginxConf,
  TINY_BODY_BYTES,
} from './configs.ts';
import {
  benchCommandLine,
  createBenchDirs,
  ensureTools,
  FERRY_ENTRY_PATH,
  FERRY_NODE_PATH,
  findFreePort,
  gitRevision,
  probeHttp,
  REPO_DIR,
  RESULTS_PATH,
  readCpuModel,
  type ToolPaths,
  waitForPort,
} from './host.ts';
import { runWrk, type WrkResult } from './load.ts';
import { appendToResultsFile } from './report.ts';

// === Settings ===

const RESULTS_HEADING = '## bench:observability';
const PROXY_CPU = '1';
const LOAD_CPU = '0';
const CONNECTION_COUNT = 64;
const READY_TIMEOUT_MS = 15_000;
const DEFAULT_CELL_S = 10;
const DEFAULT_ROUNDS = 3;
const QUICK_CELL_S = 4;
const QUICK_ROUNDS = 2;
const WARMUP_S = 2;

const USAGE = `usage: npm run bench:observability -- [options]   (or: node bench/e2e/observability.ts [options])

  --quick          ${QUICK_CELL_S} s cells, ${QUICK_ROUNDS} rounds (default ${DEFAULT_CELL_S} s, ${DEFAULT_ROUNDS} rounds)
  --duration D     seconds per wrk cell
  --rounds N       interleaved rounds of every variant
  --baseline PATH  also measure the Ferry CLI at PATH (e.g. a git worktree of the commit before
                   issue 6, PATH = ../ferry-before/src/cli/ferry.ts) with everything off
  --write          add the table to bench/RESULTS.md under "${RESULTS_HEADING}"
  --help           this text`;

type Variant = {
  readonly id: string;
  readonly label: string;
  readonly entryPath: string;
  readonly extraYaml: (dirs: BenchDirs, sinkPort: number) => string;
};

const VARIANTS: readonly Variant[] = [
  { id: 'off', label: 'access log and tracing off', entryPath: FERRY_ENTRY_PATH, extraYaml: () => '' },
  {
    id: 'tracing',
    label: 'tracing on, sampleRatio 1.0, OTLP/HTTP to a local sink',
    entryPath: FERRY_ENTRY_PATH,
    extraYaml: (_dirs, sinkPort) =>
      `tracing: { enabled: true, sampleRatio: 1.0, endpoint: "http://127.0.0.1:${sinkPort}" }\n`,
  },
  {
    id: 'accesslog',
    label: 'access log on, sampleRatio 1.0, to a file',
    entryPath: FERRY_ENTRY_PATH,
    extraYaml: (dirs) => `accessLog: { enabled: true, destination: "${join(dirs.rootDir, 'access.log')}" }\n`,
  },
];

type Options = {
  readonly cellS: number;
  readonly rounds: number;
  readonly baselinePath: string | null;
  readonly isWrite: boolean;
};

function parseOptions(argv: readonly string[]): Options | null {
  let cellS: number | null = null;
  let rounds: number | null = null;
  let isQuick = false;
  let isWrite = false;
  let baselinePath: string | null = null;
  for (let index = 0; index < argv.length; index++) {
    const arg = argv[index]!;
    const value = (): string => {
      const next = argv[++index];
      if (next === undefined) throw new Error(`${arg} needs a value`);
      return next;
    };
    if (arg === '--help' || arg === '-h') return null;
    else if (arg === '--quick') isQuick = true;
    else if (arg === '--write') isWrite = true;
    else if (arg === '--duration') cellS = Math.max(1, Number.parseInt(value(), 10));
    else if (arg === '--rounds') rounds = Math.max(1, Number.parseInt(value(), 10));
    else if (arg === '--baseline') baselinePath = resolve(value());
    else throw new Error(`unknown option ${arg}\n\n${USAGE}`);
  }
  return {
    cellS: cellS ?? (isQuick ? QUICK_CELL_S : DEFAULT_CELL_S),
    rounds: rounds ?? (isQuick ? QUICK_ROUNDS : DEFAULT_ROUNDS),
    baselinePath,
    isWrite,
  };
}

const log = (line: string): void => {
  process.stderr.write(`bench:observability: ${line}\n`);
};

type Running = { readonly variant: Variant; readonly child: BenchChild; readonly port: number };
type Cell = { readonly wrk: WrkResult; readonly cpuUsPerRequest: number };

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

async function startFerry(
  variant: Variant,
  dirs: BenchDirs,
  targetPorts: readonly number[],
  sinkPort: number,
) {
  const port = await findFreePort();
  const adminPort = await findFreePort();
  const confPath = join(dirs.rootDir, `${variant.id}.yaml`);
  writeFileSync(
    confPath,
    renderFerryYaml(1, port, adminPort, targetPorts) + variant.extraYaml(dirs, sinkPort),
  );
  const child = startChild(
    `ferry-${variant.id}`,
    [FERRY_NODE_PATH, variant.entryPath, '--config', confPath],
    {
      cpuList: PROXY_CPU,
      logPath: join(dirs.rootDir, `${variant.id}.log`),
      cwd: REPO_DIR,
    },
  );
  const isGone = () => (child.exitStatus === null ? null : `exited (${child.exitStatus})`);
  let failure = await waitForPort(port, READY_TIMEOUT_MS, isGone);
  const deadlineMs = Date.now() + READY_TIMEOUT_MS;
  if (failure === null) failure = await probeHttp(port, '/', TINY_BODY_BYTES, 6);
  while (failure !== null && Date.now() < deadlineMs && isGone() === null) {
    await new Promise((done) => setTimeout(done, 200));
    failure = await probeHttp(port, '/', TINY_BODY_BYTES, 6);
  }
  if (failure !== null) throw new Error(`${variant.id}: ${failure} ${tailLog(child, 3)}`);
  return { variant, child, port };
}

async function measure(tools: ToolPaths, running: Running, durationS: number): Promise<Cell> {
  const ticksBefore = readGroupCpuTicks(running.child);
  const wrk = await runWrk({
    wrkPath: tools.wrk,
    url: `http://127.0.0.1:${running.port}/`,
    durationS,
    threadCount: 1,
    connectionCount: CONNECTION_COUNT,
    cpuList: LOAD_CPU,
  });
  const ticks = readGroupCpuTicks(running.child) - ticksBefore;
  return { wrk, cpuUsPerRequest: ((ticks / CLOCK_TICKS_PER_S) * 1e6) / Math.max(1, wrk.requestCount) };
}

async function main(): Promise<number> {
  const options = parseOptions(process.argv.slice(2));
  if (options === null) {
    console.log(USAGE);
    return 0;
  }
  if (availableParallelism() < 2) throw new Error('needs 2 cores: Ferry on core 1, load on core 0');
  const startedAtMs = Date.now();
  const loadAtStart = loadavg()[0] ?? Number.NaN;
  const tools = ensureTools(log);
  const dirs = createBenchDirs('observability', log);
  const { rootDir } = dirs;

  const targetPorts = [await findFreePort(), await findFreePort(), await findFreePort()];
  const targetsConf = join(rootDir, 'targets.conf');
  writeFileSync(targetsConf, renderTargetsNginxConf(dirs, targetPorts));
  const targets = startChild(
    'targets',
    [tools.nginx, '-e', join(rootDir, 'targets-error.log'), '-c', targetsConf],
    {
      cpuList: LOAD_CPU,
      logPath: join(rootDir, 'targets.log'),
    },
  );
  for (const port of targetPorts) {
    const failure = (await waitForPort(port, READY_TIMEOUT_MS, () => targets.exitStatus)) ?? null;
    if (failure !== null) throw new Error(`target NGINX: ${failure}`);
  }
  const sinkPort = await findFreePort();
  const sink = startChild('otlp-sink', [FERRY_NODE_PATH, '-e', OTLP_SINK_SOURCE, String(sinkPort)], {
    cpuList: LOAD_CPU,
    logPath: join(rootDir, 'sink.log'),
  });
  const sinkFailure = await waitForPort(sinkPort, READY_TIMEOUT_MS, () => sink.exitStatus);
  if (sinkFailure !== null) throw new Error(`OTLP sink: ${sinkFailure}`);

  const variants: Variant[] = [...VARIANTS];
  if (options.baselinePath !== null) {
    variants.push({
      id: 'baseline',
      label: `another checkout, everything off (${options.baselinePath})`,
      entryPath: options.baselinePath,
      extraYaml: () => '',
    });
  }
  const running: Running[] = [];
  for (const variant of variants) {
    log(`starting Ferry: ${variant.label}`);
    running.push(await startFerry(variant, dirs, targetPorts, sinkPort));
  }
  for (const each of running) {
    log(`${each.variant.id}: warm-up ${WARMUP_S} s`);
    await measure(tools, each, WARMUP_S);
  }
  const cells = new Map<string, Cell[]>(variants.map((variant) => [variant.id, []]));
  for (let round = 1; round <= options.rounds; round++) {
    for (const each of running) {
      log(`round ${round}/${options.rounds}: ${each.variant.id}, ${options.cellS} s`);
      cells.get(each.variant.id)!.push(await measure(tools, each, options.cellS));
    }
  }
  for (const each of running) await stopChild(each.child);
  await stopChild(sink);
  await stopChild(targets);

  const offRps = median(cells.get('off')!.map((cell) => cell.wrk.requestsPerS));
  const rows = variants.map((variant) => {
    const list = cells.get(variant.id)!;
    const rps = median(list.map((cell) => cell.wrk.requestsPerS));
    const p99 = median(list.map((cell) => cell.wrk.latencyP99Ms));
    const cpu = median(list.map((cell) => cell.cpuUsPerRequest));
    const errors = list.reduce((sum, cell) => sum + cell.wrk.errorCount, 0);
    const each = list.map((cell) => Math.round(cell.wrk.requestsPerS).toLocaleString('en-US')).join(', ');
    return `| ${variant.id.padEnd(9)} | ${Math.round(rps).toLocaleString('en-US').padStart(7)} | ${(rps / offRps).toFixed(2)}× | ${p99.toFixed(2)} | ${cpu.toFixed(1)} | ${errors} | ${each} |`;
  });
  const nodeVersion = spawnSync(FERRY_NODE_PATH, ['-v'], { encoding: 'utf8' }).stdout.trim();
  const block = [
    `- command: \`${benchCommandLine('bench:observability', 'observability.ts')}\``,
    `- started ${new Date(startedAtMs).toISOString()}, took ${Math.round((Date.now() - startedAtMs) / 1000)} s; git ${gitRevision()}; load average ${loadAtStart.toFixed(2)} at start`,
    `- Node ${nodeVersion}; CPU ${readCpuModel()} (${availableParallelism()} cores); kernel ${release()}`,
    `- Ferry: 1 worker pinned to core ${PROXY_CPU}; wrk (\`-t1 -c${CONNECTION_COUNT} -d${options.cellS}s\`, 9-byte bodies), the NGINX targets and the OTLP sink on core ${LOAD_CPU}; ${options.rounds} interleaved rounds after a ${WARMUP_S} s warm-up, medians shown`,
    '',
    '| variant   |   req/s | vs off | p99 ms | Ferry CPU µs/req | errors | req/s per round |',
    '| --------- | ------: | -----: | -----: | ---------------: | -----: | --------------- |',
    ...rows,
    '',
    `${variants.map((variant) => `\`${variant.id}\`: ${variant.label}`).join('; ')}.`,
    'Goals (issue 6): tracing ≥ 0.75× off, access log ≥ 0.90× off; metrics (always on) ≥ 0.97× of a build without them (`--baseline`).',
  ].join('\n');
  console.log(block);
  if (options.isWrite) {
    const heading = `### ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`;
    appendToResultsFile(RESULTS_PATH, `${heading}\n\n${block}\n`, RESULTS_HEADING);
    log(`added to ${RESULTS_PATH}`);
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    log(error instanceof Error ? error.message : String(error));
    process.exit(1);
  },
);
