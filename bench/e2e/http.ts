/**
 * @module bench/e2e/http
 *
 * `npm run bench:http`: Ferry's HTTP data plane measured end to end beside
 * the baselines users compare it with, in one run on one machine (issue 2,
 * "Benchmarks"). Thread: a plain Node process outside Ferry; it starts Ferry
 * as a child with `node src/cli/ferry.ts --config <tmp>/ferry.yaml`.
 *
 * What it does:
 *
 *   install wrk/nginx/haproxy/curl if missing (apt-get)
 *   start one NGINX as the 3 targets: `/` 9 B, `/16k` 16 KiB, `/1g` 1 GiB sparse file
 *   for each layout (pinned: proxy on core 1, wrk+targets on core 0; then 2 cores unpinned):
 *     for each system (direct, NGINX, HAProxy, Ferry; 1 worker pinned, 2 workers unpinned):
 *       start it, wait until it accepts and answers `/` (10 s max, else "not available")
 *       warm up, then wrk on `/` and `/16k` (req/s, p50, p99, proxy CPU µs/req from /proc)
 *       curl the 1 GiB body 3 times (median MB/s, proxy CPU ms/GiB), stop it
 *   print header + tables; with --write also add them to bench/RESULTS.md
 *
 * Why it exists: the goals are ratios against NGINX on equal cores
 * (≥ 0.6× req/s on tiny bodies, ≥ 0.8× on 16 KiB and MB/s, p99 ≤ 2×), and on
 * two cores the load generator saturates first, so the proxy's own CPU time
 * per request is printed beside req/s as the fairer figure.
 *
 * Every process it starts dies with it, also on an error or Ctrl-C.
 */

import { spawnSync } from 'node:child_process';
import { existsSync, truncateSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, release } from 'node:os';
import { join, relative, resolve } from 'node:path';
import {
  type BenchChild,
  CLOCK_TICKS_PER_S,
  pinGroup,
  readGroupCpuTicks,
  startChild,
  stopChild,
  tailLog,
} from './children.ts';
import {
  type BenchDirs,
  MEDIUM_BODY_BYTES,
  renderFerryYaml,
  renderHaproxyConf,
  renderProxyNginxConf,
  renderTargetsNginxConf,
  STREAM_BODY_BYTES,
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
  readToolVersions,
  type ToolPaths,
  waitForPort,
} from './host.ts';
import { runStreamDownload, runWrk, type StreamResult } from './load.ts';
import {
  appendToResultsFile,
  formatHeader,
  formatRatioTable,
  formatResultsTable,
  type RequestCell,
  type StreamCell,
  type SystemResult,
  type SystemSpec,
} from './report.ts';

// === Settings ===

const READY_TIMEOUT_MS = 10_000;
/** Requests of the readiness probe on one keep-alive connection: two rounds over the 3 targets. */
const PROBE_REQUEST_COUNT = 6;
const CONNECTION_COUNT = 64;
const WRK_THREAD_COUNT = 1;
const STREAM_TIMEOUT_S = 120;
/** Downloads of the 1 GiB body per system; the median is reported. */
const STREAM_DOWNLOAD_COUNT = 3;
const DEFAULT_CELL_DURATION_S = 10;
const DEFAULT_WARMUP_DURATION_S = 2;
const QUICK_CELL_DURATION_S = 3;
const QUICK_WARMUP_DURATION_S = 1;

/** Core of the proxy in the pinned layout, and of wrk, curl and the targets. */
const PROXY_CPU = '1';
const LOAD_CPU = '0';

