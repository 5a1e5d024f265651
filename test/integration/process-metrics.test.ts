/**
 * `/metrics` carries the standard process_* and nodejs_* families a
 * Prometheus user expects (issue 15 §4), with prom-client's names and types,
 * after Ferry's own families, from a real Ferry; the exposition stays valid
 * text format (the strict parser in test/helpers/prometheus.ts).
 */
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestFerry, type TestFerry } from '../helpers/ferry.ts';
import { metricValue, type PromFamily, parsePrometheusText } from '../helpers/prometheus.ts';
import { startTargets, type TestTarget } from '../helpers/targets.ts';

let ferry: TestFerry;
let targets: TestTarget[];
let families: Map<string, PromFamily>;

beforeAll(async () => {
  targets = await startTargets(1, 'proc');
  ferry = await startTestFerry(`workers: 1
admin: { address: "127.0.0.1:0" }
listeners:
  - { name: web, protocol: HTTP, address: "127.0.0.1:0", defaultAction: { forward: { targetGroup: app } } }
targetGroups:
  - name: app
    healthCheck: { enabled: false }
    targets: [ { address: "${targets[0]!.address}" } ]
`);
  const response = await request(`http://${ferry.adminAddress}/metrics`);
  families = parsePrometheusText(await response.body.text());
});

afterAll(async () => {
  await ferry?.stop(1_000);
  await Promise.all((targets ?? []).map((t) => t.close()));
});

describe('GET /metrics', () => {
  it('has the process_* families with their Prometheus types and live values', () => {
    for (const [name, type] of [
      ['process_cpu_user_seconds_total', 'counter'],
      ['process_cpu_system_seconds_total', 'counter'],
      ['process_cpu_seconds_total', 'counter'],
      ['process_start_time_seconds', 'gauge'],
      ['process_resident_memory_bytes', 'gauge'],
      ['process_open_fds', 'gauge'],
      ['process_max_fds', 'gauge'],
    ] as const) {
      expect(families.get(name)?.type, name).toBe(type);
    }
    expect(metricValue(families, 'process_cpu_seconds_total')).toBeGreaterThan(0);
    expect(metricValue(families, 'process_resident_memory_bytes')).toBeGreaterThan(10 * 1024 * 1024);
    expect(metricValue(families, 'process_open_fds')).toBeGreaterThan(2);
    const startS = metricValue(families, 'process_start_time_seconds');
    expect(startS).toBeLessThanOrEqual(Date.now() / 1000);
    expect(startS).toBeGreaterThan(Date.now() / 1000 - process.uptime() - 5);
  });

  it('has the nodejs_* families: version, heap (total, used, per space), event-loop lag and active resources', () => {
    expect(metricValue(families, 'nodejs_version_info', { version: process.version })).toBe(1);
    expect(metricValue(families, 'nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
    expect(metricValue(families, 'nodejs_heap_size_total_bytes')).toBeGreaterThanOrEqual(
      metricValue(families, 'nodejs_heap_size_used_bytes'),
    );
    expect(metricValue(families, 'nodejs_heap_space_size_used_bytes', { space: 'old' })).toBeGreaterThan(0);
    for (const suffix of ['min', 'max', 'mean', 'stddev', 'p50', 'p90', 'p99']) {
      const name = `nodejs_eventloop_lag_${suffix}_seconds`;
      expect(families.get(name)?.type, name).toBe('gauge');
      expect(metricValue(families, name), name).toBeGreaterThanOrEqual(0);
    }
    expect(metricValue(families, 'nodejs_active_resources_total')).toBeGreaterThan(0);
  });

  it("keeps Ferry's own families first and unchanged", () => {
    const names = [...families.keys()];
    expect(names[0]).toBe('ferry_info');
    expect(names.indexOf('process_cpu_user_seconds_total')).toBeGreaterThan(
      names.lastIndexOf('ferry_target_ejections_total'),
    );
  });
});
