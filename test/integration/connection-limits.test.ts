/**
 * Connection floods (issue 10, "Floods and limits"), through real sockets
 * and real worker threads: `listeners[].maxConnections` and
 * `limits.maxConnections` refuse beyond the cap cheaply (503 with
 * Retry-After), the admin endpoint keeps answering, and in a child process
 * whose open-file limit is lowered (`ulimit -n`) a flood of held connections
 * leaves the target healthy: the auto cap keeps descriptors for health
 * checks and upstreams, and a local EMFILE is never a target failure (on a
 * TCP listener too, where the flood makes connects to the target fail).
 *
 * https://github.com/ferry/ferry/issues/10
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { autoMaxConnections } from '../../src/config/parse.ts';
import { startTestFerry, type TestFerry } from '../helpers/ferry.ts';
import { RawClient } from '../helpers/raw-http.ts';
import { waitForSettled } from '../helpers/table-counters.ts';
import { startTarget, type TestTarget } from '../helpers/targets.ts';

const SCRIPT = join(import.meta.dirname, '../fixtures/scripts/fd-limited-ferry.ts');
/** Open-file limit of the child: Ferry's auto cap is then (400 - 256) / 2 = 72. */
const FD_LIMIT = 400;
/** More connections than the child has descriptors: without the cap, accept itself would fail with EMFILE. */
const FLOOD = 600;

let ferry: TestFerry;
let target: TestTarget;
const held: RawClient[] = [];

function portOf(listener: string): number {
  return ferry.listenerPorts.get(listener)!;
}

beforeAll(async () => {
  target = await startTarget('t1');
  ferry = await startTestFerry(`workers: 2
admin: { address: "127.0.0.1:0" }
limits: { maxConnections: 6 }
listeners:
  - { name: small, address: "127.0.0.1:0", maxConnections: 3, defaultAction: { forward: { targetGroup: app } } }
  - { name: other, address: "127.0.0.1:0", defaultAction: { forward: { targetGroup: app } } }
targetGroups:
  - name: app
    healthCheck: { enabled: false }
    targets: [ { address: "${target.address}" } ]
`);
});

afterAll(async () => {
  for (const client of held) client.destroy();
  await ferry?.stop(0);
  await target.close();
});

/** Open a connection and prove it is being served (one keep-alive request). */
async function served(port: number): Promise<RawClient> {
  const client = await RawClient.connect(port);
  await client.write('GET / HTTP/1.1\r\nhost: a.test\r\n\r\n');
  const response = await client.response();
  expect(response.status).toBe(200);
  held.push(client);
  return client;
}

describe('isOverConnectionLimit (issue 10: https://github.com/ferry/ferry/issues/10)', () => {
  describe('when a listener holds its maxConnections', () => {
    it('answers the next connection 503 with Retry-After, and serves again once one closes', async () => {
      const first = await served(portOf('small'));
      await served(portOf('small'));
      await served(portOf('small'));
      const refused = await RawClient.connect(portOf('small'));
      const response = await refused.response();
      expect(response.status).toBe(503);
      expect(response.header('x-ferry-error')).toBe('FERRY_ERR_LISTENER_CONNECTION_LIMIT');
      expect(response.header('retry-after')).toBe('1');
      await refused.closed;
      // The admin endpoint is another door: it still answers.
      const health = await fetch(`http://${ferry.adminAddress}/healthz`);
      expect(health.status).toBe(200);
      first.destroy();
      held.splice(held.indexOf(first), 1);
      const again = await waitForSettled(
        async () => {
          const client = await RawClient.connect(portOf('small'));
          await client.write('GET / HTTP/1.1\r\nhost: a.test\r\nconnection: close\r\n\r\n');
          const answer = await client.response();
          client.destroy();
          return answer.status;
        },
        (status) => status === 200,
      );
      expect(again).toBe(200);
    });
  });

  describe('when the process holds limits.maxConnections over all listeners', () => {
    it('refuses on a listener that has room of its own', async () => {
      // 2 held on `small`, and the process cap is 6: 4 more on `other` fill it.
      for (let i = 0; i < 4; i++) await served(portOf('other'));
      const refused = await RawClient.connect(portOf('other'));
      const response = await refused.response();
      expect(response.status).toBe(503);
      expect(response.header('x-ferry-error')).toBe('FERRY_ERR_LISTENER_CONNECTION_LIMIT');
    });
  });
});

describe('autoMaxConnections', () => {
  it('leaves the reserve and one descriptor per upstream connection', () => {
    expect(
      autoMaxConnections('Max open files            1024                 1048576              files\n'),
    ).toBe(384);
    expect(
      autoMaxConnections('Max open files            unlimited            unlimited            files\n'),
    ).toBe(0);
    expect(autoMaxConnections(null)).toBe(0);
  });
});

interface FdLimitedFerry {
  readonly child: ChildProcess;
  readonly info: { port: number; admin: string; maxConnectionsTotal: number };
  stop(): Promise<void>;
}