/** Every system, in run order: the pinned layout first, then two cores. */
const SYSTEMS: readonly SystemSpec[] = [
  { id: 'direct1', kind: 'direct', workerCount: 1, isPinned: true, label: 'direct to target' },
  { id: 'nginx1', kind: 'nginx', workerCount: 1, isPinned: true, label: 'NGINX, 1 worker' },
  { id: 'haproxy1', kind: 'haproxy', workerCount: 1, isPinned: true, label: 'HAProxy, nbthread 1' },
  { id: 'ferry1', kind: 'ferry', workerCount: 1, isPinned: true, label: 'Ferry, 1 worker' },
  { id: 'base1', kind: 'base', workerCount: 1, isPinned: true, label: 'Ferry baseline, 1 worker' },
  { id: 'direct2', kind: 'direct', workerCount: 1, isPinned: false, label: 'direct to target' },
  { id: 'nginx2', kind: 'nginx', workerCount: 2, isPinned: false, label: 'NGINX, 2 workers' },
  { id: 'haproxy2', kind: 'haproxy', workerCount: 2, isPinned: false, label: 'HAProxy, nbthread 2' },
  { id: 'ferry2', kind: 'ferry', workerCount: 2, isPinned: false, label: 'Ferry, 2 workers' },
  { id: 'base2', kind: 'base', workerCount: 2, isPinned: false, label: 'Ferry baseline, 2 workers' },
];

const USAGE = `usage: npm run bench:http -- [options]   (or: node bench/e2e/http.ts [options])

  --only LIST      systems to run, comma-separated: ${SYSTEMS.map((spec) => spec.id).join(', ')}
                   or a family (direct, nginx, haproxy, ferry) for both of its rows
  --duration D     length of each measured wrk cell (default ${DEFAULT_CELL_DURATION_S}s; e.g. 5s, 1m)
  --quick          ${QUICK_CELL_DURATION_S} s cells and a ${QUICK_WARMUP_DURATION_S} s warm-up, to iterate
  --ferry PATH     Ferry CLI entry to run (default src/cli/ferry.ts); point it at a checkout of the
                   main branch (git worktree) to measure main beside this tree
  --baseline PATH  also run another checkout's Ferry CLI entry (rows base1, base2) right after each
                   Ferry row, in the same run: the before/after of a change as one ratio
                   (the base rows run only with --baseline)
  --write          also add the tables to bench/RESULTS.md under a dated heading
  --help           this text

Rows ending in 1 are pinned (proxy on core ${PROXY_CPU}; wrk, curl, targets on core ${LOAD_CPU});
rows ending in 2 are unpinned, on every core.`;

type Options = {
  readonly specs: readonly SystemSpec[];
  readonly cellDurationS: number;
  readonly warmupDurationS: number;
  readonly isWrite: boolean;
  readonly ferryEntryPath: string;
  /** `--baseline`: the other checkout's CLI entry, or null (no base rows). */
  readonly baselineEntryPath: string | null;
};

function parseDurationS(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text);
  if (match === null) throw new Error(`--duration: expected a duration like 10s or 1m, got "${text}"`);
  const unitS = match[2] === 'ms' ? 0.001 : match[2] === 'm' ? 60 : 1;
  const durationS = Math.round(Number(match[1]) * unitS);
  if (durationS < 1) throw new Error('--duration: at least 1s (wrk counts whole seconds)');
  return durationS;
}

