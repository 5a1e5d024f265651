/**
 * UDP and TCP_UDP listeners (issue 13) through real sockets and two real
 * worker threads: 1,000 flows spread by the algorithm, each flow's datagrams
 * on one target, replies from the listener's own address, idle flows expire
 * (the gauge drops; the next datagram is a new flow), the flow table is
 * bounded and counts what it drops, and TCP and UDP share one port.
 */
import dgram from 'node:dgram';
import { once } from 'node:events';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LISTENER_UDP_DROPPED_TOTAL, LISTENER_UDP_FLOWS_ACTIVE } from '../../proto/table-layout.ts';
import { startTestFerry, type TestFerry } from '../helpers/ferry.ts';
import { type L4Target, listenerCounter, startTcpEcho, startUdpEcho } from '../helpers/l4.ts';
import { targetCounters, waitForSettled } from '../helpers/table-counters.ts';

interface Reply {
  readonly text: string;
  readonly from: string;
}

/** A UDP client on its own port: send and wait for the next reply. */
async function udpClient(): Promise<dgram.Socket> {
  const socket = dgram.createSocket('udp4');
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  return socket;
}

async function ask(socket: dgram.Socket, port: number, text: string): Promise<Reply> {
  const answered = once(socket, 'message') as Promise<[Buffer, dgram.RemoteInfo]>;
  socket.send(text, port, '127.0.0.1');
  const [message, remote] = await answered;
  return { text: message.toString(), from: `${remote.address}:${remote.port}` };
}

function targetOf(reply: Reply): string {
  return reply.text.slice(0, reply.text.indexOf(':'));
}

describe('UDP listener', () => {
  let ferry: TestFerry;
  let targets: L4Target[];

  beforeAll(async () => {
    targets = await Promise.all(['u1', 'u2', 'u3'].map((name) => startUdpEcho(name)));
    ferry = await startTestFerry(`workers: 2
admin: { address: "127.0.0.1:0" }
listeners:
  - { name: udp, protocol: UDP, address: "127.0.0.1:0", defaultAction: { forward: { targetGroup: echo } } }
  - name: short
    protocol: UDP
    address: "127.0.0.1:0"
    idleTimeout: 1s
    defaultAction: { forward: { targetGroup: echo } }
targetGroups:
  - name: echo
    algorithm: round_robin
    healthCheck: { enabled: false }
    targets:
${targets.map((target) => `      - { address: "${target.address}" }`).join('\n')}
`);
  });

  afterAll(async () => {
    await ferry?.stop(1_000);
    for (const target of targets ?? []) await target.close();
  });

  it('spreads 1,000 flows over the targets round robin, each reply coming from the listener address', async () => {
    const port = ferry.listenerPorts.get('udp')!;
    const counts = new Map<string, number>();
    const senders = new Set<string>();
    for (let batch = 0; batch < 10; batch++) {
      const clients = await Promise.all(Array.from({ length: 100 }, () => udpClient()));
      const replies = await Promise.all(clients.map((client, i) => ask(client, port, `flow-${batch}-${i}`)));
      for (const reply of replies) {
        counts.set(targetOf(reply), (counts.get(targetOf(reply)) ?? 0) + 1);
        senders.add(reply.from);
      }
      for (const client of clients) client.close();
    }
    expect(senders).toEqual(new Set([`127.0.0.1:${port}`]));
    // Round robin is one rotation shared by the workers: each target gets a third, give or take the interleaving.
    for (const target of targets) expect(counts.get(target.name) ?? 0).toBeGreaterThan(280);
    expect([...counts.values()].reduce((sum, count) => sum + count, 0)).toBe(1_000);
  });

  it("keeps every datagram of a flow on the flow's target", async () => {
    const port = ferry.listenerPorts.get('udp')!;
    const clients = await Promise.all(Array.from({ length: 30 }, () => udpClient()));
    for (const client of clients) {
      const first = targetOf(await ask(client, port, 'a'));
      for (let i = 0; i < 5; i++) expect(targetOf(await ask(client, port, `b${i}`))).toBe(first);
    }
    for (const client of clients) client.close();
  });

  it('forgets a flow idle for idleTimeout, so the next datagram starts a new one', async () => {
    const port = ferry.listenerPorts.get('short')!;
    const SHORT = 1;
    const client = await udpClient();
    const first = await ask(client, port, 'one');
    const target = targets.find((candidate) => candidate.name === targetOf(first))!;
    const firstSource = target.sources.at(-1);
    expect(listenerCounter(ferry, SHORT, LISTENER_UDP_FLOWS_ACTIVE)).toBe(1);
    const expired = await waitForSettled(
      () => listenerCounter(ferry, SHORT, LISTENER_UDP_FLOWS_ACTIVE),
      (active) => active === 0,
      10_000,
      100,
    );
    expect(expired).toBe(0);
    const second = await ask(client, port, 'two');
    const secondTarget = targets.find((candidate) => candidate.name === targetOf(second))!;
    // A new flow has a new upstream socket: the target sees a new source port.
    expect(secondTarget.sources.at(-1)).not.toBe(firstSource);
    client.close();
  });

  it('shows its tracked flows in /metrics', async () => {
    const tracked = listenerCounter(ferry, 0, LISTENER_UDP_FLOWS_ACTIVE);
    expect(tracked).toBeGreaterThan(0);
    const text = await (await fetch(`http://${ferry.adminAddress}/metrics`)).text();
    expect(text).toContain(`ferry_listener_udp_flows{listener="udp"} ${tracked}`);
  });

  it('drops the in-flight count of expired flows', async () => {
    await waitForSettled(
      () => listenerCounter(ferry, 1, LISTENER_UDP_FLOWS_ACTIVE),
      (active) => active === 0,
      10_000,
      100,
    );
    const rows = targetCounters(ferry);
    // The "udp" listener's flows (120 s default) are still in flight; "short" holds none.
    expect(rows.reduce((sum, row) => sum + row.inFlight, 0)).toBe(
      listenerCounter(ferry, 0, LISTENER_UDP_FLOWS_ACTIVE),
    );
  });
});

