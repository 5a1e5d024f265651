/**
 * TCP flows on a layer-4 listener (issue 13): the idle timeout closes a flow
 * with no bytes either way, a half-close travels both ways (the client's FIN
 * reaches the target, which may still answer), and the in-flight count is
 * dropped either way. Real sockets, real worker threads.
 */
import { once } from 'node:events';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestFerry, type TestFerry } from '../helpers/ferry.ts';
import { targetCounters, waitForSettled } from '../helpers/table-counters.ts';

let ferry: TestFerry;
let target: net.Server;
/** Set when the target saw the client's FIN. */
let sawEnd = 0;

beforeAll(async () => {
  // Echoes each chunk; on the client's FIN it still answers "bye", then closes its side.
  target = net.createServer({ allowHalfOpen: true }, (socket) => {
    socket.on('data', (chunk) => socket.write(`echo:${chunk}`));
    socket.on('end', () => {
      sawEnd++;
      socket.end('bye');
    });
    socket.on('error', () => {});
  });
  target.listen(0, '127.0.0.1');
  await once(target, 'listening');
  const port = (target.address() as net.AddressInfo).port;
  ferry = await startTestFerry(`workers: 2
admin: { address: "127.0.0.1:0" }
listeners:
  - { name: tcp, protocol: TCP, address: "127.0.0.1:0", defaultAction: { forward: { targetGroup: g } } }
  - { name: idle, protocol: TCP, address: "127.0.0.1:0", idleTimeout: 1s, defaultAction: { forward: { targetGroup: g } } }
targetGroups:
  - { name: g, healthCheck: { enabled: false }, targets: [ { address: "127.0.0.1:${port}" } ] }
`);
});

afterAll(async () => {
  await ferry?.stop(1_000);
  target?.close();
});

describe('TCP flow', () => {
  it('relays a client half-close to the target and the answer the target still sends', async () => {
    const before = sawEnd;
    const socket = net.connect({
      port: ferry.listenerPorts.get('tcp')!,
      host: '127.0.0.1',
      allowHalfOpen: true,
    });
    await once(socket, 'connect');
    let text = '';
    socket.on('data', (chunk) => {
      text += chunk;
    });
    socket.write('hi');
    await waitForSettled(
      () => text,
      (value) => value === 'echo:hi',
    );
    socket.end();
    await once(socket, 'end');
    expect(text).toBe('echo:hibye');
    expect(sawEnd).toBe(before + 1);
    socket.destroy();
  });

  it('closes a flow idle for the listener idleTimeout and drops its in-flight count', async () => {
    const socket = net.connect({ port: ferry.listenerPorts.get('idle')!, host: '127.0.0.1' });
    await once(socket, 'connect');
    socket.write('once');
    await once(socket, 'data');
    socket.on('error', () => {});
    // Nothing more either way: Ferry closes the flow (waited on the close event, not a timer).
    await once(socket, 'close');
    const rows = await waitForSettled(
      () => targetCounters(ferry),
      (all) => all.every((row) => row.inFlight === 0 && row.activeConnections === 0),
    );
    expect(rows.every((row) => row.inFlight === 0 && row.activeConnections === 0)).toBe(true);
  });
});
