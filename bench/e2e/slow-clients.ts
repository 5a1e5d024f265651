/**
 * @module bench/e2e/slow-clients
 *
 * The slow-client defaults at work (issue 10): Ferry runs as its own process
 * (2 workers) with **no `timeouts` in its config**, so every listener has the
 * shipped defaults (requestBody 20s at 500 B/s, send 30s, requestHeader 10s).
 * Two attacks run at once, each on its own listener so the counters tell
 * them apart:
 *
 *   slow bodies   300 clients send `POST` with `Content-Length: 100000`, then
 *                 1 body byte every 5 s. Measured by each client: seconds from
 *                 its head to the 408 (and which code came back).
 *   slow readers  100 clients ask for a 1 MiB response and then read 4 bytes a
 *                 second. A reader that takes so little does not see a reset
 *                 until it reads again, so these are measured from Ferry's
 *                 side: the admin /metrics `ferry_listener_client_timeouts_total`
 *                 and `ferry_listener_active_connections` of the listener.
 *
 * Goal (issue 10): all 300 slow bodies cut within 35 s, all 100 slow readers
 * within 60 s, and no target failure counted.
 *
 *   npm run bench:slow-clients
 *   npm run bench:slow-clients -- --bodies 300 --readers 100 --max-seconds 90
 *
 * Thread: the bench's main thread; Ferry is a child process, the target and
 * the clients live in this process. Prints a markdown entry for
 * bench/RESULTS.md on stdout; progress on stderr.
 */
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { type BenchChild, startChild, stopChild } from './children.ts';
import {
  benchCommandLine,
  createBenchDirs,
  FERRY_ENTRY_PATH,
  FERRY_NODE_PATH,
  findFreePort,
  gitRevision,
  readCpuModel,
  waitForPort,
} from './host.ts';

const log = (line: string) => process.stderr.write(`${line}\n`);

const { values } = parseArgs({
  options: {
    bodies: { type: 'string', default: '300' },
    readers: { type: 'string', default: '100' },
    'max-seconds': { type: 'string', default: '90' },
  },
});
const BODY_CLIENTS = Number(values.bodies);
const READER_CLIENTS = Number(values.readers);
const MAX_MS = Number(values['max-seconds']) * 1000;
for (const [name, value] of [
  ['--bodies', BODY_CLIENTS],
  ['--readers', READER_CLIENTS],
  ['--max-seconds', MAX_MS],
] as const) {
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name} must be a positive integer`);
}

const RESPONSE_BYTES = 1024 * 1024;
const BODY_BYTE_INTERVAL_MS = 5_000;
const READ_BYTES_PER_S = 4;

interface BodyResult {
  /** ms from head sent to the connection's answer or close; -1 if still open at the end. */
  cutMs: number;
  status: number;
  code: string;
}

/** One slow-body client: head, then 1 byte every 5 s until Ferry answers or closes. */
function slowBody(port: number): Promise<BodyResult> {
  return new Promise((resolve) => {
    const result: BodyResult = { cutMs: -1, status: 0, code: '' };
    const socket = net.connect({ host: '127.0.0.1', port });
    let startMs = 0;
    let text = '';
    let timer: NodeJS.Timeout | null = null;
    const done = () => {
      if (timer !== null) clearInterval(timer);
      timer = null;
      if (result.cutMs === -1 && startMs > 0) result.cutMs = performance.now() - startMs;
      socket.destroy();
      resolve(result);
    };
    socket.on('connect', () => {
      socket.write('POST /upload HTTP/1.1\r\nhost: bench.test\r\ncontent-length: 100000\r\n\r\n');
      startMs = performance.now();
      timer = setInterval(() => socket.write('x'), BODY_BYTE_INTERVAL_MS);
    });
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
      const head = /^HTTP\/1\.1 (\d{3})[\s\S]*?x-ferry-error: (\S+)/i.exec(text);
      if (head !== null) {
        result.status = Number(head[1]);
        result.code = head[2]!;
        done();
      }
    });
    socket.on('error', () => {});
    socket.on('close', done);
    setTimeout(done, MAX_MS).unref();
  });
}

/** One slow reader: asks for 1 MiB, then takes 4 bytes a second; resolves when the socket closes or at the end. */
function slowReader(port: number, sockets: net.Socket[]): void {
  const socket = net.connect({ host: '127.0.0.1', port });
  sockets.push(socket);
  socket.on('connect', () => {
    socket.write('GET /big HTTP/1.1\r\nhost: bench.test\r\n\r\n');
    socket.pause();
  });
  const timer = setInterval(() => socket.read(READ_BYTES_PER_S), 1_000);
  timer.unref();
  socket.on('error', () => {});
  socket.on('close', () => clearInterval(timer));
}

interface ListenerReading {
  readonly timeouts: number;
  readonly active: number;
}

async function readMetrics(adminPort: number): Promise<Map<string, ListenerReading>> {
  const text = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
  const readings = new Map<string, ListenerReading>();
  for (const listener of ['bodies', 'readers']) {
    const value = (family: string) => {
      const match = new RegExp(`^${family}\\{listener="${listener}"\\} (\\d+)`, 'm').exec(text);
      return match === null ? 0 : Number(match[1]);
    };
    readings.set(listener, {
      timeouts: value('ferry_listener_client_timeouts_total'),
      active: value('ferry_listener_active_connections'),
    });
  }
  return readings;
}

function targetFailures(text: string): number {
  let total = 0;
  for (const match of text.matchAll(/^ferry_target_connection_errors_total\{[^}]*\} (\d+)/gm))
    total += Number(match[1]);
  return total;
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function main(): Promise<void> {
  const { rootDir } = createBenchDirs('slow-clients', log);
  const big = Buffer.alloc(RESPONSE_BYTES, 0x61);
  const target = http.createServer((req, res) => {
    req.on('data', () => {});
    req.on('end', () => res.end(req.url === '/big' ? big : 'ok\n'));
  });
  await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
  const targetAddress = `127.0.0.1:${(target.address() as AddressInfo).port}`;
  const bodiesPort = await findFreePort();
  const readersPort = await findFreePort();
  const adminPort = await findFreePort();
  const config = `# No listener timeouts: the shipped defaults are what this bench shows.
