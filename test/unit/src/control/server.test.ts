/**
 * The control server (src/control/server.ts) on real loopback sockets with a
 * stub context: the handshake (version, token), per-connection limits and
 * timeouts, error replies, and that one connection's trouble never reaches
 * another. The handlers themselves are exercised against a real Ferry in
 * test/integration/control-*.test.ts.
 */
import { once } from 'node:events';
import { mkdtempSync, statSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { CONTROL_PROTOCOL_VERSION, type ControlReply } from '../../../../proto/control/protocol.ts';
import { parseControlAddress } from '../../../../src/config/index.ts';
import {
  type ControlContext,
  type ControlServer,
  type ControlServerLimits,
  decodeReply,
  encodeFrame,
  FrameDecoder,
  startControlServer,
} from '../../../../src/control/index.ts';
import { ProxyError } from '../../../../src/shared/errors.ts';

const TOKEN = 'unit-test-token-0123456789';

let servers: ControlServer[] = [];
const sockets: net.Socket[] = [];

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await Promise.all(servers.map((server) => server.close()));
  servers = [];
});

/** What the stub handlers do; `failover` can be made to hang, `stats` to throw. */
interface Stub {
  failover: () => Promise<unknown>;
  config: () => unknown;
}

function stubContext(stub: Stub): ControlContext {
  return {
    config: () => stub.config(),
    failover: { failover: () => stub.failover(), status: () => ({ groups: [] }) },
    isDrained: false,
  } as unknown as ControlContext;
}

interface Started {
  readonly server: ControlServer;
  readonly stub: Stub;
  readonly logLines: string[];
}

async function start(
  options: { token?: string | null; limits?: Partial<ControlServerLimits>; address?: string } = {},
): Promise<Started> {
  const stub: Stub = {
    failover: async () => ({ isChanged: true }),
    config: () => ({ targetGroups: [] }),
  };
  const logLines: string[] = [];
  const log = pino(
    { level: 'info' },
    new Writable({
      write(chunk, _encoding, callback) {
        logLines.push(String(chunk));
        callback();
      },
    }),
  );
  const address = parseControlAddress(options.address ?? '127.0.0.1:0');
  if (!address.ok) throw new Error(address.message);
  const server = await startControlServer({
    address: address.value,
    token: options.token === undefined ? TOKEN : options.token,
    context: stubContext(stub),
    log,
    serverName: 'ferry/test',
    ...(options.limits === undefined ? {} : { limits: options.limits }),
  });
  servers.push(server);
  return { server, stub, logLines };
}

/** A raw connection that collects decoded replies and notices the close. */
class Raw {
  readonly socket: net.Socket;
  readonly replies: ControlReply[] = [];
  readonly closed: Promise<void>;
  private readonly decoder = new FrameDecoder(64 * 1024 * 1024);
  private waiters: (() => void)[] = [];

  constructor(address: string) {
    const parsed = parseControlAddress(address);
    if (!parsed.ok) throw new Error(parsed.message);
    this.socket =
      parsed.value.kind === 'unix'
        ? net.connect(parsed.value.path)
        : net.connect({ host: parsed.value.host, port: parsed.value.port });
    sockets.push(this.socket);
    this.socket.on('error', () => undefined);
    this.socket.on('data', (chunk: Buffer) => {
      this.decoder.push(chunk);
      for (let frame = this.decoder.next(); frame.kind === 'frame'; frame = this.decoder.next()) {
        const decoded = decodeReply(frame.payload);
        if (decoded.ok) this.replies.push(decoded.value);
      }
      for (const wake of this.waiters.splice(0)) wake();
    });
    this.closed = once(this.socket, 'close').then(() => undefined);
  }

  send(value: unknown): void {
    this.socket.write(encodeFrame(value));
  }

  hello(token: string | null = TOKEN, version = CONTROL_PROTOCOL_VERSION): void {
    this.send({ id: 0, op: 'hello', args: { version, token, client: 'unit' } });
  }

  /** The reply with this id (null: the connection-level one). */
  async reply(id: number | null): Promise<ControlReply> {
    for (;;) {
      const found = this.replies.find((reply) => reply.id === id);
      if (found !== undefined) return found;
      await Promise.race([new Promise<void>((resolve) => this.waiters.push(resolve)), this.closed]);
      if (this.socket.destroyed && !this.replies.some((reply) => reply.id === id)) {
        throw new Error(`connection closed without a reply to ${id}`);
      }
    }
  }
}

