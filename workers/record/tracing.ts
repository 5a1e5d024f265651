/**
 * @module workers/record/tracing
 *
 * The worker's tracing: W3C trace-context in and out, sampling, and spans
 * recorded straight into OTLP/protobuf bytes, handed in batches to the main
 * thread, which wraps them in the resource envelope and exports them over
 * OTLP/HTTP (src/telemetry/span-export.ts). Thread: worker. Place in the
 * flow: **record** (request-record.ts starts and ends spans at phase
 * boundaries). Loaded by observer.ts with a dynamic import only when tracing
 * is on (H4: off costs nothing).
 *
 * Spans (names and attributes follow the stable HTTP semantic conventions):
 *
 *   caller span (traceparent in the request)
 *     └─ SERVER `GET`  one per downstream request   ferry.listener, ferry.rule, client.*, url.*, ferry.lb.*
 *          └─ CLIENT `GET`  one per upstream attempt  ferry.target_group, ferry.target,
 *               └─ target's span (traceparent we inject)   ferry.algorithm, ferry.pick_reason
 *
 * Why not the OpenTelemetry SDK's tracer here (it was, until issue 15 §4):
 * measured with `npm run bench:profile -- --observe tracing` (1 worker
 * pinned, wrk -c64, 9-byte bodies), the SDK's span objects (startSpan,
 * setAttribute, contexts, ids, hrtime) took ~10% of the worker's busy time,
 * the OTLP serialiser ~15% and the GC they fed ~7%, for 2 spans a request:
 * tracing at full sampling ran at 0.49× of off (bench:observability, 116.5
 * vs 49.6 CPU µs/req). Here a span is a reused object per connection whose
 * attributes are encoded into its own scratch bytes as they are set (keys
 * precomputed at load), and `end` copies it into the batch: no object, id
 * conversion or attribute map per span. The OTel pieces that still serve are
 * kept: the exporter transport (OTEL_EXPORTER_OTLP_* headers, timeout,
 * compression, retries) and resource detection run in main, and the sampling
 * rules are the SDK's (same TraceIdRatioBased arithmetic, ParentBased
 * defaults), so a trace is sampled the same way as before.
 * When *not* to do this: a span with events or links, or attributes of
 * other types, would need the SDK back (or this encoder grown).
 *
 * Bounded (H3): a batch is at most SPAN_BATCH_BYTES and OTEL_BSP_MAX_EXPORT_BATCH_SIZE
 * spans; main bounds the spans waiting for export (OTEL_BSP_MAX_QUEUE_SIZE)
 * and counts what it drops. A span too big for a batch is dropped and counted.
 */
import { randomFillSync } from 'node:crypto';
import type { TracingSettings } from '../../proto/observability.ts';
import {
  attributeKeyBytes,
  scalarAttributeBytesMax,
  stringAttributeBytesMax,
  TAG_SCOPE_SPAN,
  utf8ByteCount,
  varintByteCount,
  writeBoolAttribute,
  writeHexBytes,
  writeNumberAttribute,
  writeStringAttribute,
  writeUnixUsAsFixed64Ns,
  writeUtf8,
  writeVarint,
} from '../../src/shared/otlp-protobuf.ts';

// === Limits ===

/**
 * Bytes of one batch of encoded spans: a batch leaves when the next span
 * would not fit (~700 spans at ~370 bytes). Each batch costs a message to
 * main and a buffer: ~20 µs (bench:observability-style load), so per span it
 * is noise at this size.
 */
const SPAN_BATCH_BYTES = 256 * 1024;
/** Spans in a batch when OTEL_BSP_MAX_EXPORT_BATCH_SIZE does not say (main's export default, span-export.ts). */
const SPAN_BATCH_COUNT_DEFAULT = 4_096;
/** Longest a span waits in a batch when OTEL_BSP_SCHEDULE_DELAY does not say (the SDK's default). */
const SPAN_BATCH_DELAY_MS_DEFAULT = 5_000;
/** A span's attribute bytes to start with; grown (doubling) for a span with long values. */
const SPAN_ATTRIBUTE_BYTES_INITIAL = 1_024;
/** Random bytes drawn at once for span and trace ids. */
const ID_POOL_BYTES = 4_096;
/** Longest `tracestate` carried (W3C: 32 members of at most 256 characters, but 512 is what vendors honour). */
const TRACESTATE_CHARS_MAX = 512;

