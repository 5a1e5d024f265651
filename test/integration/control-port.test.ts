/**
 * The control port of a real Ferry (2 worker threads) under abuse, while it
 * serves continuous traffic: wrong and missing tokens, garbage bytes, a
 * 100 MB length prefix, 1,000 concurrent control
 * connections. Each is answered as specified (error reply, then close), a
 * well-behaved control connection keeps working, and not one proxied
 * request fails. Also: Ferry refuses to start with a control port other
 * hosts can reach and no token, and ferryctl says clearly when Ferry is not
 * running.
 */
import { once } from 'node:events';
import net from 'node:net';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ControlReply, FRAME_HEADER_BYTES } from '../../proto/control/protocol.ts';
import { loadTarget, TARGET_WEIGHT } from '../../proto/table-layout.ts';
import { parseConfig } from '../../src/config/index.ts';
import {
  type ControlClient,
  ControlClientError,
  decodeReply,
  encodeFrame,
  FrameDecoder,
} from '../../src/control/index.ts';
import { startFerry } from '../../src/main.ts';
import { isProxyError } from '../../src/shared/errors.ts';
import {
  configDir,
  connect,
  ctl,
  type FileFerry,
  type Load,
  moreAnswers,
  startFileFerry,
  startLoad,
  TOKEN,
} from '../helpers/control.ts';
import { startTargets, type TestTarget } from '../helpers/targets.ts';

let ferry: FileFerry;
let targets: TestTarget[];
let load: Load;
let steady: ControlClient;
const logLines: string[] = [];

beforeAll(async () => {
  targets = await startTargets(2, 't');
  const log = pino(
    { level: 'info' },
    new Writable({
      write(chunk, _encoding, callback) {
        logLines.push(String(chunk));
        callback();
      },
    }),
  );
  ferry = await startFileFerry(
    configDir(),
    `workers: 2
admin: { address: "127.0.0.1:0" }
control: { address: "127.0.0.1:0", tokenFile: ferry.token }
listeners:
  - name: web
    protocol: HTTP
    address: "127.0.0.1:0"
    defaultAction: { forward: { targetGroup: api } }
targetGroups:
  - name: api
    healthCheck: { enabled: false }
    targets:
${targets.map((t) => `      - { address: "${t.address}" }`).join('\n')}
`,
    { log },
  );
  load = startLoad(ferry.url, 4, 10);
  steady = await connect(ferry.control);
  await moreAnswers(load, 100);
});

afterAll(async () => {
  steady?.close();
  await load?.stop();
  await ferry?.stop(1_000);
  await Promise.all((targets ?? []).map((t) => t.close()));
});

/** Send raw bytes (optionally half-closing), collect every reply until the server closes. */
async function rawExchange(bytes: Buffer, options: { end?: boolean } = {}): Promise<ControlReply[]> {
  const [host, port] = [
    ferry.control.slice(0, ferry.control.lastIndexOf(':')),
    Number(ferry.control.split(':').pop()),
  ];
  const socket = net.connect({ host, port });
  await once(socket, 'connect');
  const decoder = new FrameDecoder(1024 * 1024);
  const replies: ControlReply[] = [];
  socket.on('data', (chunk: Buffer) => {
    decoder.push(chunk);
    for (let frame = decoder.next(); frame.kind === 'frame'; frame = decoder.next()) {
      const decoded = decodeReply(frame.payload);
      if (decoded.ok) replies.push(decoded.value);
    }
  });
  socket.on('error', () => undefined);
  if (options.end === true) socket.end(bytes);
  else socket.write(bytes);
  await once(socket, 'close');
  return replies;
}