/** Ferry in a child process whose open-file limit is FD_LIMIT (fixtures/scripts/fd-limited-ferry.ts). */
async function startFdLimitedFerry(config: string): Promise<FdLimitedFerry> {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-fd-'));
  const configPath = join(dir, 'ferry.yaml');
  writeFileSync(configPath, config);
  const child = spawn(
    'sh',
    ['-c', `ulimit -n ${FD_LIMIT} && exec "$0" "$@"`, process.execPath, SCRIPT, configPath],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const info = await new Promise<FdLimitedFerry['info']>((resolve, reject) => {
    let text = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      const line = text.indexOf('\n');
      if (line !== -1) resolve(JSON.parse(text.slice(0, line)));
    });
    child.once('exit', (code) => reject(new Error(`fd-limited ferry exited ${code}`)));
  });
  return {
    child,
    info,
    stop: async () => {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Open `count` connections to `port` and wait until each is connected (or failed). */
async function openFlood(port: number, count: number, into: net.Socket[]): Promise<void> {
  const opened: Promise<unknown>[] = [];
  for (let i = 0; i < count; i++) {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.on('error', () => {});
    into.push(socket);
    opened.push(
      new Promise((resolve) => {
        socket.once('connect', resolve);
        socket.once('close', resolve);
      }),
    );
  }
  await Promise.all(opened);
}

/** One counter sample from the admin endpoint's /metrics (0 when absent). */
async function metricOf(admin: string, pattern: RegExp): Promise<number> {
  const text = await (await fetch(`http://${admin}/metrics`)).text();
  const match = pattern.exec(text);
  return match === null ? 0 : Number(match[1]);
}

describe('a connection flood under a lowered open-file limit (issue 10)', () => {
  let fdFerry: FdLimitedFerry;
  let info: FdLimitedFerry['info'];
  const flood: net.Socket[] = [];

  beforeAll(async () => {
    fdFerry = await startFdLimitedFerry(`workers: 2
admin: { address: "127.0.0.1:0" }
listeners:
  - { name: web, address: "127.0.0.1:0", defaultAction: { forward: { targetGroup: app } } }
targetGroups:
  - name: app
    healthCheck: { protocol: TCP, interval: 1s, timeout: 500ms, unhealthyThreshold: 2 }
    targets: [ { address: "${target.address}" } ]
`);
    info = fdFerry.info;
  }, 30_000);

  afterAll(async () => {
    for (const socket of flood) socket.destroy();
    await fdFerry?.stop();
  });

  it('caps connections below the limit, keeps admin and health checks working, and marks no target unhealthy', async () => {
    expect(info.maxConnectionsTotal).toBe((FD_LIMIT - 256) / 2);
    await openFlood(info.port, FLOOD, flood);
    // Wait until the refusals are counted, then past two health-check intervals under the flood.
    const refused = await waitForSettled(
      () => metricOf(info.admin, /^ferry_listener_limit_refused_connections_total\{listener="web"\} (\d+)/m),
      (count) => count >= FLOOD - info.maxConnectionsTotal - 2,
      15_000,
      100,
    );
    expect(refused).toBeGreaterThanOrEqual(FLOOD - info.maxConnectionsTotal - 2);
    const checksBefore = await checksOf(info.admin);
    await waitForSettled(
      () => checksOf(info.admin),
      (checks) => checks >= checksBefore + 2,
      10_000,
      200,
    );
    const body = (await (await fetch(`http://${info.admin}/targets`)).json()) as {
      targetGroups: {
        targets: {
          health: { state: string };
          lastCheck: { outcome: string } | null;
          transitions: { to: string }[];
        }[];
      }[];
    };
    const only = body.targetGroups[0]!.targets[0]!;
    expect(only.health.state).toBe('healthy');
    expect(only.lastCheck?.outcome).toBe('pass');
    expect(only.transitions.map((transition) => transition.to)).not.toContain('unhealthy');
    expect((await fetch(`http://${info.admin}/healthz`)).status).toBe(200);
  }, 40_000);
});

/** Health checks run so far on the fd-limited Ferry's target (from /targets). */
async function checksOf(admin: string): Promise<number> {
  const text = await (await fetch(`http://${admin}/targets`)).text();
  const match = /"checksTotal":\s*(\d+)/.exec(text);
  return match === null ? 0 : Number(match[1]);
}

describe('a TCP listener whose upstream connects meet the open-file limit (issue 10)', () => {
  let fdFerry: FdLimitedFerry;
  const flood: net.Socket[] = [];

  beforeAll(async () => {
    // A cap above the descriptors there are: accepts succeed until connects to the target fail with EMFILE.
    fdFerry = await startFdLimitedFerry(`workers: 2
admin: { address: "127.0.0.1:0" }
limits: { maxConnections: ${FLOOD * 2} }
listeners:
  - { name: pipe, protocol: TCP, address: "127.0.0.1:0", defaultAction: { forward: { targetGroup: app } } }
targetGroups:
  - name: app
    healthCheck: { enabled: false }
    targets: [ { address: "${target.address}" } ]
`);
  }, 30_000);

  afterAll(async () => {
    for (const socket of flood) socket.destroy();
    await fdFerry?.stop();
  });

  it('closes the flows it has no descriptor for without counting a connection error against the target', async () => {
    const { admin, port } = fdFerry.info;
    await openFlood(port, FLOOD, flood);
    const gatewayFailures = /^ferry_target_gateway_failures_total\{[^}]*\} (\d+)/m;
    const refusedLocally = await waitForSettled(
      async () => flood.filter((socket) => socket.destroyed || socket.readableEnded).length,
      (count) => count > 0,
      15_000,
      100,
    );
    expect(refusedLocally).toBeGreaterThan(0);
    // The admin endpoint needs a descriptor too: let the flood go first.
    for (const socket of flood) socket.destroy();
    const connectionErrors = /^ferry_target_connection_errors_total\{[^}]*\} (\d+)/m;
    const errors = await waitForSettled(
      () => metricOf(admin, connectionErrors).catch(() => -1),
      (count) => count >= 0,
      15_000,
      200,
    );
    expect(errors).toBe(0);
    expect(await metricOf(admin, gatewayFailures)).toBe(0);
  }, 40_000);
});
