/**
 * @module workers/record/access-log
 *
 * The worker's access-log writer: the record phase builds each JSON line
 * (AccessLog below: why not pino) into a batching destination that hands
 * whole batches to `fs.write` on libuv's thread pool.
 * Thread: worker. Place in the flow: **record** (request-record.ts and
 * tcp-record.ts build the line; this file owns where it goes). Made only when
 * `accessLog.enabled` (observer.ts).
 *
 * Off the hot path: a line costs its string building and an array push. The
 * bytes leave ACCESS_LOG_BATCH_BYTES at a time or every ACCESS_LOG_FLUSH_MS,
 * one asynchronous write in flight at a time, so a busy worker makes a few
 * syscalls a second, not one per request.
 *
 * Why not pino.destination (SonicBoom): measured here (9-byte bodies, 1
 * worker, wrk -c64) SonicBoom's async mode spent ~8 µs of JS-thread CPU per
 * line (string concatenation per write, then converting each string batch in
 * fs.write), this destination ~3.5 µs.
 *
 * Several workers write the same file or stdout, and lines must never
 * interleave: a file is opened O_APPEND, so each write lands whole; for
 * stdout every write is at most PIPE_ATOMIC_WRITE_BYTES (PIPE_BUF: a pipe
 * write up to that size is atomic) and holds whole lines only. A single line
 * longer than that (a huge URL) is written alone and may interleave on a pipe.
 *
 * Bounded (H3): past ACCESS_LOG_BUFFER_BYTES_MAX of unwritten lines (a full
 * disk, a stalled reader) new lines are dropped and counted.
 */
import fs from 'node:fs';
import type { AccessLogSettings } from '../../proto/observability.ts';

/** Unwritten bytes that start a write without waiting for the flush timer. */
const ACCESS_LOG_BATCH_BYTES = 64 * 1024;
/** Longest time a line waits in the buffer. */
const ACCESS_LOG_FLUSH_MS = 200;
/** Largest single write to stdout: PIPE_BUF on Linux, so a write to a pipe is atomic. */
const PIPE_ATOMIC_WRITE_BYTES = 4_096;
/** Unwritten bytes a worker holds at most; lines beyond are dropped. */
const ACCESS_LOG_BUFFER_BYTES_MAX = 16 * 1024 * 1024;
const STDOUT_FD = 1;

/**
 * A line destination (`write(line)`) that batches lines and writes them with
 * one `fs.write` at a time. Lines are counted in UTF-16 units for batching;
 * the stdout chunking measures bytes exactly.
 */
class LineBatcher {
  private readonly fd: number;
  private readonly isStdout: boolean;
  private readonly onError: (error: Error) => void;
  private lines: string[];
  private pendingLength: number;
  private isWriting: boolean;
  private isClosed: boolean;
  private readonly timer: NodeJS.Timeout;
  droppedCount: number;

  constructor(destination: string, onError: (error: Error) => void) {
    this.isStdout = destination === 'stdout';
    this.fd = this.isStdout ? STDOUT_FD : fs.openSync(destination, 'a');
    this.onError = onError;
    this.lines = [];
    this.pendingLength = 0;
    this.isWriting = false;
    this.isClosed = false;
    this.droppedCount = 0;
    this.timer = setInterval(() => this.flush(), ACCESS_LOG_FLUSH_MS);
    this.timer.unref();
  }

  /** One serialised line (newline included). */
  write(line: string): boolean {
    if (this.pendingLength + line.length > ACCESS_LOG_BUFFER_BYTES_MAX || this.isClosed) {
      this.droppedCount++;
      return false;
    }
    this.lines.push(line);
    this.pendingLength += line.length;
    if (this.pendingLength >= ACCESS_LOG_BATCH_BYTES) this.flush();
    return true;
  }

  /** Start one asynchronous write of what is pending, unless one is in flight. */
  flush(): void {
    if (this.isWriting || this.lines.length === 0) return;
    const chunks = this.takeChunks();
    this.isWriting = true;
    this.writeChunks(chunks, 0);
  }

  /** Write everything synchronously and close the file (drain). Never throws. */
  close(): void {
    clearInterval(this.timer);
    this.isClosed = true;
    try {
      for (const chunk of this.takeChunks()) fs.writeSync(this.fd, chunk);
    } catch (error) {
      this.onError(error as Error);
    }
    if (!this.isStdout && !this.isWriting) fs.close(this.fd, () => {});
  }

  /** The pending lines as Buffers: one for a file, PIPE_BUF-sized runs of whole lines for stdout. */
  private takeChunks(): Buffer[] {
    const lines = this.lines;
    this.lines = [];
    this.pendingLength = 0;
    if (!this.isStdout) return lines.length === 0 ? [] : [Buffer.from(lines.join(''))];
    const chunks: Buffer[] = [];
    let run: string[] = [];
    let runBytes = 0;
    for (const line of lines) {
      const bytes = Buffer.byteLength(line);
      if (runBytes + bytes > PIPE_ATOMIC_WRITE_BYTES && run.length > 0) {
        chunks.push(Buffer.from(run.join('')));
        run = [];
        runBytes = 0;
      }
      run.push(line);
      runBytes += bytes;
    }
    if (run.length > 0) chunks.push(Buffer.from(run.join('')));
    return chunks;
  }

