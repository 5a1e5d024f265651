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

async function get(path: string, dispatcher?: Agent, headers: Record<string, string> = {}) {
  const res = await request(
    `${ferry!.url}${path}`,
    dispatcher === undefined ? { headers } : { dispatcher, headers },
  );
  const body = await res.body.text();
  return {
    status: res.statusCode,
    target: String(res.headers['x-ferry-target'] ?? ''),
    body,
    headers: res.headers,
  };
}

describe('round_robin', () => {
  it('spreads 300 requests over 3 equal targets within ± workers of 100 each', async () => {
    targets = await startTargets(3);
    ferry = await startTestFerry(simpleConfig({ targets: targets.map((t) => t.address), workers: 2 }));
    const agent = new Agent({ connections: 8 });
    for (let i = 0; i < 30; i++) await Promise.all(Array.from({ length: 10 }, () => get('/', agent)));
    await agent.close();
    for (const target of targets) expect(Math.abs(target.count - 100)).toBeLessThanOrEqual(2);
  });

  it('gives weights 5,1,1 exactly a a b a c a a per cycle with one worker', async () => {
    targets = await startTargets(3);
    ferry = await startTestFerry(
      simpleConfig({ targets: targets.map((t) => t.address), workers: 1, weights: [5, 1, 1] }),
    );
    const names = new Map(targets.map((t, i) => [t.address, 'abc'[i]!]));
    let sequence = '';
    for (let i = 0; i < 21; i++) sequence += names.get((await get('/')).target);
    // The shared cursor may start anywhere in the cycle; three full cycles contain the pattern twice from its start.
    expect(`${sequence}${sequence}`).toContain('aabacaaaabacaa');
    expect([...sequence].filter((c) => c === 'a')).toHaveLength(15);
  });
});

describe('least_connections', () => {
  it('sends 60 short requests to the two targets not holding 20 long ones', async () => {
    targets = await startTargets(3);
    ferry = await startTestFerry(
      simpleConfig({
        targets: targets.map((t) => t.address),
        algorithm: 'least_connections',
        weights: [1, 0, 0],
      }),
    );
    const long = new Agent({ connections: 20 });
    const held = await Promise.all(
      Array.from({ length: 20 }, () => request(`${ferry!.url}/hold`, { dispatcher: long })),
    );
    expect(targets[0]!.held).toHaveLength(20);
    const topology = ferry.topology();
    for (const member of topology.groups[0]!.members.slice(1)) ferry.table.setWeight(member.slot, 1);
    const short = new Agent({ connections: 4 });
    for (let i = 0; i < 15; i++) await Promise.all(Array.from({ length: 4 }, () => get('/', short)));
    expect(targets[0]!.hits.get('/') ?? 0).toBe(0);
    expect((targets[1]!.hits.get('/') ?? 0) + (targets[2]!.hits.get('/') ?? 0)).toBe(60);
    targets[0]!.release();
    await Promise.all(held.map((res) => res.body.text()));
    await Promise.all([long.close(), short.close()]);
  });
});

describe('response_time', () => {
  it('prefers the 5 ms target ≥ 3× over the 50 ms one, and moves when it turns slow', async () => {
    targets = await startTargets(2);
    const [fast, slow] = targets as [TestTarget, TestTarget];
    fast.delayMs = 5;
    slow.delayMs = 50;
    ferry = await startTestFerry(
      simpleConfig({ targets: [fast.address, slow.address], algorithm: 'response_time' }),
    );
    const agent = new Agent({ connections: 4 });
    for (let i = 0; i < 20; i++) await Promise.all(Array.from({ length: 2 }, () => get('/', agent)));
    fast.count = 0;
    slow.count = 0;
    for (let i = 0; i < 50; i++) await Promise.all(Array.from({ length: 2 }, () => get('/', agent)));
    expect(fast.count).toBeGreaterThanOrEqual(3 * slow.count);
    // The fast one turns slow (200 ms): within a few seconds traffic moves to the other.
    fast.delayMs = 200;
    const deadline = Date.now() + 5_000;
    while (Date.now() < deadline) await Promise.all(Array.from({ length: 2 }, () => get('/', agent)));
    fast.count = 0;
    slow.count = 0;
    for (let i = 0; i < 20; i++) await Promise.all(Array.from({ length: 2 }, () => get('/', agent)));
    expect(slow.count).toBeGreaterThanOrEqual(3 * fast.count);
    await agent.close();
  });
});

describe('hash', () => {
  async function mapKeys(count: number): Promise<Map<string, string>> {
    const mapping = new Map<string, string>();
    // A new connection per batch spreads the keys over both workers (the kernel picks the worker per connection).
    for (let batch = 0; batch < count / 50; batch++) {
      const agent = new Agent({ connections: 10, pipelining: 1 });
      await Promise.all(
        Array.from({ length: 50 }, async (_, i) => {
          const key = `user-${batch * 50 + i}`;
          mapping.set(key, (await get('/', agent, { 'x-user': key })).target);
        }),
      );
      await agent.close();
    }
    return mapping;
  }

  it('maps 1,000 keys identically through both workers and after a restart', async () => {
    targets = await startTargets(4);
    const yaml = simpleConfig({
      targets: targets.map((t) => t.address),
      algorithm: 'hash',
      groupYaml: '    hash: { key: "header:x-user" }',
    });
    ferry = await startTestFerry(yaml);
    const first = await mapKeys(1000);
    const second = await mapKeys(1000);
    expect(second).toEqual(first);
    await ferry.stop(1_000);
    ferry = await startTestFerry(yaml);
    expect(await mapKeys(1000)).toEqual(first);
    expect(new Set(first.values()).size).toBe(4);
  });

  it('remaps 20% ± 5% of keys when a 5th target joins 4', async () => {
    targets = await startTargets(5);
    const config = (n: number) =>
      simpleConfig({
        targets: targets.slice(0, n).map((t) => t.address),
        algorithm: 'hash',
        groupYaml: '    hash: { key: "header:x-user" }',
      });
    ferry = await startTestFerry(config(4));
    const before = await mapKeys(1000);
    await ferry.stop(1_000);
    ferry = await startTestFerry(config(5));
    const after = await mapKeys(1000);
    let moved = 0;
    for (const [key, target] of before) if (after.get(key) !== target) moved++;
    expect(moved / 1000).toBeGreaterThanOrEqual(0.15);
    expect(moved / 1000).toBeLessThanOrEqual(0.25);
  });
});