/** Send raw bytes, collect replies until `count` arrived, then close. */
async function rawExchangeUntilReplies(bytes: Buffer, count: number): Promise<ControlReply[]> {
  const [host, port] = [
    ferry.control.slice(0, ferry.control.lastIndexOf(':')),
    Number(ferry.control.split(':').pop()),
  ];
  const socket = net.connect({ host, port });
  await once(socket, 'connect');
  const decoder = new FrameDecoder(1024 * 1024);
  const replies: ControlReply[] = [];
  const done = new Promise<void>((resolve, reject) => {
    socket.on('data', (chunk: Buffer) => {
      decoder.push(chunk);
      for (let frame = decoder.next(); frame.kind === 'frame'; frame = decoder.next()) {
        const decoded = decodeReply(frame.payload);
        if (decoded.ok) replies.push(decoded.value);
      }
      if (replies.length >= count) resolve();
    });
    socket.on('close', () => reject(new Error(`closed after ${replies.length} of ${count} replies`)));
  });
  socket.on('error', () => undefined);
  socket.write(bytes);
  await done;
  socket.destroy();
  return replies;
}

function helloFrame(token: string | null): Buffer {
  return encodeFrame({ id: 1, op: 'hello', args: { version: 1, token, client: 'abuse' } });
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'ok';
  } catch (error) {
    return error instanceof ControlClientError || isProxyError(error) ? error.code : String(error);
  }
}

