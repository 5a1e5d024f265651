/**
 * @module bench/e2e/memory
 *
 * `npm run bench:memory`: what an idle connection costs Ferry in resident
 * memory (issue 9, "memory"), per idle keep-alive client connection and per
 * idle pooled upstream socket. Thread: a plain Node process outside Ferry; it
 * starts Ferry as a child (`workers: 1`) and plays both the clients and the
 * targets itself, on loopback only.
 *
 *   start 16 HTTP/1.1 targets in this process (node:http, keep-alive 120 s), one per port:
 *     `/` 9 B, `/64k` 64 KiB; in "gate" mode a target holds every response until
 *     N requests are waiting, so N requests are in flight through Ferry at once, then
 *     answers them 8 at a time (what idle sockets hold, not the peak of N responses at once)
 *   for each response body (9 B, 64 KiB), a fresh Ferry (1 worker, round robin over the 16 targets):
 *     warm up (a few hundred requests), settle, read VmRSS of Ferry's process (/proc/<pid>/status)
 *     clients  open N keep-alive connections, each makes one GET / (a few at a time, so the
 *              upstream pool stays small) and stays open and idle; settle, read VmRSS
 *     pool     each of those N clients makes one request at once behind the gate: the pool grows
 *              to N upstream sockets, which then idle beside the N idle clients; settle, read VmRSS
 *     (settle: RSS read every 250 ms until it moves < 0.5%); each row is its delta / N
 *
 * Why it exists: a sidecar sits beside every service, so its footprint per
 * idle connection (clients that keep connections open, and the pool it keeps
 * to targets) is what sizes it. The read buffer of pooled sockets
 * (workers/upstream/socket-pool.ts) was 64 KiB each.
 *
 * Caveats, printed with the table: RSS counts touched pages only (a 64 KiB
 * buffer a 9 B response read into costs one page, hence a 64 KiB-body pool
 * row), and garbage the worker has not collected yet counts too; the pooled
 * sockets must be measured before Ferry's idle timeout closes them
 * (UPSTREAM_IDLE_TIMEOUT_MS, 4 s), so that settle is shorter. N stays under
 * UPSTREAM_IDLE_SOCKETS_MAX per target (128 x 16 targets).
 * Every process it starts dies with it, also on an error or Ctrl-C.
 */

import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import { loadavg, release } from 'node:os';
import { join } from 'node:path';
import { UPSTREAM_IDLE_SOCKETS_MAX, UPSTREAM_IDLE_TIMEOUT_MS } from '../../src/shared/limits.ts';
import { type BenchChild, startChild, stopChild, tailLog } from './children.ts';
import { renderFerryYaml, TINY_BODY } from './configs.ts';
import {
  benchCommandLine,
  createBenchDirs,
  FERRY_ENTRY_PATH,
  FERRY_NODE_PATH,
  findFreePort,
  gitRevision,
  probeHttp,
  REPO_DIR,
  RESULTS_PATH,
  readCpuModel,
  waitForPort,
} from './host.ts';
import { appendToResultsFile, formatTable } from './report.ts';

// === Settings ===

const TARGET_COUNT = 16;
const DEFAULT_CONNECTION_COUNT = 2_000;
const LARGE_BODY_BYTES = 64 * 1024;
const LARGE_BODY = Buffer.alloc(LARGE_BODY_BYTES, 'x');
const READY_TIMEOUT_MS = 10_000;
/** Requests before the baseline reading, so the JIT and Ferry's one-off allocations are done. */
const WARMUP_REQUEST_COUNT = 400;
/** Client connections opened (and requests sent) at a time where the pool must stay small. */
const SEQUENTIAL_BATCH_COUNT = 4;
/** Held responses the gate answers at a time (below UPSTREAM_READ_BUFFERS_FREE_MAX). */
const RELEASE_BATCH_COUNT = 8;
const SETTLE_INTERVAL_MS = 250;
const SETTLE_TOLERANCE = 0.005;
/** Longest settle for client connections; pooled sockets get less (they close after the idle timeout). */
const SETTLE_MAX_MS = 3_000;
const POOL_SETTLE_MAX_MS = UPSTREAM_IDLE_TIMEOUT_MS - 1_500;
const REQUEST_TIMEOUT_MS = 20_000;

const USAGE = `usage: npm run bench:memory -- [options]   (or: node bench/e2e/memory.ts [options])

  --connections N   idle client connections and pooled sockets per measurement (default ${DEFAULT_CONNECTION_COUNT},
                    at most ${UPSTREAM_IDLE_SOCKETS_MAX * TARGET_COUNT}: ${TARGET_COUNT} targets x UPSTREAM_IDLE_SOCKETS_MAX ${UPSTREAM_IDLE_SOCKETS_MAX})
  --ferry PATH      Ferry CLI entry to run (default src/cli/ferry.ts)
  --write           also add the table to bench/RESULTS.md (section bench:memory)
  --help            this text`;

