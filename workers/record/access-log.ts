/**
 * @module workers/record/access-log
 *
 * The worker's access-log writer: pino serialises each line into a batching
 * destination that hands whole batches to `fs.write` on libuv's thread pool.
 * Thread: worker. Place in the flow: **record** (request-record.ts and
 * tcp-record.ts build the line; this file owns where it goes). Made only when
 * `accessLog.enabled` (observer.ts).
 *
 * Off the hot path: a line costs pino's serialisation and an array push. The
 * bytes leave ACCESS_LOG_BATCH_BYTES at a time or every ACCESS_LOG_FLUSH_MS,
 * one asynchronous write in flight at a time, so a busy worker makes a few
 * syscalls a second, not one per request.
 *
 * Why not pino.destination (SonicBoom): measured here (9-byte bodies, 1
 * worker, wrk -c64) SonicBoom's async mode spent ~8 µs of JS-thread CPU per
 * line (string concatenation per write, then converting each string batch in
 * fs.write), this destination ~3.5 µs; pino's own serialisation is ~5 µs.
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
import pino, { type Logger } from 'pino';
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
 * A pino destination (`write(line)`) that batches lines and writes them with
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

  /** pino calls this with one serialised line (newline included). */
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

/** The pino logger plus what the record phase needs to know about it. */
export class AccessLog {
  readonly logger: Logger;
  readonly sampleRatio: number;
  private readonly batcher: LineBatcher;
  private readonly children: Map<string, Logger>;

  /** `onError`: a write failed (logged by the caller; the lines are lost, the proxy goes on). */
  constructor(settings: AccessLogSettings, onError: (error: Error) => void) {
    this.batcher = new LineBatcher(settings.destination, onError);
    this.sampleRatio = settings.sampleRatio;
    this.children = new Map();
    // No pid/hostname and no level (an access log is not a diagnostic log): `"log":"access"` takes the
    // level's place, so access lines are told apart from Ferry's own logs when both go to stdout.
    // ISO time like ALB's `time`.
    this.logger = pino(
      {
        base: null,
        timestamp: pino.stdTimeFunctions.isoTime,
        formatters: { level: () => ({ log: 'access' }) },
      },
      this.batcher,
    );
  }

  /**
   * The logger for one listener's lines: `type`, `listener` and `worker` are
   * pino child bindings, serialised once here instead of on every line (H2).
   */
  listenerLogger(type: string, listener: string, workerIndex: number): Logger {
    const key = `${type}\u0000${listener}`;
    let logger = this.children.get(key);
    if (logger === undefined) {
      logger = this.logger.child({ type, listener, worker: workerIndex });
      this.children.set(key, logger);
    }
    return logger;
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
