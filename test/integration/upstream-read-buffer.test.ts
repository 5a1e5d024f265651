/**
 * Plain-TCP upstream sockets read into a reused buffer of their own
 * (workers/upstream/socket-pool, READ_BUFFER_BYTES), replaced only when a
 * downstream write still holds the bytes. A prototype with one buffer per
 * worker corrupted responses: once socket A's queued write made the pool
 * replace the buffer, socket B's native handle still read into the old one,
 * over A's queued bytes. This test plays that order through real sockets: B's
 * upstream socket is open and waiting, A's client does not read (Ferry's writes
 * to it queue), then B's response arrives; A must still get only its own bytes.
 */
import net from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { simpleConfig, startTestFerry } from '../helpers/ferry.ts';
import { startRawTarget } from '../helpers/raw-target.ts';

const HOST = 'Host: ferry.test\r\n';
/** Larger than loopback's socket buffers, so Ferry's writes to a client that does not read stay queued. */
const BIG = 32 * 1024 * 1024;
const SMALL = 256 * 1024;
const A = 0x61;

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

/** Reads one Content-Length response from `socket`; resolves with the number of body bytes other than `expected`. */
function readBody(
  socket: net.Socket,
  length: number,
  expected: number,
): Promise<{ received: number; wrong: number }> {
  return new Promise((resolve, reject) => {
    let head = Buffer.alloc(0);
    let isHeadDone = false;
    let received = 0;
    let wrong = 0;
    const onBody = (chunk: Buffer) => {
      received += chunk.length;
      for (let i = 0; i < chunk.length; i++) if (chunk[i] !== expected) wrong++;
      if (received >= length) resolve({ received, wrong });
    };
    socket.on('data', (chunk: Buffer) => {
      if (isHeadDone) return onBody(chunk);
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end === -1) return;
      isHeadDone = true;
      if (!head.subarray(0, end).toString('latin1').startsWith('HTTP/1.1 200')) {
        reject(new Error(`unexpected head: ${head.subarray(0, end).toString('latin1')}`));
        return;
      }
      onBody(head.subarray(end + 4));
    });
    socket.on('error', reject);
    socket.on('close', () => reject(new Error(`closed after ${received} body bytes`)));
  });
}

describe('HttpConnection', () => {
  describe('when a slow client and another exchange share a worker', () => {
    it("relays the slow client's body intact while another upstream socket reads", async () => {
      let sendSlow: (() => void) | null = null;
      const raw = await startRawTarget((socket) => {
        let head = '';
        socket.on('data', (chunk: Buffer) => {
          head += chunk.toString('latin1');
          if (!head.includes('\r\n\r\n')) return;
          if (head.startsWith('GET /slow')) {
            sendSlow = () =>
              socket.write(
                `HTTP/1.1 200 OK\r\nContent-Length: ${SMALL}\r\n\r\n${'b'.repeat(SMALL)}`,
                'latin1',
              );
          } else {
            socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${BIG}\r\n\r\n`, 'latin1');
            socket.write(Buffer.alloc(BIG, A));
          }
          head = '';
        });
      });
      cleanups.push(() => raw.close());
      const ferry = await startTestFerry(simpleConfig({ targets: [raw.address], workers: 1 }));
      cleanups.push(() => ferry.stop(1_000));

      // B: its upstream socket connects (and gets a read buffer) and waits for the response.
      const clientB = net.connect(ferry.port, '127.0.0.1');
      cleanups.push(() => void clientB.destroy());
      const bodyB = readBody(clientB, SMALL, 0x62);
      clientB.write(`GET /slow HTTP/1.1\r\n${HOST}\r\n`);
      while (sendSlow === null) await delay(10);

      // A: reads nothing yet, so Ferry's writes to it queue and its upstream socket pauses.
      const clientA = net.connect(ferry.port, '127.0.0.1');
      cleanups.push(() => void clientA.destroy());
      clientA.pause();
      clientA.write(`GET /big HTTP/1.1\r\n${HOST}\r\n`);
      await delay(500);

      (sendSlow as () => void)();
      expect(await bodyB).toEqual({ received: SMALL, wrong: 0 });
      const bodyA = readBody(clientA, BIG, A);
      clientA.resume();
      expect(await bodyA).toEqual({ received: BIG, wrong: 0 });
    }, 20_000);
  });
});
