/**
 * The control protocol's frame and message decoder (src/control/codec.ts):
 * round trips, limits, and fast-check properties over arbitrary bytes — the
 * decoder sits on an untrusted socket, so no input may make it throw, hang,
 * or leave state that corrupts the next frame.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FRAME_HEADER_BYTES } from '../../../../proto/control/protocol.ts';
import {
  decodeReply,
  decodeRequest,
  decodeValue,
  encodeFrame,
  FrameDecoder,
  type FrameResult,
} from '../../../../src/control/codec.ts';
import { CONTROL_REQUEST_BYTES_MAX } from '../../../../src/control/limits.ts';

/** Every frame the decoder yields for a stream cut into the given chunks. */
function framesOf(chunks: readonly Buffer[], limit = CONTROL_REQUEST_BYTES_MAX): FrameResult[] {
  const decoder = new FrameDecoder(limit);
  const out: FrameResult[] = [];
  for (const chunk of chunks) {
    decoder.push(chunk);
    for (let result = decoder.next(); result.kind !== 'need-more'; result = decoder.next()) {
      out.push(result);
      if (result.kind === 'error') return out;
    }
  }
  return out;
}

/** Cut `bytes` at the given (sorted, deduplicated) offsets. */
function cut(bytes: Buffer, offsets: readonly number[]): Buffer[] {
  const points = [...new Set(offsets.map((o) => o % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let start = 0;
  for (const point of points) {
    chunks.push(bytes.subarray(start, point));
    start = point;
  }
  chunks.push(bytes.subarray(start));
  return chunks;
}

/** JSON-ish values msgpack carries losslessly (no -0, no undefined, safe integers). */
const wireValue = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.constant(null),
    fc.boolean(),
    fc.integer({ min: -(2 ** 31), max: 2 ** 32 - 1 }),
    fc.double({ noNaN: true, noDefaultInfinity: true }).filter((d) => !Object.is(d, -0)),
    fc.string(),
    fc.array(tie('value'), { maxLength: 5 }),
    fc.dictionary(
      fc.string().filter((key) => key !== '__proto__'),
      tie('value'),
      { maxKeys: 5 },
    ),
  ),
})).value;

const requestArb = fc.record({
  id: fc.integer({ min: 0, max: 0xffff_ffff }),
  op: fc.string({ minLength: 1, maxLength: 64 }),
  args: fc.dictionary(
    fc.string().filter((key) => key !== '__proto__'),
    wireValue,
    { maxKeys: 6 },
  ),
});

describe('encodeFrame', () => {
  it('prefixes the msgpack payload with its length, unsigned 32-bit big-endian', () => {
    const frame = encodeFrame({ id: 1, op: 'stats', args: {} });
    expect(frame.readUInt32BE(0)).toBe(frame.length - FRAME_HEADER_BYTES);
    expect(decodeValue(frame.subarray(FRAME_HEADER_BYTES))).toEqual({
      ok: true,
      value: { id: 1, op: 'stats', args: {} },
    });
  });

  it('writes plain msgpack maps (no msgpackr records), readable by any msgpack library', () => {
    const frame = encodeFrame({ id: 7, op: 'targets', args: {} });
    // fixmap of 3 entries, then the fixstr key "id".
    expect(frame[FRAME_HEADER_BYTES]).toBe(0x83);
    expect(frame.subarray(FRAME_HEADER_BYTES + 1, FRAME_HEADER_BYTES + 4).toString('latin1')).toBe('\xa2id');
  });
});

describe('FrameDecoder', () => {
  it('round-trips any request, however the stream is cut', () => {
    fc.assert(
      fc.property(
        fc.array(requestArb, { minLength: 1, maxLength: 4 }),
        fc.array(fc.nat()),
        (requests, cuts) => {
          const stream = Buffer.concat(requests.map((request) => encodeFrame(request)));
          const frames = framesOf(cut(stream, cuts));
          expect(frames.map((frame) => frame.kind)).toEqual(requests.map(() => 'frame'));
          const decoded = frames.map((frame) =>
            frame.kind === 'frame' ? decodeRequest(frame.payload) : null,
          );
          expect(decoded).toEqual(requests.map((value) => ({ ok: true, value })));
        },
      ),
      { numRuns: 300 },
    );
  });

  describe('when the length prefix is over the limit', () => {
    it('refuses the frame from its 4-byte prefix alone (a 100 MB prefix buffers nothing)', () => {
      const decoder = new FrameDecoder(CONTROL_REQUEST_BYTES_MAX);
      const prefix = Buffer.alloc(4);
      prefix.writeUInt32BE(100 * 1024 * 1024);
      decoder.push(prefix);
      expect(decoder.next()).toMatchObject({ kind: 'error', code: 'FERRY_ERR_CONTROL_BAD_FRAME' });
      decoder.push(Buffer.alloc(1024));
      expect(decoder.pendingBytes).toBe(0);
      expect(decoder.next().kind).toBe('error');
    });
  });

  describe('when the length prefix is 0', () => {
    it('refuses the frame', () => {
      expect(framesOf([Buffer.alloc(4)])).toMatchObject([
        { kind: 'error', code: 'FERRY_ERR_CONTROL_BAD_FRAME' },
      ]);
    });
  });

  describe('when the stream ends mid-frame', () => {
    it('waits for more and keeps the partial bytes counted (a truncated frame)', () => {
      const frame = encodeFrame({ id: 1, op: 'stats', args: {} });
      const decoder = new FrameDecoder(CONTROL_REQUEST_BYTES_MAX);
      decoder.push(frame.subarray(0, frame.length - 1));
      expect(decoder.next()).toEqual({ kind: 'need-more' });
      expect(decoder.pendingBytes).toBe(frame.length - 1);
    });
  });

  it('never throws on arbitrary bytes, and ends in frames, need-more, or one coded error', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), fc.array(fc.nat()), (bytes, cuts) => {
        const frames = framesOf(cut(Buffer.from(bytes), cuts), 256);
        for (const [index, frame] of frames.entries()) {
          if (frame.kind === 'error') {
            expect(frame.code).toBe('FERRY_ERR_CONTROL_BAD_FRAME');
            expect(index).toBe(frames.length - 1);
          } else {
            expect(frame.kind).toBe('frame');
          }
        }
      }),
      { numRuns: 1_000 },
    );
  });
});