function parseOptions(argv: readonly string[]): Options | null {
  let onlyText: string | null = null;
  let durationS: number | null = null;
  let isQuick = false;
  let isWrite = false;
  let ferryEntryPath = FERRY_ENTRY_PATH;
  let baselineEntryPath: string | null = null;
  for (let index = 0; index < argv.length; index++) {
    const arg = argv[index]!;
    const [name, inlineValue] =
      arg.startsWith('--') && arg.includes('=') ? arg.split('=', 2) : [arg, undefined];
    const takeValue = (): string => {
      if (inlineValue !== undefined) return inlineValue;
      const value = argv[++index];
      if (value === undefined) throw new Error(`${name} needs a value`);
      return value;
    };
    if (name === '--help' || name === '-h') return null;
    else if (name === '--only') onlyText = takeValue();
    else if (name === '--duration') durationS = parseDurationS(takeValue());
    else if (name === '--quick') isQuick = true;
    else if (name === '--write') isWrite = true;
    else if (name === '--ferry') ferryEntryPath = resolve(takeValue());
    else if (name === '--baseline') baselineEntryPath = resolve(takeValue());
    else throw new Error(`unknown option ${arg}\n\n${USAGE}`);
  }
  // Each base row runs right after its Ferry row, so the two see the same machine.
  let specs = SYSTEMS.filter((spec) => spec.kind !== 'base' || baselineEntryPath !== null);
  if (onlyText !== null) {
    const tokens = onlyText
      .split(',')
      .map((token) => token.trim().toLowerCase())
      .filter((token) => token.length > 0);
    for (const token of tokens) {
      if (!SYSTEMS.some((spec) => spec.id === token || spec.kind === token)) {
        throw new Error(
          `--only: unknown system "${token}"; known: ${SYSTEMS.map((spec) => spec.id).join(', ')}`,
        );
      }
    }
    specs = specs.filter(
      (spec) =>
        tokens.includes(spec.id) ||
        tokens.includes(spec.kind) ||
        // --only ferry1 with --baseline brings base1 along: the pair is the point.
        (spec.kind === 'base' &&
          tokens.some((token) => token === 'ferry' || token === `ferry${spec.id.at(-1)}`)),
    );
  }
  return {
    specs,
    cellDurationS: durationS ?? (isQuick ? QUICK_CELL_DURATION_S : DEFAULT_CELL_DURATION_S),
    warmupDurationS: isQuick ? QUICK_WARMUP_DURATION_S : DEFAULT_WARMUP_DURATION_S,
    isWrite,
    ferryEntryPath,
    baselineEntryPath,
  };
}

// === Run state ===

const log = (line: string): void => {
  process.stderr.write(`bench:http: ${line}\n`);
};

type Run = {
  readonly options: Options;
  readonly tools: ToolPaths;
  readonly dirs: BenchDirs;
  readonly targetPorts: readonly number[];
  readonly isPinningPossible: boolean;
};

const sleep = (durationMs: number): Promise<void> => new Promise((done) => setTimeout(done, durationMs));

// === Targets ===

function prepareDocumentRoot(dirs: BenchDirs): void {
  // 16 KiB of printable bytes; the 1 GiB file is sparse (truncate -s 1G), so it costs no disk.
  writeFileSync(join(dirs.wwwDir, '16k'), 'x'.repeat(MEDIUM_BODY_BYTES - 1).concat('\n'));
  writeFileSync(join(dirs.wwwDir, '1g'), '');
  truncateSync(join(dirs.wwwDir, '1g'), STREAM_BODY_BYTES);
}

async function startTargets(
  run: Omit<Run, 'targetPorts'>,
  targetPorts: readonly number[],
): Promise<BenchChild> {
  const confPath = join(run.dirs.rootDir, 'targets.conf');
  writeFileSync(confPath, renderTargetsNginxConf(run.dirs, targetPorts));
  const child = startChild(
    'targets',
    [run.tools.nginx, '-e', join(run.dirs.rootDir, 'targets-error.log'), '-c', confPath],
    { cpuList: run.isPinningPossible ? LOAD_CPU : null, logPath: join(run.dirs.rootDir, 'targets.log') },
  );
  for (const port of targetPorts) {
    const failure =
      (await waitForPort(port, READY_TIMEOUT_MS, () => child.exitStatus)) ??
      (await probeHttp(port, '/', TINY_BODY_BYTES, PROBE_REQUEST_COUNT)) ??
      (await probeHttp(port, '/16k', MEDIUM_BODY_BYTES, PROBE_REQUEST_COUNT));
    if (failure !== null) throw new Error(`target NGINX on port ${port}: ${failure} ${tailLog(child, 3)}`);
  }
  // The first read of the sparse file fills the page cache with 1 GiB of zero pages and runs at
  // a third of the cached speed; do it here so the first system measured is not penalised.
  log('reading the 1 GiB body once to fill the page cache');
  await runStreamDownload({
    curlPath: run.tools.curl,
    url: `http://127.0.0.1:${targetPorts[0]}/1g`,
    expectedByteCount: STREAM_BODY_BYTES,
    cpuList: null,
    timeoutS: STREAM_TIMEOUT_S,
  });
  return child;
}