// === Attribute keys (precomputed protobuf key fields, H2) ===

export const ATTR_HTTP_REQUEST_METHOD = attributeKeyBytes('http.request.method');
export const ATTR_HTTP_RESPONSE_STATUS_CODE = attributeKeyBytes('http.response.status_code');
export const ATTR_HTTP_REQUEST_RESEND_COUNT = attributeKeyBytes('http.request.resend_count');
export const ATTR_ERROR_TYPE = attributeKeyBytes('error.type');
export const ATTR_URL_SCHEME = attributeKeyBytes('url.scheme');
export const ATTR_URL_PATH = attributeKeyBytes('url.path');
export const ATTR_URL_QUERY = attributeKeyBytes('url.query');
export const ATTR_URL_FULL = attributeKeyBytes('url.full');
export const ATTR_SERVER_ADDRESS = attributeKeyBytes('server.address');
export const ATTR_SERVER_PORT = attributeKeyBytes('server.port');
export const ATTR_CLIENT_ADDRESS = attributeKeyBytes('client.address');
export const ATTR_CLIENT_PORT = attributeKeyBytes('client.port');
export const ATTR_NETWORK_PROTOCOL_VERSION = attributeKeyBytes('network.protocol.version');
export const ATTR_USER_AGENT_ORIGINAL = attributeKeyBytes('user_agent.original');
export const ATTR_FERRY_LISTENER = attributeKeyBytes('ferry.listener');
export const ATTR_FERRY_RULE = attributeKeyBytes('ferry.rule');
export const ATTR_FERRY_CLIENT_SPIFFE_ID = attributeKeyBytes('ferry.client.spiffe_id');
export const ATTR_FERRY_TARGET_GROUP = attributeKeyBytes('ferry.target_group');
export const ATTR_FERRY_TARGET = attributeKeyBytes('ferry.target');
export const ATTR_FERRY_ALGORITHM = attributeKeyBytes('ferry.algorithm');
export const ATTR_FERRY_PICK_REASON = attributeKeyBytes('ferry.pick_reason');
export const ATTR_LB_ALGORITHM = attributeKeyBytes('ferry.lb.algorithm');
export const ATTR_LB_PICK = attributeKeyBytes('ferry.lb.pick');
export const ATTR_LB_STICKY = attributeKeyBytes('ferry.lb.sticky');
export const ATTR_LB_CANDIDATES = attributeKeyBytes('ferry.lb.candidates');
export const ATTR_LB_FAILOVER = attributeKeyBytes('ferry.lb.failover');
export const ATTR_LB_FAIL_OPEN = attributeKeyBytes('ferry.lb.fail_open');
export const ATTR_LB_TARGET_IN_FLIGHT = attributeKeyBytes('ferry.lb.target.in_flight');
export const ATTR_LB_TARGET_CONNECTIONS = attributeKeyBytes('ferry.lb.target.connections');
export const ATTR_LB_TARGET_LATENCY_EWMA_US = attributeKeyBytes('ferry.lb.target.latency_ewma_us');
export const ATTR_LB_TARGET_PEAK_EWMA_US = attributeKeyBytes('ferry.lb.target.peak_ewma_us');
export const ATTR_LB_TARGET_WEIGHT = attributeKeyBytes('ferry.lb.target.weight');

/** OTLP Span.kind values. */
const SPAN_KIND_SERVER = 2;
const SPAN_KIND_CLIENT = 3;
/** OTLP Status.code ERROR. */
const STATUS_CODE_ERROR = 2;
/** W3C trace flag: sampled. */
const FLAG_SAMPLED = 1;
/** OTLP Span.flags bits: the parent's is-remote is known (0x100), and it is remote (0x200). */
const SPAN_FLAGS_HAS_IS_REMOTE = 0x100;
const SPAN_FLAGS_IS_REMOTE = 0x200;

/** Unix time in µs at monoUs() 0: spans carry wall-clock times, measured with the monotonic clock. */
const UNIX_US_AT_MONO_ZERO = performance.timeOrigin * 1000;

/** Reads request-head fields for trace-context: lower-cased names, index-aligned values. */
export interface HeaderCarrier {
  headerNames: string[];
  headerValues: string[];
  headerCount: number;
}