describe('decodeRequest', () => {
  const ALLOWED = ['FERRY_ERR_CONTROL_BAD_FRAME', 'FERRY_ERR_CONTROL_BAD_ARGS'];

  it('never throws on arbitrary payload bytes, and answers with a coded error or a valid envelope', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 256 }), (bytes) => {
        const decoded = decodeRequest(Buffer.from(bytes));
        if (decoded.ok) {
          expect(Number.isInteger(decoded.value.id)).toBe(true);
          expect(typeof decoded.value.op).toBe('string');
        } else {
          expect(ALLOWED).toContain(decoded.code);
          expect(decoded.isFatal || decoded.id !== null).toBe(true);
        }
      }),
      { numRuns: 2_000 },
    );
  });

  it('never throws on arbitrary msgpack values, and keeps the id when it can read one', () => {
    fc.assert(
      fc.property(
        wireValue,
        fc.option(fc.integer({ min: 0, max: 0xffff_ffff }), { nil: undefined }),
        (value, id) => {
          const message = id === undefined ? value : { id, op: value, args: value };
          const decoded = decodeRequest(encodeFrame(message).subarray(FRAME_HEADER_BYTES));
          if (!decoded.ok && id !== undefined) {
            expect(decoded.id).toBe(id);
            expect(decoded.isFatal).toBe(false);
          }
        },
      ),
      { numRuns: 1_000 },
    );
  });

  it('decodes correctly after any garbage (no state leaks from one payload to the next)', () => {
    const good = encodeFrame({ id: 3, op: 'stats', args: {} }).subarray(FRAME_HEADER_BYTES);
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 128 }), (bytes) => {
        decodeRequest(Buffer.from(bytes));
        expect(decodeRequest(good)).toEqual({ ok: true, value: { id: 3, op: 'stats', args: {} } });
      }),
      { numRuns: 500 },
    );
  });

  describe('when the payload nests deeper than the stack', () => {
    it('answers BAD_FRAME instead of crashing', () => {
      expect(decodeRequest(Buffer.alloc(200_000, 0x91))).toMatchObject({
        ok: false,
        code: 'FERRY_ERR_CONTROL_BAD_FRAME',
        isFatal: true,
      });
    });
  });

  describe('when the payload has trailing bytes after one value', () => {
    it('refuses it as not one msgpack value', () => {
      const payload = Buffer.concat([
        encodeFrame({ id: 1, op: 'x' }).subarray(FRAME_HEADER_BYTES),
        Buffer.of(0),
      ]);
      expect(decodeRequest(payload)).toMatchObject({ ok: false, code: 'FERRY_ERR_CONTROL_BAD_FRAME' });
    });
  });

  describe('when a key is __proto__', () => {
    it('does not touch the prototype of the decoded args', () => {
      // fixmap{id:1, op:"x", args: fixmap{"__proto__": fixmap{"polluted": true}}}
      const payload = encodeFrame({ id: 1, op: 'x', args: { ['__proto_x']: { polluted: true } } }).subarray(
        FRAME_HEADER_BYTES,
      );
      const index = payload.indexOf('__proto_x');
      payload.write('__proto__', index, 'latin1');
      const decoded = decodeRequest(payload);
      expect(decoded.ok).toBe(true);
      expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
      if (decoded.ok) expect(Object.getPrototypeOf(decoded.value.args)).toBe(Object.prototype);
    });
  });

  describe('when the envelope has no readable id', () => {
    it('is fatal: there is nothing to answer', () => {
      const payload = encodeFrame({ op: 'stats', args: {} }).subarray(FRAME_HEADER_BYTES);
      expect(decodeRequest(payload)).toMatchObject({ ok: false, id: null, isFatal: true });
    });
  });

  describe('when args is omitted', () => {
    it('reads it as an empty map', () => {
      const payload = encodeFrame({ id: 9, op: 'stats' }).subarray(FRAME_HEADER_BYTES);
      expect(decodeRequest(payload)).toEqual({ ok: true, value: { id: 9, op: 'stats', args: {} } });
    });
  });
});

describe('decodeReply', () => {
  it('reads results and errors with details', () => {
    const ok = encodeFrame({ id: 2, result: { a: 1 } }).subarray(FRAME_HEADER_BYTES);
    expect(decodeReply(ok)).toEqual({ ok: true, value: { id: 2, result: { a: 1 } } });
    const failed = encodeFrame({
      id: null,
      error: { code: 'FERRY_ERR_CONFIG_INVALID', message: 'bad', details: [{ path: 'a', message: 'b' }] },
    }).subarray(FRAME_HEADER_BYTES);
    expect(decodeReply(failed)).toEqual({
      ok: true,
      value: {
        id: null,
        error: { code: 'FERRY_ERR_CONFIG_INVALID', message: 'bad', details: [{ path: 'a', message: 'b' }] },
      },
    });
  });

  it('never throws on arbitrary payload bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 256 }), (bytes) => {
        const decoded = decodeReply(Buffer.from(bytes));
        expect(typeof decoded.ok).toBe('boolean');
      }),
      { numRuns: 1_000 },
    );
  });
});