type Options = {
  readonly connectionCount: number;
  readonly ferryEntryPath: string;
  readonly isWrite: boolean;
};

function parseOptions(argv: readonly string[]): Options | null {
  let connectionCount = DEFAULT_CONNECTION_COUNT;
  let ferryEntryPath = FERRY_ENTRY_PATH;
  let isWrite = false;
  for (let index = 0; index < argv.length; index++) {
    const arg = argv[index]!;
    if (arg === '--help' || arg === '-h') return null;
    if (arg === '--write') isWrite = true;
    else if (arg === '--connections') connectionCount = Number(argv[++index]);
    else if (arg === '--ferry') ferryEntryPath = argv[++index] ?? '';
    else throw new Error(`unknown option ${arg}\n\n${USAGE}`);
  }
  if (!Number.isInteger(connectionCount) || connectionCount < 1)
    throw new Error('--connections: a count ≥ 1');
  if (connectionCount > UPSTREAM_IDLE_SOCKETS_MAX * TARGET_COUNT) {
    throw new Error(
      `--connections: at most ${UPSTREAM_IDLE_SOCKETS_MAX * TARGET_COUNT} (the pool keeps no more)`,
    );
  }
  return { connectionCount, ferryEntryPath, isWrite };
}

const log = (line: string): void => {
  process.stderr.write(`bench:memory: ${line}\n`);
};
const sleep = (durationMs: number): Promise<void> => new Promise((done) => setTimeout(done, durationMs));

// === Targets (in this process) ===

/** The 16 targets: open connections from Ferry, and the gate that holds responses. */
class Targets {
  readonly servers: Server[] = [];
  readonly ports: number[] = [];
  /** Open TCP connections from Ferry to all targets = Ferry's upstream sockets. */
  openConnectionCount = 0;
  /** Hold responses until this many wait (0: answer at once). */
  gateCount = 0;
  private readonly held: { res: ServerResponse; body: Buffer | string }[] = [];

  async start(): Promise<void> {
    for (let index = 0; index < TARGET_COUNT; index++) {
      const server = createServer((req, res) => this.answer(req, res));
      server.keepAliveTimeout = 120_000;
      server.on('connection', (socket: Socket) => {
        this.openConnectionCount++;
        socket.on('close', () => this.openConnectionCount--);
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const address = server.address();
      this.ports.push(typeof address === 'object' && address !== null ? address.port : 0);
      this.servers.push(server);
    }
  }

  private answer(req: IncomingMessage, res: ServerResponse): void {
    const body = req.url === '/64k' ? LARGE_BODY : TINY_BODY;
    res.setHeader('content-type', 'application/octet-stream');
    res.setHeader('content-length', String(body.length));
    if (this.gateCount === 0) {
      res.end(body);
      return;
    }
    this.held.push({ res, body });
    if (this.held.length === this.gateCount) this.releaseBatch();
  }

  /**
   * Answers the held requests RELEASE_BATCH_COUNT at a time, each batch once the last is
   * flushed (plus 1 ms): the pool still grows to N sockets (they were all busy at once), but
   * few responses are relayed at the same moment, so what is left afterwards is what idle
   * sockets hold, not the peak of N responses in flight (garbage Ferry's worker keeps until a
   * GC nothing outside it can force, and malloc may never give back to the kernel).
   */
  private releaseBatch(): void {
    const batch = this.held.splice(0, RELEASE_BATCH_COUNT);
    let pendingCount = batch.length;
    const onFlushed = (): void => {
      if (--pendingCount === 0 && this.held.length > 0) setTimeout(() => this.releaseBatch(), 1);
    };
    for (const { res, body } of batch) res.end(body, onFlushed);
  }

  stop(): void {
    for (const server of this.servers) server.closeAllConnections();
    for (const server of this.servers) server.close();
  }
}

// === Clients (raw keep-alive HTTP/1.1 connections to Ferry) ===

function openClient(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** One GET on `socket`; resolves when the whole response (Content-Length framed) has arrived. */
function getOnce(socket: Socket, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let received = Buffer.alloc(0);
    const timer = setTimeout(
      () => done(new Error(`GET ${path}: no full response within ${REQUEST_TIMEOUT_MS} ms`)),
      REQUEST_TIMEOUT_MS,
    );
    const onData = (chunk: Buffer): void => {
      received = Buffer.concat([received, chunk]);
      const headEnd = received.indexOf('\r\n\r\n');
      if (headEnd === -1) return;
      const head = received.subarray(0, headEnd).toString('latin1');
      if (!head.startsWith('HTTP/1.1 200')) {
        done(
          new Error(`GET ${path}: ${head.split('\r\n')[0]} ${/x-ferry-error: (\S+)/i.exec(head)?.[1] ?? ''}`),
        );
        return;
      }
      const length = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 'NaN');
      if (received.length >= headEnd + 4 + length) done(null);
    };
    const onClose = (): void => done(new Error(`GET ${path}: connection closed`));
    const done = (error: Error | null): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      if (error === null) resolve();
      else reject(error);
    };
    socket.on('data', onData);
    socket.on('close', onClose);
    socket.write(`GET ${path} HTTP/1.1\r\nhost: bench-memory\r\n\r\n`);
  });
}

