/**
 * @module bench/e2e/load
 *
 * The two load generators of the end-to-end bench and the parsing of their
 * output: wrk for requests/s and latency percentiles on keep-alive
 * connections, curl for the throughput of one large streamed body. Thread:
 * the bench's main thread, outside Ferry. Place in the flow: harness layer
 * under `bench/e2e/http.ts`.
 *
 * Why curl for the stream: it reads into a 16 KiB-or-larger buffer and
 * writes to /dev/null, so the client costs little next to the proxy, and it
 * reports bytes and seconds itself.
 */

import { runToCompletion } from './children.ts';

/** What one wrk run measured. */
export type WrkResult = {
  readonly requestCount: number;
  readonly durationS: number;
  readonly requestsPerS: number;
  readonly latencyP50Ms: number;
  readonly latencyP99Ms: number;
  /** Socket errors (connect, read, write, timeout) plus non-2xx/3xx responses. */
  readonly errorCount: number;
};

const LATENCY_UNIT_TO_MS: Readonly<Record<string, number>> = { us: 0.001, ms: 1, s: 1000, m: 60_000 };

function parseLatencyMs(text: string, percentile: string): number {
  const match = new RegExp(`^\\s*${percentile}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm').exec(text);
  if (match === null) return Number.NaN;
  return Number(match[1]) * (LATENCY_UNIT_TO_MS[match[2]!] ?? Number.NaN);
}

/**
 * Parses the report of `wrk --latency`. Throws if the report has no request
 * count (wrk failed to start or to connect).
 */
export function parseWrkOutput(text: string): WrkResult {
  const totals = /^\s*(\d+) requests in ([\d.]+)(us|ms|s|m),/m.exec(text);
  if (totals === null) throw new Error(`wrk printed no totals: ${text.trim().slice(0, 300)}`);
  const requestCount = Number(totals[1]);
  const durationS = (Number(totals[2]) * (LATENCY_UNIT_TO_MS[totals[3]!] ?? Number.NaN)) / 1000;
  const requestsPerS = Number(/^Requests\/sec:\s+([\d.]+)/m.exec(text)?.[1] ?? Number.NaN);
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  const socketErrorCount =
    socketErrors === null ? 0 : socketErrors.slice(1).reduce((sum, count) => sum + Number(count), 0);
  const non2xxCount = Number(/Non-2xx or 3xx responses: (\d+)/.exec(text)?.[1] ?? 0);
  return {
    requestCount,
    durationS,
    requestsPerS,
    latencyP50Ms: parseLatencyMs(text, '50'),
    latencyP99Ms: parseLatencyMs(text, '99'),
    errorCount: socketErrorCount + non2xxCount,
  };
}

/** Runs `wrk -t<threadCount> -c<connectionCount> -d<durationS>s --latency` against `url`. */
export async function runWrk(options: {
  readonly wrkPath: string;
  readonly url: string;
  readonly durationS: number;
  readonly threadCount: number;
  readonly connectionCount: number;
  readonly cpuList: string | null;
}): Promise<WrkResult> {
  const argv = [
    options.wrkPath,
    `-t${options.threadCount}`,
    `-c${options.connectionCount}`,
    `-d${options.durationS}s`,
    '--latency',
    options.url,
  ];
  const result = await runToCompletion('wrk', argv, {
    cpuList: options.cpuList,
    timeoutMs: (options.durationS + 30) * 1000,
  });
  return parseWrkOutput(`${result.stdout}\n${result.stderr}`);
}

/** What one streamed download measured. */
export type StreamResult = {
  readonly byteCount: number;
  readonly durationS: number;
  /** 10^6 bytes per second. */
  readonly megabytesPerS: number;
};

/**
 * Downloads `url` once with curl into /dev/null. Throws unless the answer is
 * 200 with exactly `expectedByteCount` bytes.
 */
export async function runStreamDownload(options: {
  readonly curlPath: string;
  readonly url: string;
  readonly expectedByteCount: number;
  readonly cpuList: string | null;
  readonly timeoutS: number;
}): Promise<StreamResult> {
  const argv = [
    options.curlPath,
    '--silent',
    '--show-error',
    '--output',
    '/dev/null',
    '--max-time',
    String(options.timeoutS),
    '--write-out',
    '%{http_code} %{size_download} %{time_total}',
    options.url,
  ];
  const result = await runToCompletion('curl', argv, {
    cpuList: options.cpuList,
    timeoutMs: (options.timeoutS + 10) * 1000,
  });
  const [statusText, byteText, secondsText] = result.stdout.trim().split(' ');
  const byteCount = Number(byteText);
  const durationS = Number(secondsText);
  if (statusText !== '200' || byteCount !== options.expectedByteCount) {
    const detail = result.stderr.trim().split('\n')[0] ?? '';
    throw new Error(
      `stream got HTTP ${statusText}, ${byteCount} of ${options.expectedByteCount} bytes ${detail}`,
    );
  }
  return { byteCount, durationS, megabytesPerS: byteCount / durationS / 1e6 };
}
