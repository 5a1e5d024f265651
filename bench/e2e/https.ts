/**
 * @module bench/e2e/https
 *
 * `npm run bench:https`: HTTPS requests per second with keep-alive, Ferry
 * terminating TLS beside NGINX terminating TLS, with the same certificate,
 * the same protocols and ciphers, on the same machine, as a ratio (issue 5,
 * "Benchmark"). Thread: a plain Node process outside Ferry; Ferry runs as a
 * child (`node src/cli/ferry.ts --config <tmp>/ferry.yaml`).
 *
 *   make one ECDSA P-256 certificate (openssl), start the bench:http targets (one NGINX, 3 ports)
 *   for each layout (pinned: proxy on core 1, wrk + targets on core 0; then 2 cores unpinned):
 *     for each system (NGINX, Ferry; 1 worker pinned, 2 unpinned):
 *       start it, wait until it answers `/` over HTTPS on one keep-alive connection
 *       record the TLS version and cipher it agrees with a default client
 *       warm up, then wrk over HTTPS on `/` (9 B) and `/16k` (req/s, p50, p99, proxy CPU µs/req)
 *   print header + tables; with --write also add them to bench/RESULTS.md (## bench:https)
 *
 * Both proxies: TLS 1.2 and 1.3, TLS 1.3 suites in the order of Ferry's
 * `tls12` policy (NGINX via `ssl_conf_command Ciphersuites`), the policy's
 * ECDHE-AEAD set for TLS 1.2, X25519 first, server preference, session
 * resumption on, HTTP/2 offered by ALPN (wrk speaks HTTP/1.1 and sends no
 * ALPN, so every measured request is HTTP/1.1 over TLS), plain HTTP with
 * keep-alive to the targets. wrk opens its 64 connections once, so this
 * measures record encryption and proxying, not handshakes.
 *
 * Everything it reuses comes from the bench:http harness (children, host,
 * configs, load, report); only what is HTTPS-specific lives here.
 */

import { spawnSync } from 'node:child_process';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, release } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { TLS_KEY_EXCHANGE_GROUPS, TLS_POLICIES } from '../../proto/tls-policies.ts';
import {
  type BenchChild,
  CLOCK_TICKS_PER_S,
  pinGroup,
  readGroupCpuTicks,
  startChild,
  stopChild,
  tailLog,
} from './children.ts';
import { type BenchDirs, MEDIUM_BODY_BYTES, renderTargetsNginxConf, TINY_BODY_BYTES } from './configs.ts';
import {
  benchCommandLine,
  createBenchDirs,
  ensureTools,
  FERRY_ENTRY_PATH,
  FERRY_NODE_PATH,
  findFreePort,
  gitRevision,
  type ProbeTls,
  probeHttp,
  REPO_DIR,
  RESULTS_PATH,
  readCpuModel,
  readToolVersions,
  waitForPort,
} from './host.ts';
import { runWrk, type WrkResult } from './load.ts';
import { appendToResultsFile, formatTable } from './report.ts';

// === Settings ===

const RESULTS_HEADING = '## bench:https';

/** The name in the certificate, the SNI the probe sends. */
const SERVER_NAME = 'bench.ferry.test';
const READY_TIMEOUT_MS = 10_000;
const PROBE_REQUEST_COUNT = 6;
const CONNECTION_COUNT = 64;
const WRK_THREAD_COUNT = 1;
const DEFAULT_CELL_DURATION_S = 10;
const DEFAULT_WARMUP_DURATION_S = 2;
const QUICK_CELL_DURATION_S = 3;
const QUICK_WARMUP_DURATION_S = 1;
const PROXY_CPU = '1';
const LOAD_CPU = '0';

type Kind = 'nginx' | 'ferry';
type Spec = {
  readonly id: string;
  readonly kind: Kind;
  readonly workerCount: number;
  readonly isPinned: boolean;
  readonly label: string;
};

