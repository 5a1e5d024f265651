/**
 * @module bench/e2e/report
 *
 * Turns the measurements of `bench:http` into markdown: the header (what ran
 * where, with which versions, by which command), one row per system under
 * test, the Ferry ratios against NGINX, HAProxy and direct, and the insertion
 * of that block into bench/RESULTS.md under a dated heading. Thread: the
 * bench's main thread, outside Ferry. Place in the flow: the last step of
 * `bench/e2e/http.ts`.
 */

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { StreamResult, WrkResult } from './load.ts';

/** `base`: another checkout of Ferry (`--baseline`), measured beside this tree in the same run. */
export type SystemKind = 'direct' | 'nginx' | 'haproxy' | 'ferry' | 'base';

/** One system under test in one CPU layout. */
export type SystemSpec = {
  /** `--only` name: kind + 1 (pinned layout) or 2 (two-core layout). */
  readonly id: string;
  readonly kind: SystemKind;
  /** NGINX worker processes, HAProxy threads, Ferry workers (direct: 1). */
  readonly workerCount: number;
  /** Pinned layout: proxy on core 1, wrk + targets on core 0. */
  readonly isPinned: boolean;
  readonly label: string;
};

/** One wrk cell: its result and the proxy's CPU time per request (null for direct). */
export type RequestCell =
  | { readonly wrk: WrkResult; readonly cpuUsPerRequest: number | null }
  | { readonly error: string };
/** The streamed 1 GiB: throughput and the proxy's CPU time per GiB (null for direct). */
export type StreamCell =
  | { readonly stream: StreamResult; readonly cpuMsPerGiB: number | null }
  | { readonly error: string };

export type SystemResult = {
  readonly spec: SystemSpec;
  /** Set when the system did not start or answer; then no cell ran. */
  readonly unavailableReason: string | null;
  readonly tiny: RequestCell | null;
  readonly medium: RequestCell | null;
  readonly stream: StreamCell | null;
};

const DASH = '—';

function formatInteger(value: number): string {
  return Number.isFinite(value) ? Math.round(value).toLocaleString('en-US') : DASH;
}

function formatMs(value: number): string {
  if (!Number.isFinite(value)) return DASH;
  return value < 1 ? value.toFixed(3) : value.toFixed(2);
}

function formatOptional(value: number | null, digits: number): string {
  return value === null || !Number.isFinite(value) ? DASH : value.toFixed(digits);
}

function requestColumns(cell: RequestCell | null): string[] {
  if (cell === null) return [DASH, DASH, DASH, DASH];
  if ('error' in cell) return [`(failed: ${cell.error})`, DASH, DASH, DASH];
  return [
    formatInteger(cell.wrk.requestsPerS),
    formatMs(cell.wrk.latencyP50Ms),
    formatMs(cell.wrk.latencyP99Ms),
    formatOptional(cell.cpuUsPerRequest, 1),
  ];
}

function streamColumns(cell: StreamCell | null): string[] {
  if (cell === null) return [DASH, DASH];
  if ('error' in cell) return [`(failed: ${cell.error})`, DASH];
  return [formatInteger(cell.stream.megabytesPerS), formatOptional(cell.cpuMsPerGiB, 0)];
}

function errorCount(result: SystemResult): string {
  let count = 0;
  for (const cell of [result.tiny, result.medium]) {
    if (cell !== null && !('error' in cell)) count += cell.wrk.errorCount;
  }
  return String(count);
}

/**
 * A markdown table with padded columns, the first `leftColumnCount` left
 * aligned and the rest right aligned, laid out exactly as `biome format`
 * lays out markdown, so RESULTS.md passes `biome check` as written.
 */
export function formatTable(
  headers: readonly string[],
  rows: readonly (readonly string[])[],
  leftColumnCount: number,
): string {
  const clean = (cell: string): string => cell.replaceAll('|', '/');
  const cellRows = [headers.map(clean), ...rows.map((cells) => cells.map(clean))];
  const widths = headers.map((_, column) =>
    Math.max(3, ...cellRows.map((cells) => (cells[column] ?? '').length)),
  );
  const isLeft = (column: number): boolean => column < leftColumnCount;
  const line = (cells: readonly string[]): string =>
    `| ${widths
      .map((width, column) =>
        isLeft(column) ? (cells[column] ?? '').padEnd(width) : (cells[column] ?? '').padStart(width),
      )
      .join(' | ')} |`;
  const separator = `| ${widths
    .map((width, column) => (isLeft(column) ? '-'.repeat(width) : `${'-'.repeat(width - 1)}:`))
    .join(' | ')} |`;
  const [headerCells, ...bodyRows] = cellRows;
  return [line(headerCells!), separator, ...bodyRows.map(line)].join('\n');
}

