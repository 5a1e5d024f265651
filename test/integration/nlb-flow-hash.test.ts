/**
 * Flow hash keys for layer-4 groups (issue 13): `algorithm: hash` with
 * `hash.key` source_ip, source_ip_dest_ip or five_tuple, through real TCP
 * connections from several loopback source addresses to listeners on two
 * loopback destination addresses, and real worker threads (the same key
 * reaches the same target from either worker).
 */
import { once } from 'node:events';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestFerry, type TestFerry } from '../helpers/ferry.ts';
import { type L4Target, startTcpEcho } from '../helpers/l4.ts';

let ferry: TestFerry;
let targets: L4Target[];

/** Which target answers a connection from `source` to `host:port`. */
async function targetFor(source: string, host: string, port: number): Promise<string> {
  const socket = net.connect({ host, port, localAddress: source });
  await once(socket, 'connect');
  socket.write('x');
  const [chunk] = (await once(socket, 'data')) as [Buffer];
  socket.destroy();
  const text = chunk.toString();
  return text.slice(0, text.indexOf(':'));
}

const SOURCES = Array.from({ length: 16 }, (_, i) => `127.0.0.${10 + i}`);

beforeAll(async () => {
  targets = await Promise.all(['h1', 'h2', 'h3', 'h4'].map((name) => startTcpEcho(name)));
  const members = targets.map((target) => `      - { address: "${target.address}" }`).join('\n');
  const group = (name: string, key: string) => `  - name: ${name}
    algorithm: hash
    hash: { key: ${key} }
    healthCheck: { enabled: false }
    targets:
${members}`;
  ferry = await startTestFerry(`workers: 2
admin: { address: "127.0.0.1:0" }
listeners:
  - { name: src-a, protocol: TCP, address: "127.0.0.1:0", defaultAction: { forward: { targetGroup: by-source } } }
  - { name: src-b, protocol: TCP, address: "127.0.0.2:0", defaultAction: { forward: { targetGroup: by-source } } }
  - { name: pair-a, protocol: TCP, address: "127.0.0.1:0", defaultAction: { forward: { targetGroup: by-pair } } }
  - { name: pair-b, protocol: TCP, address: "127.0.0.2:0", defaultAction: { forward: { targetGroup: by-pair } } }
  - { name: five, protocol: TCP, address: "127.0.0.1:0", defaultAction: { forward: { targetGroup: by-flow } } }
targetGroups:
${group('by-source', 'source_ip')}
${group('by-pair', 'source_ip_dest_ip')}
${group('by-flow', 'five_tuple')}
`);
});

afterAll(async () => {
  await ferry?.stop(1_000);
  for (const target of targets ?? []) await target.close();
});

function port(listener: string): number {
  return ferry.listenerPorts.get(listener)!;
}

describe('hash.key on layer-4 groups', () => {
  it('source_ip: a client address reaches one target, whichever listener address it connects to', async () => {
    for (const source of SOURCES) {
      const picked = new Set<string>();
      for (let i = 0; i < 3; i++) {
        picked.add(await targetFor(source, '127.0.0.1', port('src-a')));
        picked.add(await targetFor(source, '127.0.0.2', port('src-b')));
      }
      expect(picked.size, source).toBe(1);
    }
  });

  it('source_ip_dest_ip: a client address keeps one target per destination address, and destinations differ', async () => {
    let differing = 0;
    for (const source of SOURCES) {
      const toA = new Set<string>();
      const toB = new Set<string>();
      for (let i = 0; i < 3; i++) {
        toA.add(await targetFor(source, '127.0.0.1', port('pair-a')));
        toB.add(await targetFor(source, '127.0.0.2', port('pair-b')));
      }
      expect(toA.size, source).toBe(1);
      expect(toB.size, source).toBe(1);
      if ([...toA][0] !== [...toB][0]) differing++;
    }
    // With 4 targets, 16 sources all landing alike on both destinations has odds of 4^-16.
    expect(differing).toBeGreaterThan(0);
  });

  it('five_tuple: connections from one client address spread by their source port', async () => {
    const picked = new Map<string, number>();
    for (let i = 0; i < 60; i++) {
      const name = await targetFor('127.0.0.9', '127.0.0.1', port('five'));
      picked.set(name, (picked.get(name) ?? 0) + 1);
    }
    expect(picked.size).toBeGreaterThanOrEqual(3);
  });
});