const SYSTEMS: readonly Spec[] = [
  { id: 'nginx1', kind: 'nginx', workerCount: 1, isPinned: true, label: 'NGINX, 1 worker' },
  { id: 'ferry1', kind: 'ferry', workerCount: 1, isPinned: true, label: 'Ferry, 1 worker' },
  { id: 'nginx2', kind: 'nginx', workerCount: 2, isPinned: false, label: 'NGINX, 2 workers' },
  { id: 'ferry2', kind: 'ferry', workerCount: 2, isPinned: false, label: 'Ferry, 2 workers' },
];

const USAGE = `usage: npm run bench:https -- [options]   (or: node bench/e2e/https.ts [options])

  --only LIST    systems, comma-separated: ${SYSTEMS.map((spec) => spec.id).join(', ')} (or nginx, ferry)
  --duration D   length of each measured wrk cell (default ${DEFAULT_CELL_DURATION_S}s)
  --quick        ${QUICK_CELL_DURATION_S} s cells and a ${QUICK_WARMUP_DURATION_S} s warm-up
  --write        also add the tables to bench/RESULTS.md under "${RESULTS_HEADING}"
  --help         this text`;

type Options = {
  readonly specs: readonly Spec[];
  readonly cellDurationS: number;
  readonly warmupDurationS: number;
  readonly isWrite: boolean;
};

function parseOptions(argv: readonly string[]): Options | null {
  let specs = SYSTEMS;
  let durationS: number | null = null;
  let isQuick = false;
  let isWrite = false;
  for (let index = 0; index < argv.length; index++) {
    const [name, inline] = argv[index]!.includes('=')
      ? argv[index]!.split('=', 2)
      : [argv[index]!, undefined];
    const value = (): string => {
      const text = inline ?? argv[++index];
      if (text === undefined) throw new Error(`${name} needs a value`);
      return text;
    };
    if (name === '--help' || name === '-h') return null;
    if (name === '--quick') isQuick = true;
    else if (name === '--write') isWrite = true;
    else if (name === '--duration') {
      const match = /^(\d+)(s|m)?$/.exec(value());
      if (match === null) throw new Error('--duration: expected whole seconds such as 10s or 1m');
      durationS = Number(match[1]) * (match[2] === 'm' ? 60 : 1);
    } else if (name === '--only') {
      const tokens = value()
        .split(',')
        .map((token) => token.trim().toLowerCase());
      for (const token of tokens) {
        if (!SYSTEMS.some((spec) => spec.id === token || spec.kind === token))
          throw new Error(`--only: unknown system "${token}"`);
      }
      specs = SYSTEMS.filter((spec) => tokens.includes(spec.id) || tokens.includes(spec.kind));
    } else throw new Error(`unknown option ${argv[index]}\n\n${USAGE}`);
  }
  return {
    specs,
    cellDurationS: durationS ?? (isQuick ? QUICK_CELL_DURATION_S : DEFAULT_CELL_DURATION_S),
    warmupDurationS: isQuick ? QUICK_WARMUP_DURATION_S : DEFAULT_WARMUP_DURATION_S,
    isWrite,
  };
}

const log = (line: string): void => {
  process.stderr.write(`bench:https: ${line}\n`);
};

const sleep = (durationMs: number): Promise<void> => new Promise((done) => setTimeout(done, durationMs));

// === The certificate and the configs ===

type CertFiles = { readonly certPath: string; readonly keyPath: string; readonly certPem: string };

/** One self-signed ECDSA P-256 certificate for SERVER_NAME, served by both proxies. */
function makeCertificate(dir: string): CertFiles {
  const certPath = join(dir, 'bench.crt');
  const keyPath = join(dir, 'bench.key');
  const result = spawnSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      keyPath,
      '-out',
      certPath,
      '-days',
      '2',
      '-subj',
      `/CN=${SERVER_NAME}`,
      '-addext',
      `subjectAltName=DNS:${SERVER_NAME}`,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' },
  );
  if (result.status !== 0) throw new Error(`openssl could not make the certificate: ${result.stderr}`);
  chmodSync(keyPath, 0o644); // NGINX workers run unprivileged when the bench runs as root
  return { certPath, keyPath, certPem: readFileSync(certPath, 'utf8') };
}