describe('UDP flow table bound', () => {
  let ferry: TestFerry;
  let target: L4Target;

  beforeAll(async () => {
    target = await startUdpEcho('u');
    ferry = await startTestFerry(`workers: 1
admin: { address: "127.0.0.1:0" }
limits: { maxUdpFlows: 3 }
listeners:
  - { name: udp, protocol: UDP, address: "127.0.0.1:0", defaultAction: { forward: { targetGroup: echo } } }
targetGroups:
  - { name: echo, healthCheck: { enabled: false }, targets: [ { address: "${target.address}" } ] }
`);
  });

  afterAll(async () => {
    await ferry?.stop(1_000);
    await target?.close();
  });

  it('answers limits.maxUdpFlows flows and drops and counts datagrams of more', async () => {
    const port = ferry.listenerPorts.get('udp')!;
    const clients = await Promise.all(Array.from({ length: 5 }, () => udpClient()));
    const answered: string[] = [];
    for (const client of clients) {
      client.on('message', (message) => answered.push(message.toString()));
      client.send('hi', port, '127.0.0.1');
    }
    const dropped = await waitForSettled(
      () => listenerCounter(ferry, 0, LISTENER_UDP_DROPPED_TOTAL),
      (count) => count >= 2,
    );
    expect(dropped).toBe(2);
    await waitForSettled(
      () => answered.length,
      (count) => count >= 3,
    );
    expect(answered).toEqual(['u:hi', 'u:hi', 'u:hi']);
    expect(listenerCounter(ferry, 0, LISTENER_UDP_FLOWS_ACTIVE)).toBe(3);
    for (const client of clients) client.close();
  });
});

describe('TCP_UDP listener', () => {
  let ferry: TestFerry;
  let tcpTarget: L4Target;
  let udpTarget: L4Target;

  beforeAll(async () => {
    tcpTarget = await startTcpEcho('tcp');
    // The UDP half of the same target address: a UDP echo bound on the TCP echo's port.
    const socket = dgram.createSocket('udp4');
    socket.on('message', (message, remote) => socket.send(`udp:${message}`, remote.port, remote.address));
    socket.bind(tcpTarget.port, '127.0.0.1');
    await once(socket, 'listening');
    udpTarget = {
      ...tcpTarget,
      name: 'udp',
      close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
    };
    ferry = await startTestFerry(`workers: 2
admin: { address: "127.0.0.1:0" }
listeners:
  - { name: both, protocol: TCP_UDP, address: "127.0.0.1:0", defaultAction: { forward: { targetGroup: echo } } }
targetGroups:
  - { name: echo, healthCheck: { enabled: false }, targets: [ { address: "${tcpTarget.address}" } ] }
`);
  });

  afterAll(async () => {
    await ferry?.stop(1_000);
    await tcpTarget?.close();
    await udpTarget?.close();
  });

  it('relays TCP and UDP on the same port to the same target address', async () => {
    const port = ferry.listenerPorts.get('both')!;
    const client = await udpClient();
    expect((await ask(client, port, 'dgram')).text).toBe('udp:dgram');
    client.close();
    const socket = net.connect(port, '127.0.0.1');
    await once(socket, 'connect');
    socket.write('stream');
    const [chunk] = (await once(socket, 'data')) as [Buffer];
    socket.destroy();
    expect(chunk.toString()).toBe('tcp:stream');
  });
});