describe('startControlServer', () => {
  describe('hello', () => {
    it('accepts the right token and answers with the version, the server and the ops', async () => {
      const { server } = await start();
      const raw = new Raw(server.address);
      raw.hello();
      expect(await raw.reply(0)).toEqual({
        id: 0,
        result: {
          version: CONTROL_PROTOCOL_VERSION,
          server: 'ferry/test',
          ops: expect.arrayContaining(['targets', 'failover', 'reload']),
        },
      });
    });

    it('refuses a wrong token: error reply, closed, logged and counted', async () => {
      const { server, logLines } = await start();
      const raw = new Raw(server.address);
      raw.hello('wrong-token-but-long-enough');
      expect(await raw.reply(0)).toEqual({
        id: 0,
        error: { code: 'FERRY_ERR_CONTROL_UNAUTHORIZED', message: 'wrong control token' },
      });
      await raw.closed;
      expect(server.counters().authFailuresTotal).toBe(1);
      expect(logLines.join('')).toContain('wrong or missing token');
    });

    describe('when a failover follows a refused hello in the same write', () => {
      it('does not run the failover: one UNAUTHORIZED reply, then the close', async () => {
        const { server, stub } = await start();
        let failoversRun = 0;
        stub.failover = async () => {
          failoversRun++;
          return { isChanged: true };
        };
        const raw = new Raw(server.address);
        raw.socket.write(
          Buffer.concat([
            encodeFrame({
              id: 0,
              op: 'hello',
              args: { version: 1, token: 'wrong-token-but-long-enough', client: 'x' },
            }),
            encodeFrame({ id: 1, op: 'failover', args: { targetGroup: 'api' } }),
          ]),
        );
        await raw.closed;
        expect(raw.replies).toEqual([
          { id: 0, error: { code: 'FERRY_ERR_CONTROL_UNAUTHORIZED', message: 'wrong control token' } },
        ]);
        expect(failoversRun).toBe(0);
      });
    });

    it('refuses a missing token when one is required', async () => {
      const { server } = await start();
      const raw = new Raw(server.address);
      raw.hello(null);
      expect(await raw.reply(0)).toMatchObject({
        error: { code: 'FERRY_ERR_CONTROL_UNAUTHORIZED', message: 'this control port requires a token' },
      });
      await raw.closed;
    });

    it('accepts any token when the port has none (loopback only)', async () => {
      const { server } = await start({ token: null });
      const raw = new Raw(server.address);
      raw.hello(null);
      expect(await raw.reply(0)).toMatchObject({ result: { version: CONTROL_PROTOCOL_VERSION } });
    });

    it('refuses a request before hello', async () => {
      const { server } = await start();
      const raw = new Raw(server.address);
      raw.send({ id: 1, op: 'stats', args: {} });
      expect(await raw.reply(1)).toMatchObject({ error: { code: 'FERRY_ERR_CONTROL_UNAUTHORIZED' } });
      await raw.closed;
      expect(server.counters().authFailuresTotal).toBe(1);
    });

    it('refuses an unknown protocol version with a typed error', async () => {
      const { server } = await start();
      const raw = new Raw(server.address);
      raw.hello(TOKEN, 99);
      expect(await raw.reply(0)).toEqual({
        id: 0,
        error: {
          code: 'FERRY_ERR_CONTROL_VERSION',
          message: 'protocol version 99 is not spoken here; supported: 1',
        },
      });
      await raw.closed;
    });

    it('closes a connection that sends no hello in time', async () => {
      const { server } = await start({ limits: { helloTimeoutMs: 50 } });
      const raw = new Raw(server.address);
      expect(await raw.reply(null)).toMatchObject({ error: { code: 'FERRY_ERR_CONTROL_TIMEOUT' } });
      await raw.closed;
    });
  });

  describe('requests', () => {
    it('answers an unknown op and bad args with typed errors, and the connection keeps working', async () => {
      const { server } = await start();
      const raw = new Raw(server.address);
      raw.hello();
      raw.send({ id: 1, op: 'explode', args: {} });
      raw.send({ id: 2, op: 'failover', args: { targetGroup: 5 } });
      raw.send({ id: 3, op: 'failover', args: { targetGroup: 'api' } });
      expect(await raw.reply(1)).toMatchObject({ error: { code: 'FERRY_ERR_CONTROL_UNKNOWN_OP' } });
      expect(await raw.reply(2)).toMatchObject({
        error: {
          code: 'FERRY_ERR_CONTROL_BAD_ARGS',
          details: [{ path: 'args.targetGroup', message: expect.stringContaining('string') }],
        },
      });
      expect(await raw.reply(3)).toEqual({ id: 3, result: { isChanged: true } });
    });

    it(`answers BUSY beyond the in-flight limit, and the others still complete`, async () => {
      const { server, stub } = await start({ limits: { inFlightMax: 2 } });
      let release!: () => void;
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      stub.failover = async () => {
        await gate;
        return { isChanged: true };
      };
      const raw = new Raw(server.address);
      raw.hello();
      for (const id of [1, 2, 3]) raw.send({ id, op: 'failover', args: { targetGroup: 'api' } });
      expect(await raw.reply(3)).toMatchObject({ error: { code: 'FERRY_ERR_CONTROL_BUSY' } });
      release();
      expect(await raw.reply(1)).toMatchObject({ result: { isChanged: true } });
      expect(await raw.reply(2)).toMatchObject({ result: { isChanged: true } });
    });

    it('answers INTERNAL_BUG when a handler fails unexpectedly, and a ProxyError with its own code', async () => {
      const { server, stub } = await start();
      const raw = new Raw(server.address);
      raw.hello();
      stub.failover = async () => {
        throw new TypeError('boom');
      };
      raw.send({ id: 1, op: 'failover', args: { targetGroup: 'api' } });
      expect(await raw.reply(1)).toMatchObject({ error: { code: 'FERRY_ERR_INTERNAL_BUG' } });
      stub.failover = async () => {
        throw new ProxyError('FERRY_ERR_CONTROL_NOT_FOUND', 'no target group named "api"');
      };
      raw.send({ id: 2, op: 'failover', args: { targetGroup: 'api' } });
      expect(await raw.reply(2)).toEqual({
        id: 2,
        error: { code: 'FERRY_ERR_CONTROL_NOT_FOUND', message: 'no target group named "api"' },
      });
    });

    it('closes an idle connection with nothing in flight', async () => {
      const { server } = await start({ limits: { idleTimeoutMs: 60 } });
      const raw = new Raw(server.address);
      raw.hello();
      await raw.reply(0);
      expect(await raw.reply(null)).toMatchObject({
        error: { code: 'FERRY_ERR_CONTROL_TIMEOUT', message: 'idle for 60 ms with nothing in flight' },
      });
      await raw.closed;
    });
  });

  describe('frames', () => {
    it('answers an oversized length prefix with BAD_FRAME and closes, other connections unaffected', async () => {
      const { server } = await start();
      const good = new Raw(server.address);
      good.hello();
      await good.reply(0);
      const bad = new Raw(server.address);
      const prefix = Buffer.alloc(4);
      prefix.writeUInt32BE(100 * 1024 * 1024);
      bad.socket.write(prefix);
      expect(await bad.reply(null)).toMatchObject({
        error: {
          code: 'FERRY_ERR_CONTROL_BAD_FRAME',
          message: 'a frame of 104857600 bytes is over the 1048576-byte limit',
        },
      });
      await bad.closed;
      good.send({ id: 5, op: 'failover', args: { targetGroup: 'api' } });
      expect(await good.reply(5)).toMatchObject({ result: { isChanged: true } });
      expect(server.counters().frameErrorsTotal).toBe(1);
    });

    it('answers a frame the stream ends inside of (truncated) with BAD_FRAME', async () => {
      const { server } = await start();
      const raw = new Raw(server.address);
      const frame = encodeFrame({ id: 0, op: 'hello', args: { version: 1, token: TOKEN, client: 'x' } });
      raw.socket.end(frame.subarray(0, frame.length - 3));
      expect(await raw.reply(null)).toMatchObject({
        error: { code: 'FERRY_ERR_CONTROL_BAD_FRAME', message: expect.stringContaining('truncated') },
      });
    });

    it('answers a payload that is not msgpack with BAD_FRAME', async () => {
      const { server } = await start();
      const raw = new Raw(server.address);
      raw.socket.write(Buffer.from([0, 0, 0, 2, 0xc1, 0xc1]));
      expect(await raw.reply(null)).toMatchObject({ error: { code: 'FERRY_ERR_CONTROL_BAD_FRAME' } });
      await raw.closed;
    });
  });

  describe('when connections exceed the limit', () => {
    it('answers the extra one with TOO_MANY_CONNECTIONS and closes it', async () => {
      const { server } = await start({ limits: { connectionsMax: 2 } });
      const first = new Raw(server.address);
      const second = new Raw(server.address);
      first.hello();
      second.hello();
      await first.reply(0);
      await second.reply(0);
      const third = new Raw(server.address);
      expect(await third.reply(null)).toMatchObject({
        error: { code: 'FERRY_ERR_CONTROL_TOO_MANY_CONNECTIONS' },
      });
      await third.closed;
      expect(server.counters()).toMatchObject({ connectionsOpen: 2, connectionsRefusedTotal: 1 });
    });
  });

  describe('on a Unix socket', () => {
    it('serves, makes the socket 0600, replaces a stale socket file, and removes it on close', async () => {
      const path = join(mkdtempSync(join(tmpdir(), 'ferry-unix-')), 'control.sock');
      const stale = net.createServer().listen(path);
      await once(stale, 'listening');
      // Leave the file behind as a crashed Ferry would.
      await new Promise<void>((resolve) => {
        (stale as unknown as { _handle: { close(): void } | null })._handle?.close();
        resolve();
      });
      const { server } = await start({ address: `unix:${path}` });
      expect(server.address).toBe(`unix:${path}`);
      expect(statSync(path).mode & 0o777).toBe(0o600);
      const raw = new Raw(server.address);
      raw.hello();
      expect(await raw.reply(0)).toMatchObject({ result: { version: CONTROL_PROTOCOL_VERSION } });
      await server.close();
      servers = servers.filter((s) => s !== server);
      expect(() => statSync(path)).toThrow();
    });
  });
});
