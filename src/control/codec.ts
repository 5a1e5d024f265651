/**
 * @module src/control/codec
 *
 * The control protocol's bytes: length-prefixed frames (proto/control/
 * protocol.ts) carrying plain MessagePack, encoded and decoded with msgpackr.
 * Thread: main (server) and the ferryctl process (client). Place in the flow:
 * socket bytes -> **FrameDecoder** -> payload -> **decodeRequest** ->
 * dispatch; reply -> **encodeFrame** -> socket.
 *
 * Why a hand-made frame decoder rather than msgpackr's stream: the length
 * prefix lets the server refuse an oversized frame from its first 4 bytes
 * (a 100 MB prefix costs nothing), and a payload is decoded only once whole,
 * so a truncated frame can never be half-read. Decoding never throws: every
 * input ends in a frame, "need more bytes", or a coded error (a property test
 * in test/unit/src/control/codec.test.ts feeds it arbitrary bytes).
 *
 * msgpackr is set to plain MessagePack both ways (no records, no extension
 * types written), so any MessagePack library can be a client; `__proto__`
 * keys are renamed by msgpackr, and the shapes are checked after decoding.
 */
import { Packr, Unpackr } from 'msgpackr';
import type { ControlReply, ControlRequest } from '../../proto/control/protocol.ts';
import { FRAME_HEADER_BYTES } from '../../proto/control/protocol.ts';
import type { ErrorCode } from '../../proto/error-codes.ts';
import { CONTROL_NAME_LENGTH_MAX, CONTROL_REQUEST_ID_MAX } from './limits.ts';

const packr = new Packr({
  useRecords: false,
  mapsAsObjects: true,
  encodeUndefinedAsNil: true,
  variableMapSize: true,
});
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });

/** Largest value the 32-bit length prefix can carry. */
const FRAME_LENGTH_MAX = 0xffff_ffff;

// === Frames ===

/** One value as a frame: 4-byte big-endian length, then its msgpack bytes. Throws only on values msgpack cannot hold. */
export function encodeFrame(value: unknown): Buffer {
  const payload = packr.pack(value);
  if (payload.length > FRAME_LENGTH_MAX) throw new RangeError(`control frame of ${payload.length} bytes`);
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.length);
  frame.writeUInt32BE(payload.length, 0);
  payload.copy(frame, FRAME_HEADER_BYTES);
  return frame;
}

export type FrameResult =
  | { readonly kind: 'frame'; readonly payload: Buffer }
  | { readonly kind: 'need-more' }
  | { readonly kind: 'error'; readonly code: ErrorCode; readonly message: string };

const NEED_MORE: FrameResult = { kind: 'need-more' };

/**
 * Splits a byte stream into frame payloads. `push` bytes as they arrive, then
 * call `next` until it says need-more. After an error the decoder is spent:
 * the stream has lost its framing and the connection must close.
 * Never throws; holds at most one frame plus one chunk.
 */
export class FrameDecoder {
  private readonly payloadBytesMax: number;
  private chunks: Buffer[];
  private bufferedBytes: number;
  private failure: FrameResult | null;

  constructor(payloadBytesMax: number) {
    this.payloadBytesMax = payloadBytesMax;
    this.chunks = [];
    this.bufferedBytes = 0;
    this.failure = null;
  }

  /** Bytes received and not yet returned as a frame (a truncated frame shows here at end of stream). */
  get pendingBytes(): number {
    return this.bufferedBytes;
  }

  push(chunk: Buffer): void {
    if (this.failure !== null || chunk.length === 0) return;
    this.chunks.push(chunk);
    this.bufferedBytes += chunk.length;
  }

  next(): FrameResult {
    if (this.failure !== null) return this.failure;
    if (this.bufferedBytes < FRAME_HEADER_BYTES) return NEED_MORE;
    const head = this.peekHeader();
    if (head === 0) return this.fail('a frame with an empty payload (length prefix 0)');
    if (head > this.payloadBytesMax) {
      return this.fail(`a frame of ${head} bytes is over the ${this.payloadBytesMax}-byte limit`);
    }
    const frameBytes = FRAME_HEADER_BYTES + head;
    if (this.bufferedBytes < frameBytes) return NEED_MORE;
    const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.bufferedBytes);
    const payload = all.subarray(FRAME_HEADER_BYTES, frameBytes);
    const rest = all.subarray(frameBytes);
    this.chunks = rest.length === 0 ? [] : [rest];
    this.bufferedBytes = rest.length;
    return { kind: 'frame', payload };
  }

  private peekHeader(): number {
    const first = this.chunks[0]!;
    if (first.length >= FRAME_HEADER_BYTES) return first.readUInt32BE(0);
    const joined = Buffer.concat(this.chunks, this.bufferedBytes);
    this.chunks = [joined];
    return joined.readUInt32BE(0);
  }

  private fail(message: string): FrameResult {
    this.failure = { kind: 'error', code: 'FERRY_ERR_CONTROL_BAD_FRAME', message };
    this.chunks = [];
    this.bufferedBytes = 0;
    return this.failure;
  }
}

