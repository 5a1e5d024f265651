import { once } from 'node:events';
import { Agent, request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { simpleConfig, startTestFerry, type TestFerry } from '../helpers/ferry.ts';
import { startTargets, type TestTarget } from '../helpers/targets.ts';

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