/** A batch of encoded spans for main (src/telemetry/span-export.ts); `bytes` is transferred. */
export interface SpanBatch {
  readonly bytes: Uint8Array;
  readonly spanCount: number;
  /** Spans dropped in this worker since the previous batch (too big for a batch). */
  readonly droppedSpanCount: number;
}

/**
 * One span while it is open. Owned and reused by one RequestRecord (two per
 * connection: SERVER and CLIENT), so starting a span allocates only its id
 * strings. Every field is set in the constructor (H6).
 */
export class TraceSpan {
  traceId: string;
  spanId: string;
  /** '' for a root span. */
  parentSpanId: string;
  /** The caller's `tracestate`, passed on as it came ('' without). */
  traceState: string;
  /** W3C trace flags (FLAG_SAMPLED). */
  traceFlags: number;
  isRemoteParent: boolean;
  isRecording: boolean;
  /** True between start and end. */
  isOpen: boolean;
  kind: number;
  name: string;
  startUnixUs: number;
  /** Encoded Span.attributes entries, written as they are set. */
  attributes: Uint8Array;
  attributesLength: number;

  constructor() {
    this.traceId = '';
    this.spanId = '';
    this.parentSpanId = '';
    this.traceState = '';
    this.traceFlags = 0;
    this.isRemoteParent = false;
    this.isRecording = false;
    this.isOpen = false;
    this.kind = 0;
    this.name = '';
    this.startUnixUs = 0;
    this.attributes = new Uint8Array(SPAN_ATTRIBUTE_BYTES_INITIAL);
    this.attributesLength = 0;
  }

  /** Room for `byteCount` more attribute bytes (doubles the buffer; rare: long URLs or user agents). */
  reserve(byteCount: number): Uint8Array {
    const needed = this.attributesLength + byteCount;
    if (needed > this.attributes.length) {
      const grown = new Uint8Array(Math.max(needed, this.attributes.length * 2));
      grown.set(this.attributes.subarray(0, this.attributesLength));
      this.attributes = grown;
    }
    return this.attributes;
  }

  setString(key: Uint8Array, value: string): void {
    if (!this.isRecording) return;
    const buf = this.reserve(stringAttributeBytesMax(key, value));
    this.attributesLength = writeStringAttribute(buf, this.attributesLength, key, value);
  }

  setNumber(key: Uint8Array, value: number): void {
    if (!this.isRecording) return;
    const buf = this.reserve(scalarAttributeBytesMax(key));
    this.attributesLength = writeNumberAttribute(buf, this.attributesLength, key, value);
  }

  setBool(key: Uint8Array, value: boolean): void {
    if (!this.isRecording) return;
    const buf = this.reserve(scalarAttributeBytesMax(key));
    this.attributesLength = writeBoolAttribute(buf, this.attributesLength, key, value);
  }
}

// === Trace context ===

/** True when value[from, to) is lower-case hex; with `isNonZeroRequired`, not all zeros (an invalid id). */
function isLowerHex(value: string, from: number, to: number, isNonZeroRequired: boolean): boolean {
  let isNonZero = false;
  for (let i = from; i < to; i++) {
    const code = value.charCodeAt(i);
    if (!((code >= 48 && code <= 57) || (code >= 97 && code <= 102))) return false;
    if (code !== 48) isNonZero = true;
  }
  return isNonZero || !isNonZeroRequired;
}

function headerOf(carrier: HeaderCarrier, name: string): string | null {
  for (let i = 0; i < carrier.headerCount; i++)
    if (carrier.headerNames[i] === name) return carrier.headerValues[i]!;
  return null;
}

/** Two lower-case hex digits of the trace flags. */
function flagsHex(flags: number): string {
  return flags === FLAG_SAMPLED ? '01' : flags < 16 ? `0${flags.toString(16)}` : (flags & 0xff).toString(16);
}

/**
 * The sampling rule of an OTEL_TRACES_SAMPLER name, as the OpenTelemetry
 * SDK applies it: `traceidratio` is its TraceIdRatioBased arithmetic (the
 * trace id's four 32-bit words XORed, below ratio × 2^32-1), and the
 * `parentbased_*` samplers follow a valid parent's sampled flag and use
 * their root rule only for a new trace.
 */
