/**
 * @module src/shared/otlp-protobuf
 *
 * The few pieces of OTLP/protobuf encoding Ferry writes by hand: varints,
 * `KeyValue` attributes with precomputed key bytes, hex ids, fixed64 times,
 * and the `ExportTraceServiceRequest` envelope around a run of encoded spans.
 * Thread: any (workers encode spans, main wraps batches). Place in the flow:
 * workers/record/tracing.ts writes spans with it; src/telemetry/span-export.ts
 * wraps and sends them. No I/O.
 *
 * Why by hand and not @opentelemetry/otlp-transformer: that serialiser walks
 * SDK span objects twice (a size pass, then a write pass), converts hex ids
 * and key strings on every span, and needs the SDK span objects that cost
 * ~10% of a worker's busy time to build. Here a key's bytes are computed once
 * at load, a span's attributes are written as they are set, and the envelope
 * is written once per batch (bench:profile --observe tracing; see tracing.ts).
 *
 * Wire format (opentelemetry-proto, trace/v1/trace.proto and common/v1):
 *
 *   ExportTraceServiceRequest  1: ResourceSpans
 *   ResourceSpans              1: Resource { 1: KeyValue* }   2: ScopeSpans
 *   ScopeSpans                 1: InstrumentationScope { 1: name }   2: Span*
 *   Span  1 trace_id  2 span_id  3 trace_state  4 parent_span_id  5 name  6 kind
 *         7 start fixed64  8 end fixed64  9 KeyValue*  15 Status { 2 message, 3 code }  16 flags fixed32
 *   KeyValue  1 key  2 AnyValue { 1 string  2 bool  3 int64  4 double }
 */

/** Span.attributes entry tag (field 9, length-delimited). */
export const TAG_SPAN_ATTRIBUTE = 0x4a;
/** ScopeSpans.spans entry tag (field 2, length-delimited): each encoded span starts with it. */
export const TAG_SCOPE_SPAN = 0x12;

/** Bytes a varint of `value` (a non-negative integer below 2^53) takes. */
export function varintByteCount(value: number): number {
  let count = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 128);
    count++;
  }
  return count;
}

/** Write a non-negative integer below 2^53 as a varint at `pos`; returns the position after it. */
export function writeVarint(buf: Uint8Array, pos: number, value: number): number {
  while (value >= 0x80) {
    buf[pos++] = (value & 0x7f) | 0x80; // `&` takes the value mod 2^32: the low 7 bits survive
    value = Math.floor(value / 128);
  }
  buf[pos++] = value;
  return pos;
}

/** Write `value` (unix time in µs, fractional allowed) as nanoseconds, fixed64 little-endian. */
export function writeUnixUsAsFixed64Ns(buf: Uint8Array, pos: number, unixUs: number): number {
  const wholeUs = Math.floor(unixUs);
  const extraNs = Math.floor((unixUs - wholeUs) * 1000);
  // wholeUs < 2^53; split it so every product stays exact below 2^53.
  const highUs = Math.floor(wholeUs / 0x100000000);
  const lowUs = wholeUs - highUs * 0x100000000;
  const lowNs = lowUs * 1000 + extraNs; // < 2^42
  const carry = Math.floor(lowNs / 0x100000000);
  const low = lowNs - carry * 0x100000000;
  const high = highUs * 1000 + carry;
  buf[pos] = low & 0xff;
  buf[pos + 1] = (low >>> 8) & 0xff;
  buf[pos + 2] = (low >>> 16) & 0xff;
  buf[pos + 3] = (low >>> 24) & 0xff;
  buf[pos + 4] = high & 0xff;
  buf[pos + 5] = (high >>> 8) & 0xff;
  buf[pos + 6] = (high >>> 16) & 0xff;
  buf[pos + 7] = (high >>> 24) & 0xff;
  return pos + 8;
}

/** The value of one hex digit (either case); 0 for anything else (ids are validated before). */
function hexDigit(code: number): number {
  if (code <= 57) return code - 48;
  if (code <= 70) return code - 55;
  return code - 87;
}

/** Write `hex` (an even number of hex digits) as raw bytes at `pos`; returns the position after. */
export function writeHexBytes(buf: Uint8Array, pos: number, hex: string): number {
  for (let i = 0; i < hex.length; i += 2) {
    buf[pos++] = (hexDigit(hex.charCodeAt(i)) << 4) | hexDigit(hex.charCodeAt(i + 1));
  }
  return pos;
}

const encoder = new TextEncoder();

/** UTF-8 bytes of `text`. Allocates; for load-time and per-batch use. */
export function utf8Bytes(text: string): Uint8Array {
  return encoder.encode(text);
}

