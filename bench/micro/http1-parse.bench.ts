/**
 * @module bench/micro/http1-parse.bench
 *
 * Micro bench of Ferry's HTTP/1.1 framing hot path: ns per request-head parse,
 * per response-head parse and per chunked-body scan, on the heads a proxy
 * sees most (curl-like and browser-like requests, small API responses).
 * Thread: main (a bench process). Run: `npm run bench:parse`
 * (`node bench/micro/http1-parse.bench.ts [--smoke]`).
 *
 * Why it exists: issue 2 budgets the whole proxy at NGINX-like request rates,
 * so a head parse must stay well under 1 µs. Every result feeds a checksum
 * that is printed, so the work cannot be optimised away, and a `--smoke` run
 * (runHttp1ParseSmoke, called from test/unit/bench/http1-parse-smoke.test.ts)
 * keeps the bench from rotting.
 */
import { createRequire } from 'node:module';
import os from 'node:os';
import { ChunkedScanner } from '../../workers/http/chunked-scanner.ts';
import { createRequestHead, parseRequestHead } from '../../workers/http/parse-request-head.ts';
import { createResponseHead, parseResponseHead } from '../../workers/http/parse-response-head.ts';

/** One measured variant: what it parses, ns per operation, and its share of the checksum. */
export interface BenchRow {
  group: string;
  variant: string;
  nsPerOp: number;
  checksum: number;
}

export interface Http1ParseBenchResult {
  rows: BenchRow[];
  /** Sum of every row's checksum (stable across runs for the same iteration count). */
  checksum: number;
}

const CURL_REQUEST = Buffer.from(
  'GET /api/v1/users/42?expand=orders HTTP/1.1\r\n' +
    'Host: api.internal.example:8080\r\n' +
    'User-Agent: curl/8.5.0\r\n' +
    'Accept: application/json\r\n' +
    'Accept-Encoding: gzip, br\r\n' +
    'Connection: keep-alive\r\n' +
    'X-Request-Id: 6f1c1e0a-7c1b-4b1e-9a53-2f8c5d3e7a10\r\n' +
    '\r\n',
);

const BROWSER_REQUEST = Buffer.from(
  'POST /checkout/cart/items HTTP/1.1\r\n' +
    'Host: shop.example.com\r\n' +
    'User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n' +
    'Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n' +
    'Accept-Language: en-GB,en;q=0.5\r\n' +
    'Accept-Encoding: gzip, deflate, br, zstd\r\n' +
    'Content-Type: application/x-www-form-urlencoded\r\n' +
    'Content-Length: 27\r\n' +
    'Origin: https://shop.example.com\r\n' +
    'Referer: https://shop.example.com/checkout/cart\r\n' +
    'Cookie: session=9f8e7d6c5b4a; theme=dark; consent=yes\r\n' +
    'Sec-Fetch-Mode: navigate\r\n' +
    'Traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n' +
    '\r\n',
);

const SMALL_RESPONSE = Buffer.from(
  'HTTP/1.1 200 OK\r\n' +
    'Server: nginx/1.26.0\r\n' +
    'Date: Thu, 26 Nov 2026 22:43:57 GMT\r\n' +
    'Content-Type: application/json\r\n' +
    'Content-Length: 9\r\n' +
    'Connection: keep-alive\r\n' +
    '\r\n',
);

const CHUNKED_RESPONSE = Buffer.from(
  'HTTP/1.1 200 OK\r\n' +
    'Content-Type: text/plain\r\n' +
    'Transfer-Encoding: chunked\r\n' +
    'Vary: Accept-Encoding\r\n' +
    '\r\n',
);

const CHUNKED_BODY = Buffer.from(
  `400\r\n${'a'.repeat(0x400)}\r\n10;ext=1\r\n${'b'.repeat(16)}\r\n5\r\nhello\r\n0\r\nx-checksum: 42\r\n\r\n`,
);

/** The parts of node:http's llhttp binding the reference row uses (internal, so typed here). */
interface LlhttpParser {
  initialize(type: number, resource: object): void;
  execute(buf: Buffer): number | Error;
  [key: number]: unknown;
}
interface LlhttpBinding {
  new (): LlhttpParser;
  REQUEST: number;
  kOnHeadersComplete: number;
  kOnMessageComplete: number;
}

/**
 * node:http's own parser (llhttp in C, with its JS callback building the
 * header array), as a same-machine reference: on a shared 2-core box absolute
 * ns move with the neighbours' load, the ratio much less. Null if the
 * internal module is gone in this Node version.
 */
function loadLlhttp(): LlhttpBinding | null {
  try {
    const common = createRequire(import.meta.url)('_http_common') as { HTTPParser?: LlhttpBinding };
    return common.HTTPParser ?? null;
  } catch {
    return null;
  }
}

/**
 * Times `op` in ROUND_COUNT rounds of `iterations / ROUND_COUNT` after a
 * warm-up, and reports the fastest round: other engineers' benches share
 * this machine, and the minimum is the figure their load disturbs least.
 */