/** The main table: one row per system. */
export function formatResultsTable(results: readonly SystemResult[]): string {
  const headers = [
    'system',
    'layout',
    '9 B req/s',
    'p50 ms',
    'p99 ms',
    'CPU µs/req',
    '16 KiB req/s',
    'p50 ms',
    'p99 ms',
    'CPU µs/req',
    '1 GiB MB/s',
    'CPU ms/GiB',
    'errors',
  ];
  const rows: string[][] = [];
  for (const result of results) {
    const layout = result.spec.isPinned ? 'pinned' : '2 cores';
    if (result.unavailableReason !== null) {
      const rest = Array.from({ length: 10 }, () => DASH);
      rows.push([result.spec.label, layout, `(not available: ${result.unavailableReason})`, ...rest]);
      continue;
    }
    rows.push([
      result.spec.label,
      layout,
      ...requestColumns(result.tiny),
      ...requestColumns(result.medium),
      ...streamColumns(result.stream),
      errorCount(result),
    ]);
  }
  return formatTable(headers, rows, 2);
}

function wrkOf(cell: RequestCell | null | undefined): WrkResult | null {
  return cell === null || cell === undefined || 'error' in cell ? null : cell.wrk;
}

function cpuOf(cell: RequestCell | null | undefined): number | null {
  return cell === null || cell === undefined || 'error' in cell ? null : cell.cpuUsPerRequest;
}

function streamOf(cell: StreamCell | null | undefined): StreamResult | null {
  return cell === null || cell === undefined || 'error' in cell ? null : cell.stream;
}

function ratio(numerator: number | null | undefined, denominator: number | null | undefined): string {
  if (numerator === null || numerator === undefined || denominator === null || denominator === undefined) {
    return DASH;
  }
  const value = numerator / denominator;
  return Number.isFinite(value) ? `${value.toFixed(2)}×` : DASH;
}

/**
 * Ferry divided by each baseline in the same layout. For req/s and MB/s
 * higher is better; for p99 and CPU µs/req lower is better.
 */
export function formatRatioTable(results: readonly SystemResult[]): string {
  const byId = new Map<string, SystemResult>();
  for (const result of results) if (result.unavailableReason === null) byId.set(result.spec.id, result);
  const ranIds = new Set(results.map((result) => result.spec.id));
  const headers = [
    'ratio',
    'layout',
    '9 B req/s',
    '16 KiB req/s',
    '1 GiB MB/s',
    '9 B p99',
    '16 KiB p99',
    '9 B CPU/req',
    '16 KiB CPU/req',
  ];
  const rows: string[][] = [];
  const pairs = [
    ['ferry1', 'nginx1', 'Ferry / NGINX'],
    ['ferry1', 'haproxy1', 'Ferry / HAProxy'],
    ['ferry1', 'direct1', 'Ferry / direct'],
    ['ferry1', 'base1', 'Ferry / baseline'],
    ['ferry2', 'nginx2', 'Ferry / NGINX'],
    ['ferry2', 'haproxy2', 'Ferry / HAProxy'],
    ['ferry2', 'direct2', 'Ferry / direct'],
    ['ferry2', 'base2', 'Ferry / baseline'],
  ] as const;
  for (const [ferryId, baselineId, label] of pairs) {
    // A pair left out by --only gets no row; one whose system was not available gets dashes.
    if (!ranIds.has(ferryId) || !ranIds.has(baselineId)) continue;
    const ferry = byId.get(ferryId);
    const baseline = byId.get(baselineId);
    const isDirect = baselineId.startsWith('direct');
    rows.push([
      label,
      ferryId.endsWith('1') ? 'pinned' : '2 cores',
      ratio(wrkOf(ferry?.tiny)?.requestsPerS, wrkOf(baseline?.tiny)?.requestsPerS),
      ratio(wrkOf(ferry?.medium)?.requestsPerS, wrkOf(baseline?.medium)?.requestsPerS),
      ratio(streamOf(ferry?.stream)?.megabytesPerS, streamOf(baseline?.stream)?.megabytesPerS),
      ratio(wrkOf(ferry?.tiny)?.latencyP99Ms, wrkOf(baseline?.tiny)?.latencyP99Ms),
      ratio(wrkOf(ferry?.medium)?.latencyP99Ms, wrkOf(baseline?.medium)?.latencyP99Ms),
      isDirect ? DASH : ratio(cpuOf(ferry?.tiny), cpuOf(baseline?.tiny)),
      isDirect ? DASH : ratio(cpuOf(ferry?.medium), cpuOf(baseline?.medium)),
    ]);
  }
  return formatTable(headers, rows, 2);
}