class Sampler {
  private readonly isParentBased: boolean;
  /** Root rule: 0 never, 1 always, 2 by trace-id ratio. */
  private readonly rootRule: number;
  private readonly upperBound: number;

  constructor(settings: TracingSettings) {
    this.isParentBased = settings.sampler.startsWith('parentbased_');
    const root = settings.sampler.replace('parentbased_', '');
    this.rootRule = root === 'always_on' ? 1 : root === 'always_off' ? 0 : 2;
    const ratio = Number.isNaN(settings.samplerRatio) ? 0 : Math.min(1, Math.max(0, settings.samplerRatio));
    this.upperBound = ratio === 1 ? 0x100000000 : Math.floor(ratio * 0xffffffff);
  }

  /** True when a span in trace `traceId` is sampled; `parentFlags` -1 when there is no parent. */
  isSampled(traceId: string, parentFlags: number): boolean {
    if (this.isParentBased && parentFlags >= 0) return (parentFlags & FLAG_SAMPLED) !== 0;
    if (this.rootRule !== 2) return this.rootRule === 1;
    let accumulation = 0;
    for (let i = 0; i < 32; i += 8) {
      let part = 0;
      for (let j = 0; j < 8; j++) {
        const code = traceId.charCodeAt(i + j);
        part = (part << 4) | (code < 58 ? code - 48 : code < 71 ? code - 55 : code - 87);
      }
      accumulation = (accumulation ^ part) >>> 0;
    }
    return accumulation < this.upperBound;
  }
}

/**
 * One worker's tracer. Synchronous and never throws; allocates only id
 * strings per span and one buffer per batch.
 */
export class Tracing {
  private readonly sampler: Sampler;
  private readonly postBatch: (batch: SpanBatch) => void;
  private readonly batchCountMax: number;
  private batch: Uint8Array;
  private batchLength: number;
  private batchSpanCount: number;
  private droppedSpanCount: number;
  private readonly idPool: Buffer;
  private idPoolAt: number;
  private readonly timer: NodeJS.Timeout;

  /** `postBatch` takes ownership of the batch's bytes (the worker transfers them to main). */
  constructor(settings: TracingSettings, postBatch: (batch: SpanBatch) => void, env = process.env) {
    this.sampler = new Sampler(settings);
    this.postBatch = postBatch;
    this.batchCountMax = positiveIntOf(env['OTEL_BSP_MAX_EXPORT_BATCH_SIZE'], SPAN_BATCH_COUNT_DEFAULT);
    this.batch = Buffer.allocUnsafeSlow(SPAN_BATCH_BYTES);
    this.batchLength = 0;
    this.batchSpanCount = 0;
    this.droppedSpanCount = 0;
    this.idPool = Buffer.allocUnsafeSlow(ID_POOL_BYTES);
    this.idPoolAt = ID_POOL_BYTES;
    const delayMs = positiveIntOf(env['OTEL_BSP_SCHEDULE_DELAY'], SPAN_BATCH_DELAY_MS_DEFAULT);
    this.timer = setInterval(() => this.flush(), delayMs);
    this.timer.unref();
  }

  /** `byteCount` random bytes as hex, never all zero (an all-zero id is invalid). */
  private randomHex(byteCount: number): string {
    for (;;) {
      if (this.idPoolAt + byteCount > ID_POOL_BYTES) {
        randomFillSync(this.idPool);
        this.idPoolAt = 0;
      }
      const from = this.idPoolAt;
      this.idPoolAt += byteCount;
      for (let i = from; i < from + byteCount; i++)
        if (this.idPool[i] !== 0) return this.idPool.toString('hex', from, from + byteCount);
    }
  }

