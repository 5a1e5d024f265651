/**
 * GENEVE listener and appliance groups (GWLB, issue 13) through real UDP
 * sockets and two real worker threads. Appliances are UDP sockets that keep
 * every packet Ferry sends them and send it straight back (options
 * unchanged, as GWLB appliances must).
 *
 * What Ferry emits is decoded by Wireshark's own dissector (Debian's tshark,
 * installed by scripts/ensure-debian-tool.sh): the datagrams an appliance
 * received are written to a pcap file, each wrapped in Ethernet/IPv4/UDP
 * headers to port 6081, and `tshark -r` reads the VNI, the GWLB option class
 * 0x0108 with types 1, 2, 3 and the inner packet.
 */
import { execFileSync } from 'node:child_process';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  LISTENER_UDP_DROPPED_TOTAL,
  LISTENER_UDP_FLOWS_ACTIVE,
  loadTarget,
  TARGET_STATE,
  TARGET_STATE_DRAINING,
  TARGET_STATE_HEALTHY,
  TARGET_STATE_UNHEALTHY,
} from '../../proto/table-layout.ts';
import { startTestFerry, type TestFerry } from '../helpers/ferry.ts';
import { ensureTool } from '../helpers/haproxy.ts';
import { listenerCounter } from '../helpers/l4.ts';
import { ManualClock } from '../helpers/manual-clock.ts';
import { waitForSettled } from '../helpers/table-counters.ts';
import { runUntil, workersCaughtUp } from './health-support.ts';

interface Appliance {
  readonly name: string;
  readonly socket: dgram.Socket;
  readonly port: number;
  /** Every datagram received, in order. */
  readonly received: Buffer[];
  /** A TCP port for its health check; closed to make it fail. */
  readonly health: net.Server;
  readonly healthPort: number;
}

/**
 * An appliance: a UDP socket that echoes GENEVE packets, and a TCP server on
 * the same port number (TCP and UDP ports are separate) for its health check
 * on the traffic port.
 */