const POLICY = TLS_POLICIES.tls12;

function renderNginxTlsConf(
  dirs: BenchDirs,
  name: string,
  workerCount: number,
  listenPort: number,
  targetPorts: readonly number[],
  cert: CertFiles,
): string {
  const servers = targetPorts.map((port) => `    server 127.0.0.1:${port};`).join('\n');
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
    .map((kind) => `  ${kind}_temp_path ${dirs.rootDir}/${name}-${kind}-temp;`)
    .join('\n');
  // OpenSSL names the curves X25519:prime256v1:secp384r1 where node:tls accepts P-256/P-384.
  const curves = TLS_KEY_EXCHANGE_GROUPS.replace('P-256', 'prime256v1').replace('P-384', 'secp384r1');
  return `# NGINX terminating TLS for bench:https (generated; see bench/e2e/https.ts)
worker_processes ${workerCount};
daemon off;
pid ${dirs.rootDir}/${name}.pid;
error_log ${dirs.rootDir}/${name}-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  keepalive_timeout 120s;
${temp}
  upstream app {
${servers}
    keepalive 64;
    keepalive_requests 1000000;
    keepalive_timeout 120s;
  }
  server {
    listen 127.0.0.1:${listenPort} ssl http2;
    ssl_certificate ${cert.certPath};
    ssl_certificate_key ${cert.keyPath};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_ciphers ${POLICY.tls12Suites.join(':')};
    ssl_conf_command Ciphersuites ${POLICY.tls13Suites.join(':')};
    ssl_prefer_server_ciphers on;
    ssl_ecdh_curve ${curves};
    ssl_session_cache shared:SSL:10m;
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto https;
      proxy_buffer_size 64k;
      proxy_buffers 8 64k;
      proxy_busy_buffers_size 128k;
      proxy_max_temp_file_size 0;
    }
  }
}
`;
}

function renderFerryTlsYaml(
  workerCount: number,
  listenPort: number,
  adminPort: number,
  targetPorts: readonly number[],
  cert: CertFiles,
): string {
  const targets = targetPorts.map((port) => `{ address: 127.0.0.1:${port} }`).join(', ');
  return `# Ferry terminating TLS for bench:https (generated; see bench/e2e/https.ts)
workers: ${workerCount}
admin: { address: 127.0.0.1:${adminPort} }
listeners:
  - name: web
    protocol: HTTPS
    address: 127.0.0.1:${listenPort}
    sslPolicy: tls12
    certificates: [ { cert: ${cert.certPath}, key: ${cert.keyPath} } ]
    defaultAction: { forward: { targetGroup: app } }
targetGroups:
  - name: app
    algorithm: round_robin
    targets: [ ${targets} ]
`;
}

// === Running one system ===

type Run = {
  readonly options: Options;
  readonly tools: ReturnType<typeof ensureTools>;
  readonly dirs: BenchDirs;
  readonly targetPorts: readonly number[];
  readonly cert: CertFiles;
  readonly isPinningPossible: boolean;
};

type Cell = { readonly wrk: WrkResult; readonly cpuUsPerRequest: number } | { readonly error: string };

type Result = {
  readonly spec: Spec;
  readonly unavailableReason: string | null;
  /** `TLSv1.3 TLS_AES_128_GCM_SHA256`, as a default client negotiates it. */
  readonly negotiated: string;
  readonly tiny: Cell | null;
  readonly medium: Cell | null;
};

async function startProxy(run: Run, spec: Spec, port: number): Promise<BenchChild> {
  const cpuList = spec.isPinned && run.isPinningPossible ? PROXY_CPU : null;
  const logPath = join(run.dirs.rootDir, `${spec.id}.log`);
  if (spec.kind === 'nginx') {
    const confPath = join(run.dirs.rootDir, `${spec.id}.conf`);
    writeFileSync(
      confPath,
      renderNginxTlsConf(run.dirs, spec.id, spec.workerCount, port, run.targetPorts, run.cert),
    );
    const errorLog = join(run.dirs.rootDir, `${spec.id}-error.log`);
    return startChild(spec.id, [run.tools.nginx, '-e', errorLog, '-c', confPath], { cpuList, logPath });
  }
  const confPath = join(run.dirs.rootDir, `${spec.id}.yaml`);
  writeFileSync(
    confPath,
    renderFerryTlsYaml(spec.workerCount, port, await findFreePort(), run.targetPorts, run.cert),
  );
  return startChild(spec.id, [FERRY_NODE_PATH, FERRY_ENTRY_PATH, '--config', confPath], {
    cpuList,
    logPath,
    cwd: REPO_DIR,
  });
}