  /**
   * Start the SERVER span of a downstream request into `span`: a child of
   * the caller's `traceparent` when it is valid (W3C version 00 layout),
   * else a new trace. Attributes are set by the caller only if `span.isRecording` (H4).
   */
  startServer(span: TraceSpan, name: string, carrier: HeaderCarrier, nowMonoUs: number): void {
    const traceparent = headerOf(carrier, 'traceparent');
    let parentFlags = -1;
    if (
      traceparent !== null &&
      traceparent.length >= 55 &&
      traceparent.charCodeAt(2) === 45 /* - */ &&
      traceparent.charCodeAt(35) === 45 &&
      traceparent.charCodeAt(52) === 45 &&
      isLowerHex(traceparent, 0, 2, false) &&
      !traceparent.startsWith('ff') &&
      isLowerHex(traceparent, 3, 35, true) &&
      isLowerHex(traceparent, 36, 52, true) &&
      isLowerHex(traceparent, 53, 55, false) &&
      // Version 00 is exactly 55 characters; a later version may add fields after a dash.
      (traceparent.length === 55 || (!traceparent.startsWith('00') && traceparent.charCodeAt(55) === 45))
    ) {
      parentFlags = Number.parseInt(traceparent.slice(53, 55), 16);
      span.traceId = traceparent.slice(3, 35);
      span.parentSpanId = traceparent.slice(36, 52);
      const state = headerOf(carrier, 'tracestate');
      span.traceState = state !== null && state.length <= TRACESTATE_CHARS_MAX ? state.trim() : '';
    }
    if (parentFlags < 0) {
      span.traceId = this.randomHex(16);
      span.parentSpanId = '';
      span.traceState = '';
    }
    span.isRemoteParent = parentFlags >= 0;
    this.open(span, SPAN_KIND_SERVER, name, this.sampler.isSampled(span.traceId, parentFlags), nowMonoUs);
  }

  /** Start a CLIENT span, child of `server`, into `span`. */
  startClient(span: TraceSpan, name: string, server: TraceSpan, nowMonoUs: number): void {
    span.traceId = server.traceId;
    span.parentSpanId = server.spanId;
    span.traceState = server.traceState;
    span.isRemoteParent = false;
    this.open(span, SPAN_KIND_CLIENT, name, server.isRecording, nowMonoUs);
  }

  private open(span: TraceSpan, kind: number, name: string, isSampled: boolean, nowMonoUs: number): void {
    span.spanId = this.randomHex(8);
    span.traceFlags = isSampled ? FLAG_SAMPLED : 0;
    span.isRecording = isSampled;
    span.isOpen = true;
    span.kind = kind;
    span.name = name;
    span.startUnixUs = UNIX_US_AT_MONO_ZERO + nowMonoUs;
    span.attributesLength = 0;
  }

  /** `traceparent` (and `tracestate`) header lines naming `span` as the parent, for the upstream head. */
  headerLines(span: TraceSpan): string {
    const line = `traceparent: 00-${span.traceId}-${span.spanId}-${flagsHex(span.traceFlags)}\r\n`;
    return span.traceState === '' ? line : `${line}tracestate: ${span.traceState}\r\n`;
  }

  /** The same fields as a flat [name, value, …] list (HTTP/2 streams' upstream requests). */
  pushHeaderFields(out: string[], span: TraceSpan): void {
    out.push('traceparent', `00-${span.traceId}-${span.spanId}-${flagsHex(span.traceFlags)}`);
    if (span.traceState !== '') out.push('tracestate', span.traceState);
  }

  /**
   * End a span: its final attributes (`statusCode` > 0 as
   * http.response.status_code, `errorType` as error.type), ERROR status when
   * `isError`, then its bytes into the batch. A span not recording is just closed.
   */
  end(
    span: TraceSpan,
    statusCode: number,
    errorType: string | null,
    isError: boolean,
    nowMonoUs: number,
  ): void {
    if (!span.isOpen) return;
    span.isOpen = false;
    if (!span.isRecording) return;
    if (statusCode > 0) span.setNumber(ATTR_HTTP_RESPONSE_STATUS_CODE, statusCode);
    if (errorType !== null) span.setString(ATTR_ERROR_TYPE, errorType);
    const statusMessage = isError ? (errorType ?? String(statusCode)) : '';
    this.append(span, statusMessage, isError, UNIX_US_AT_MONO_ZERO + nowMonoUs);
  }