// === Systems under test ===

/** The Ferry CLI entry a Ferry or base row runs (null for the other systems). */
function entryPathOf(options: Options, spec: SystemSpec): string | null {
  if (spec.kind === 'base') return options.baselineEntryPath;
  return spec.kind === 'ferry' ? options.ferryEntryPath : null;
}

/** Starts the proxy of `spec` on `listenPort`; returns null for direct (wrk hits target 1). */
async function startProxy(run: Run, spec: SystemSpec, listenPort: number): Promise<BenchChild | null> {
  const cpuList = spec.isPinned && run.isPinningPossible ? PROXY_CPU : null;
  const logPath = join(run.dirs.rootDir, `${spec.id}.log`);
  switch (spec.kind) {
    case 'direct':
      return null;
    case 'nginx': {
      const confPath = join(run.dirs.rootDir, `${spec.id}.conf`);
      writeFileSync(
        confPath,
        renderProxyNginxConf(run.dirs, spec.id, spec.workerCount, listenPort, run.targetPorts),
      );
      const errorLogPath = join(run.dirs.rootDir, `${spec.id}-error.log`);
      return startChild(spec.id, [run.tools.nginx, '-e', errorLogPath, '-c', confPath], { cpuList, logPath });
    }
    case 'haproxy': {
      const confPath = join(run.dirs.rootDir, `${spec.id}.cfg`);
      writeFileSync(confPath, renderHaproxyConf(spec.workerCount, listenPort, run.targetPorts));
      // -db: stay in the foreground, one process (no master-worker).
      return startChild(spec.id, [run.tools.haproxy, '-db', '-f', confPath], { cpuList, logPath });
    }
    case 'ferry':
    case 'base': {
      const confPath = join(run.dirs.rootDir, `${spec.id}.yaml`);
      const adminPort = await findFreePort();
      writeFileSync(confPath, renderFerryYaml(spec.workerCount, listenPort, adminPort, run.targetPorts));
      const entryPath = entryPathOf(run.options, spec)!;
      return startChild(spec.id, [FERRY_NODE_PATH, entryPath, '--config', confPath], {
        cpuList,
        logPath,
        cwd: REPO_DIR,
      });
    }
  }
}

/** Null once the system accepts and answers `/` with the 9-byte body, else why not (10 s budget). */
async function waitUntilServing(proxy: BenchChild | null, port: number): Promise<string | null> {
  const deadlineMs = Date.now() + READY_TIMEOUT_MS;
  const isGone = (): string | null =>
    proxy?.exitStatus === null || proxy === null ? null : `exited (${proxy.exitStatus})`;
  const portFailure = await waitForPort(port, READY_TIMEOUT_MS, isGone);
  if (portFailure !== null) return portFailure;
  // A proxy may accept before its upstream side works; retry the probe within the same budget.
  let probeFailure = await probeHttp(port, '/', TINY_BODY_BYTES, PROBE_REQUEST_COUNT);
  while (probeFailure !== null && Date.now() < deadlineMs && isGone() === null) {
    await sleep(200);
    probeFailure = await probeHttp(port, '/', TINY_BODY_BYTES, PROBE_REQUEST_COUNT);
  }
  return probeFailure ?? isGone();
}

const ticksToUs = (ticks: number): number => (ticks / CLOCK_TICKS_PER_S) * 1e6;