/**
 * Write `text` as UTF-8 at `pos` (capacity for 3 bytes per UTF-16 unit is
 * the caller's job); returns the position after. ASCII is copied in a JS
 * loop (cheaper than a native call for the short values spans carry); the
 * first non-ASCII character hands the rest to TextEncoder.
 */
export function writeUtf8(buf: Uint8Array, pos: number, text: string): number {
  const length = text.length;
  for (let i = 0; i < length; i++) {
    const code = text.charCodeAt(i);
    if (code >= 0x80) {
      return pos + encoder.encodeInto(text.slice(i), buf.subarray(pos)).written;
    }
    buf[pos++] = code;
  }
  return pos;
}

/** UTF-8 byte count of `text` without encoding it. */
export function utf8ByteCount(text: string): number {
  let count = 0;
  const length = text.length;
  for (let i = 0; i < length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) count += 1;
    else if (code < 0x800) count += 2;
    else if (code >= 0xd800 && code <= 0xdbff && i + 1 < length) {
      count += 4; // a surrogate pair is one 4-byte character
      i++;
    } else count += 3;
  }
  return count;
}

/**
 * The precomputed `KeyValue.key` field (tag, length, UTF-8 key) of an
 * attribute name. Made once per name at load (H2).
 */
export function attributeKeyBytes(key: string): Uint8Array {
  const keyBytes = utf8Bytes(key);
  const out = new Uint8Array(1 + varintByteCount(keyBytes.length) + keyBytes.length);
  out[0] = 0x0a;
  out.set(keyBytes, writeVarint(out, 1, keyBytes.length));
  return out;
}

/** Most bytes writeStringAttribute needs for `key` and `value` (so the caller can grow its buffer). */
export function stringAttributeBytesMax(key: Uint8Array, value: string): number {
  return key.length + 3 * value.length + 16;
}

/** Append a `KeyValue` with a string value, tagged as Span.attributes; returns the position after. */
export function writeStringAttribute(buf: Uint8Array, pos: number, key: Uint8Array, value: string): number {
  const keyLength = key.length;
  if (keyLength + 4 + 3 * value.length < 0x80) {
    // Every length fits one varint byte: write the value in place, then fill the lengths in.
    const valueAt = pos + keyLength + 6;
    const valueBytes = writeUtf8(buf, valueAt, value) - valueAt;
    buf[pos] = TAG_SPAN_ATTRIBUTE;
    buf[pos + 1] = keyLength + 4 + valueBytes;
    buf.set(key, pos + 2);
    buf[pos + 2 + keyLength] = 0x12;
    buf[pos + 3 + keyLength] = 2 + valueBytes;
    buf[pos + 4 + keyLength] = 0x0a;
    buf[pos + 5 + keyLength] = valueBytes;
    return valueAt + valueBytes;
  }
  const valueBytes = utf8ByteCount(value);
  const anyLength = 1 + varintByteCount(valueBytes) + valueBytes;
  const kvLength = keyLength + 1 + varintByteCount(anyLength) + anyLength;
  buf[pos++] = TAG_SPAN_ATTRIBUTE;
  pos = writeVarint(buf, pos, kvLength);
  buf.set(key, pos);
  pos += keyLength;
  buf[pos++] = 0x12;
  pos = writeVarint(buf, pos, anyLength);
  buf[pos++] = 0x0a;
  pos = writeVarint(buf, pos, valueBytes);
  return writeUtf8(buf, pos, value);
}

/** Most bytes writeNumberAttribute / writeBoolAttribute need for `key`. */
export function scalarAttributeBytesMax(key: Uint8Array): number {
  return key.length + 16;
}

/**
 * Append a `KeyValue` with a number: int_value for a non-negative safe
 * integer (what Ferry's counts, ports and µs are), double_value otherwise.
 */
export function writeNumberAttribute(buf: Uint8Array, pos: number, key: Uint8Array, value: number): number {
  const keyLength = key.length;
  const isInt = Number.isSafeInteger(value) && value >= 0;
  const anyLength = isInt ? 1 + varintByteCount(value) : 9;
  buf[pos++] = TAG_SPAN_ATTRIBUTE;
  pos = writeVarint(buf, pos, keyLength + 2 + anyLength); // anyLength < 128: one length byte
  buf.set(key, pos);
  pos += keyLength;
  buf[pos++] = 0x12;
  buf[pos++] = anyLength;
  if (isInt) {
    buf[pos++] = 0x18;
    return writeVarint(buf, pos, value);
  }
  buf[pos++] = 0x21;
  new DataView(buf.buffer, buf.byteOffset + pos, 8).setFloat64(0, value, true);
  return pos + 8;
}