async function openClients(port: number, count: number, batchCount: number): Promise<Socket[]> {
  const sockets: Socket[] = [];
  for (let start = 0; start < count; start += batchCount) {
    const batch = Math.min(batchCount, count - start);
    sockets.push(...(await Promise.all(Array.from({ length: batch }, () => openClient(port)))));
  }
  return sockets;
}

// === Ferry ===

function readRssBytes(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (match === null) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(match[1]) * 1024;
}

/** VmRSS once it moves less than SETTLE_TOLERANCE between two readings, or after `maxMs`. */
async function settledRssBytes(pid: number, maxMs: number): Promise<number> {
  const deadlineMs = Date.now() + maxMs;
  let previous = readRssBytes(pid);
  for (;;) {
    await sleep(SETTLE_INTERVAL_MS);
    const current = readRssBytes(pid);
    if (Math.abs(current - previous) <= previous * SETTLE_TOLERANCE || Date.now() >= deadlineMs)
      return current;
    previous = current;
  }
}

type Ferry = { readonly child: BenchChild; readonly port: number };

async function startFerry(
  options: Options,
  rootDir: string,
  targetPorts: readonly number[],
  name: string,
): Promise<Ferry> {
  const port = await findFreePort();
  const adminPort = await findFreePort();
  const confPath = join(rootDir, `${name}.yaml`);
  writeFileSync(confPath, renderFerryYaml(1, port, adminPort, targetPorts));
  const child = startChild(name, [FERRY_NODE_PATH, options.ferryEntryPath, '--config', confPath], {
    cpuList: null,
    logPath: join(rootDir, `${name}.log`),
    cwd: REPO_DIR,
  });
  const failure =
    (await waitForPort(port, READY_TIMEOUT_MS, () => child.exitStatus)) ??
    (await probeHttp(port, '/', TINY_BODY.length, TARGET_COUNT));
  if (failure !== null) throw new Error(`Ferry: ${failure} ${tailLog(child, 3)}`);
  return { child, port };
}

/** Requests a few at a time on a few connections: JIT and one-off allocations, and a small pool. */
async function warmUp(ferry: Ferry): Promise<void> {
  const sockets = await openClients(ferry.port, SEQUENTIAL_BATCH_COUNT, SEQUENTIAL_BATCH_COUNT);
  for (let round = 0; round < WARMUP_REQUEST_COUNT / SEQUENTIAL_BATCH_COUNT; round++) {
    await Promise.all(sockets.map((socket, index) => getOnce(socket, index % 2 === 0 ? '/' : '/64k')));
  }
  for (const socket of sockets) socket.destroy();
}

// === Measurements ===

type Row = {
  readonly label: string;
  readonly count: number;
  readonly rssBeforeBytes: number;
  readonly rssAfterBytes: number;
};

/**
 * One fresh Ferry, three readings: after the warm-up; after N clients each made one GET / and
 * went idle (a few at a time, so the pool stays small); after each of those clients made one
 * GET `path` at once behind the gate (the pool grows to N sockets, which then idle). The
 * clients stay open throughout: closing them would leave their state as garbage the worker
 * has not collected yet, and nothing outside Ferry can force a GC in its worker.
 */