async function measureRequests(
  run: Run,
  spec: SystemSpec,
  proxy: BenchChild | null,
  url: string,
): Promise<RequestCell> {
  const cpuList = spec.isPinned && run.isPinningPossible ? LOAD_CPU : null;
  try {
    const ticksBefore = proxy === null ? 0 : readGroupCpuTicks(proxy);
    const wrk = await runWrk({
      wrkPath: run.tools.wrk,
      url,
      durationS: run.options.cellDurationS,
      threadCount: WRK_THREAD_COUNT,
      connectionCount: CONNECTION_COUNT,
      cpuList,
    });
    const ticksAfter = proxy === null ? 0 : readGroupCpuTicks(proxy);
    if (proxy !== null && proxy.exitStatus !== null) return { error: `proxy exited (${proxy.exitStatus})` };
    const cpuUsPerRequest =
      proxy === null || wrk.requestCount === 0
        ? null
        : ticksToUs(ticksAfter - ticksBefore) / wrk.requestCount;
    return { wrk, cpuUsPerRequest };
  } catch (error) {
    return { error: error instanceof Error ? error.message : String(error) };
  }
}

async function measureStream(
  run: Run,
  spec: SystemSpec,
  proxy: BenchChild | null,
  url: string,
): Promise<StreamCell> {
  const cpuList = spec.isPinned && run.isPinningPossible ? LOAD_CPU : null;
  try {
    const ticksBefore = proxy === null ? 0 : readGroupCpuTicks(proxy);
    const streams: StreamResult[] = [];
    for (let downloadIndex = 0; downloadIndex < STREAM_DOWNLOAD_COUNT; downloadIndex++) {
      streams.push(
        await runStreamDownload({
          curlPath: run.tools.curl,
          url,
          expectedByteCount: STREAM_BODY_BYTES,
          cpuList,
          timeoutS: STREAM_TIMEOUT_S,
        }),
      );
    }
    const ticksAfter = proxy === null ? 0 : readGroupCpuTicks(proxy);
    const gibCount = (STREAM_DOWNLOAD_COUNT * STREAM_BODY_BYTES) / (1024 * 1024 * 1024);
    const cpuMsPerGiB = proxy === null ? null : ticksToUs(ticksAfter - ticksBefore) / 1000 / gibCount;
    // The median of the downloads: one 1 GiB transfer lasts under a second on loopback, so one alone is noisy.
    streams.sort((left, right) => left.megabytesPerS - right.megabytesPerS);
    return { stream: streams[Math.floor(streams.length / 2)]!, cpuMsPerGiB };
  } catch (error) {
    return { error: error instanceof Error ? error.message : String(error) };
  }
}

async function measureSystem(run: Run, spec: SystemSpec): Promise<SystemResult> {
  const notAvailable = (reason: string): SystemResult => ({
    spec,
    unavailableReason: reason,
    tiny: null,
    medium: null,
    stream: null,
  });
  const entryPath = entryPathOf(run.options, spec);
  if (entryPath !== null && !existsSync(entryPath)) {
    const shownPath = entryPath.startsWith(`${REPO_DIR}/`) ? relative(REPO_DIR, entryPath) : entryPath;
    return notAvailable(`${shownPath} does not exist (yet)`);
  }
  const port = spec.kind === 'direct' ? run.targetPorts[0]! : await findFreePort();
  const proxy = await startProxy(run, spec, port);
  try {
    const failure = await waitUntilServing(proxy, port);
    if (failure !== null) {
      // The log says why a process died or never listened; a running one that answers wrongly is explained by the probe.
      const isLogUseful = proxy !== null && (proxy.exitStatus !== null || failure.startsWith('port '));
      const logTail = isLogUseful ? tailLog(proxy, 2) : '';
      return notAvailable(logTail.length > 0 ? `${failure}: ${logTail.slice(0, 240)}` : failure);
    }
    const baseUrl = `http://127.0.0.1:${port}`;
    log(`${spec.id}: warm-up ${run.options.warmupDurationS} s`);
    await runWrk({
      wrkPath: run.tools.wrk,
      url: `${baseUrl}/`,
      durationS: run.options.warmupDurationS,
      threadCount: WRK_THREAD_COUNT,
      connectionCount: CONNECTION_COUNT,
      cpuList: spec.isPinned && run.isPinningPossible ? LOAD_CPU : null,
    }).catch(() => null);
    log(`${spec.id}: 9 B body, ${run.options.cellDurationS} s`);
    const tiny = await measureRequests(run, spec, proxy, `${baseUrl}/`);
    log(`${spec.id}: 16 KiB body, ${run.options.cellDurationS} s`);
    const medium = await measureRequests(run, spec, proxy, `${baseUrl}/16k`);
    log(`${spec.id}: 1 GiB stream`);
    const stream = await measureStream(run, spec, proxy, `${baseUrl}/1g`);
    return { spec, unavailableReason: null, tiny, medium, stream };
  } finally {
    if (proxy !== null) await stopChild(proxy);
  }
}