/** Append a `KeyValue` with a bool value. */
export function writeBoolAttribute(buf: Uint8Array, pos: number, key: Uint8Array, value: boolean): number {
  const keyLength = key.length;
  buf[pos++] = TAG_SPAN_ATTRIBUTE;
  pos = writeVarint(buf, pos, keyLength + 4);
  buf.set(key, pos);
  pos += keyLength;
  buf[pos++] = 0x12;
  buf[pos++] = 2;
  buf[pos++] = 0x10;
  buf[pos++] = value ? 1 : 0;
  return pos;
}

/** One resource attribute value as the OTel resource API gives it. */
export type ResourceValue = string | number | boolean;

/** Concatenate byte runs into one array. */
function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let pos = 0;
  for (const part of parts) {
    out.set(part, pos);
    pos += part.length;
  }
  return out;
}

/** A length-delimited field: tag byte, varint length, body. */
function lengthDelimited(tag: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(1 + varintByteCount(body.length) + body.length);
  out[0] = tag;
  out.set(body, writeVarint(out, 1, body.length));
  return out;
}

/** Encode resource attributes as repeated KeyValue (field 1 of Resource). */
function resourceAttributesBytes(attributes: Readonly<Record<string, ResourceValue>>): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const [name, value] of Object.entries(attributes)) {
    const key = attributeKeyBytes(name);
    const text = typeof value === 'string' ? value : '';
    const scratch = new Uint8Array(stringAttributeBytesMax(key, text) + scalarAttributeBytesMax(key));
    let end: number;
    if (typeof value === 'string') end = writeStringAttribute(scratch, 0, key, value);
    else if (typeof value === 'number') end = writeNumberAttribute(scratch, 0, key, value);
    else end = writeBoolAttribute(scratch, 0, key, value);
    scratch[0] = 0x0a; // Resource.attributes is field 1, not Span's field 9
    parts.push(scratch.subarray(0, end));
  }
  return concatBytes(parts);
}

/**
 * The fixed parts of a batch's envelope for one resource and scope: computed
 * once per worker (its resource differs by `ferry.worker`), used per batch by
 * exportRequestBytes.
 */
export interface TraceEnvelope {
  /** ResourceSpans field 1: the Resource message, tagged. */
  readonly resourceField: Uint8Array;
  /** ScopeSpans field 1: the InstrumentationScope message, tagged. */
  readonly scopeField: Uint8Array;
}

export function traceEnvelopeOf(
  resource: Readonly<Record<string, ResourceValue>>,
  scopeName: string,
): TraceEnvelope {
  return {
    resourceField: lengthDelimited(0x0a, resourceAttributesBytes(resource)),
    scopeField: lengthDelimited(0x0a, lengthDelimited(0x0a, utf8Bytes(scopeName))),
  };
}

/** One run of encoded spans under its resource: a ResourceSpans entry of an export request. */
export interface ResourceSpansPart {
  readonly envelope: TraceEnvelope;
  /** Encoded spans, each tagged TAG_SCOPE_SPAN (what workers/record/tracing.ts batches). */
  readonly spans: Uint8Array;
}

/** Body length of one ResourceSpans entry (without its own tag and length). */
function resourceSpansLength(part: ResourceSpansPart): number {
  const scopeSpansLength = part.envelope.scopeField.length + part.spans.length;
  return part.envelope.resourceField.length + 1 + varintByteCount(scopeSpansLength) + scopeSpansLength;
}

/**
 * One ExportTraceServiceRequest holding `parts` (one ResourceSpans each, in
 * order). Allocates the request: one copy of every part's spans.
 */
export function exportRequestBytes(parts: readonly ResourceSpansPart[]): Uint8Array {
  let total = 0;
  for (const part of parts) {
    const length = resourceSpansLength(part);
    total += 1 + varintByteCount(length) + length;
  }
  const out = new Uint8Array(total);
  let pos = 0;
  for (const part of parts) {
    const { envelope, spans } = part;
    out[pos++] = 0x0a;
    pos = writeVarint(out, pos, resourceSpansLength(part));
    out.set(envelope.resourceField, pos);
    pos += envelope.resourceField.length;
    out[pos++] = 0x12;
    pos = writeVarint(out, pos, envelope.scopeField.length + spans.length);
    out.set(envelope.scopeField, pos);
    pos += envelope.scopeField.length;
    out.set(spans, pos);
    pos += spans.length;
  }
  return out;
}
