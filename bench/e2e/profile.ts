/**
 * @module bench/e2e/profile
 *
 * `npm run bench:profile`: a CPU profile of Ferry's worker thread under the
 * bench:http load, summarised as self time per function and per category of
 * per-request work (issue 9, "where Ferry's time goes"). Thread: a plain Node
 * process outside Ferry; it starts Ferry as a child with
 * `node --cpu-prof --cpu-prof-dir=<tmp> src/cli/ferry.ts --config …`.
 *
 *   start one NGINX as the 3 targets (bench/e2e/configs.ts), pinned to core 0 with wrk
 *   start Ferry (`workers: 1`) with --cpu-prof, pinned to core 1 (the bench:http pinned layout);
 *     `--observe tracing` adds tracing at sampleRatio 1.0 to an OTLP sink on core 0, `--observe
 *     accesslog` an access log to a file (the bench:observability variants)
 *   warm up 2 s, then `wrk -t1 -c64 -d<duration>` on --path; Ferry's CPU µs/req from /proc
 *   stop Ferry (SIGTERM: each thread writes its .cpuprofile), read the worker's profile
 *   print: top functions by self time (`--main`: the main thread's too), and time per category (the innermost frame on a
 *   sample's stack that belongs to a category wins, so a write syscall under the relay
 *   counts as a write), both as % of the worker's busy time
 *
 * Why it exists: the profile is how the per-request costs in bench/RESULTS.md were found;
 * keeping the harness makes the next measurement one command. The profile covers the
 * worker's whole life (startup, ~1.5% of busy, and the warm-up are in it). V8's sampler
 * counts wall time: on a busy machine time the thread was descheduled lands on the frame it
 * was in, mostly syscalls (preemption happens on syscall return).
 * Every process it starts dies with it, also on an error or Ctrl-C.
 */

import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLOCK_TICKS_PER_S, readGroupCpuTicks, startChild, stopChild, tailLog } from './children.ts';
import {
  MEDIUM_BODY_BYTES,
  OTLP_SINK_SOURCE,
  renderFerryYaml,
  renderTargetsNginxConf,
  TINY_BODY_BYTES,
} from './configs.ts';
import {
  createBenchDirs,
  ensureTools,
  FERRY_ENTRY_PATH,
  FERRY_NODE_PATH,
  findFreePort,
  probeHttp,
  REPO_DIR,
  waitForPort,
} from './host.ts';
import { runWrk } from './load.ts';

const USAGE = `usage: npm run bench:profile -- [--path /|/16k] [--duration S] [--top N] [--ferry PATH]
                              [--observe off|tracing|accesslog] [--main]`;
const READY_TIMEOUT_MS = 10_000;
const WARMUP_DURATION_S = 2;

const log = (line: string): void => {
  process.stderr.write(`bench:profile: ${line}\n`);
};

// === Profile analysis ===

type ProfileNode = {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly children?: readonly number[];
};
type CpuProfile = {
  readonly nodes: ProfileNode[];
  readonly samples: number[];
  readonly timeDeltas: number[];
};

const isNodeInternal = (node: ProfileNode): boolean => node.callFrame.url.startsWith('node:');
const WRITE_FUNCTIONS =
  /^(writeBuffer|writeLatin1String|writeUtf8String|writev|writevGeneric|writeGeneric|Socket\._writeGeneric|Socket\._writev|Socket\._write|_write|Writable\.write|writeOrBuffer|Writable\.uncork|Writable\.cork|clearBuffer|doWrite|createWriteWrap|handleWriteReq|afterWriteDispatched|onwrite|afterWrite|afterWriteTick)$/;
const READ_FUNCTIONS =
  /^(onStreamRead|readableAddChunk|readableAddChunkPushByteMode|addChunk|Readable\.push|maybeReadMore|maybeReadMore_|Readable\.read|flow|resume_|emitReadable|emitReadable_)$/;

