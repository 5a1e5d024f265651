/**
 * The ClientHello SNI peek (workers/l4/client-hello.ts): real hellos from
 * Node's TLS client, any split of them, and fast-check fuzzing of arbitrary
 * and mutated bytes (never throws, answers only PEEK_* codes, never claims
 * SNI from bytes that are not a hello carrying it).
 */
import { once } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  CLIENT_HELLO_BYTES_MAX,
  PEEK_MALFORMED,
  PEEK_NEED_MORE,
  PEEK_NO_SNI,
  PEEK_NOT_TLS,
  PEEK_SNI,
  PEEK_TOO_LARGE,
  peekClientHello,
} from '../../../../workers/l4/client-hello.ts';

/** A real ClientHello from Node's TLS client, captured by a plain TCP server. */
async function captureHello(options: tls.ConnectionOptions): Promise<Buffer> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  const received = once(server, 'connection').then(async (args) => {
    const socket = args[0] as net.Socket;
    let bytes = Buffer.alloc(0);
    // Read until the record that starts the hello is complete.
    while (bytes.length < 5 || bytes.length < 5 + bytes.readUInt16BE(3)) {
      const [chunk] = (await once(socket, 'data')) as [Buffer];
      bytes = Buffer.concat([bytes, chunk]);
    }
    socket.destroy();
    return bytes;
  });
  const client = tls.connect({ host: '127.0.0.1', port, ...options });
  client.on('error', () => {});
  const hello = await received;
  client.destroy();
  server.close();
  return hello;
}

/** The same hello re-framed into records of at most `recordBytes` of payload (RFC 8446 §5.1 fragmentation). */
function fragment(hello: Buffer, recordBytes: number): Buffer {
  const payload = hello.subarray(5, 5 + hello.readUInt16BE(3));
  const records: Buffer[] = [];
  for (let at = 0; at < payload.length; at += recordBytes) {
    const piece = payload.subarray(at, Math.min(payload.length, at + recordBytes));
    const header = Buffer.from([0x16, 3, 1, 0, 0]);
    header.writeUInt16BE(piece.length, 3);
    records.push(header, piece);
  }
  return Buffer.concat(records);
}

const out = { serverName: '' };
const ALL_CODES = [PEEK_NEED_MORE, PEEK_SNI, PEEK_NO_SNI, PEEK_NOT_TLS, PEEK_MALFORMED, PEEK_TOO_LARGE];
let withSni: Buffer;
let withoutSni: Buffer;

beforeAll(async () => {
  withSni = await captureHello({ servername: 'API.Example.test' });
  withoutSni = await captureHello({});
});

describe('peekClientHello', () => {
  it('reads the SNI of a real ClientHello, lower-cased', () => {
    out.serverName = '';
    expect(peekClientHello(withSni, withSni.length, out)).toBe(PEEK_SNI);
    expect(out.serverName).toBe('api.example.test');
  });

  it('answers PEEK_NO_SNI for a real ClientHello without server_name', () => {
    expect(peekClientHello(withoutSni, withoutSni.length, out)).toBe(PEEK_NO_SNI);
  });

  it('asks for more bytes at every cut short of the whole hello', () => {
    for (let length = 0; length < withSni.length; length++)
      expect(peekClientHello(withSni, length, out)).toBe(PEEK_NEED_MORE);
  });

  it('reads a hello fragmented over several TLS records', () => {
    for (const recordBytes of [1, 7, 100]) {
      const fragmented = fragment(withSni, recordBytes);
      out.serverName = '';
      expect(peekClientHello(fragmented, fragmented.length, out)).toBe(PEEK_SNI);
      expect(out.serverName).toBe('api.example.test');
    }
  });

  it('answers PEEK_NOT_TLS for bytes that do not start a handshake record', () => {
    const http = Buffer.from('GET / HTTP/1.1\r\n');
    expect(peekClientHello(http, http.length, out)).toBe(PEEK_NOT_TLS);
  });

  it('answers PEEK_TOO_LARGE for a hello announced longer than the limit', () => {
    const bytes = Buffer.from([0x16, 3, 1, 0x40, 0x00, 1, 0xff, 0xff, 0xff]);
    expect(peekClientHello(bytes, bytes.length, out)).toBe(PEEK_TOO_LARGE);
    expect(CLIENT_HELLO_BYTES_MAX).toBeLessThan(0xffffff);
  });

  describe('when fuzzed', () => {
    it('never throws and answers a PEEK_* code for arbitrary bytes', () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
          const code = peekClientHello(bytes, bytes.length, out);
          expect(ALL_CODES).toContain(code);
        }),
        { numRuns: 3_000 },
      );
    });

    it('never throws on a real hello with bytes flipped, cut or appended', () => {
      fc.assert(
        fc.property(
          fc.array(fc.record({ at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }), { maxLength: 8 }),
          fc.nat(),
          fc.uint8Array({ maxLength: 64 }),
          (flips, cut, tail) => {
            const bytes = Buffer.concat([withSni, Buffer.from(tail)]);
            for (const flip of flips) bytes[flip.at % bytes.length] = flip.value;
            const length = cut % (bytes.length + 1);
            out.serverName = '';
            const code = peekClientHello(bytes, length, out);
            expect(ALL_CODES).toContain(code);
            // A name is only ever reported as DNS characters.
            if (code === PEEK_SNI) expect(out.serverName).toMatch(/^[a-z0-9._-]{1,255}$/);
          },
        ),
        { numRuns: 3_000 },
      );
    });

    it('finds the same SNI whatever the record fragmentation', () => {
      fc.assert(
        fc.property(fc.integer({ min: 1, max: 600 }), (recordBytes) => {
          const fragmented = fragment(withSni, recordBytes);
          out.serverName = '';
          expect(peekClientHello(fragmented, fragmented.length, out)).toBe(PEEK_SNI);
          expect(out.serverName).toBe('api.example.test');
        }),
        { numRuns: 200 },
      );
    });
  });
});
