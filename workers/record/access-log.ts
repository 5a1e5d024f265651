/**
 * @module workers/record/access-log
 *
 * The worker's access-log writer: a pino logger on an asynchronous SonicBoom
 * destination, one JSON line per request. Thread: worker. Place in the flow:
 * **record** (request-record.ts and tcp-record.ts build the line; this file
 * owns where it goes). Made only when `accessLog.enabled` (observer.ts).
 *
 * Off the hot path: `info()` serialises into an in-memory buffer; the bytes
 * leave in `fs.write` calls on libuv's thread pool, at least ACCESS_LOG_MIN_WRITE_BYTES
 * at a time or every ACCESS_LOG_FLUSH_MS, so a busy worker makes a few
 * syscalls a second, not one per request.
 *
 * Several workers write the same file or stdout. SonicBoom only ever writes
 * whole buffered lines, up to `maxWrite` bytes per write: a file is opened
 * O_APPEND (each write lands whole), and for stdout `maxWrite` is PIPE_BUF
 * (4096), the size up to which a pipe write is atomic, so lines of different
 * workers never interleave. A line longer than that (a huge URL) may, on a
 * pipe only.
 *
 * Bounded: past ACCESS_LOG_BUFFER_BYTES_MAX of unwritten lines (a full disk, a
 * stalled reader) new lines are dropped and counted, never queued without end.
 */
import pino, { type Logger } from 'pino';
import type { AccessLogSettings } from '../../proto/observability.ts';

/** Bytes buffered before a write is started (below that, the periodic flush writes them). */
const ACCESS_LOG_MIN_WRITE_BYTES = 4_000;
/** Longest time a line waits in the buffer. */
const ACCESS_LOG_FLUSH_MS = 200;
/** Largest single write to stdout: PIPE_BUF on Linux, so a write to a pipe is atomic. */
const PIPE_ATOMIC_WRITE_BYTES = 4_096;
/** Largest single write to a file. */
const FILE_WRITE_BYTES_MAX = 16_384;
/** Unwritten bytes a worker holds at most; lines beyond are dropped (H3). */
const ACCESS_LOG_BUFFER_BYTES_MAX = 16 * 1024 * 1024;

/** The pino destination plus what the record phase needs to know about it. */
export class AccessLog {
  readonly logger: Logger;
  readonly sampleRatio: number;
  /** Lines dropped because the buffer was full. */
  droppedCount: number;
  private readonly destination: pino.DestinationStream & { flushSync(): void; end(): void };

  /** `onError`: a write or open failed (logged by the caller; the line is lost, the proxy goes on). */
  constructor(settings: AccessLogSettings, onError: (error: Error) => void) {
    const isStdout = settings.destination === 'stdout';
    const destination = pino.destination({
      dest: isStdout ? 1 : settings.destination,
      sync: false,
      append: true,
      mkdir: !isStdout,
      minLength: ACCESS_LOG_MIN_WRITE_BYTES,
      maxWrite: isStdout ? PIPE_ATOMIC_WRITE_BYTES : FILE_WRITE_BYTES_MAX,
      maxLength: ACCESS_LOG_BUFFER_BYTES_MAX,
      periodicFlush: ACCESS_LOG_FLUSH_MS,
    });
    this.droppedCount = 0;
    destination.on('error', onError);
    destination.on('drop', () => {
      this.droppedCount++;
    });
    this.destination = destination as typeof this.destination;
    this.sampleRatio = settings.sampleRatio;
    // No pid/hostname and no level (an access log is not a diagnostic log): `"log":"access"` takes the
    // level's place, so access lines are told apart from Ferry's own logs when both go to stdout.
    // ISO time like ALB's `time`.
    this.logger = pino(
      {
        base: null,
        timestamp: pino.stdTimeFunctions.isoTime,
        formatters: { level: () => ({ log: 'access' }) },
      },
      destination,
    );
  }

  /** True when this successful request should be logged (errors always are). */
  isSampled(): boolean {
    return this.sampleRatio >= 1 || Math.random() < this.sampleRatio;
  }

  /** Write what is buffered and close the file (worker drain). Never throws. */
  close(): void {
    try {
      this.destination.flushSync();
    } catch {
      // A destination still opening or already gone has nothing we can save.
    }
    this.destination.end();
  }
}