/** Categories in priority order; a sample goes to the innermost frame that matches any. */
const CATEGORIES: readonly (readonly [string, (node: ProfileNode) => boolean])[] = [
  ['idle', (node) => node.callFrame.functionName === '(idle)'],
  ['GC', (node) => node.callFrame.functionName === '(garbage collector)'],
  ['parse request head', (node) => /l7\/(parse-request-head|http1-tokens)/.test(node.callFrame.url)],
  ['response head parse', (node) => /l7\/parse-response-head/.test(node.callFrame.url)],
  ['upstream head build', (node) => node.callFrame.functionName === 'buildUpstreamHead'],
  ['response head build', (node) => node.callFrame.functionName === 'buildResponseHead'],
  [
    'route/match',
    (node) => /workers\/route\//.test(node.callFrame.url) && !node.callFrame.functionName.startsWith('pick'),
  ],
  [
    'pick',
    (node) =>
      /workers\/balance\//.test(node.callFrame.url) ||
      (/workers\/route\//.test(node.callFrame.url) && node.callFrame.functionName.startsWith('pick')),
  ],
  ['clock reads', (node) => /^(monoUs|clockMs|readClock)$/.test(node.callFrame.functionName)],
  [
    'record/metrics counters',
    (node) => /workers\/record\/|table-layout|shared\/ewma/.test(node.callFrame.url),
  ],
  [
    'pool acquire/release',
    (node) => /upstream\/socket-pool/.test(node.callFrame.url) && node.callFrame.functionName !== 'callback',
  ],
  [
    'socket writes',
    (node) =>
      WRITE_FUNCTIONS.test(node.callFrame.functionName) &&
      (isNodeInternal(node) || node.callFrame.url === ''),
  ],
  [
    'socket reads',
    (node) =>
      (READ_FUNCTIONS.test(node.callFrame.functionName) && isNodeInternal(node)) ||
      (node.callFrame.functionName === 'callback' && /upstream\/socket-pool/.test(node.callFrame.url)),
  ],
  [
    'l7 exchange flow (its code and the Node calls it makes)',
    (node) => /workers\/l7\/index/.test(node.callFrame.url),
  ],
];

function summarise(profile: CpuProfile, topCount: number): string {
  const nodeById = new Map<number, ProfileNode>();
  const parentById = new Map<number, number>();
  for (const node of profile.nodes) nodeById.set(node.id, node);
  for (const node of profile.nodes) for (const child of node.children ?? []) parentById.set(child, node.id);
  const selfUsById = new Map<number, number>();
  let totalUs = 0;
  for (let index = 0; index < profile.samples.length; index++) {
    const deltaUs = profile.timeDeltas[index + 1] ?? 0; // the gap to the next sample belongs to this one
    const id = profile.samples[index]!;
    selfUsById.set(id, (selfUsById.get(id) ?? 0) + deltaUs);
    totalUs += deltaUs;
  }
  const label = (node: ProfileNode): string => {
    const url = node.callFrame.url.replace(`file://${REPO_DIR}/`, '');
    const name = node.callFrame.functionName || '(anonymous)';
    return url === '' ? name : `${name} ${url}:${node.callFrame.lineNumber + 1}`;
  };
  const categoryOf = (id: number): string => {
    for (let current: number | undefined = id; current !== undefined; current = parentById.get(current)) {
      const node = nodeById.get(current)!;
      const match = CATEGORIES.find(([, test]) => test(node));
      if (match !== undefined) return match[0];
    }
    return nodeById.get(id)!.callFrame.functionName === '(program)' ? '(program)' : 'other';
  };
  const selfUsByFunction = new Map<string, number>();
  const usByCategory = new Map<string, number>();
  for (const [id, us] of selfUsById) {
    const key = label(nodeById.get(id)!);
    selfUsByFunction.set(key, (selfUsByFunction.get(key) ?? 0) + us);
    const category = categoryOf(id);
    usByCategory.set(category, (usByCategory.get(category) ?? 0) + us);
  }
  const idleUs = usByCategory.get('idle') ?? 0;
  const busyPercent = (us: number): string => ((100 * us) / (totalUs - idleUs)).toFixed(1);
  const lines = [
    `worker: ${(totalUs / 1e6).toFixed(2)} s profiled, ${((100 * idleUs) / totalUs).toFixed(1)}% idle`,
    '',
    '| function (self time) | % busy |',
    '| -------------------- | -----: |',
  ];
  const byTime = (left: [string, number], right: [string, number]): number => right[1] - left[1];
  for (const [key, us] of [...selfUsByFunction]
    .sort(byTime)
    .filter(([key]) => key !== '(idle)')
    .slice(0, topCount)) {
    lines.push(`| ${key} | ${busyPercent(us)} |`);
  }
  lines.push('', '| category | % busy |', '| -------- | -----: |');
  for (const [category, us] of [...usByCategory].sort(byTime)) {
    if (category !== 'idle') lines.push(`| ${category} | ${busyPercent(us)} |`);
  }
  return lines.join('\n');
}

// === Run ===

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  let path = '/';
  let durationS = 10;
  let topCount = 25;
  let ferryEntryPath = FERRY_ENTRY_PATH;
  let observe = 'off';
  let isMainShown = false;
  for (let index = 0; index < argv.length; index++) {
    const arg = argv[index]!;
    if (arg === '--help' || arg === '-h') {
      console.log(USAGE);
      return 0;
    }
    if (arg === '--path') path = argv[++index] ?? '/';
    else if (arg === '--duration') durationS = Number(argv[++index]);
    else if (arg === '--top') topCount = Number(argv[++index]);
    else if (arg === '--ferry') ferryEntryPath = argv[++index] ?? FERRY_ENTRY_PATH;
    else if (arg === '--observe') observe = argv[++index] ?? 'off';
    else if (arg === '--main') isMainShown = true;
    else throw new Error(`unknown option ${arg}\n${USAGE}`);
  }
  if (path !== '/' && path !== '/16k') throw new Error('--path: / (9 B) or /16k');
  if (!['off', 'tracing', 'accesslog'].includes(observe))
    throw new Error('--observe: off, tracing or accesslog');
  const tools = ensureTools(log);
  const dirs = createBenchDirs('profile', log);
  writeFileSync(join(dirs.wwwDir, '16k'), 'x'.repeat(MEDIUM_BODY_BYTES - 1).concat('\n'));
  const targetPorts = [await findFreePort(), await findFreePort(), await findFreePort()];
  const targetsConfPath = join(dirs.rootDir, 'targets.conf');
  writeFileSync(targetsConfPath, renderTargetsNginxConf(dirs, targetPorts));
  const targets = startChild(
    'targets',
    [tools.nginx, '-e', join(dirs.rootDir, 'targets-error.log'), '-c', targetsConfPath],
    { cpuList: '0', logPath: join(dirs.rootDir, 'targets.log') },
  );
  for (const port of targetPorts) {
    const failure = await waitForPort(port, READY_TIMEOUT_MS, () => targets.exitStatus);
    if (failure !== null) throw new Error(`targets: ${failure}`);
  }
  const port = await findFreePort();
  const ferryConfPath = join(dirs.rootDir, 'ferry.yaml');
  let observeYaml = '';
  let sink: ReturnType<typeof startChild> | null = null;
  if (observe === 'tracing') {
    const sinkPort = await findFreePort();
    sink = startChild('otlp-sink', [FERRY_NODE_PATH, '-e', OTLP_SINK_SOURCE, String(sinkPort)], {
      cpuList: '0',
      logPath: join(dirs.rootDir, 'sink.log'),
    });
    const sinkFailure = await waitForPort(sinkPort, READY_TIMEOUT_MS, () => sink?.exitStatus ?? null);
    if (sinkFailure !== null) throw new Error(`OTLP sink: ${sinkFailure}`);
    observeYaml = `tracing: { enabled: true, sampleRatio: 1.0, endpoint: "http://127.0.0.1:${sinkPort}" }\n`;
  } else if (observe === 'accesslog') {
    observeYaml = `accessLog: { enabled: true, destination: "${join(dirs.rootDir, 'access.log')}" }\n`;
  }
  writeFileSync(ferryConfPath, renderFerryYaml(1, port, await findFreePort(), targetPorts) + observeYaml);
  const profileDir = join(dirs.rootDir, 'profiles');
  const ferry = startChild(
    'ferry',
    [
      FERRY_NODE_PATH,
      '--cpu-prof',
      `--cpu-prof-dir=${profileDir}`,
      ferryEntryPath,
      '--config',
      ferryConfPath,
    ],
    { cpuList: '1', logPath: join(dirs.rootDir, 'ferry.log'), cwd: REPO_DIR },
  );
  const failure =
    (await waitForPort(port, READY_TIMEOUT_MS, () => ferry.exitStatus)) ??
    (await probeHttp(port, '/', TINY_BODY_BYTES, 6));
  if (failure !== null) throw new Error(`Ferry: ${failure} ${tailLog(ferry, 3)}`);
  const url = `http://127.0.0.1:${port}${path}`;
  const wrkOptions = { wrkPath: tools.wrk, url, threadCount: 1, connectionCount: 64, cpuList: '0' };
  log(`warm-up ${WARMUP_DURATION_S} s, then wrk -t1 -c64 -d${durationS}s ${url}`);
  await runWrk({ ...wrkOptions, durationS: WARMUP_DURATION_S });
  const ticksBefore = readGroupCpuTicks(ferry);
  const wrk = await runWrk({ ...wrkOptions, durationS });
  const cpuUsPerRequest =
    ((readGroupCpuTicks(ferry) - ticksBefore) / CLOCK_TICKS_PER_S / wrk.requestCount) * 1e6;
  await stopChild(ferry);
  await stopChild(targets);
  if (sink !== null) await stopChild(sink);
  // Thread ids in the file names: 0 is the main thread, the worker's is the higher one.
  const workerProfile = readdirSync(profileDir)
    .filter((name) => name.endsWith('.cpuprofile'))
    .sort()
    .find((name) => !/\.0\.\d+\.cpuprofile$/.test(name));
  if (workerProfile === undefined) throw new Error(`no worker profile in ${profileDir}`);
  const profile = JSON.parse(readFileSync(join(profileDir, workerProfile), 'utf8')) as CpuProfile;
  console.log(
    `GET ${path} (observe ${observe}): ${wrk.requestCount} requests, ${Math.round(wrk.requestsPerS)} req/s, p99 ${wrk.latencyP99Ms} ms, ` +
      `Ferry ${cpuUsPerRequest.toFixed(1)} CPU µs/req, ${wrk.errorCount} errors\n`,
  );
  console.log(summarise(profile, topCount));
  if (isMainShown) {
    const mainProfile = readdirSync(profileDir).find((name) => /\.0\.\d+\.cpuprofile$/.test(name));
    if (mainProfile !== undefined) {
      console.log('\nmain thread (span export, metrics, health checks):\n');
      console.log(
        summarise(JSON.parse(readFileSync(join(profileDir, mainProfile), 'utf8')) as CpuProfile, topCount),
      );
    }
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
