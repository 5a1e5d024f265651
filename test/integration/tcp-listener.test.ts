/**
 * TCP listeners (layer 4): bytes piped both ways to a picked target, the
 * rotation global across workers, counters back to zero after the
 * connections close, and a reload that reorders target groups keeps TCP
 * traffic on the group the listener names.
 */
import { once } from 'node:events';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/index.ts';
import { startTestFerry, type TestFerry } from '../helpers/ferry.ts';
import { targetCounters, waitForSettled } from '../helpers/table-counters.ts';
import { workerConnectionCounts, workerThatAccepted } from '../helpers/workers.ts';

interface EchoTarget {
  readonly name: string;
  readonly address: string;
  connections: number;
  readonly server: net.Server;
  readonly sockets: Set<net.Socket>;
}

/** A TCP target that answers each chunk with `<name>:<chunk>`. */
async function startEcho(name: string): Promise<EchoTarget> {
  const sockets = new Set<net.Socket>();
  const target = { name, address: '', connections: 0, sockets } as EchoTarget;
  const server = net.createServer((socket) => {
    target.connections++;
    sockets.add(socket);
    socket.on('data', (chunk) => socket.write(`${name}:${chunk}`));
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return Object.assign(target, {
    server,
    address: `127.0.0.1:${(server.address() as net.AddressInfo).port}`,
  });
}

/** Open a connection through Ferry, send `text`, return the echo. */
async function exchange(port: number, text: string): Promise<{ socket: net.Socket; reply: string }> {
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  socket.write(text);
  const [chunk] = (await once(socket, 'data')) as [Buffer];
  return { socket, reply: chunk.toString() };
}

function tcpConfig(groups: { name: string; targets: string[] }[], listenerGroup: string): string {
  return `workers: 2
admin: { address: "127.0.0.1:0" }
listeners:
  - { name: tcp, protocol: TCP, address: "127.0.0.1:0", defaultAction: { forward: { targetGroup: ${listenerGroup} } } }
targetGroups:
${groups
  .map(
    (group) => `  - name: ${group.name}
    healthCheck: { enabled: false }
    targets:
${group.targets.map((address) => `      - { address: "${address}" }`).join('\n')}`,
  )
  .join('\n')}
`;
}

let ferry: TestFerry | null = null;
let targets: EchoTarget[] = [];

afterEach(async () => {
  await ferry?.stop(1_000);
  ferry = null;
  for (const target of targets) {
    for (const socket of target.sockets) socket.destroy();
    target.server.close();
  }
  targets = [];
});

describe('TCP listener', () => {
  it('pipes bytes both ways, alternates targets across both workers, and returns the counters to zero', async () => {
    targets = [await startEcho('a'), await startEcho('b')];
    ferry = await startTestFerry(tcpConfig([{ name: 'g', targets: targets.map((t) => t.address) }], 'g'));
    const replies: string[] = [];
    const acceptedBy: number[] = [];
    const sockets: net.Socket[] = [];
    for (let i = 0; i < 20; i++) {
      const before = workerConnectionCounts(ferry, 2);
      const { socket, reply } = await exchange(ferry.port, `hello-${i}`);
      expect(reply).toMatch(new RegExp(`^[ab]:hello-${i}$`));
      replies.push(reply[0]!);
      acceptedBy.push(await workerThatAccepted(ferry, before));
      sockets.push(socket);
    }
    // One rotation across both workers: per-worker cursors break the alternation wherever the
    // kernel hands the next connection to the other worker (20 connections: ~10 such hand-overs).
    expect(new Set(acceptedBy), `accepted by ${acceptedBy}`).toEqual(new Set([0, 1]));
    for (let i = 1; i < replies.length; i++)
      expect(replies[i], `targets ${replies.join('')}`).not.toBe(replies[i - 1]);
    expect(targetCounters(ferry).reduce((sum, c) => sum + c.inFlight, 0)).toBe(20);
    for (const socket of sockets) socket.destroy();
    const running = ferry;
    const settled = await waitForSettled(
      () => targetCounters(running),
      (all) => all.every((c) => c.inFlight === 0 && c.activeConnections === 0),
    );
    expect(settled.map((c) => [c.inFlight, c.activeConnections])).toEqual([
      [0, 0],
      [0, 0],
    ]);
  });

  it('closes the client connection when the target refuses', async () => {
    const closed = net.createServer();
    closed.listen(0, '127.0.0.1');
    await once(closed, 'listening');
    const port = (closed.address() as net.AddressInfo).port;
    closed.close();
    ferry = await startTestFerry(tcpConfig([{ name: 'g', targets: [`127.0.0.1:${port}`] }], 'g'));
    const socket = net.connect(ferry.port, '127.0.0.1');
    socket.on('error', () => {});
    await once(socket, 'close');
    const running = ferry;
    const settled = await waitForSettled(
      () => targetCounters(running),
      (all) => all.every((c) => c.inFlight === 0),
    );
    expect(settled[0]!.inFlight).toBe(0);
  });

  describe('when a reload reorders the target groups', () => {
    it('keeps sending TCP traffic to the group the listener names', async () => {
      targets = [await startEcho('a'), await startEcho('b')];
      const groups = [
        { name: 'first', targets: [targets[0]!.address] },
        { name: 'second', targets: [targets[1]!.address] },
      ];
      ferry = await startTestFerry(tcpConfig(groups, 'second'));
      expect((await exchange(ferry.port, 'x')).reply).toBe('b:x');
      const reordered = parseConfig(tcpConfig([...groups].reverse(), 'second'), '<test>');
      if (!reordered.ok) throw new Error('reordered config invalid');
      ferry.reload(reordered.snapshot);
      // Topologies reach the workers asynchronously; every connection after that must land on `second`.
      for (let i = 0; i < 20; i++) {
        const { socket, reply } = await exchange(ferry.port, 'y');
        socket.destroy();
        if (i >= 10) expect(reply).toBe('b:y');
      }
    });
  });
});
