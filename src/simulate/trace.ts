/**
 * @module src/simulate/trace
 *
 * Reading a trace for `ferry simulate`: either a CSV (arrival time, key,
 * service time, optional error flag and per-target service times) or
 * Ferry's own access-log lines (JSON, one per request). Thread: the CLI's
 * main thread. Every problem is a ProxyError FERRY_ERR_SIMULATE_BAD_TRACE
 * naming the line (1-based) and the column or field.
 *
 * CSV columns, by header name (order free, header required):
 *
 *   arrival_ms            ms from any origin, non-decreasing (required)
 *   key                   hash key: client address, session id … (optional, default the line number)
 *   service_ms            service time on a target of speed 1 (required unless every target has its own column)
 *   service_ms@HOST:PORT  that target's service time for this request (optional, one column per target)
 *   error                 0/1: the target answers with an error (optional)
 *
 * Access-log lines: `time` (the end, ISO) minus `durationMs` is the arrival,
 * `targetProcessingMs` the service time, `client` without its port the key,
 * `targetStatus` ≥ 500 an error. Lines whose `log` is not `access`, or that
 * never reached a target, are skipped (they are not load a balancer saw).
 */
import type { SimRequest } from '../../proto/simulate.ts';
import { ProxyError } from '../shared/errors.ts';

/** Longest trace read (requests); a bigger one is cut with an error, not read without end. */
export const TRACE_REQUESTS_MAX = 5_000_000;

function bad(line: number, message: string): ProxyError {
  return new ProxyError('FERRY_ERR_SIMULATE_BAD_TRACE', `trace line ${line}: ${message}`);
}

/** Parse a trace's text (CSV or access-log JSON lines, told apart by the first non-empty line). */
export function parseTrace(text: string): SimRequest[] {
  const lines = text.split('\n');
  const first = lines.findIndex((line) => line.trim() !== '');
  if (first < 0) throw bad(1, 'the trace is empty');
  const requests = lines[first]!.trimStart().startsWith('{') ? parseAccessLog(lines) : parseCsv(lines, first);
  if (requests.length === 0) throw bad(first + 1, 'no request in the trace');
  if (requests.length > TRACE_REQUESTS_MAX)
    throw bad(lines.length, `more than ${TRACE_REQUESTS_MAX} requests`);
  const originMs = requests[0]!.arrivalMs;
  return requests.map((request) => ({ ...request, arrivalMs: request.arrivalMs - originMs }));
}

function number(text: string | undefined, line: number, column: string, isRequired: boolean): number | null {
  if (text === undefined || text.trim() === '') {
    if (isRequired) throw bad(line, `${column} is missing`);
    return null;
  }
  const value = Number(text);
  if (!Number.isFinite(value) || value < 0)
    throw bad(line, `${column} must be a number ≥ 0, got ${JSON.stringify(text)}`);
  return value;
}

function parseCsv(lines: readonly string[], headerIndex: number): SimRequest[] {
  const header = lines[headerIndex]!.split(',').map((name) => name.trim());
  const column = (name: string) => header.indexOf(name);
  const arrival = column('arrival_ms');
  if (arrival < 0) throw bad(headerIndex + 1, `the header needs arrival_ms (got ${header.join(',')})`);
  const service = column('service_ms');
  const perTarget = header
    .map((name, index) => ({ name, index }))
    .filter((entry) => entry.name.startsWith('service_ms@'))
    .map((entry) => ({ address: entry.name.slice('service_ms@'.length), index: entry.index }));
  if (service < 0 && perTarget.length === 0) {
    throw bad(headerIndex + 1, 'the header needs service_ms or service_ms@HOST:PORT columns');
  }
  const key = column('key');
  const error = column('error');
  const requests: SimRequest[] = [];
  let lastMs = Number.NEGATIVE_INFINITY;
  for (let i = headerIndex + 1; i < lines.length; i++) {
    const text = lines[i]!.trim();
    if (text === '' || text.startsWith('#')) continue;
    const cells = text.split(',');
    const lineNumber = i + 1;
    const arrivalMs = number(cells[arrival], lineNumber, 'arrival_ms', true)!;
    if (arrivalMs < lastMs)
      throw bad(lineNumber, `arrival_ms goes back in time (${arrivalMs} after ${lastMs})`);
    lastMs = arrivalMs;
    let byTarget: Record<string, number> | null = null;
    for (const target of perTarget) {
      const value = number(cells[target.index], lineNumber, `service_ms@${target.address}`, false);
      if (value === null) continue;
      byTarget ??= {};
      byTarget[target.address] = value;
    }
    const serviceMs = number(cells[service], lineNumber, 'service_ms', byTarget === null);
    const errorFlag = error < 0 ? '0' : (cells[error]?.trim() ?? '0');
    if (errorFlag !== '0' && errorFlag !== '1' && errorFlag !== '') {
      throw bad(lineNumber, `error must be 0 or 1, got ${JSON.stringify(errorFlag)}`);
    }
    requests.push({
      arrivalMs,
      key: key < 0 ? String(lineNumber) : (cells[key]?.trim() ?? ''),
      serviceMs: serviceMs ?? 0,
      serviceMsByTarget: byTarget,
      isError: errorFlag === '1',
    });
  }
  return requests;
}

function parseAccessLog(lines: readonly string[]): SimRequest[] {
  const requests: SimRequest[] = [];
  for (let i = 0; i < lines.length; i++) {
    const text = lines[i]!.trim();
    if (text === '') continue;
    let entry: Record<string, unknown>;
    try {
      entry = JSON.parse(text) as Record<string, unknown>;
    } catch {
      throw bad(i + 1, 'not a JSON access-log line');
    }
    if (entry['log'] !== 'access' || typeof entry['targetProcessingMs'] !== 'number') continue;
    const endMs = Date.parse(String(entry['time']));
    const durationMs = entry['durationMs'];
    if (!Number.isFinite(endMs) || typeof durationMs !== 'number') {
      throw bad(i + 1, 'an access-log line needs time (ISO) and durationMs');
    }
    const client = typeof entry['client'] === 'string' ? entry['client'] : '';
    const status = typeof entry['targetStatus'] === 'number' ? entry['targetStatus'] : 200;
    requests.push({
      arrivalMs: endMs - durationMs,
      key: client.replace(/:\d+$/, ''),
      serviceMs: entry['targetProcessingMs'] as number,
      serviceMsByTarget: null,
      isError: status >= 500,
    });
  }
  // Lines are written at each request's end; the balancer saw them in arrival order.
  return requests.sort((a, b) => a.arrivalMs - b.arrivalMs);
}
