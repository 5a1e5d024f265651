/**
 * @module bench/micro/route.bench
 *
 * Micro bench of the route phase's hot path (workers/route/match.ts): ns
 * and heap bytes per `matchListener` call for listeners of 0, 20 and 100
 * rules, over a fixed mix of requests (paths, hosts, headers, query strings,
 * client addresses) that reach early rules, late rules and the default
 * action. Thread: main (a bench process). Run: `npm run bench:route`
 * (`node bench/micro/route.bench.ts [--smoke]`, or FERRY_BENCH_SMOKE=1).
 *
 * Why it exists: rules run on every request in every worker, and the issue
 * requires that matching allocates nothing (rule H1); bytes/match is the
 * measured proof (~0, against ~16 for one boxed number per call). Every
 * matched action index feeds a printed checksum, so the work cannot be
 * optimised away and a changed match result shows as a changed checksum. A
 * `--smoke` run (called from test/unit/bench/route-smoke.test.ts) keeps the
 * bench from rotting. Numbers vary with the machine and its load; the header
 * records Node, CPU and command.
 */
import os from 'node:os';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { TopologyListener, TopologyRule } from '../../proto/thread-messages.ts';
import { LISTENER_TIMEOUTS_DEFAULT } from '../../src/shared/limits.ts';
import type { RequestHead } from '../../workers/http/http1-types.ts';
import { createRequestHead } from '../../workers/http/parse-request-head.ts';
import { CompiledListener } from '../../workers/route/compile.ts';
import { matchListener } from '../../workers/route/match.ts';

export interface RouteBenchRow {
  readonly ruleCount: number;
  readonly nsPerMatch: number;
  /** Heap growth per match (slope over GC-free windows); ~0 when matching allocates nothing. NaN if unmeasurable. */
  readonly bytesPerMatch: number;
  /** Fold of every action index matched. */
  readonly checksum: number;
}

export interface RouteBenchResult {
  readonly rows: RouteBenchRow[];
  readonly checksum: number;
  readonly isSmoke: boolean;
}

export interface RouteBenchOptions {
  readonly isSmoke: boolean;
  readonly ruleCounts?: readonly number[];
}

const RULE_COUNTS = [0, 20, 100];
const SMOKE_RULE_COUNTS = [0, 20];

/** Run the bench. Deterministic inputs: the checksum is stable across runs for the same mode. */
export function runRouteBench(options: RouteBenchOptions): RouteBenchResult {
  const ruleCounts = options.ruleCounts ?? (options.isSmoke ? SMOKE_RULE_COUNTS : RULE_COUNTS);
  const matches = options.isSmoke ? 20_000 : 1_000_000;
  const windows = options.isSmoke ? 4 : 8;
  const collectGarbage = obtainGc();
  const requests = makeRequests();
  const rows: RouteBenchRow[] = [];
  let checksum = 0;
  for (const ruleCount of ruleCounts) {
    const listener = makeListener(ruleCount);
    runMatches(listener, requests, Math.min(matches, 50_000)); // warm-up
    const started = process.hrtime.bigint();
    const rowChecksum = runMatches(listener, requests, matches);
    const nsPerMatch = Number(process.hrtime.bigint() - started) / matches;
    const bytesPerMatch = measureBytesPerMatch(listener, requests, matches / 4, windows, collectGarbage);
    rows.push({ ruleCount, nsPerMatch, bytesPerMatch, checksum: rowChecksum });
    checksum = (Math.imul(checksum, 31) + rowChecksum) | 0;
  }
  return { rows, checksum, isSmoke: options.isSmoke };
}

function runMatches(listener: CompiledListener, requests: readonly Request[], count: number): number {
  let checksum = 0;
  for (let i = 0; i < count; i++) {
    const request = requests[i % requests.length]!;
    checksum = (Math.imul(checksum, 31) + matchListener(listener, request.head, request.address)) | 0;
  }
  return checksum;
}

/** Slope of heap growth between windows of N and 2N matches, minimum over windows (see pick.bench.ts). */
function measureBytesPerMatch(
  listener: CompiledListener,
  requests: readonly Request[],
  matches: number,
  windows: number,
  collectGarbage: (() => void) | undefined,
): number {
  const growth = (count: number): number => {
    let smallest = Number.NaN;
    for (let window = 0; window < windows; window++) {
      collectGarbage?.();
      const before = process.memoryUsage().heapUsed;
      runMatches(listener, requests, count);
      const grown = process.memoryUsage().heapUsed - before;
      if (grown >= 0 && !(grown >= smallest)) smallest = grown;
    }
    return smallest;
  };
  const short = growth(matches);
  const long = growth(2 * matches);
  return Math.max(0, long - short) / matches;
}

// === Fixtures ===
interface Request {
  readonly head: RequestHead;
  readonly address: string;
}

const NO_CONDITIONS = {
  hostHeader: [],
  pathPattern: [],
  httpHeader: [],
  httpRequestMethod: [],
  queryString: [],
  sourceIp: [],
};