// === Main ===

async function main(): Promise<number> {
  const options = parseOptions(process.argv.slice(2));
  if (options === null) {
    console.log(USAGE);
    return 0;
  }
  const startedAtMs = Date.now();
  const loadAverageAtStart = loadavg()[0] ?? Number.NaN;
  const tools = ensureTools(log);
  const dirs = createBenchDirs('http', log);
  const { rootDir } = dirs;
  prepareDocumentRoot(dirs);

  const cpuCount = availableParallelism();
  const isPinningPossible = cpuCount >= 2;
  const allCpus = `0-${cpuCount - 1}`;
  const targetPorts = [await findFreePort(), await findFreePort(), await findFreePort()];
  log(`targets on ports ${targetPorts.join(', ')}; temp dir ${rootDir}`);
  const targets = await startTargets({ options, tools, dirs, isPinningPossible }, targetPorts);
  const run: Run = { options, tools, dirs, targetPorts, isPinningPossible };

  const results: SystemResult[] = [];
  for (const isPinnedLayout of [true, false]) {
    const specs = options.specs.filter((spec) => spec.isPinned === isPinnedLayout);
    if (specs.length === 0) continue;
    if (isPinningPossible) pinGroup(targets, isPinnedLayout ? LOAD_CPU : allCpus);
    for (const spec of specs) {
      log(`${spec.id}: starting ${spec.label}`);
      const result = await measureSystem(run, spec);
      if (result.unavailableReason !== null) log(`${spec.id}: not available: ${result.unavailableReason}`);
      results.push(result);
    }
  }
  await stopChild(targets);

  const ferryNodeVersion = spawnSync(FERRY_NODE_PATH, ['-v'], { encoding: 'utf8' }).stdout.trim();
  const header = formatHeader({
    dateIso: new Date(startedAtMs).toISOString(),
    runDurationS: (Date.now() - startedAtMs) / 1000,
    loadAverageAtStart,
    command: benchCommandLine('bench:http', 'http.ts'),
    nodeVersion: ferryNodeVersion || process.version,
    cpuModel: readCpuModel(),
    cpuCount,
    kernel: release(),
    toolVersions: readToolVersions(tools),
    gitRevision: gitRevision(),
    cellDurationS: options.cellDurationS,
    warmupDurationS: options.warmupDurationS,
    connectionCount: CONNECTION_COUNT,
    streamDownloadCount: STREAM_DOWNLOAD_COUNT,
    isPinningPossible,
  });
  const block = [
    header,
    '',
    formatResultsTable(results),
    '',
    'Ferry relative to each baseline in the same layout (req/s, MB/s: higher is better; p99, CPU/req: lower is better):',
    '',
    formatRatioTable(results),
    '',
    'Goals (issue 9, on equal cores = the pinned rows): 9 B CPU/req ≤ 1.3× NGINX and req/s ≥ 0.8×; ' +
      '16 KiB req/s ≥ 1.0×; 1 GiB MB/s ≥ 0.9× and CPU ms/GiB ≤ 1.2×; p99 ≤ 1.5× at 9 B and 16 KiB.',
  ].join('\n');
  console.log(block);
  if (options.isWrite) {
    const heading = `### ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`;
    appendToResultsFile(RESULTS_PATH, `${heading}\n\n${block}\n`);
    log(`added to ${RESULTS_PATH}`);
  }
  return 0;
}

main().then(
  (exitCode) => process.exit(exitCode),
  (error: unknown) => {
    log(error instanceof Error ? error.message : String(error));
    process.exit(1);
  },
);