/** What a client with default settings agrees with the proxy (version and cipher). */
function negotiate(port: number, cert: CertFiles): Promise<string> {
  return new Promise((done) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername: SERVER_NAME, ca: cert.certPem }, () => {
      done(`${socket.getProtocol()} ${socket.getCipher().standardName}`);
      socket.destroy();
    });
    socket.on('error', (error) => done(`(handshake failed: ${error.message})`));
  });
}

async function measure(run: Run, spec: Spec, proxy: BenchChild, url: string): Promise<Cell> {
  try {
    const ticksBefore = readGroupCpuTicks(proxy);
    const wrk = await runWrk({
      wrkPath: run.tools.wrk,
      url,
      durationS: run.options.cellDurationS,
      threadCount: WRK_THREAD_COUNT,
      connectionCount: CONNECTION_COUNT,
      cpuList: spec.isPinned && run.isPinningPossible ? LOAD_CPU : null,
    });
    const ticks = readGroupCpuTicks(proxy) - ticksBefore;
    if (proxy.exitStatus !== null) return { error: `proxy exited (${proxy.exitStatus})` };
    const cpuUsPerRequest =
      wrk.requestCount === 0 ? Number.NaN : ((ticks / CLOCK_TICKS_PER_S) * 1e6) / wrk.requestCount;
    return { wrk, cpuUsPerRequest };
  } catch (error) {
    return { error: error instanceof Error ? error.message : String(error) };
  }
}

async function measureSystem(run: Run, spec: Spec): Promise<Result> {
  const port = await findFreePort();
  const proxy = await startProxy(run, spec, port);
  const probeTls: ProbeTls = { ca: run.cert.certPem, servername: SERVER_NAME };
  try {
    const isGone = (): string | null => (proxy.exitStatus === null ? null : `exited (${proxy.exitStatus})`);
    const deadlineMs = Date.now() + READY_TIMEOUT_MS;
    let failure = await waitForPort(port, READY_TIMEOUT_MS, isGone);
    if (failure === null) {
      failure = await probeHttp(port, '/', TINY_BODY_BYTES, PROBE_REQUEST_COUNT, probeTls);
      while (failure !== null && Date.now() < deadlineMs && isGone() === null) {
        await sleep(200);
        failure = await probeHttp(port, '/', TINY_BODY_BYTES, PROBE_REQUEST_COUNT, probeTls);
      }
    }
    if (failure !== null) {
      const tail = tailLog(proxy, 2);
      return {
        spec,
        unavailableReason: tail === '' ? failure : `${failure}: ${tail.slice(0, 200)}`,
        negotiated: '',
        tiny: null,
        medium: null,
      };
    }
    const negotiated = await negotiate(port, run.cert);
    const baseUrl = `https://127.0.0.1:${port}`;
    log(`${spec.id}: ${negotiated}; warm-up ${run.options.warmupDurationS} s`);
    await runWrk({
      wrkPath: run.tools.wrk,
      url: `${baseUrl}/`,
      durationS: run.options.warmupDurationS,
      threadCount: WRK_THREAD_COUNT,
      connectionCount: CONNECTION_COUNT,
      cpuList: spec.isPinned && run.isPinningPossible ? LOAD_CPU : null,
    }).catch(() => null);
    log(`${spec.id}: 9 B body, ${run.options.cellDurationS} s`);
    const tiny = await measure(run, spec, proxy, `${baseUrl}/`);
    log(`${spec.id}: 16 KiB body, ${run.options.cellDurationS} s`);
    const medium = await measure(run, spec, proxy, `${baseUrl}/16k`);
    return { spec, unavailableReason: null, negotiated, tiny, medium };
  } finally {
    await stopChild(proxy);
  }
}

