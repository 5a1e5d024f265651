/**
 * @module bench/e2e/l4
 *
 * `npm run bench:l4`: Ferry's layer-4 data plane (issue 13) beside HAProxy
 * `mode tcp` and NGINX's stream module, in one run on one machine. Thread: a
 * plain Node process outside Ferry; every system runs as a child.
 *
 *   install haproxy, nginx, libnginx-mod-stream if missing (scripts/ensure-debian-tool.sh)
 *   start the targets (bench/e2e/l4-peers.ts targets), pinned with the load to core 0
 *   for each system (direct, HAProxy nbthread 1, NGINX stream 1 worker, Ferry 1 worker), on core 1:
 *     short TCP connections/s, keep-alive 64 B echo req/s, MB/s streamed, UDP 64 B echo packets/s
 *     (HAProxy has no UDP), each with the proxy's CPU time per unit from /proc
 *   print the header, the table and the ratios (goals: Ferry ≥ 0.9× HAProxy MB/s, ≥ 0.8×
 *   HAProxy connections/s, ≥ 0.7× NGINX UDP packets/s)
 *
 * The load generator is Node (bench/e2e/l4-peers.ts), the same for every
 * system: when it, not the proxy, is the limit, the rates converge and the
 * proxy's CPU per connection, request, MB or packet is the figure to read.
 * Another process on the machine adds noise to the rates, less to CPU/unit.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, release } from 'node:os';
import { join } from 'node:path';
import {
  type BenchChild,
  CLOCK_TICKS_PER_S,
  readGroupCpuTicks,
  startChild,
  stopChild,
  tailLog,
} from './children.ts';
import {
  benchCommandLine,
  createBenchDirs,
  FERRY_ENTRY_PATH,
  FERRY_NODE_PATH,
  findFreePort,
  gitRevision,
  REPO_DIR,
  readCpuModel,
  waitForPort,
} from './host.ts';

const PEERS_PATH = join(REPO_DIR, 'bench/e2e/l4-peers.ts');
const ENSURE_PATH = join(REPO_DIR, 'scripts/ensure-debian-tool.sh');
const STREAM_MODULE_PATH = '/usr/lib/nginx/modules/ngx_stream_module.so';
const PROXY_CPU = '1';
const LOAD_CPU = '0';
const READY_TIMEOUT_MS = 10_000;
const SHORT_CONCURRENCY = 16;
const KEEPALIVE_CONNECTIONS = 16;
const STREAM_CONNECTIONS = 2;
const UDP_SOCKETS = 8;

type SystemKind = 'direct' | 'haproxy' | 'nginx' | 'ferry';
type CellKind = 'short' | 'keepalive' | 'stream' | 'udp';
const CELLS: readonly CellKind[] = ['short', 'keepalive', 'stream', 'udp'];

interface Ports {
  readonly echo: number;
  readonly source: number;
  readonly udp: number;
}

interface Cell {
  readonly rate: number;
  /** Proxy CPU per unit: µs per connection, request or packet; µs per MB for streams. NaN for direct. */
  readonly cpuUsPerUnit: number;
}

type Row = {
  readonly system: SystemKind;
  readonly label: string;
  readonly cells: Partial<Record<CellKind, Cell>>;
};

function log(line: string): void {
  process.stderr.write(`bench:l4: ${line}\n`);
}

function parseOptions(): { durationS: number; only: readonly SystemKind[] } {
  const argv = process.argv.slice(2);
  let durationS = 5;
  let only: SystemKind[] = ['direct', 'haproxy', 'nginx', 'ferry'];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--quick') durationS = 2;
    else if (arg === '--duration') durationS = Number.parseInt(argv[++i] ?? '', 10);
    else if (arg === '--only') only = (argv[++i] ?? '').split(',') as SystemKind[];
    else if (arg === '--help') {
      process.stdout.write(
        'usage: npm run bench:l4 -- [--quick] [--duration S] [--only direct,haproxy,nginx,ferry]\n',
      );
      process.exit(0);
    } else throw new Error(`unknown option ${arg} (try --help)`);
  }
  if (!Number.isInteger(durationS) || durationS < 1)
    throw new Error('--duration: a whole number of seconds ≥ 1');
  return { durationS, only };
}