  /** Encode `span` at the end of the batch (flushing first when it would not fit). */
  private append(span: TraceSpan, statusMessage: string, isError: boolean, endUnixUs: number): void {
    const nameBytes = utf8ByteCount(span.name);
    const stateBytes = span.traceState === '' ? 0 : utf8ByteCount(span.traceState);
    const messageBytes = utf8ByteCount(statusMessage);
    const statusLength = isError ? 1 + varintByteCount(messageBytes) + messageBytes + 2 : 0;
    const bodyLength =
      18 + // trace_id
      10 + // span_id
      (stateBytes === 0 ? 0 : 1 + varintByteCount(stateBytes) + stateBytes) +
      (span.parentSpanId === '' ? 0 : 10) +
      1 +
      varintByteCount(nameBytes) +
      nameBytes +
      2 + // kind
      18 + // start, end
      span.attributesLength +
      (isError ? 1 + varintByteCount(statusLength) + statusLength : 0) +
      6; // flags
    const totalLength = 1 + varintByteCount(bodyLength) + bodyLength;
    if (totalLength > SPAN_BATCH_BYTES) {
      this.droppedSpanCount++;
      return;
    }
    if (this.batchLength + totalLength > SPAN_BATCH_BYTES) this.flush();
    const buf = this.batch;
    let pos = this.batchLength;
    buf[pos++] = TAG_SCOPE_SPAN;
    pos = writeVarint(buf, pos, bodyLength);
    buf[pos++] = 0x0a;
    buf[pos++] = 16;
    pos = writeHexBytes(buf, pos, span.traceId);
    buf[pos++] = 0x12;
    buf[pos++] = 8;
    pos = writeHexBytes(buf, pos, span.spanId);
    if (stateBytes !== 0) {
      buf[pos++] = 0x1a;
      pos = writeVarint(buf, pos, stateBytes);
      pos = writeUtf8(buf, pos, span.traceState);
    }
    if (span.parentSpanId !== '') {
      buf[pos++] = 0x22;
      buf[pos++] = 8;
      pos = writeHexBytes(buf, pos, span.parentSpanId);
    }
    buf[pos++] = 0x2a;
    pos = writeVarint(buf, pos, nameBytes);
    pos = writeUtf8(buf, pos, span.name);
    buf[pos++] = 0x30;
    buf[pos++] = span.kind;
    buf[pos++] = 0x39;
    pos = writeUnixUsAsFixed64Ns(buf, pos, span.startUnixUs);
    buf[pos++] = 0x41;
    pos = writeUnixUsAsFixed64Ns(buf, pos, endUnixUs);
    buf.set(span.attributes.subarray(0, span.attributesLength), pos);
    pos += span.attributesLength;
    if (isError) {
      buf[pos++] = 0x7a;
      pos = writeVarint(buf, pos, statusLength);
      buf[pos++] = 0x12;
      pos = writeVarint(buf, pos, messageBytes);
      pos = writeUtf8(buf, pos, statusMessage);
      buf[pos++] = 0x18;
      buf[pos++] = STATUS_CODE_ERROR;
    }
    const flags =
      span.traceFlags |
      (span.parentSpanId === '' ? 0 : SPAN_FLAGS_HAS_IS_REMOTE) |
      (span.isRemoteParent ? SPAN_FLAGS_IS_REMOTE : 0);
    buf[pos++] = 0x85; // field 16, fixed32
    buf[pos++] = 0x01;
    buf[pos++] = flags & 0xff;
    buf[pos++] = (flags >>> 8) & 0xff;
    buf[pos++] = 0;
    buf[pos++] = 0;
    this.batchLength = pos;
    this.batchSpanCount++;
    if (this.batchSpanCount >= this.batchCountMax) this.flush();
  }

  /** Hand the spans batched so far to main (a new buffer takes the old one's place). */
  flush(): void {
    if (this.batchSpanCount === 0 && this.droppedSpanCount === 0) return;
    const bytes = this.batch.subarray(0, this.batchLength);
    const spanCount = this.batchSpanCount;
    const droppedSpanCount = this.droppedSpanCount;
    this.batch = Buffer.allocUnsafeSlow(SPAN_BATCH_BYTES);
    this.batchLength = 0;
    this.batchSpanCount = 0;
    this.droppedSpanCount = 0;
    this.postBatch({ bytes, spanCount, droppedSpanCount });
  }

  /** Hand over the last spans and stop the timer (worker drain). Never throws. */
  shutdown(): void {
    clearInterval(this.timer);
    this.flush();
  }
}

/** A positive integer from an environment value, else `fallback`. */
function positiveIntOf(value: string | undefined, fallback: number): number {
  const parsed = Number.parseInt(value ?? '', 10);
  return Number.isFinite(parsed) && parsed > 0 ? parsed : fallback;
}