// === Report ===

const DASH = '—';

function cellColumns(cell: Cell | null): string[] {
  if (cell === null) return [DASH, DASH, DASH, DASH];
  if ('error' in cell) return [`(failed: ${cell.error})`, DASH, DASH, DASH];
  const ms = (value: number): string => (value < 1 ? value.toFixed(3) : value.toFixed(2));
  return [
    Math.round(cell.wrk.requestsPerS).toLocaleString('en-US'),
    ms(cell.wrk.latencyP50Ms),
    ms(cell.wrk.latencyP99Ms),
    Number.isFinite(cell.cpuUsPerRequest) ? cell.cpuUsPerRequest.toFixed(1) : DASH,
  ];
}

function formatResults(results: readonly Result[]): string {
  const headers = [
    'system',
    'layout',
    'TLS agreed',
    '9 B req/s',
    'p50 ms',
    'p99 ms',
    'CPU µs/req',
    '16 KiB req/s',
    'p50 ms',
    'p99 ms',
    'CPU µs/req',
    'errors',
  ];
  const rows = results.map((result) => {
    const layout = result.spec.isPinned ? 'pinned' : '2 cores';
    if (result.unavailableReason !== null) {
      return [
        result.spec.label,
        layout,
        `(not available: ${result.unavailableReason})`,
        ...Array(9).fill(DASH),
      ];
    }
    let errors = 0;
    for (const cell of [result.tiny, result.medium])
      if (cell !== null && 'wrk' in cell) errors += cell.wrk.errorCount;
    return [
      result.spec.label,
      layout,
      result.negotiated,
      ...cellColumns(result.tiny),
      ...cellColumns(result.medium),
      String(errors),
    ];
  });
  return formatTable(headers, rows, 3);
}

function ratioOf(
  ferry: Cell | null | undefined,
  nginx: Cell | null | undefined,
  pick: (cell: { wrk: WrkResult; cpuUsPerRequest: number }) => number,
): string {
  if (ferry === null || ferry === undefined || nginx === null || nginx === undefined) return DASH;
  if ('error' in ferry || 'error' in nginx) return DASH;
  const value = pick(ferry) / pick(nginx);
  return Number.isFinite(value) ? `${value.toFixed(2)}×` : DASH;
}