async function measure(options: Options, rootDir: string, targets: Targets, path: string): Promise<Row[]> {
  const ferry = await startFerry(options, rootDir, targets.ports, `ferry${path.replace('/', '-')}`);
  const sockets: Socket[] = [];
  try {
    await warmUp(ferry);
    const rssStartBytes = await settledRssBytes(ferry.child.pid, SETTLE_MAX_MS);
    const count = options.connectionCount;
    for (let start = 0; start < count; start += SEQUENTIAL_BATCH_COUNT) {
      const batchCount = Math.min(SEQUENTIAL_BATCH_COUNT, count - start);
      const batch = await openClients(ferry.port, batchCount, SEQUENTIAL_BATCH_COUNT);
      await Promise.all(batch.map((socket) => getOnce(socket, '/')));
      sockets.push(...batch);
    }
    const rssClientsBytes = await settledRssBytes(ferry.child.pid, SETTLE_MAX_MS);
    const upstreamBefore = targets.openConnectionCount;
    targets.gateCount = count;
    try {
      await Promise.all(sockets.map((socket) => getOnce(socket, path)));
    } finally {
      targets.gateCount = 0;
    }
    const rssPoolBytes = await settledRssBytes(ferry.child.pid, POOL_SETTLE_MAX_MS);
    const pooledCount = targets.openConnectionCount - upstreamBefore;
    const bodyText = path === '/' ? '9 B' : '64 KiB';
    return [
      {
        label: `idle keep-alive client connection (after one GET /, 9 B; ${bodyText} run)`,
        count,
        rssBeforeBytes: rssStartBytes,
        rssAfterBytes: rssClientsBytes,
      },
      {
        label: `idle pooled upstream socket (after one GET ${path}, ${bodyText})`,
        count: pooledCount,
        rssBeforeBytes: rssClientsBytes,
        rssAfterBytes: rssPoolBytes,
      },
    ];
  } finally {
    for (const socket of sockets) socket.destroy();
    await stopChild(ferry.child);
  }
}

// === Main ===

const mib = (bytes: number): string => (bytes / (1024 * 1024)).toFixed(1);

async function main(): Promise<number> {
  const options = parseOptions(process.argv.slice(2));
  if (options === null) {
    console.log(USAGE);
    return 0;
  }
  const startedAtMs = Date.now();
  const loadAverageAtStart = loadavg()[0] ?? Number.NaN;
  const { rootDir } = createBenchDirs('memory', log);
  const targets = new Targets();
  await targets.start();
  log(`${TARGET_COUNT} targets on ports ${targets.ports[0]}..; temp dir ${rootDir}`);
  const rows: Row[] = [];
  try {
    for (const path of ['/', '/64k']) {
      log(
        `${options.connectionCount} idle clients, then ${options.connectionCount} pooled sockets (GET ${path})`,
      );
      rows.push(...(await measure(options, rootDir, targets, path)));
    }
  } finally {
    targets.stop();
  }

  const ferryNodeVersion = spawnSync(FERRY_NODE_PATH, ['-v'], { encoding: 'utf8' }).stdout.trim();
  const header = [
    `- command: \`${benchCommandLine('bench:memory', 'memory.ts')}\``,
    `- started ${new Date(startedAtMs).toISOString()}, took ${Math.round((Date.now() - startedAtMs) / 1000)} s; ` +
      `git ${gitRevision()}; load average ${loadAverageAtStart.toFixed(2)} at start`,
    `- Node ${ferryNodeVersion || process.version}; CPU ${readCpuModel()}; kernel ${release()}`,
    `- Ferry: \`workers: 1\`, round robin over ${TARGET_COUNT} node:http targets in the bench process (keep-alive); ` +
      "RSS: VmRSS of Ferry's process (/proc/<pid>/status), read every 250 ms until it moves < 0.5% " +
      `(at most ${SETTLE_MAX_MS / 1000} s; ${POOL_SETTLE_MAX_MS / 1000} s for pooled sockets, which Ferry closes after ` +
      `${UPSTREAM_IDLE_TIMEOUT_MS / 1000} s idle), after a warm-up of ${WARMUP_REQUEST_COUNT} requests; a fresh Ferry per body size.`,
  ].join('\n');
  const table = formatTable(
    ['idle connection', 'count', 'RSS before MiB', 'RSS after MiB', 'delta MiB', 'KiB each'],
    rows.map((row) => [
      row.label,
      String(row.count),
      mib(row.rssBeforeBytes),
      mib(row.rssAfterBytes),
      mib(row.rssAfterBytes - row.rssBeforeBytes),
      row.count > 0 ? ((row.rssAfterBytes - row.rssBeforeBytes) / row.count / 1024).toFixed(1) : '—',
    ]),
    1,
  );
  const block = [
    header,
    '',
    table,
    '',
    'RSS counts touched pages only: a read buffer a 9 B response landed in costs one page, so the 64 KiB row ' +
      'shows what a buffer that has been filled once costs. Each pool row is measured in the same Ferry as the ' +
      'client row above it, from the reading with those N clients idle.',
  ].join('\n');
  console.log(block);
  if (options.isWrite) {
    const heading = `### ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`;
    appendToResultsFile(RESULTS_PATH, `${heading}\n\n${block}\n`, '## bench:memory');
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
