/**
 * @module bench/e2e/failover
 *
 * How fast a failover takes effect: Ferry runs as its own process (2
 * workers) in front of two target groups under continuous load, and a
 * control client switches `api` to its standby and back, over and over.
 * For each switch it records:
 *
 *   observed   the server's figure: from the GROUP_ROUTE_TO store to the
 *              moment every live worker's WORKER_OBSERVED_GENERATION reached
 *              it (the `observedUs` of the reply);
 *   round trip the client's figure: from sending `failover` to reading the
 *              reply (what `ferryctl failover` waits, minus process start).
 *
 * Two loads: "paced" (8 keep-alive clients, a request every 10 ms each,
 * about 600 req/s: several hundred requests/s) and "saturated" (wrk -c16,
 * as fast as Ferry goes). Goal (issue 4): observed under 10 ms.
 *
 *   npm run bench:failover                 # 200 switches per load
 *   npm run bench:failover -- --switches 50
 *
 * Thread: the bench's main thread; Ferry and wrk are child processes, the
 * targets are node:http servers in this process. Prints a markdown entry for
 * bench/RESULTS.md on stdout; progress on stderr.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Agent, request } from 'undici';
import { parseControlAddress } from '../../src/config/index.ts';
import { ControlClient } from '../../src/control/index.ts';
import { type BenchChild, startChild, stopChild } from './children.ts';
import { findFreePort, readCpuModel, waitForPort } from './host.ts';

const FERRY = join(import.meta.dirname, '../../src/cli/ferry.ts');
const TOKEN = 'bench-failover-token-0123456789';

const log = (line: string) => process.stderr.write(`${line}\n`);

async function startTarget(name: string): Promise<{ server: http.Server; address: string }> {
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': name.length + 1 });
    res.end(`${name}\n`);
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, address: `127.0.0.1:${(server.address() as AddressInfo).port}` };
}

interface Paced {
  readonly stop: () => Promise<{ answers: number; failures: number }>;
}

function pacedLoad(url: string, clients: number, pauseMs: number): Paced {
  const agent = new Agent({ connections: clients });
  let isRunning = true;
  let answers = 0;
  let failures = 0;
  const loop = async () => {
    while (isRunning) {
      try {
        const response = await request(url, { dispatcher: agent });
        await response.body.text();
        answers++;
        if (response.statusCode !== 200) failures++;
      } catch {
        failures++;
      }
      await new Promise((resolve) => setTimeout(resolve, pauseMs));
    }
  };
  const loops = Array.from({ length: clients }, loop);
  return {
    stop: async () => {
      isRunning = false;
      await Promise.all(loops);
      await agent.close();
      return { answers, failures };
    },
  };
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? Number.NaN;
}

interface Series {
  readonly observedUs: number[];
  readonly roundTripUs: number[];
}

async function switchMany(client: ControlClient, count: number): Promise<Series> {
  const series: Series = { observedUs: [], roundTripUs: [] };
  for (let i = 0; i < count; i++) {
    const startedUs = performance.now() * 1000;
    const result =
      i % 2 === 0
        ? await client.request('failover', { targetGroup: 'api' })
        : await client.request('failback', { targetGroup: 'api' });
    series.roundTripUs.push(performance.now() * 1000 - startedUs);
    series.observedUs.push(result.observedUs);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  series.observedUs.sort((a, b) => a - b);
  series.roundTripUs.sort((a, b) => a - b);
  return series;
}

function row(load: string, rate: string, failures: string, series: Series): string {
  const ms = (us: number) => (us / 1000).toFixed(2);
  const o = series.observedUs;
  const r = series.roundTripUs;
  return `| ${load} | ${rate} | ${failures} | ${ms(percentile(o, 0.5))} | ${ms(percentile(o, 0.99))} | ${ms(o.at(-1) ?? Number.NaN)} | ${ms(percentile(r, 0.5))} | ${ms(percentile(r, 0.99))} | ${ms(r.at(-1) ?? Number.NaN)} |`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { switches: { type: 'string', default: '200' } } });
  const switches = Number(values.switches);
  const dir = mkdtempSync(join(tmpdir(), 'ferry-bench-failover-'));
  const targets = await Promise.all(['p1', 'p2', 's1', 's2'].map(startTarget));
  const children: BenchChild[] = [];
  try {
    writeFileSync(join(dir, 'ferry.token'), TOKEN);
    const [listenPort, controlPort] = [await findFreePort(), await findFreePort()];
    const list = (group: typeof targets) =>
      group.map((t) => `      - { address: "${t.address}" }`).join('\n');
    writeFileSync(
      join(dir, 'ferry.yaml'),
      `workers: 2
admin: { address: "127.0.0.1:0" }
control: { address: "127.0.0.1:${controlPort}", tokenFile: ferry.token }
listeners:
  - name: web
    protocol: HTTP
    address: "127.0.0.1:${listenPort}"
    defaultAction: { forward: { targetGroup: api } }
targetGroups:
  - name: api
    healthCheck: { enabled: false }
    failover: { standby: api-standby }
    targets:
${list(targets.slice(0, 2))}
  - name: api-standby
    healthCheck: { enabled: false }
    targets:
${list(targets.slice(2))}
`,
    );
    const ferry = startChild('ferry', [process.execPath, FERRY, '--config', join(dir, 'ferry.yaml')], {
      cpuList: null,
      logPath: join(dir, 'ferry.log'),
    });
    children.push(ferry);
    const gone = await waitForPort(controlPort, 15_000, () => ferry.exitStatus);
    if (gone !== null) throw new Error(`ferry did not start: ${gone} (log: ${join(dir, 'ferry.log')})`);
    const address = parseControlAddress(`127.0.0.1:${controlPort}`);
    if (!address.ok) throw new Error(address.message);
    const client = await ControlClient.connect({ address: address.value, token: TOKEN, client: 'bench' });
    const url = `http://127.0.0.1:${listenPort}/`;
    const rows: string[] = [];

    log(`paced load, ${switches} switches`);
    const paced = pacedLoad(url, 8, 10);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const pacedStartedMs = Date.now();
    const pacedSeries = await switchMany(client, switches);
    const pacedSeconds = (Date.now() - pacedStartedMs) / 1000;
    const pacedResult = await paced.stop();
    rows.push(
      row(
        'paced: 8 keep-alive clients, 10 ms pause',
        `${Math.round(pacedResult.answers / (pacedSeconds + 1))} req/s`,
        String(pacedResult.failures),
        pacedSeries,
      ),
    );

    log(`saturated load (wrk -t1 -c16), ${switches} switches`);
    const wrkSeconds = 60;
    const wrk = startChild('wrk', ['wrk', '-t1', '-c16', `-d${wrkSeconds}s`, url], {
      cpuList: null,
      logPath: join(dir, 'wrk.log'),
    });
    children.push(wrk);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const saturatedSeries = await switchMany(client, switches);
    process.kill(-wrk.pid, 'SIGINT'); // wrk prints its summary on SIGINT
    await wrk.exited;
    const wrkLog = readFileSync(join(dir, 'wrk.log'), 'utf8');
    const rate = /Requests\/sec:\s*([\d.]+)/.exec(wrkLog)?.[1] ?? '?';
    const errors = /Non-2xx or 3xx responses:\s*(\d+)/.exec(wrkLog)?.[1] ?? '0';
    const socketErrors = /Socket errors:[^\n]*/.exec(wrkLog)?.[0] ?? '';
    rows.push(
      row(
        'saturated: wrk -t1 -c16',
        `${Math.round(Number(rate))} req/s`,
        `${errors}${socketErrors === '' ? '' : ` (${socketErrors})`}`,
        saturatedSeries,
      ),
    );
    client.close();

    const git = (() => {
      try {
        return execFileSync('git', ['describe', '--always', '--dirty'], { encoding: 'utf8' }).trim();
      } catch {
        return 'unknown';
      }
    })();
    const lines = [
      `### ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`,
      '',
      `- command: \`npm run bench:failover -- --switches ${switches}\``,
      `- git ${git}; Node ${process.version}; CPU ${readCpuModel()}; Ferry: 2 workers, 2 groups of 2 node:http targets in the bench process`,
      '- each switch: `failover api` or `failback api` on one control connection, 5 ms apart; "observed" = store to every live worker acknowledging (server side); "round trip" = request sent to reply read (client side)',
      '',
      '| load | rate | failed requests | observed p50 ms | observed p99 ms | observed max ms | round trip p50 ms | round trip p99 ms | round trip max ms |',
      '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
      ...rows,
      '',
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    for (const child of children) await stopChild(child);
    await Promise.all(targets.map((t) => new Promise((resolve) => t.server.close(resolve))));
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench:failover: ${(error as Error).stack ?? String(error)}\n`);
  process.exitCode = 1;
});