  private writeChunks(chunks: Buffer[], index: number): void {
    const chunk = chunks[index];
    if (chunk === undefined) {
      this.isWriting = false;
      if (this.isClosed) {
        if (!this.isStdout) fs.close(this.fd, () => {});
      } else if (this.pendingLength >= ACCESS_LOG_BATCH_BYTES) this.flush();
      return;
    }
    fs.write(this.fd, chunk, 0, chunk.length, null, (error, written) => {
      if (error !== null) {
        this.onError(error);
        this.writeChunks(chunks, index + 1); // that batch is lost; the next may succeed (disk freed)
      } else if (written < chunk.length) {
        chunks[index] = chunk.subarray(written); // a short write: the rest follows
        this.writeChunks(chunks, index);
      } else {
        this.writeChunks(chunks, index + 1);
      }
    });
  }
}

// === JSON members (the line's values) ===
/**
 * A JSON string literal of `value`. Most values (addresses, names, request
 * lines) need no escaping, so they are quoted as they are after one scan;
 * the rest go through JSON.stringify (control characters, quotes,
 * backslashes, lone surrogates). Allocates the result.
 */
export function jsonString(value: string): string {
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code < 0x20 || code === 0x22 || code === 0x5c || (code >= 0xd800 && code <= 0xdfff))
      return JSON.stringify(value);
  }
  return `"${value}"`;
}

/** `jsonString`, or `null`. */
export function jsonStringOrNull(value: string | null): string {
  return value === null ? 'null' : jsonString(value);
}

/**
 * Milliseconds between two monotonic microsecond readings as a JSON number
 * with at most three decimals (what JSON.stringify writes for
 * `Math.round(toUs - fromUs) / 1000`), or `null` when either reading is
 * missing (0). Integer arithmetic: formatting a double took ~2 % of a
 * worker's busy time with the access log on (4 per line).
 */
export function jsonMsBetween(fromUs: number, toUs: number): string {
  if (fromUs <= 0 || toUs <= 0) return 'null';
  const us = Math.round(toUs - fromUs);
  const magnitude = us < 0 ? -us : us;
  const whole = Math.floor(magnitude / 1000);
  const fraction = magnitude - whole * 1000;
  const sign = us < 0 ? '-' : '';
  if (fraction === 0) return `${sign}${whole}`;
  if (fraction % 100 === 0) return `${sign}${whole}.${fraction / 100}`;
  if (fraction % 10 === 0) return `${sign}${whole}.${fraction < 100 ? '0' : ''}${fraction / 10}`;
  return `${sign}${whole}.${fraction < 10 ? '00' : fraction < 100 ? '0' : ''}${fraction}`;
}

/**
 * The worker's access log: one JSON line per request or TCP connection,
 * built by the record phase from its fields and written through the
 * batching destination above.
 *
 * Why not pino for these lines (Ferry's own logs stay on pino): measured
 * with `npm run bench:profile -- --observe accesslog` (9-byte bodies, 1
 * worker, wrk -c64; 2026-12-05), pino's serialisation of a line (asJson,
 * stringify, isoTime) took ~12 % of the worker's busy time, about 9 µs per
 * request, where the access-log goal (issue 15: ≥ 0.90× of off) allows
 * ~5 µs for the whole line. The line here is a template of pre-escaped keys,
 * values escaped only when they need it, the bindings (`type`, `listener`,
 * `worker`) serialised once per listener, and the ISO time formatted once
 * per millisecond. The output is what pino wrote: `{"log":"access","time":
 * ISO,"type":…,"listener":…,"worker":…,<fields>}`, one per line.
 */
export class AccessLog {
  readonly sampleRatio: number;
  private readonly batcher: LineBatcher;
  private readonly prefixes: Map<string, string>;
  private timeMs: number;
  private timeJson: string;

  /** `onError`: a write failed (logged by the caller; the lines are lost, the proxy goes on). */
  constructor(settings: AccessLogSettings, onError: (error: Error) => void) {
    this.batcher = new LineBatcher(settings.destination, onError);
    this.sampleRatio = settings.sampleRatio;
    this.prefixes = new Map();
    this.timeMs = 0;
    this.timeJson = '';
  }

  /**
   * The bindings of one listener's lines, serialised once (H2): pass it to
   * `write` with each line's fields. No `level`, pid or hostname (an access
   * log is not a diagnostic log): `"log":"access"` tells access lines from
   * Ferry's own logs when both go to stdout.
   */
  listenerPrefix(type: string, listener: string, workerIndex: number): string {
    const key = `${type}\u0000${listener}`;
    let prefix = this.prefixes.get(key);
    if (prefix === undefined) {
      prefix = `,"type":${jsonString(type)},"listener":${jsonString(listener)},"worker":${workerIndex}`;
      this.prefixes.set(key, prefix);
    }
    return prefix;
  }

  /** Write one line: `prefix` from listenerPrefix, `fields` as `,"name":value` members. */
  write(prefix: string, fields: string): void {
    const nowMs = Date.now();
    if (nowMs !== this.timeMs) {
      this.timeMs = nowMs;
      this.timeJson = `"${new Date(nowMs).toISOString()}"`; // ALB's `time` is ISO 8601 too
    }
    this.batcher.write(`{"log":"access","time":${this.timeJson}${prefix}${fields}}\n`);
  }

  /** Lines dropped because the buffer was full. */
  get droppedCount(): number {
    return this.batcher.droppedCount;
  }

  /** True when this successful request should be logged (errors always are). */
  isSampled(): boolean {
    return this.sampleRatio >= 1 || Math.random() < this.sampleRatio;
  }

  /** Write what is buffered and close the file (worker drain). Never throws. */
  close(): void {
    this.batcher.close();
  }
}
