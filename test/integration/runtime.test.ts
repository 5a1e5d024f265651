import { once } from 'node:events';
import net from 'node:net';
import { Agent, request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { simpleConfig, startTestFerry, type TestFerry } from '../helpers/ferry.ts';
import { RawClient } from '../helpers/raw-http.ts';
import { targetCounters, waitForSettled } from '../helpers/table-counters.ts';
import { startTargets, type TestTarget } from '../helpers/targets.ts';
import { workerRequests, workerRequestsSince } from '../helpers/workers.ts';

let ferry: TestFerry | null = null;
let targets: TestTarget[] = [];

afterEach(async () => {
  await ferry?.stop(1_000);
  ferry = null;
  await Promise.all(targets.map((t) => t.close()));
  targets = [];
});

async function statusOf(url: string, dispatcher: Agent): Promise<number> {
  const res = await request(url, { dispatcher });
  await res.body.text();
  return res.statusCode;
}

async function waitFor(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200 && !condition(); i++) await new Promise((r) => setTimeout(r, 25));
  if (!condition()) throw new Error(`gave up waiting for ${what}`);
}

/** Whether a TCP connect to the port is refused (true) or accepted (false, then closed). */
async function isConnectionRefused(port: number): Promise<boolean> {
  const socket = net.connect(port, '127.0.0.1');
  try {
    await once(socket, 'connect');
    socket.destroy();
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ECONNREFUSED';
  }
}

describe('Supervisor', () => {
  describe('when a worker dies', () => {
    it('keeps the listener serving through the other worker and restarts the dead one', async () => {
      targets = await startTargets(2);
      ferry = await startTestFerry(simpleConfig({ targets: targets.map((t) => t.address), workers: 2 }));
      const doomed = ferry.supervisor.workerAt(0)!;
      const exited = once(doomed, 'exit');
      await doomed.terminate();
      await exited;
      // While worker 0 is down, fresh connections all land on worker 1.
      for (let i = 0; i < 20; i++) {
        const agent = new Agent({ connections: 1 });
        expect(await statusOf(`${ferry.url}/`, agent)).toBe(200);
        await agent.close();
      }
      await waitFor(() => ferry!.supervisor.readyCount === 2, 'worker 0 to restart');
      expect(ferry.supervisor.restartCount).toBe(1);
      expect(ferry.supervisor.workerAt(0)).not.toBe(doomed);
    });
  });

  describe('when a worker dies holding connections and requests in flight', () => {
    it("subtracts its ledger: the table's in-flight and connection counts return to the survivor's", async () => {
      targets = await startTargets(2);
      ferry = await startTestFerry(simpleConfig({ targets: targets.map((t) => t.address), workers: 2 }));
      const running = ferry;
      const heldBy: number[] = [0, 0];
      const clients: RawClient[] = [];
      // Hold /hold requests open until each worker carries at least 2 (bounded: 64 connections).
      for (let attempt = 0; attempt < 64 && (heldBy[0]! < 2 || heldBy[1]! < 2); attempt++) {
        const before = workerRequests(running, 2);
        const heldBefore = targets[0]!.held.length + targets[1]!.held.length;
        const client = await RawClient.connect(running.port);
        clients.push(client);
        await client.write('GET /hold HTTP/1.1\r\nhost: crash.test\r\n\r\n');
        await waitFor(
          () => targets[0]!.held.length + targets[1]!.held.length === heldBefore + 1,
          'a held request',
        );
        const worker = workerRequestsSince(running, before).indexOf(1);
        heldBy[worker] = heldBy[worker]! + 1;
      }
      const total = heldBy[0]! + heldBy[1]!;
      const sums = () => {
        const counters = targetCounters(running);
        return {
          inFlight: counters.reduce((sum, c) => sum + c.inFlight, 0),
          connections: counters.reduce((sum, c) => sum + c.activeConnections, 0),
        };
      };
      // Each held request is one in flight on its own upstream connection.
      expect(sums()).toEqual({ inFlight: total, connections: total });
      expect(heldBy[0]).toBeGreaterThanOrEqual(2);
      const doomed = running.supervisor.workerAt(0)!;
      const exited = once(doomed, 'exit');
      await doomed.terminate();
      await exited;
      const survivor = { inFlight: heldBy[1]!, connections: heldBy[1]! };
      expect(
        await waitForSettled(
          sums,
          (now) => now.inFlight === survivor.inFlight && now.connections === survivor.connections,
        ),
      ).toEqual(survivor);
      await waitFor(() => running.supervisor.readyCount === 2, 'worker 0 to restart');
      for (const target of targets) target.release();
      for (const client of clients) client.destroy();
      const idle = await waitForSettled(sums, (now) => now.inFlight === 0);
      expect(idle.inFlight).toBe(0);
    });
  });
});

describe('startFerry', () => {
  describe('when stopped with requests in flight', () => {
    it('lets them finish, refuses new connections, then resolves', async () => {
      targets = await startTargets(1);
      ferry = await startTestFerry(simpleConfig({ targets: targets.map((t) => t.address), workers: 2 }));
      const agent = new Agent({ connections: 4 });
      const inFlight = Array.from({ length: 4 }, () => request(`${ferry!.url}/hold`, { dispatcher: agent }));
      await waitFor(() => targets[0]!.held.length === 4, 'the target to hold 4 requests');
      const stopping = ferry.stop(10_000);
      const stopped = ferry;
      ferry = null;
      // While the 4 are still held, the listeners close: a new connection is refused (bounded wait).
      let isRefused = false;
      for (let attempt = 0; attempt < 200 && !isRefused; attempt++) {
        isRefused = await isConnectionRefused(stopped.port);
        if (!isRefused) await new Promise((r) => setTimeout(r, 25));
      }
      expect(isRefused).toBe(true);
      expect(targets[0]!.held).toHaveLength(4);
      targets[0]!.release();
      const responses = await Promise.all(inFlight);
      const bodies = await Promise.all(responses.map((res) => res.body.text()));
      expect(responses.map((res) => res.statusCode)).toEqual([200, 200, 200, 200]);
      expect(bodies.every((body) => body.includes('released'))).toBe(true);
      await stopping;
      await expect(request(`${stopped.url}/`, { dispatcher: new Agent() })).rejects.toThrow();
      await agent.close();
    });
  });
});
