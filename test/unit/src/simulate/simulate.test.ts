/**
 * `ferry simulate` (src/simulate): reading traces (CSV and Ferry's own
 * access-log lines) with errors that name the line, what-if parsing, and the
 * command end to end as a child process — the engine in its worker thread,
 * the text report and the latency-CDF SVG written next to the trace.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ALGORITHMS } from '../../../../proto/algorithms.ts';
import { createRandom } from '../../../../src/shared/random.ts';
import { parseTrace, parseWhatIf } from '../../../../src/simulate/index.ts';

const FERRY = join(import.meta.dirname, '../../../../src/cli/ferry.ts');

async function ferry(
  args: readonly string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [FERRY, ...args]);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stdout, stderr };
}

describe('parseTrace', () => {
  it('reads a CSV by its header, with per-target service times and error flags, from time 0', () => {
    const requests = parseTrace(
      'key,arrival_ms,service_ms,error,service_ms@10.0.0.2:80\nalice,1000,5,0,\nbob,1002.5,7,1,21\n',
    );
    expect(requests).toEqual([
      { arrivalMs: 0, key: 'alice', serviceMs: 5, serviceMsByTarget: null, isError: false },
      { arrivalMs: 2.5, key: 'bob', serviceMs: 7, serviceMsByTarget: { '10.0.0.2:80': 21 }, isError: true },
    ]);
  });

  it("reads Ferry's access-log lines in arrival order, skipping other log lines and requests no target answered", () => {
    const line = (time: string, durationMs: number, targetMs: number | null, status: number) =>
      JSON.stringify({
        log: 'access',
        time,
        client: '10.0.3.7:51544',
        durationMs,
        targetProcessingMs: targetMs,
        targetStatus: status,
      });
    const requests = parseTrace(
      [
        line('2026-11-26T23:39:10.100Z', 50, 48, 200),
        JSON.stringify({ level: 30, msg: 'ferry is ready' }),
        line('2026-11-26T23:39:10.080Z', 10, 9, 503),
        line('2026-11-26T23:39:10.090Z', 1, null, 502),
      ].join('\n'),
    );
    expect(requests).toEqual([
      { arrivalMs: 0, key: '10.0.3.7', serviceMs: 48, serviceMsByTarget: null, isError: false },
      { arrivalMs: 20, key: '10.0.3.7', serviceMs: 9, serviceMsByTarget: null, isError: true },
    ]);
  });

  it('names the line and column of a bad value, a time going backwards and a missing header column', () => {
    expect(() => parseTrace('arrival_ms,service_ms\n1,2\n3,fast\n')).toThrow(
      expect.objectContaining({
        code: 'FERRY_ERR_SIMULATE_BAD_TRACE',
        message: 'trace line 3: service_ms must be a number ≥ 0, got "fast"',
      }),
    );
    expect(() => parseTrace('arrival_ms,service_ms\n5,2\n3,1\n')).toThrow(
      'trace line 3: arrival_ms goes back in time (3 after 5)',
    );
    expect(() => parseTrace('time,service_ms\n5,2\n')).toThrow('trace line 1: the header needs arrival_ms');
    expect(() => parseTrace('{"log":"access",\n')).toThrow('trace line 1: not a JSON access-log line');
  });
});

describe('parseWhatIf', () => {
  it('reads slow, fail and weight changes at a time from the trace start, IPv6 targets included', () => {
    const targets = ['10.0.0.1:80', '[::1]:8080'];
    expect(parseWhatIf('slow:10.0.0.1:80:3@30s', targets)).toEqual({
      kind: 'slow',
      address: '10.0.0.1:80',
      atMs: 30_000,
      factor: 3,
    });
    expect(parseWhatIf('fail:[::1]:8080@0', targets)).toEqual({
      kind: 'fail',
      address: '[::1]:8080',
      atMs: 0,
    });
    expect(parseWhatIf('weight:[::1]:8080:5@1500ms', targets)).toMatchObject({ weight: 5, atMs: 1_500 });
    expect(() => parseWhatIf('slow:10.0.0.9:80:2@1s', targets)).toThrow(
      expect.objectContaining({
        code: 'FERRY_ERR_SIMULATE_BAD_ARGS',
        message: expect.stringMatching(/no target "10.0.0.9:80"/),
      }),
    );
    expect(() => parseWhatIf('slow:10.0.0.1:80:2', targets)).toThrow(/expected …@T/);
  });
});

describe('ferry simulate', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-simulate-'));
  writeFileSync(
    join(dir, 'ferry.yaml'),
    `listeners:
  - { name: web, address: "127.0.0.1:0", defaultAction: { forward: { targetGroup: api } } }
targetGroups:
  - name: api
    targets: [{ address: "10.0.0.1:80" }, { address: "10.0.0.2:80" }]
`,
  );
  const random = createRandom(5);
  let nowMs = 0;
  const rows = ['arrival_ms,key,service_ms'];
  for (let i = 0; i < 2_000; i++) {
    nowMs += -Math.log(1 - random()) / 0.5;
    rows.push(`${nowMs.toFixed(3)},c${i % 50},${(-Math.log(1 - random())).toFixed(3)}`);
  }
  writeFileSync(join(dir, 'trace.csv'), `${rows.join('\n')}\n`);

  it('prints p50/p90/p99 per algorithm and writes the report and a latency-CDF SVG next to the trace', async () => {
    const run = await ferry([
      'simulate',
      '--config',
      join(dir, 'ferry.yaml'),
      '--trace',
      join(dir, 'trace.csv'),
      '--what-if',
      'slow:10.0.0.2:80:3@1s',
    ]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const lines = run.stdout.split('\n');
    expect(lines[0]).toMatch(
      /^ferry simulate: 2000 requests over [\d.]+ s from .*trace\.csv, target group api \(2 targets, concurrency 1\), what-if slow:10\.0\.0\.2:80:3@1s$/,
    );
    expect(lines[2]).toMatch(/^ALGORITHM +P50 MS +P90 MS +P99 MS +MEAN MS +ERRORS +UNSERVED$/);
    for (const [i, algorithm] of ALGORITHMS.entries()) {
      expect(lines[3 + i]).toMatch(new RegExp(`^${algorithm} +[\\d.]+ +[\\d.]+ +[\\d.]+ +[\\d.]+ +0% +0$`));
    }
    expect(readFileSync(join(dir, 'trace.csv.simulate.txt'), 'utf8')).toBe(
      run.stdout.slice(0, run.stdout.indexOf('\nwrote ')),
    );
    const svg = readFileSync(join(dir, 'trace.csv.simulate.svg'), 'utf8');
    expect(svg).toMatch(/^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    expect(svg.match(/<polyline /g)).toHaveLength(ALGORITHMS.length);
  });

  it('exits 2 naming the code for an unknown algorithm and for a bad trace line', async () => {
    const algorithm = await ferry([
      'simulate',
      '--config',
      join(dir, 'ferry.yaml'),
      '--trace',
      join(dir, 'trace.csv'),
      '--algorithms',
      'round_robin,fastest',
    ]);
    expect(algorithm.code).toBe(2);
    expect(algorithm.stderr).toMatch(
      /^ferry simulate: FERRY_ERR_SIMULATE_BAD_ARGS: --algorithms: unknown algorithm "fastest"/,
    );
    writeFileSync(join(dir, 'bad.csv'), 'arrival_ms,service_ms\n1,2\nx,3\n');
    const trace = await ferry([
      'simulate',
      '--config',
      join(dir, 'ferry.yaml'),
      '--trace',
      join(dir, 'bad.csv'),
    ]);
    expect(trace.code).toBe(2);
    expect(trace.stderr).toBe(
      'ferry simulate: FERRY_ERR_SIMULATE_BAD_TRACE: trace line 3: arrival_ms must be a number ≥ 0, got "x"\n',
    );
  });
});