function formatRatios(results: readonly Result[]): string {
  const byId = new Map(results.filter((r) => r.unavailableReason === null).map((r) => [r.spec.id, r]));
  const rows: string[][] = [];
  for (const [ferryId, nginxId, layout] of [
    ['ferry1', 'nginx1', 'pinned'],
    ['ferry2', 'nginx2', '2 cores'],
  ] as const) {
    if (!results.some((r) => r.spec.id === ferryId) || !results.some((r) => r.spec.id === nginxId)) continue;
    const ferry = byId.get(ferryId);
    const nginx = byId.get(nginxId);
    rows.push([
      'Ferry / NGINX',
      layout,
      ratioOf(ferry?.tiny, nginx?.tiny, (cell) => cell.wrk.requestsPerS),
      ratioOf(ferry?.medium, nginx?.medium, (cell) => cell.wrk.requestsPerS),
      ratioOf(ferry?.tiny, nginx?.tiny, (cell) => cell.wrk.latencyP99Ms),
      ratioOf(ferry?.medium, nginx?.medium, (cell) => cell.wrk.latencyP99Ms),
      ratioOf(ferry?.tiny, nginx?.tiny, (cell) => cell.cpuUsPerRequest),
      ratioOf(ferry?.medium, nginx?.medium, (cell) => cell.cpuUsPerRequest),
    ]);
  }
  const headers = [
    'ratio',
    'layout',
    '9 B req/s',
    '16 KiB req/s',
    '9 B p99',
    '16 KiB p99',
    '9 B CPU/req',
    '16 KiB CPU/req',
  ];
  return formatTable(headers, rows, 2);
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
  const dirs = createBenchDirs('https', log);
  const { rootDir, wwwDir } = dirs;
  writeFileSync(join(wwwDir, '16k'), 'x'.repeat(MEDIUM_BODY_BYTES - 1).concat('\n'));
  const cert = makeCertificate(rootDir);
  const cpuCount = availableParallelism();
  const isPinningPossible = cpuCount >= 2;
  const targetPorts = [await findFreePort(), await findFreePort(), await findFreePort()];
  const targetsConf = join(rootDir, 'targets.conf');
  writeFileSync(targetsConf, renderTargetsNginxConf(dirs, targetPorts));
  const targets = startChild(
    'targets',
    [tools.nginx, '-e', join(rootDir, 'targets-error.log'), '-c', targetsConf],
    {
      cpuList: isPinningPossible ? LOAD_CPU : null,
      logPath: join(rootDir, 'targets.log'),
    },
  );
  for (const port of targetPorts) {
    const failure =
      (await waitForPort(port, READY_TIMEOUT_MS, () => targets.exitStatus)) ??
      (await probeHttp(port, '/', TINY_BODY_BYTES, PROBE_REQUEST_COUNT));
    if (failure !== null) throw new Error(`target NGINX on port ${port}: ${failure} ${tailLog(targets, 3)}`);
  }
  const run: Run = { options, tools, dirs, targetPorts, cert, isPinningPossible };
  const results: Result[] = [];
  for (const isPinnedLayout of [true, false]) {
    const specs = options.specs.filter((spec) => spec.isPinned === isPinnedLayout);
    if (specs.length === 0) continue;
    if (isPinningPossible) pinGroup(targets, isPinnedLayout ? LOAD_CPU : `0-${cpuCount - 1}`);
    for (const spec of specs) {
      log(`${spec.id}: starting ${spec.label}`);
      const result = await measureSystem(run, spec);
      if (result.unavailableReason !== null) log(`${spec.id}: not available: ${result.unavailableReason}`);
      results.push(result);
    }
  }
  await stopChild(targets);

  const versions = readToolVersions(tools);
  const nodeVersion = spawnSync(FERRY_NODE_PATH, ['-v'], { encoding: 'utf8' }).stdout.trim();
  const header = [
    `- command: \`${benchCommandLine('bench:https', 'https.ts')}\``,
    `- started ${new Date(startedAtMs).toISOString()}, took ${Math.round((Date.now() - startedAtMs) / 1000)} s; ` +
      `git ${gitRevision()}; load average ${loadAverageAtStart.toFixed(2)} at start`,
    `- Node ${nodeVersion || process.version}; CPU ${readCpuModel()} (${cpuCount} cores); kernel ${release()}`,
    `- nginx ${versions.nginx}; wrk ${versions.wrk}; ${process.versions.openssl ? `Node's OpenSSL ${process.versions.openssl}` : ''}`,
    `- load: \`wrk -t${WRK_THREAD_COUNT} -c${CONNECTION_COUNT} -d${options.cellDurationS}s --latency https://…\` per cell ` +
      `after a ${options.warmupDurationS} s warm-up; HTTP/1.1 over TLS on keep-alive connections (handshakes ` +
      'happen once per connection, in the warm-up); the same ECDSA P-256 certificate, TLS 1.2+1.3, ' +
      "the `tls12` policy's ciphers on both; plain HTTP keep-alive to the 3 bench:http targets (one NGINX).",
    '- layout: "pinned": the proxy on core 1, wrk and the targets on core 0; "2 cores": nothing pinned.',
    "- CPU µs/req: the proxy's user+system time from /proc over the measured interval, per request served.",
  ].join('\n');
  const block = [
    header,
    '',
    formatResults(results),
    '',
    'Ferry relative to NGINX in the same layout (req/s: higher is better; p99, CPU/req: lower is better):',
    '',
    formatRatios(results),
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
  (exitCode) => process.exit(exitCode),
  (error: unknown) => {
    log(error instanceof Error ? error.message : String(error));
    process.exit(1);
  },
);