function ensure(binary: string, debianPackage: string): string | null {
  const run = spawnSync(ENSURE_PATH, [binary, debianPackage], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return run.status === 0 ? run.stdout.trim().split('\n').at(-1)! : null;
}

function haproxyConf(listen: Ports, targets: Ports): string {
  return `global
  nbthread 1
  maxconn 4000
defaults
  mode tcp
  timeout client 30s
  timeout server 30s
  timeout connect 5s
listen echo
  bind 127.0.0.1:${listen.echo}
  server t 127.0.0.1:${targets.echo}
listen source
  bind 127.0.0.1:${listen.source}
  server t 127.0.0.1:${targets.source}
`;
}

function nginxConf(rootDir: string, listen: Ports, targets: Ports): string {
  return `load_module ${STREAM_MODULE_PATH};
worker_processes 1;
daemon off;
pid ${rootDir}/nginx.pid;
error_log ${rootDir}/nginx-error.log warn;
events { worker_connections 20000; }
stream {
  server { listen 127.0.0.1:${listen.echo}; proxy_pass 127.0.0.1:${targets.echo}; }
  server { listen 127.0.0.1:${listen.source}; proxy_pass 127.0.0.1:${targets.source}; }
  server { listen 127.0.0.1:${listen.udp} udp; proxy_pass 127.0.0.1:${targets.udp}; proxy_responses 1; proxy_timeout 10s; }
}
`;
}

function ferryYaml(listen: Ports, targets: Ports): string {
  const group = (name: string, port: number) =>
    `  - { name: ${name}, healthCheck: { enabled: false }, targets: [ { address: "127.0.0.1:${port}" } ] }`;
  return `workers: 1
admin: { address: "127.0.0.1:0" }
listeners:
  - { name: echo, protocol: TCP, address: "127.0.0.1:${listen.echo}", defaultAction: { forward: { targetGroup: echo } } }
  - { name: source, protocol: TCP, address: "127.0.0.1:${listen.source}", defaultAction: { forward: { targetGroup: source } } }
  - { name: udp, protocol: UDP, address: "127.0.0.1:${listen.udp}", idleTimeout: 10s, defaultAction: { forward: { targetGroup: udp } } }
targetGroups:
${group('echo', targets.echo)}
${group('source', targets.source)}
${group('udp', targets.udp)}
`;
}

async function freePorts(): Promise<Ports> {
  return { echo: await findFreePort(), source: await findFreePort(), udp: await findFreePort() };
}

/** Run one load cell (pinned with the targets) and return its counts. */
function runLoad(
  kind: CellKind,
  port: number,
  durationS: number,
): { operations: number; bytes: number; seconds: number } {
  const concurrency =
    kind === 'short'
      ? SHORT_CONCURRENCY
      : kind === 'keepalive'
        ? KEEPALIVE_CONNECTIONS
        : kind === 'stream'
          ? STREAM_CONNECTIONS
          : UDP_SOCKETS;
  const run = spawnSync(
    'taskset',
    [
      '-c',
      LOAD_CPU,
      FERRY_NODE_PATH,
      PEERS_PATH,
      'load',
      kind,
      '127.0.0.1',
      String(port),
      String(durationS),
      String(concurrency),
    ],
    { encoding: 'utf8', timeout: (durationS + 20) * 1000 },
  );
  const line = run.stdout.trim().split('\n').at(-1) ?? '';
  if (run.status !== 0 || line === '') throw new Error(`load ${kind} failed: ${run.stderr}`);
  return JSON.parse(line) as { operations: number; bytes: number; seconds: number };
}

async function measure(
  system: SystemKind,
  proxy: BenchChild | null,
  listen: Ports,
  durationS: number,
): Promise<Row['cells']> {
  const cells: Row['cells'] = {};
  // Warm-up: JIT, connection setup paths.
  runLoad('keepalive', listen.echo, 1);
  for (const kind of CELLS) {
    if (kind === 'udp' && system === 'haproxy') continue;
    const port = kind === 'stream' ? listen.source : kind === 'udp' ? listen.udp : listen.echo;
    const cpuBefore = proxy === null ? 0 : readGroupCpuTicks(proxy);
    const result = runLoad(kind, port, durationS);
    const cpuUs =
      proxy === null ? Number.NaN : ((readGroupCpuTicks(proxy) - cpuBefore) / CLOCK_TICKS_PER_S) * 1e6;
    const units = kind === 'stream' ? result.bytes / 1e6 : result.operations;
    cells[kind] = {
      rate: units / result.seconds,
      cpuUsPerUnit: units > 0 ? cpuUs / units : Number.NaN,
    };
    log(
      `${system} ${kind}: ${cells[kind]!.rate.toFixed(0)}/s, ${cells[kind]!.cpuUsPerUnit.toFixed(1)} µs CPU per unit`,
    );
  }
  return cells;
}

function format(value: number | undefined, digits = 0): string {
  return value === undefined || Number.isNaN(value) ? '—' : value.toFixed(digits);
}

async function main(): Promise<void> {
  const options = parseOptions();
  const startedMs = Date.now();
  const loadAtStart = loadavg()[0] ?? 0;
  const dirs = createBenchDirs('l4', log);
  const haproxy = options.only.includes('haproxy') ? ensure('haproxy', 'haproxy') : null;
  const nginx = options.only.includes('nginx') ? ensure('nginx', 'nginx') : null;
  const hasStream = nginx !== null && ensure(STREAM_MODULE_PATH, 'libnginx-mod-stream') !== null;
  const targets = await freePorts();
  const targetChild = startChild(
    'targets',
    [
      FERRY_NODE_PATH,
      PEERS_PATH,
      'targets',
      String(targets.echo),
      String(targets.source),
      String(targets.udp),
    ],
    {
      cpuList: LOAD_CPU,
      logPath: join(dirs.rootDir, 'targets.log'),
    },
  );
  const targetsGone = await waitForPort(targets.echo, READY_TIMEOUT_MS, () => targetChild.exitStatus);
  if (targetsGone !== null) throw new Error(`targets did not start: ${targetsGone}`);
  const rows: Row[] = [];
  for (const system of options.only) {
    const listen = system === 'direct' ? targets : await freePorts();
    let child: BenchChild | null = null;
    if (system === 'haproxy') {
      if (haproxy === null) {
        log('HAProxy not available: skipped');
        continue;
      }
      const path = join(dirs.rootDir, 'haproxy.cfg');
      writeFileSync(path, haproxyConf(listen, targets));
      child = startChild('haproxy', [haproxy, '-db', '-f', path], {
        cpuList: PROXY_CPU,
        logPath: join(dirs.rootDir, 'haproxy.log'),
      });
    } else if (system === 'nginx') {
      if (nginx === null || !hasStream) {
        log('NGINX with the stream module not available: skipped');
        continue;
      }
      const path = join(dirs.rootDir, 'nginx.conf');
      writeFileSync(path, nginxConf(dirs.rootDir, listen, targets));
      child = startChild('nginx', [nginx, '-c', path, '-p', dirs.rootDir], {
        cpuList: PROXY_CPU,
        logPath: join(dirs.rootDir, 'nginx.log'),
      });
    } else if (system === 'ferry') {
      const path = join(dirs.rootDir, 'ferry.yaml');
      writeFileSync(path, ferryYaml(listen, targets));
      child = startChild('ferry', [FERRY_NODE_PATH, FERRY_ENTRY_PATH, '--config', path], {
        cpuList: PROXY_CPU,
        logPath: join(dirs.rootDir, 'ferry.log'),
      });
    }
    if (child !== null) {
      const gone = await waitForPort(listen.echo, READY_TIMEOUT_MS, () => child!.exitStatus);
      if (gone !== null) {
        log(`${system} did not start (${gone}): ${tailLog(child, 5)}`);
        await stopChild(child);
        continue;
      }
    }
    const label =
      system === 'direct'
        ? 'direct to targets'
        : system === 'haproxy'
          ? 'HAProxy mode tcp, nbthread 1'
          : system === 'nginx'
            ? 'NGINX stream, 1 worker'
            : 'Ferry, 1 worker';
    rows.push({ system, label, cells: await measure(system, child, listen, options.durationS) });
    if (child !== null) await stopChild(child);
  }
  await stopChild(targetChild);

  const header = [
    `- command: \`${benchCommandLine('bench:l4', 'l4.ts')}\``,
    `- started ${new Date(startedMs).toISOString()}, took ${Math.round((Date.now() - startedMs) / 1000)} s; git ${gitRevision()}; load average ${loadAtStart.toFixed(2)} at start`,
    `- Node ${process.versions.node}; CPU ${readCpuModel()} (${availableParallelism()} cores); kernel ${release()}`,
    `- layout: proxy on core ${PROXY_CPU}; targets and the Node load generator on core ${LOAD_CPU}; ${options.durationS} s per cell after a 1 s warm-up`,
    `- cells: short = connect, 16 B echo, close (${SHORT_CONCURRENCY} at once); keep-alive = 64 B ping-pong on ${KEEPALIVE_CONNECTIONS} connections; stream = ${STREAM_CONNECTIONS} connections reading a 64 KiB-chunk source; UDP = 64 B echo, ${UDP_SOCKETS} sockets × 16 in flight`,
    "- CPU: the proxy's user+system time (/proc, whole process group) per connection, request, MB or packet",
  ].join('\n');
  const table = [
    '| system | conn/s | µs CPU/conn | echo req/s | µs CPU/req | MB/s | µs CPU/MB | UDP pkt/s | µs CPU/pkt |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows.map(
      (row) =>
        `| ${row.label} | ${format(row.cells.short?.rate)} | ${format(row.cells.short?.cpuUsPerUnit, 1)} | ${format(row.cells.keepalive?.rate)} | ${format(row.cells.keepalive?.cpuUsPerUnit, 1)} | ${format(row.cells.stream?.rate)} | ${format(row.cells.stream?.cpuUsPerUnit, 0)} | ${format(row.cells.udp?.rate)} | ${format(row.cells.udp?.cpuUsPerUnit, 1)} |`,
    ),
  ].join('\n');
  const find = (system: SystemKind) => rows.find((row) => row.system === system)?.cells;
  const ferry = find('ferry');
  const haproxyCells = find('haproxy');
  const nginxCells = find('nginx');
  const ratio = (a: number | undefined, b: number | undefined) =>
    a === undefined || b === undefined || b === 0 ? '—' : `${(a / b).toFixed(2)}×`;
  const ratios = [
    '| Ferry vs | connections/s (goal ≥ 0.8×) | echo req/s | MB/s (goal ≥ 0.9×) | UDP packets/s (goal ≥ 0.7× NGINX) | CPU per conn | CPU per MB | CPU per packet |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    `| HAProxy | ${ratio(ferry?.short?.rate, haproxyCells?.short?.rate)} | ${ratio(ferry?.keepalive?.rate, haproxyCells?.keepalive?.rate)} | ${ratio(ferry?.stream?.rate, haproxyCells?.stream?.rate)} | — | ${ratio(ferry?.short?.cpuUsPerUnit, haproxyCells?.short?.cpuUsPerUnit)} | ${ratio(ferry?.stream?.cpuUsPerUnit, haproxyCells?.stream?.cpuUsPerUnit)} | — |`,
    `| NGINX | ${ratio(ferry?.short?.rate, nginxCells?.short?.rate)} | ${ratio(ferry?.keepalive?.rate, nginxCells?.keepalive?.rate)} | ${ratio(ferry?.stream?.rate, nginxCells?.stream?.rate)} | ${ratio(ferry?.udp?.rate, nginxCells?.udp?.rate)} | ${ratio(ferry?.short?.cpuUsPerUnit, nginxCells?.short?.cpuUsPerUnit)} | ${ratio(ferry?.stream?.cpuUsPerUnit, nginxCells?.stream?.cpuUsPerUnit)} | ${ratio(ferry?.udp?.cpuUsPerUnit, nginxCells?.udp?.cpuUsPerUnit)} |`,
  ].join('\n');
  process.stdout.write(`## bench:l4\n\n${header}\n\n${table}\n\n${ratios}\n`);
}

main().catch((error: unknown) => {
  log((error as Error).stack ?? String(error));
  process.exit(1);
});
