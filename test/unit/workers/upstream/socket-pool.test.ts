import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  initTable,
  loadTarget,
  storeTarget,
  TARGET_ACTIVE_CONNECTIONS,
  TARGET_GENERATION,
  tableBytes,
} from '../../../../proto/table-layout.ts';
import {
  SocketPool,
  type UpstreamOwner,
  type UpstreamSocket,
} from '../../../../workers/upstream/socket-pool.ts';

const servers: net.Server[] = [];
const openSockets: net.Socket[] = [];
afterEach(async () => {
  for (const socket of openSockets.splice(0)) socket.destroy();
  await Promise.all(servers.splice(0).map((server) => new Promise((r) => server.close(r))));
});

/** A TCP server that counts accepted connections. */
async function countingServer(): Promise<{ port: number; accepted: () => number }> {
  let accepted = 0;
  const server = net.createServer((socket) => {
    accepted++;
    openSockets.push(socket);
    socket.on('error', () => {});
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as net.AddressInfo).port, accepted: () => accepted };
}

function makePool() {
  const capacity = { groupCapacity: 1, targetCapacity: 4, workerCapacity: 1 };
  const view = initTable(new SharedArrayBuffer(tableBytes(capacity)), capacity, 0);
  return { view, pool: new SocketPool(view, 0) };
}

/** Acquire a socket and resolve once it is connected. */
function connected(pool: SocketPool, slot: number, port: number): Promise<UpstreamSocket> {
  return new Promise((resolve) => {
    const owner: UpstreamOwner = {
      onUpstreamConnect: (up) => resolve(up),
      onUpstreamData: () => false,
      onUpstreamClose: () => {},
      onUpstreamDrain: () => {},
    };
    const up = pool.acquire(slot, '127.0.0.1', port, owner);
    if (up.isConnected) resolve(up);
  });
}

async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !condition(); i++) await new Promise((r) => setTimeout(r, 10));
}

describe('SocketPool', () => {
  it('reuses an idle socket for the same slot', async () => {
    const { pool } = makePool();
    const server = await countingServer();
    const first = await connected(pool, 0, server.port);
    pool.release(first, 0);
    expect(await connected(pool, 0, server.port)).toBe(first);
  });

  describe('when the slot was given to another target', () => {
    it('never hands out a socket to the old target', async () => {
      const { view, pool } = makePool();
      const oldTarget = await countingServer();
      const newTarget = await countingServer();
      const stale = await connected(pool, 0, oldTarget.port);
      storeTarget(view, 0, TARGET_GENERATION, loadTarget(view, 0, TARGET_GENERATION) + 1);
      pool.release(stale, 0);
      const fresh = await connected(pool, 0, newTarget.port);
      expect(fresh).not.toBe(stale);
      await until(() => newTarget.accepted() === 1);
      expect(newTarget.accepted()).toBe(1);
      expect(stale.socket.destroyed).toBe(true);
    });
  });

  describe('closeSlot', () => {
    it('cuts idle and busy sockets alike and counts them closed', async () => {
      const { view, pool } = makePool();
      const server = await countingServer();
      const idle = await connected(pool, 1, server.port);
      const busy = await connected(pool, 1, server.port);
      pool.release(idle, 0);
      expect(loadTarget(view, 1, TARGET_ACTIVE_CONNECTIONS)).toBe(2);
      pool.closeSlot(1);
      await until(() => loadTarget(view, 1, TARGET_ACTIVE_CONNECTIONS) === 0);
      expect(idle.socket.destroyed && busy.socket.destroyed).toBe(true);
      expect(loadTarget(view, 1, TARGET_ACTIVE_CONNECTIONS)).toBe(0);
    });
  });
});