const ROUND_COUNT = 5;
function measure(iterations: number, op: () => number): { nsPerOp: number; checksum: number } {
  const roundIterations = Math.max(1, Math.floor(iterations / ROUND_COUNT));
  let checksum = 0;
  for (let i = 0; i < roundIterations; i++) checksum += op();
  checksum = 0;
  let bestNsPerOp = Number.POSITIVE_INFINITY;
  for (let round = 0; round < ROUND_COUNT; round++) {
    const startNs = process.hrtime.bigint();
    for (let i = 0; i < roundIterations; i++) checksum += op();
    const nsPerOp = Number(process.hrtime.bigint() - startNs) / roundIterations;
    if (nsPerOp < bestNsPerOp) bestNsPerOp = nsPerOp;
  }
  return { nsPerOp: bestNsPerOp, checksum };
}

/** Runs every group and variant `iterations` times. Allocates per run, not per op (beyond the parsers' own strings). */
export function runHttp1ParseBench(iterations: number): Http1ParseBenchResult {
  const requestHead = createRequestHead();
  const responseHead = createResponseHead();
  const scanner = new ChunkedScanner();
  const splitIndex = CHUNKED_BODY.length >> 1;
  const rows: BenchRow[] = [];
  const add = (group: string, variant: string, op: () => number): void => {
    const { nsPerOp, checksum } = measure(iterations, op);
    rows.push({ group, variant, nsPerOp, checksum });
  };

  add('parseRequestHead', `curl-like, 6 headers, ${CURL_REQUEST.length} B`, () => {
    const consumed = parseRequestHead(CURL_REQUEST, 0, CURL_REQUEST.length, requestHead);
    return consumed + requestHead.headerCount + requestHead.target.length;
  });
  add('parseRequestHead', `browser-like, 12 headers, ${BROWSER_REQUEST.length} B`, () => {
    const consumed = parseRequestHead(BROWSER_REQUEST, 0, BROWSER_REQUEST.length, requestHead);
    return consumed + requestHead.headerCount + requestHead.contentLength;
  });
  const Llhttp = loadLlhttp();
  if (Llhttp !== null) {
    const parser = new Llhttp();
    let headCount = 0;
    parser[Llhttp.kOnHeadersComplete] = () => {
      headCount++;
      return 0;
    };
    parser[Llhttp.kOnMessageComplete] = () => 0;
    parser.initialize(Llhttp.REQUEST, {});
    add('reference: llhttp', `node:http's parser, same curl-like head`, () => {
      const consumed = parser.execute(CURL_REQUEST);
      return (typeof consumed === 'number' ? consumed : -1) + (headCount & 1);
    });
  }
  add('parseResponseHead', `small API response, 5 headers, ${SMALL_RESPONSE.length} B`, () => {
    const consumed = parseResponseHead(SMALL_RESPONSE, 0, SMALL_RESPONSE.length, responseHead, 'GET');
    return consumed + responseHead.statusCode + responseHead.contentLength;
  });
  add('parseResponseHead', `chunked response, 3 headers, ${CHUNKED_RESPONSE.length} B`, () => {
    const consumed = parseResponseHead(CHUNKED_RESPONSE, 0, CHUNKED_RESPONSE.length, responseHead, 'GET');
    return consumed + responseHead.bodyKind;
  });
  add('ChunkedScanner.scan', `3 chunks + trailer, ${CHUNKED_BODY.length} B, one buffer`, () => {
    scanner.reset();
    return scanner.scan(CHUNKED_BODY, 0, CHUNKED_BODY.length) + scanner.bodyBytes;
  });
  add('ChunkedScanner.scan', `3 chunks + trailer, ${CHUNKED_BODY.length} B, split in two`, () => {
    scanner.reset();
    const first = scanner.scan(CHUNKED_BODY, 0, splitIndex);
    return first + scanner.scan(CHUNKED_BODY, splitIndex, CHUNKED_BODY.length) + scanner.bodyBytes;
  });

  let checksum = 0;
  for (const row of rows) checksum += row.checksum;
  return { rows, checksum };
}

/** A small-N run for the test suite: proves the bench still runs and its inputs still parse. */
export function runHttp1ParseSmoke(): Http1ParseBenchResult {
  return runHttp1ParseBench(200);
}

function printResult(result: Http1ParseBenchResult, iterations: number): void {
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  console.log(
    `# http1-parse micro bench: node ${process.version}, ${cpu}, ${iterations} iterations, best of ${ROUND_COUNT} rounds`,
  );
  console.log(`# command: node ${process.argv.slice(1).join(' ')}`);
  for (const row of result.rows) {
    console.log(
      `${row.group.padEnd(20)} ${row.variant.padEnd(48)} ${row.nsPerOp.toFixed(1).padStart(8)} ns/op`,
    );
  }
  console.log(`checksum ${result.checksum}`);
}

if (import.meta.main) {
  const iterations = process.argv.includes('--smoke') ? 200 : 1_000_000;
  printResult(runHttp1ParseBench(iterations), iterations);
}