describe('the control port, while Ferry serves traffic', () => {
  // The handshake's cases one by one (missing token, version, no hello, timeouts) are in
  // test/unit/src/control/server.test.ts; here, a wrong token against a real Ferry under load.
  it('answers a wrong token with UNAUTHORIZED and closes, without running the set-weight sent in the same write', async () => {
    const weightOf = () => ferry.config().targetGroups[0]!.targets.map((target) => target.weight);
    const weightsBefore = weightOf();
    const tableWeightsBefore = ferry
      .topology()
      .groups[0]!.members.map((m) => loadTarget(ferry.table.view, m.slot, TARGET_WEIGHT));
    const setWeight = encodeFrame({
      id: 2,
      op: 'set-weight',
      args: { targetGroup: 'api', address: targets[0]!.address, weight: 7 },
    });
    expect(await rawExchange(Buffer.concat([helloFrame('not-the-token-at-all-0000'), setWeight]))).toEqual([
      { id: 1, error: { code: 'FERRY_ERR_CONTROL_UNAUTHORIZED', message: 'wrong control token' } },
    ]);
    expect(await codeOf(connect(ferry.control, 'another-wrong-token-1234'))).toBe(
      'FERRY_ERR_CONTROL_UNAUTHORIZED',
    );
    const stats = await steady.request('stats', {});
    expect(stats.control.authFailuresTotal).toBe(2);
    expect(logLines.filter((line) => line.includes('wrong or missing token'))).toHaveLength(2);
    expect(weightOf()).toEqual(weightsBefore);
    expect(
      ferry.topology().groups[0]!.members.map((m) => loadTarget(ferry.table.view, m.slot, TARGET_WEIGHT)),
    ).toEqual(tableWeightsBefore);
    // The same set-weight after a good hello does run: the check above can fail.
    const accepted = await rawExchangeUntilReplies(Buffer.concat([helloFrame(TOKEN), setWeight]), 2);
    expect(accepted[1]).toMatchObject({ id: 2, result: {} });
    expect(loadTarget(ferry.table.view, ferry.topology().groups[0]!.members[0]!.slot, TARGET_WEIGHT)).toBe(7);
    await steady.request('set-weight', { targetGroup: 'api', address: targets[0]!.address, weight: 1 });
  });

  it('answers garbage bytes and a 100 MB length prefix with BAD_FRAME and closes', async () => {
    const garbage = await rawExchange(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    expect(garbage).toEqual([
      {
        id: null,
        error: {
          code: 'FERRY_ERR_CONTROL_BAD_FRAME',
          message: expect.stringMatching(/over the 1048576-byte limit/),
        },
      },
    ]);
    const prefix = Buffer.alloc(FRAME_HEADER_BYTES);
    prefix.writeUInt32BE(100 * 1024 * 1024);
    expect(await rawExchange(prefix)).toEqual([
      {
        id: null,
        error: {
          code: 'FERRY_ERR_CONTROL_BAD_FRAME',
          message: 'a frame of 104857600 bytes is over the 1048576-byte limit',
        },
      },
    ]);
    // Truncated and non-msgpack frames, case by case: test/unit/src/control/server.test.ts ('frames').
    expect((await steady.request('stats', {})).control.frameErrorsTotal).toBeGreaterThanOrEqual(2);
  });

  it('answers an unknown op and bad arguments with typed errors on a connection that stays usable', async () => {
    expect(await codeOf(steady.send('self-destruct', {}))).toBe('FERRY_ERR_CONTROL_UNKNOWN_OP');
    expect(await codeOf(steady.send('set-weight', { targetGroup: 'api', weight: 'heavy' }))).toBe(
      'FERRY_ERR_CONTROL_BAD_ARGS',
    );
    expect(await codeOf(steady.request('failover', { targetGroup: 'nope' }))).toBe(
      'FERRY_ERR_CONTROL_NOT_FOUND',
    );
    expect(await steady.request('targets', { targetGroup: 'api' })).toMatchObject({
      targetGroups: [{ name: 'api', targets: [{ state: 'unavailable' }, { state: 'unavailable' }] }],
    });
  });

  it('takes 1,000 concurrent control connections: each is served or refused with TOO_MANY_CONNECTIONS, and the port serves again after', async () => {
    const CONNECTIONS = 1_000;
    const outcomes = await Promise.all(
      Array.from({ length: CONNECTIONS }, async () => {
        try {
          const client = await connect(ferry.control);
          try {
            await client.request('stats', {});
            return 'served';
          } finally {
            client.close();
          }
        } catch (error) {
          return error instanceof ControlClientError ? error.code : String(error);
        }
      }),
    );
    const counts = new Map<string, number>();
    for (const outcome of outcomes) counts.set(outcome, (counts.get(outcome) ?? 0) + 1);
    expect(
      [...counts.keys()].filter(
        (key) => key !== 'served' && key !== 'FERRY_ERR_CONTROL_TOO_MANY_CONNECTIONS',
      ),
    ).toEqual([]);
    expect(counts.get('served') ?? 0).toBeGreaterThan(0);
    const stats = await steady.request('stats', {});
    expect(stats.control.connectionsRefusedTotal).toBe(
      counts.get('FERRY_ERR_CONTROL_TOO_MANY_CONNECTIONS') ?? 0,
    );
    const fresh = await connect(ferry.control);
    expect((await fresh.request('stats', {})).workers).toHaveLength(2);
    fresh.close();
  });

  it('has served every proxied request meanwhile', async () => {
    await moreAnswers(load, 50);
    expect(load.failures()).toEqual([]);
    expect(load.answers.length).toBeGreaterThan(150);
  });
});

describe('startFerry with a control port', () => {
  it('refuses to start when the control address is not loopback and there is no token', async () => {
    const result = parseConfig(
      `control: { address: "0.0.0.0:0" }
listeners:
  - { name: web, address: "127.0.0.1:0", defaultAction: { forward: { targetGroup: api } } }
targetGroups:
  - { name: api, targets: [] }
`,
      '<test>',
    );
    if (!result.ok) throw new Error('config invalid');
    const saved = process.env['FERRY_CONTROL_TOKEN'];
    delete process.env['FERRY_CONTROL_TOKEN'];
    try {
      await expect(
        startFerry(result.snapshot, { log: pino({ level: 'silent' }), logLevel: 'silent' }),
      ).rejects.toMatchObject({
        code: 'FERRY_ERR_CONTROL_TOKEN_REQUIRED',
        message: expect.stringContaining('0.0.0.0:0 is reachable from other hosts'),
      });
    } finally {
      if (saved !== undefined) process.env['FERRY_CONTROL_TOKEN'] = saved;
    }
  });
});

describe('ferryctl when Ferry is not running', () => {
  it('says so in one line and exits 3', async () => {
    const probe = net.createServer().listen(0, '127.0.0.1');
    await once(probe, 'listening');
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise((resolve) => probe.close(resolve));
    const run = await ctl(['targets', '--control', `127.0.0.1:${port}`]);
    expect(run.code).toBe(3);
    expect(run.stdout).toBe('');
    expect(run.stderr).toBe(
      `ferryctl: FERRY_ERR_CONTROL_UNREACHABLE: nothing is listening on 127.0.0.1:${port}: is Ferry running, with a control block in its config?\n`,
    );
  });
});