/** Rules cycling through every condition kind; none matches the bench requests before rule `ruleCount - 3`. */
function makeRules(ruleCount: number): TopologyRule[] {
  const rules: TopologyRule[] = [];
  for (let i = 0; i < ruleCount; i++) {
    const isLate = i >= ruleCount - 3;
    const tag = isLate ? '' : `-${i}`;
    const kind = i % 6;
    const conditions = {
      ...NO_CONDITIONS,
      ...(kind === 0 ? { pathPattern: [`/api${tag}/*`, `/v${i}/*/items`] } : {}),
      ...(kind === 1 ? { hostHeader: [`*.shop${tag}.example.com`] } : {}),
      ...(kind === 2 ? { httpHeader: [{ name: 'x-env', values: [`canary${tag}`, 'beta-*'] }] } : {}),
      ...(kind === 3 ? { queryString: [{ key: 'version', value: `v2${tag}*` }] } : {}),
      ...(kind === 4 ? { sourceIp: [isLate ? '10.0.0.0/8' : `172.${16 + (i % 16)}.0.0/16`] } : {}),
      ...(kind === 5 ? { httpRequestMethod: [isLate ? 'DELETE' : 'PATCH'], pathPattern: ['/admin/*'] } : {}),
    };
    rules.push({
      priority: i + 1,
      conditions,
      action: { type: 'fixedResponse', statusCode: 200, contentType: 'text/plain', body: String(i) },
    });
  }
  return rules;
}

function makeListener(ruleCount: number): CompiledListener {
  const listener: TopologyListener = {
    name: 'bench',
    protocol: 'HTTP',
    timeouts: LISTENER_TIMEOUTS_DEFAULT,
    host: '127.0.0.1',
    port: 8080,
    defaultGroupIndex: 0,
    isTargetHeaderOn: false,
    tls: null,
    routing: {
      rules: makeRules(ruleCount),
      defaultAction: {
        type: 'forward',
        targetGroups: [{ name: 'app', weight: 1 }],
        stickiness: { enabled: false, durationMs: 1_000 },
      },
      scheme: 'internet-facing',
      allowedSources: [],
      internalSources: [],
    },
  };
  return new CompiledListener(listener, new Map([['app', 0]]));
}

function makeRequests(): Request[] {
  const request = (
    method: string,
    target: string,
    host: string,
    headers: [string, string][],
    address: string,
  ): Request => {
    const head = createRequestHead();
    head.method = method;
    head.target = target;
    head.host = host;
    head.headerNames = ['host', 'user-agent', 'accept', ...headers.map(([name]) => name)];
    head.headerValues = [host, 'bench/1.0', '*/*', ...headers.map(([, value]) => value)];
    head.headerCount = head.headerNames.length;
    return { head, address };
  };
  return [
    request('GET', '/api/users/42', 'www.shop.example.com', [], '127.0.0.1'),
    request('GET', '/static/app.js?v=3', 'www.example.com', [], '192.168.1.7'),
    request('POST', '/checkout?version=v2.1', 'shop.example.com:8443', [['x-env', 'prod']], '10.1.2.3'),
    request('GET', '/v1/a/items', 'api.example.com', [['x-env', 'BETA-7']], '::1'),
    request('DELETE', '/admin/users/1', 'admin.example.com', [], 'fd00::5'),
    request('GET', '/', 'example.com', [], '203.0.113.9'),
  ];
}

/** `gc` from --expose-gc, or enabled at run time (V8 flag + a fresh context); undefined if neither works. */
function obtainGc(): (() => void) | undefined {
  const existing = (globalThis as { gc?: () => void }).gc;
  if (typeof existing === 'function') return existing;
  try {
    v8.setFlagsFromString('--expose-gc');
    const collect: unknown = runInNewContext('gc');
    return typeof collect === 'function' ? (collect as () => void) : undefined;
  } catch {
    return undefined;
  }
}

// === Report ===
export function formatRouteBench(result: RouteBenchResult): string {
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  const lines = [
    `# route bench${result.isSmoke ? ' (smoke)' : ''}: node ${process.version}, ${cpu} x ${os.availableParallelism()}, ` +
      `command: node bench/micro/route.bench.ts${result.isSmoke ? ' --smoke' : ''}`,
    `${'rules'.padStart(6)} ${'ns/match'.padStart(9)} ${'bytes/match'.padStart(12)} ${'checksum'.padStart(12)}`,
  ];
  for (const row of result.rows) {
    lines.push(
      [
        String(row.ruleCount).padStart(6),
        row.nsPerMatch.toFixed(1).padStart(9),
        (Number.isNaN(row.bytesPerMatch) ? 'n/a' : row.bytesPerMatch.toFixed(3)).padStart(12),
        String(row.checksum).padStart(12),
      ].join(' '),
    );
  }
  lines.push(`checksum ${result.checksum}`);
  return lines.join('\n');
}

if (import.meta.main) {
  const isSmoke = process.argv.includes('--smoke') || process.env['FERRY_BENCH_SMOKE'] === '1';
  console.log(formatRouteBench(runRouteBench({ isSmoke })));
}