workers: 2
admin: { address: "127.0.0.1:${adminPort}" }
listeners:
  - { name: bodies, protocol: HTTP, address: "127.0.0.1:${bodiesPort}", defaultAction: { forward: { targetGroup: app } } }
  - { name: readers, protocol: HTTP, address: "127.0.0.1:${readersPort}", defaultAction: { forward: { targetGroup: app } } }
targetGroups:
  - name: app
    healthCheck: { enabled: false }
    targets: [ { address: "${targetAddress}" } ]
`;
  const configPath = join(rootDir, 'ferry.yaml');
  writeFileSync(configPath, config);
  const children: BenchChild[] = [];
  const ferry = startChild('ferry', [FERRY_NODE_PATH, FERRY_ENTRY_PATH, '--config', configPath], {
    cpuList: null,
    logPath: join(rootDir, 'ferry.log'),
  });
  children.push(ferry);
  try {
    const gone = await waitForPort(readersPort, 15_000, () => ferry.exitStatus);
    if (gone !== null) throw new Error(`ferry did not start: ${gone}`);
    await waitForPort(adminPort, 15_000, () => ferry.exitStatus);
    log(`ferry up; ${BODY_CLIENTS} slow bodies and ${READER_CLIENTS} slow readers start now`);
    const startMs = performance.now();
    const readerSockets: net.Socket[] = [];
    for (let i = 0; i < READER_CLIENTS; i++) slowReader(readersPort, readerSockets);
    const bodies = Promise.all(Array.from({ length: BODY_CLIENTS }, () => slowBody(bodiesPort)));
    // Ferry's view of the readers, once a second until all are cut (or the bound).
    let readersCutMs = -1;
    let peakReadersActive = 0;
    let last: ListenerReading = { timeouts: 0, active: 0 };
    while (performance.now() - startMs < MAX_MS) {
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      const reading = (await readMetrics(adminPort)).get('readers')!;
      last = reading;
      peakReadersActive = Math.max(peakReadersActive, reading.active);
      if (reading.timeouts >= READER_CLIENTS && reading.active === 0) {
        readersCutMs = performance.now() - startMs;
        break;
      }
    }
    const bodyResults = await bodies;
    for (const socket of readerSockets) socket.destroy();
    const metricsText = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
    const final = await readMetrics(adminPort);
    const cutMs = bodyResults
      .filter((r) => r.cutMs >= 0 && r.status === 408)
      .map((r) => r.cutMs)
      .sort((a, b) => a - b);
    const codes = new Map<string, number>();
    for (const r of bodyResults) codes.set(r.code || `(status ${r.status})`, (codes.get(r.code) ?? 0) + 1);
    const s = (ms: number) => (ms / 1000).toFixed(1);
    const lines = [
      `### bench:slow-clients (${new Date().toISOString().slice(0, 10)}, ${gitRevision()})`,
      '',
      `Command: \`${benchCommandLine('bench:slow-clients', 'slow-clients.ts')}\`; Node ${process.version}, ${readCpuModel()}; Ferry 2 workers, listener timeouts at their defaults (requestBody 20s + 1 s per 500 B, send 30s).`,
      '',
      '| attack | clients | cut | time to cut (Ferry-side or client-side) | goal |',
      '| --- | --- | --- | --- | --- |',
      `| slow body (1 B / 5 s, CL 100000) | ${BODY_CLIENTS} | ${cutMs.length} with 408 (${[...codes].map(([c, n]) => `${c}: ${n}`).join(', ')}) | client-side p50 ${s(percentile(cutMs, 50))} s, max ${s(cutMs.at(-1) ?? Number.NaN)} s | all within 35 s |`,
      `| slow reader (1 MiB, 4 B/s) | ${READER_CLIENTS} | ${last.timeouts} client timeouts (send or linger), ${final.get('readers')!.active} still open | all cut ${readersCutMs < 0 ? `NOT within ${s(MAX_MS)} s` : `within ${s(readersCutMs)} s`} (admin /metrics, 1 s poll; peak ${peakReadersActive} open) | all within 60 s |`,
      '',
      `Target connection errors counted during the run: ${targetFailures(metricsText)} (slow clients are never a target's fault).`,
      '',
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    for (const child of children) await stopChild(child);
    target.closeAllConnections();
    target.close();
  }
}

await main();