async function startAppliance(name: string): Promise<Appliance> {
  for (let attempt = 0; ; attempt++) {
    const socket = dgram.createSocket('udp4');
    const received: Buffer[] = [];
    socket.on('message', (message, remote) => {
      received.push(message);
      socket.send(message, remote.port, remote.address);
    });
    socket.bind(0, '127.0.0.1');
    await once(socket, 'listening');
    const port = socket.address().port;
    const health = net.createServer((connection) => connection.destroy());
    const isBound = await new Promise<boolean>((resolve) => {
      health.once('error', () => resolve(false));
      health.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (isBound) return { name, socket, port, received, health, healthPort: port };
    socket.close();
    if (attempt > 10) throw new Error('no port free for both UDP and TCP');
  }
}

/** An IPv4 packet carrying UDP (protocol 17) or a TCP header stub (6) between two endpoints. */
function ipv4Packet(
  source: string,
  sourcePort: number,
  destination: string,
  destinationPort: number,
  protocol = 17,
): Buffer {
  const payload = Buffer.from(`payload ${source}:${sourcePort}>${destination}:${destinationPort}`);
  const l4 = Buffer.alloc(protocol === 17 ? 8 : 20);
  l4.writeUInt16BE(sourcePort, 0);
  l4.writeUInt16BE(destinationPort, 2);
  if (protocol === 17) l4.writeUInt16BE(8 + payload.length, 4);
  else l4[12] = 0x50;
  const ip = Buffer.alloc(20);
  ip[0] = 0x45;
  ip.writeUInt16BE(20 + l4.length + payload.length, 2);
  ip[8] = 64;
  ip[9] = protocol;
  Buffer.from(source.split('.').map(Number)).copy(ip, 12);
  Buffer.from(destination.split('.').map(Number)).copy(ip, 16);
  return Buffer.concat([ip, l4, payload]);
}

/** A GENEVE datagram as the traffic side sends it: version 0, no options, inner IPv4. */
function genevePacket(
  vni: number,
  inner: Buffer,
  options = Buffer.alloc(0),
  firstByte = options.length / 4,
): Buffer {
  const header = Buffer.alloc(8);
  header[0] = firstByte;
  header.writeUInt16BE(0x0800, 2);
  header.writeUInt32BE((vni << 8) >>> 0, 4);
  return Buffer.concat([header, options, inner]);
}

/** A pcap file (Ethernet) of UDP datagrams to port 6081, each `payload` exactly as Ferry sent it. */
function pcapOf(payloads: readonly Buffer[]): Buffer {
  const global = Buffer.alloc(24);
  global.writeUInt32LE(0xa1b2c3d4, 0);
  global.writeUInt16LE(2, 4);
  global.writeUInt16LE(4, 6);
  global.writeUInt32LE(65_535, 16);
  global.writeUInt32LE(1, 20);
  const records = payloads.map((payload, i) => {
    const udp = Buffer.alloc(8);
    udp.writeUInt16BE(40_000 + i, 0);
    udp.writeUInt16BE(6081, 2);
    udp.writeUInt16BE(8 + payload.length, 4);
    const ip = Buffer.alloc(20);
    ip[0] = 0x45;
    ip.writeUInt16BE(20 + 8 + payload.length, 2);
    ip[8] = 64;
    ip[9] = 17;
    Buffer.from([10, 0, 0, 1]).copy(ip, 12);
    Buffer.from([10, 0, 0, 2]).copy(ip, 16);
    const ethernet = Buffer.from([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00]);
    const frame = Buffer.concat([ethernet, ip, udp, payload]);
    const record = Buffer.alloc(16);
    record.writeUInt32LE(1_700_000_000 + i, 0);
    record.writeUInt32LE(frame.length, 8);
    record.writeUInt32LE(frame.length, 12);
    return Buffer.concat([record, frame]);
  });
  return Buffer.concat([global, ...records]);
}

/** The traffic side: one UDP socket sending GENEVE to Ferry and collecting what comes back. */
async function trafficSide(): Promise<{ socket: dgram.Socket; received: Buffer[] }> {
  const socket = dgram.createSocket('udp4');
  const received: Buffer[] = [];
  socket.on('message', (message) => received.push(message));
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  return { socket, received };
}

function applianceOf(appliances: readonly Appliance[], before: readonly number[]): string[] {
  return appliances.filter((appliance, i) => appliance.received.length > before[i]!).map((a) => a.name);
}

const tshark = ensureTool('tshark', 'tshark');
const tsharkSkip = 'reason' in tshark ? tshark.reason : '';
if (tsharkSkip !== '') console.log(`skipping the tshark decode test: tshark unavailable (${tsharkSkip})`);

describe('GENEVE listener (GWLB)', () => {
  let ferry: TestFerry;
  let appliances: Appliance[];
  let traffic: { socket: dgram.Socket; received: Buffer[] };

  beforeAll(async () => {
    appliances = await Promise.all(['fw1', 'fw2', 'fw3'].map((name) => startAppliance(name)));
    traffic = await trafficSide();
    ferry = await startTestFerry(`workers: 2
admin: { address: "127.0.0.1:0" }
listeners:
  - { name: gwlb, protocol: GENEVE, address: "127.0.0.1:0", defaultAction: { forward: { targetGroup: firewalls } } }
  - { name: short, protocol: GENEVE, address: "127.0.0.1:0", idleTimeout: 1s, defaultAction: { forward: { targetGroup: firewalls } } }
targetGroups:
  - name: firewalls
    protocol: GENEVE
    healthCheck: { enabled: false }
    targets:
${appliances.map((appliance) => `      - { address: "127.0.0.1:${appliance.port}" }`).join('\n')}
`);
  });

  afterAll(async () => {
    await ferry?.stop(1_000);
    traffic?.socket.close();
    for (const appliance of appliances ?? []) {
      appliance.socket.close();
      appliance.health.close();
    }
  });

  async function send(packet: Buffer): Promise<void> {
    traffic.socket.send(packet, ferry.listenerPorts.get('gwlb')!, '127.0.0.1');
  }

  it('keeps both directions of each flow on one appliance, and spreads flows', async () => {
    const used = new Set<string>();
    for (let i = 0; i < 40; i++) {
      const client = `10.1.${i}.7`;
      const forward = genevePacket(0x123456, ipv4Packet(client, 30_000 + i, '192.0.2.10', 443));
      const reverse = genevePacket(0x123456, ipv4Packet('192.0.2.10', 443, client, 30_000 + i));
      const before = appliances.map((appliance) => appliance.received.length);
      const returned = traffic.received.length;
      await send(forward);
      await send(reverse);
      await waitForSettled(
        () => traffic.received.length,
        (count) => count >= returned + 2,
      );
      const hit = applianceOf(appliances, before);
      expect(hit, `flow ${i}`).toHaveLength(1);
      expect(appliances.find((appliance) => appliance.name === hit[0])!.received.length).toBe(
        before[appliances.findIndex((appliance) => appliance.name === hit[0])]! + 2,
      );
      used.add(hit[0]!);
    }
    expect(used.size).toBeGreaterThanOrEqual(2);
  });

  it('returns what the appliance sends back to the sender, with its own GENEVE header and the inner packet intact', async () => {
    const inner = ipv4Packet('10.9.9.9', 5555, '198.51.100.1', 53);
    const packet = genevePacket(0xabcdef, inner);
    const returned = traffic.received.length;
    await send(packet);
    await waitForSettled(
      () => traffic.received.length,
      (count) => count > returned,
    );
    expect(traffic.received[returned]).toEqual(packet);
  });

  it('drops and counts packets of another version, with an unknown critical option, OAM or a bad inner packet', async () => {
    const inner = ipv4Packet('10.2.2.2', 1, '10.3.3.3', 2);
    const criticalOption = Buffer.from([0x01, 0x02, 0x80, 0x00]);
    const bad = [
      genevePacket(1, inner, Buffer.alloc(0), 0x40), // version 1
      genevePacket(1, inner, criticalOption), // unknown critical option
      (() => {
        const oam = genevePacket(1, inner);
        oam[1] = 0x80;
        return oam;
      })(),
      genevePacket(1, inner.subarray(0, 30)), // inner IPv4 shorter than its total length
      genevePacket(1, inner, Buffer.alloc(0), 10), // options beyond the datagram
    ];
    const before = listenerCounter(ferry, 0, LISTENER_UDP_DROPPED_TOTAL);
    const seen = appliances.map((appliance) => appliance.received.length);
    for (const packet of bad) await send(packet);
    // A good packet after them: once it is back, the bad ones (sent first, same socket) were handled.
    const returned = traffic.received.length;
    await send(genevePacket(2, ipv4Packet('10.4.4.4', 1, '10.5.5.5', 2)));
    await waitForSettled(
      () => traffic.received.length,
      (count) => count > returned,
    );
    const dropped = await waitForSettled(
      () => listenerCounter(ferry, 0, LISTENER_UDP_DROPPED_TOTAL),
      (count) => count >= before + bad.length,
    );
    expect(dropped).toBe(before + bad.length);
    const forwarded = appliances.reduce((sum, appliance, i) => sum + appliance.received.length - seen[i]!, 0);
    expect(forwarded).toBe(1);
  });

  it('expires an idle flow from its bounded table, visible in the flow gauge', async () => {
    const SHORT = 1;
    const returned = traffic.received.length;
    traffic.socket.send(
      genevePacket(3, ipv4Packet('10.11.0.1', 7, '10.12.0.1', 8)),
      ferry.listenerPorts.get('short')!,
      '127.0.0.1',
    );
    await waitForSettled(
      () => traffic.received.length,
      (count) => count > returned,
    );
    expect(listenerCounter(ferry, SHORT, LISTENER_UDP_FLOWS_ACTIVE)).toBe(1);
    const active = await waitForSettled(
      () => listenerCounter(ferry, SHORT, LISTENER_UDP_FLOWS_ACTIVE),
      (count) => count === 0,
      10_000,
      100,
    );
    expect(active).toBe(0);
  });

  it.skipIf(tsharkSkip !== '')(
    'emits packets Wireshark decodes as GENEVE with the VNI, GWLB options 0x0108 types 1-3 and the inner packet',
    async () => {
      const inner = ipv4Packet('10.7.7.7', 4321, '203.0.113.5', 8443);
      const returned = traffic.received.length;
      await send(genevePacket(0x0a0b0c, inner));
      await waitForSettled(
        () => traffic.received.length,
        (count) => count > returned,
      );
      const emitted = appliances
        .flatMap((appliance) => appliance.received)
        .find((packet) => packet.subarray(packet.length - inner.length).equals(inner))!;
      expect(emitted).toBeDefined();
      const dir = mkdtempSync(join(tmpdir(), 'ferry-geneve-'));
      const file = join(dir, 'emitted.pcap');
      writeFileSync(file, pcapOf([emitted]));
      const fields = execFileSync(
        'path' in tshark ? tshark.path : 'tshark',
        [
          '-r',
          file,
          '-T',
          'fields',
          '-E',
          'separator=;',
          '-E',
          'aggregator=,',
          '-e',
          'geneve.version',
          '-e',
          'geneve.vni',
          '-e',
          'geneve.proto_type',
          '-e',
          'geneve.option.class',
          '-e',
          'geneve.option.type',
          '-e',
          'geneve.option.length',
          '-e',
          'ip.src',
          '-e',
          'ip.dst',
          '-e',
          'udp.srcport',
          '-e',
          'udp.dstport',
        ],
        { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
      ).trim();
      rmSync(dir, { recursive: true, force: true });
      const [
        version,
        vni,
        protocolType,
        classes,
        types,
        lengths,
        sources,
        destinations,
        sourcePorts,
        destinationPorts,
      ] = fields.split(';');
      expect(version).toBe('0');
      expect(Number(vni)).toBe(0x0a0b0c);
      expect(Number(protocolType)).toBe(0x0800);
      expect(classes!.split(',').map(Number)).toEqual([0x0108, 0x0108, 0x0108]);
      expect(types!.split(',').map(Number)).toEqual([1, 2, 3]);
      // The options' total (32 bytes), then each option with its header: 4 + 8, 4 + 8, 4 + 4.
      expect(lengths!.split(',').map(Number)).toEqual([32, 12, 12, 8]);
      // Outer (the pcap's synthetic header) then inner: the inner packet is decoded intact.
      expect(sources!.split(',')).toEqual(['10.0.0.1', '10.7.7.7']);
      expect(destinations!.split(',')).toEqual(['10.0.0.2', '203.0.113.5']);
      expect(sourcePorts!.split(',').at(-1)).toBe('4321');
      expect(destinationPorts!.split(',').at(-1)).toBe('8443');
    },
  );
});

describe('GENEVE target failover', () => {
  let ferry: TestFerry;
  const clock = new ManualClock();
  let stay: Appliance[];
  let move: Appliance[];
  let traffic: { socket: dgram.Socket; received: Buffer[] };

  const groupYaml = (name: string, mode: string, appliances: readonly Appliance[]) => `  - name: ${name}
    protocol: GENEVE
    flowStickiness: three_tuple
    targetFailover: { onUnhealthy: ${mode}, onDeregistration: ${mode} }
    failOpen: false
    healthCheck: { protocol: TCP, interval: 1s, timeout: 500ms, unhealthyThreshold: 2, healthyThreshold: 2 }
    targets:
${appliances.map((appliance) => `      - { address: "127.0.0.1:${appliance.port}" }`).join('\n')}`;

  beforeAll(async () => {
    stay = await Promise.all(['s1', 's2'].map((name) => startAppliance(name)));
    move = await Promise.all(['m1', 'm2'].map((name) => startAppliance(name)));
    traffic = await trafficSide();
    ferry = await startTestFerry(
      `workers: 2
admin: { address: "127.0.0.1:0" }
listeners:
  - { name: stay, protocol: GENEVE, address: "127.0.0.1:0", defaultAction: { forward: { targetGroup: stay } } }
  - { name: move, protocol: GENEVE, address: "127.0.0.1:0", defaultAction: { forward: { targetGroup: move } } }
targetGroups:
${groupYaml('stay', 'no_rebalance', stay)}
${groupYaml('move', 'rebalance', move)}
`,
      { clock },
    );
    // Flows are picked among healthy appliances: step the health clock until all four are.
    const slots = ferry.topology().groups.flatMap((group) => group.members.map((member) => member.slot));
    await runUntil(ferry.health, clock, () =>
      slots.every((slot) => loadTarget(ferry.table.view, slot, TARGET_STATE) === TARGET_STATE_HEALTHY),
    );
  });

  afterAll(async () => {
    await ferry?.stop(1_000);
    traffic?.socket.close();
    for (const appliance of [...(stay ?? []), ...(move ?? [])]) {
      appliance.socket.close();
      appliance.health.close();
    }
  });

  /** Send one packet of flow `i` to `listener`; resolve with the appliance that got it. */
  async function route(listener: string, appliances: readonly Appliance[], i: number): Promise<string> {
    const before = appliances.map((appliance) => appliance.received.length);
    const returned = traffic.received.length;
    traffic.socket.send(
      genevePacket(7, ipv4Packet(`10.8.${i}.1`, 1000 + i, '192.0.2.80', 80, 6)),
      ferry.listenerPorts.get(listener)!,
      '127.0.0.1',
    );
    await waitForSettled(
      () => traffic.received.length,
      (count) => count > returned,
    );
    return applianceOf(appliances, before)[0] ?? 'none';
  }

  it('keeps existing flows on an unhealthy appliance with no_rebalance and moves them with rebalance; new flows avoid it', async () => {
    const topology = ferry.topology();
    const slotOf = (appliance: Appliance) =>
      topology.groups.flatMap((group) => group.members).find((member) => member.port === appliance.port)!
        .slot;
    const first = { stay: [] as string[], move: [] as string[] };
    for (let i = 0; i < 16; i++) {
      first.stay.push(await route('stay', stay, i));
      first.move.push(await route('move', move, i));
    }
    expect(new Set(first.stay).size).toBe(2);
    expect(new Set(first.move).size).toBe(2);

    // s1 and m1 stop answering their health checks (the GENEVE side keeps working): they turn unhealthy.
    for (const appliance of [stay[0]!, move[0]!]) {
      await new Promise((resolve) => appliance.health.close(resolve));
      await runUntil(
        ferry.health,
        clock,
        () => loadTarget(ferry.table.view, slotOf(appliance), TARGET_STATE) === TARGET_STATE_UNHEALTHY,
      );
      await workersCaughtUp(ferry);
    }

    for (let i = 0; i < 16; i++) {
      const stayed = await route('stay', stay, i);
      expect(stayed, `no_rebalance flow ${i}`).toBe(first.stay[i]);
      const moved = await route('move', move, i);
      expect(moved, `rebalance flow ${i}`).toBe('m2');
    }
    for (let i = 100; i < 108; i++) expect(await route('stay', stay, i), `new flow ${i}`).toBe('s2');
  });
});

describe('GENEVE target failover on deregistration', () => {
  let ferry: TestFerry;
  let stay: Appliance[];
  let move: Appliance[];
  let traffic: { socket: dgram.Socket; received: Buffer[] };

  const groupYaml = (name: string, mode: string, appliances: readonly Appliance[]) => `  - name: ${name}
    protocol: GENEVE
    targetFailover: { onUnhealthy: no_rebalance, onDeregistration: ${mode} }
    deregistrationDelay: 1h
    healthCheck: { enabled: false }
    targets:
${appliances.map((appliance) => `      - { address: "127.0.0.1:${appliance.port}" }`).join('\n')}`;

  beforeAll(async () => {
    stay = await Promise.all(['d1', 'd2'].map((name) => startAppliance(name)));
    move = await Promise.all(['r1', 'r2'].map((name) => startAppliance(name)));
    traffic = await trafficSide();
    ferry = await startTestFerry(`workers: 2
admin: { address: "127.0.0.1:0" }
listeners:
  - { name: stay, protocol: GENEVE, address: "127.0.0.1:0", defaultAction: { forward: { targetGroup: stay } } }
  - { name: move, protocol: GENEVE, address: "127.0.0.1:0", defaultAction: { forward: { targetGroup: move } } }
targetGroups:
${groupYaml('stay', 'no_rebalance', stay)}
${groupYaml('move', 'rebalance', move)}
`);
  });

  afterAll(async () => {
    await ferry?.stop(1_000);
    traffic?.socket.close();
    for (const appliance of [...(stay ?? []), ...(move ?? [])]) {
      appliance.socket.close();
      appliance.health.close();
    }
  });

  async function route(listener: string, appliances: readonly Appliance[], i: number): Promise<string> {
    const before = appliances.map((appliance) => appliance.received.length);
    const returned = traffic.received.length;
    traffic.socket.send(
      genevePacket(9, ipv4Packet(`10.6.${i}.1`, 2000 + i, '192.0.2.90', 443, 17)),
      ferry.listenerPorts.get(listener)!,
      '127.0.0.1',
    );
    await waitForSettled(
      () => traffic.received.length,
      (count) => count > returned,
    );
    return applianceOf(appliances, before)[0] ?? 'none';
  }

  it('keeps flows on a draining appliance with no_rebalance and moves them with rebalance', async () => {
    const first = { stay: [] as string[], move: [] as string[] };
    for (let i = 0; i < 16; i++) {
      first.stay.push(await route('stay', stay, i));
      first.move.push(await route('move', move, i));
    }
    expect(new Set(first.stay).size).toBe(2);
    expect(new Set(first.move).size).toBe(2);
    // Deregistered while their flows are in flight: draining (deregistrationDelay 1h keeps them so).
    expect(ferry.health.deregister('stay', `127.0.0.1:${stay[0]!.port}`)).toBeDefined();
    expect(ferry.health.deregister('move', `127.0.0.1:${move[0]!.port}`)).toBeDefined();
    const slotOf = (appliance: Appliance) =>
      ferry
        .topology()
        .groups.flatMap((group) => group.members)
        .find((member) => member.port === appliance.port)!.slot;
    for (const appliance of [stay[0]!, move[0]!]) {
      const state = await waitForSettled(
        () => loadTarget(ferry.table.view, slotOf(appliance), TARGET_STATE),
        (value) => value === TARGET_STATE_DRAINING,
      );
      expect(state).toBe(TARGET_STATE_DRAINING);
    }
    for (let i = 0; i < 16; i++) {
      expect(await route('stay', stay, i), `no_rebalance flow ${i}`).toBe(first.stay[i]);
      expect(await route('move', move, i), `rebalance flow ${i}`).toBe('r2');
    }
    for (let i = 100; i < 106; i++) expect(await route('stay', stay, i), `new flow ${i}`).toBe('d2');
  });
});
