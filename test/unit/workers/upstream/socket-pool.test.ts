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

  describe('read buffers (plain TCP)', () => {
    /** A server that answers each chunk it reads with `reply(n)`, n counting from 1. */
    async function answeringServer(reply: (n: number) => string): Promise<number> {
      let count = 0;
      const server = net.createServer((socket) => {
        openSockets.push(socket);
        socket.on('error', () => {});
        socket.on('data', () => socket.write(reply(++count)));
      });
      servers.push(server);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      return (server.address() as net.AddressInfo).port;
    }

    /**
     * One exchange as the relay does it: write, read one chunk, release the socket
     * inside the read callback; `isHeld` is what onUpstreamData answers.
     */
    function exchange(
      pool: SocketPool,
      port: number,
      isHeld: boolean,
    ): Promise<{ up: UpstreamSocket; text: string; chunk: Buffer }> {
      return new Promise((resolve) => {
        const owner: UpstreamOwner = {
          onUpstreamConnect: (connectedUp) => connectedUp.socket.write('go'),
          onUpstreamData: (dataUp, chunk) => {
            pool.release(dataUp, 0);
            // Resolve after the callback returns, once Node asked for the next buffer.
            setImmediate(() => resolve({ up: dataUp, text: chunk.toString('latin1'), chunk }));
            return isHeld;
          },
          onUpstreamClose: () => {},
          onUpstreamDrain: () => {},
        };
        const up = pool.acquire(0, '127.0.0.1', port, owner);
        if (up.isConnected) owner.onUpstreamConnect(up);
      });
    }

    it('holds no read buffer while a socket idles in the pool', async () => {
      const { pool } = makePool();
      const port = await answeringServer((n) => `reply ${n}`);
      const first = await exchange(pool, port, false);
      expect(first.text).toBe('reply 1');
      expect(first.up.readBuffer).toBeNull();
      const second = await exchange(pool, port, false);
      expect(second.up).toBe(first.up);
      expect(second.text).toBe('reply 2');
      expect(second.up.readBuffer).toBeNull();
    });

    it('hands the first read after reuse over in a buffer of its own, not the shared idle one', async () => {
      const { pool } = makePool();
      const port = await answeringServer((n) => `reply ${n}`);
      const first = await exchange(pool, port, false);
      const second = await exchange(pool, port, true);
      expect(second.up).toBe(first.up);
      // A queued write holds the chunk: later reads of any socket must not overwrite it.
      const third = await exchange(pool, port, false);
      expect(third.text).toBe('reply 3');
      expect(second.chunk.toString('latin1')).toBe('reply 2');
      expect(third.chunk.buffer).not.toBe(second.chunk.buffer);
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