/** Facts the header records, so a number can be traced to where and how it was taken. */
export type RunFacts = {
  /** When the run started. */
  readonly dateIso: string;
  readonly runDurationS: number;
  /** 1-minute load average before the bench started anything: other work on the machine. */
  readonly loadAverageAtStart: number;
  readonly command: string;
  readonly nodeVersion: string;
  readonly cpuModel: string;
  readonly cpuCount: number;
  readonly kernel: string;
  readonly toolVersions: Readonly<Record<string, string>>;
  readonly gitRevision: string;
  readonly cellDurationS: number;
  readonly warmupDurationS: number;
  readonly connectionCount: number;
  readonly streamDownloadCount: number;
  readonly isPinningPossible: boolean;
};

/** The header lines printed above the tables. */
export function formatHeader(facts: RunFacts): string {
  const tools = Object.entries(facts.toolVersions)
    .map(([name, version]) => `${name} ${version}`)
    .join('; ');
  const layout = facts.isPinningPossible
    ? '"pinned" rows: the proxy on core 1 (`taskset -c 1`), wrk, curl and the targets on core 0 ' +
      '(`taskset -c 0`); "2 cores" rows: nothing pinned, every process may use every core.'
    : `only ${facts.cpuCount} core: nothing could be pinned, so "pinned" rows are not pinned.`;
  return [
    `- command: \`${facts.command}\``,
    `- started ${facts.dateIso}, took ${Math.round(facts.runDurationS)} s; git ${facts.gitRevision}; ` +
      `load average ${facts.loadAverageAtStart.toFixed(2)} at start (near 0 on a quiet machine; ` +
      'anything else running shares the cores under test)',
    `- Node ${facts.nodeVersion}; CPU ${facts.cpuModel} (${facts.cpuCount} cores); kernel ${facts.kernel}`,
    `- ${tools}`,
    `- load: \`wrk -t1 -c${facts.connectionCount} -d${facts.cellDurationS}s --latency\` per cell after a ` +
      `${facts.warmupDurationS} s warm-up; 1 GiB body: median of ${facts.streamDownloadCount} \`curl -o /dev/null\` downloads; ` +
      'targets: one NGINX (1 worker) with 3 server blocks; every proxy balances round robin over the 3 ' +
      'with keep-alive upstream connections.',
    `- layout: ${layout}`,
    "- CPU µs/req and ms/GiB: the proxy's user+system time from /proc/<pid>/stat (NGINX: master and " +
      'workers) over the measured interval, divided by requests served or GiB streamed.',
  ].join('\n');
}

/** Heading of this bench's section in bench/RESULTS.md. */
export const RESULTS_SECTION_HEADING = '## bench:http';

/**
 * Inserts `block` at the end of the `## bench:http` section (or `heading`'s,
 * e.g. `## bench:https`) of the results file (before the next `## `
 * heading), creating the section or the file if needed. Other benches keep
 * their own sections untouched.
 */
export function appendToResultsFile(
  filePath: string,
  block: string,
  heading: string = RESULTS_SECTION_HEADING,
): void {
  const text = existsSync(filePath) ? readFileSync(filePath, 'utf8') : '# Benchmark results\n';
  const lines = text.split('\n');
  const sectionIndex = lines.findIndex((line) => line.trim() === heading);
  if (sectionIndex === -1) {
    const separator = text.endsWith('\n') ? '\n' : '\n\n';
    writeFileSync(filePath, `${text}${separator}${heading}\n\n${block.trimEnd()}\n`);
    return;
  }
  let endIndex = lines.length;
  for (let index = sectionIndex + 1; index < lines.length; index++) {
    if (/^## /.test(lines[index]!)) {
      endIndex = index;
      break;
    }
  }
  const before = lines.slice(0, endIndex).join('\n').trimEnd();
  const after = lines.slice(endIndex).join('\n');
  const rest = after.length > 0 ? `\n${after}` : '';
  writeFileSync(filePath, `${before}\n\n${block.trimEnd()}\n${rest}`);
}