// === Messages ===

export type Decoded<T> =
  | { readonly ok: true; readonly value: T }
  | {
      readonly ok: false;
      readonly code: ErrorCode;
      readonly message: string;
      /** The request's id when it could be read, so the error reply can name it. */
      readonly id: number | null;
      /** True when the connection cannot continue (no id to answer, or not msgpack at all). */
      readonly isFatal: boolean;
    };

/** One payload as a msgpack value. Never throws. */
export function decodeValue(payload: Buffer): Decoded<unknown> {
  try {
    return { ok: true, value: unpackr.unpack(payload) };
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return {
      ok: false,
      code: 'FERRY_ERR_CONTROL_BAD_FRAME',
      message: `the frame is not one valid msgpack value: ${reason.slice(0, 120)}`,
      id: null,
      isFatal: true,
    };
  }
}

/** A plain map (what msgpackr decodes a msgpack map to with mapsAsObjects). */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function isRequestId(value: unknown): value is number {
  return (
    typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= CONTROL_REQUEST_ID_MAX
  );
}

/**
 * A payload as a request envelope `{id, op, args}` (args may be omitted:
 * `{}`). Never throws. Without a readable id the error is fatal (nothing to
 * answer); with one, a bad op or args is answered and the connection stays.
 */
export function decodeRequest(payload: Buffer): Decoded<ControlRequest> {
  const decoded = decodeValue(payload);
  if (!decoded.ok) return decoded;
  const value = decoded.value;
  if (!isPlainObject(value) || !isRequestId(value['id'])) {
    return {
      ok: false,
      code: 'FERRY_ERR_CONTROL_BAD_ARGS',
      message: 'a request must be a map {id, op, args} with id an integer 0..4294967295',
      id: null,
      isFatal: true,
    };
  }
  const id = value['id'];
  const op = value['op'];
  if (typeof op !== 'string' || op.length === 0 || op.length > CONTROL_NAME_LENGTH_MAX) {
    return {
      ok: false,
      code: 'FERRY_ERR_CONTROL_BAD_ARGS',
      message: `op must be a string of 1..${CONTROL_NAME_LENGTH_MAX} characters`,
      id,
      isFatal: false,
    };
  }
  const args = value['args'] ?? {};
  if (!isPlainObject(args)) {
    return {
      ok: false,
      code: 'FERRY_ERR_CONTROL_BAD_ARGS',
      message: 'args must be a map',
      id,
      isFatal: false,
    };
  }
  for (const key of Object.keys(value)) {
    if (key !== 'id' && key !== 'op' && key !== 'args') {
      return {
        ok: false,
        code: 'FERRY_ERR_CONTROL_BAD_ARGS',
        message: `unknown request key ${JSON.stringify(key.slice(0, CONTROL_NAME_LENGTH_MAX))} (a request has id, op, args)`,
        id,
        isFatal: false,
      };
    }
  }
  return { ok: true, value: { id, op, args } };
}

/**
 * A payload as a reply envelope (client side). Never throws. A reply has an
 * id (integer, or nil for connection errors) and exactly one of result and
 * error {code, message, details?}.
 */
export function decodeReply(payload: Buffer): Decoded<ControlReply> {
  const decoded = decodeValue(payload);
  if (!decoded.ok) return decoded;
  const value = decoded.value;
  const bad = (message: string): Decoded<ControlReply> => ({
    ok: false,
    code: 'FERRY_ERR_CONTROL_BAD_FRAME',
    message,
    id: null,
    isFatal: true,
  });
  if (!isPlainObject(value)) return bad('a reply must be a map');
  const id = value['id'];
  if (id !== null && !isRequestId(id)) return bad('a reply id must be an integer or nil');
  const hasResult = Object.hasOwn(value, 'result');
  const error = value['error'];
  if (hasResult === (error !== undefined)) return bad('a reply carries exactly one of result and error');
  if (hasResult) return { ok: true, value: { id: id as number, result: value['result'] } };
  if (!isPlainObject(error) || typeof error['code'] !== 'string' || typeof error['message'] !== 'string') {
    return bad('a reply error must be a map {code, message}');
  }
  const details = error['details'];
  const isDetailList =
    details === undefined ||
    (Array.isArray(details) &&
      details.every(
        (detail) =>
          isPlainObject(detail) &&
          typeof detail['path'] === 'string' &&
          typeof detail['message'] === 'string',
      ));
  if (!isDetailList) return bad('reply error details must be a list of {path, message}');
  return {
    ok: true,
    value: {
      id,
      error: {
        code: error['code'],
        message: error['message'],
        ...(details === undefined
          ? {}
          : {
              details: (details as { path: string; message: string }[]).map(({ path, message }) => ({
                path,
                message,
              })),
            }),
      },
    },
  };
}
