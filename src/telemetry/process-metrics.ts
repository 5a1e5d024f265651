/**
 * @module src/telemetry/process-metrics
 *
 * The standard `process_*` and `nodejs_*` families a Prometheus user expects
 * from any Node.js service, with prom-client's names and meanings (which
 * follow client_golang's process collector): CPU seconds, resident memory,
 * open and max file descriptors, start time, Node version, V8 heap (total and
 * per space), external memory, event-loop delay percentiles and active
 * resources. Thread: main; appended to `/metrics` after Ferry's own families.
 *
 * Why not prom-client's `collectDefaultMetrics`, the well-kept way to get
 * exactly these: it is not among Ferry's installed packages (the design card
 * names the packages; the OpenTelemetry ones installed have no runtime or
 * host-metrics instrumentation, and their Prometheus exporter would name the
 * families differently and serve them from a second registry). So this file
 * reads the same Node APIs prom-client reads (process.cpuUsage, memoryUsage,
 * v8.getHeapSpaceStatistics, perf_hooks.monitorEventLoopDelay,
 * process.getActiveResourcesInfo, /proc/self) under the same names, so
 * dashboards built for prom-client work unchanged. Not included: GC
 * duration histograms (a PerformanceObserver per GC) and `process_heap_bytes`.
 *
 * Process-wide numbers (CPU, memory, file descriptors) include every worker
 * thread; heap, event loop and active resources are the main thread's (the
 * workers' heaps are their own isolates).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import v8 from 'node:v8';
import type { PrometheusWriter } from './prometheus.ts';

/** Event-loop delay sampling resolution (ms), prom-client's default. */
const EVENT_LOOP_RESOLUTION_MS = 10;
const NS_PER_S = 1e9;
const US_PER_S = 1e6;

/** Open file descriptors (Linux /proc), or null where /proc is absent. */
function openFds(): number | null {
  try {
    return readdirSync('/proc/self/fd').length;
  } catch {
    return null;
  }
}

/** The soft limit on open files (Linux /proc), or null. */
function maxFds(): number | null {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((text) => text.startsWith('Max open files'));
    const value = Number(line?.split(/\s{2,}/)[1]);
    return Number.isFinite(value) ? value : null;
  } catch {
    return null;
  }
}

export class ProcessMetrics {
  private readonly loopDelay: ReturnType<typeof monitorEventLoopDelay>;
  private readonly startTimeS: number;

  constructor() {
    this.loopDelay = monitorEventLoopDelay({ resolution: EVENT_LOOP_RESOLUTION_MS });
    this.loopDelay.enable();
    this.startTimeS = Math.round(Date.now() / 1000 - process.uptime());
  }

  stop(): void {
    this.loopDelay.disable();
  }

  /** Write the families; event-loop percentiles cover the time since the previous scrape (then reset, as prom-client). */
  render(w: PrometheusWriter): void {
    const cpu = process.cpuUsage();
    const memory = process.memoryUsage();
    w.family('process_cpu_user_seconds_total', 'counter', 'Total user CPU time spent in seconds.').sample(
      'process_cpu_user_seconds_total',
      {},
      cpu.user / US_PER_S,
    );
    w.family('process_cpu_system_seconds_total', 'counter', 'Total system CPU time spent in seconds.').sample(
      'process_cpu_system_seconds_total',
      {},
      cpu.system / US_PER_S,
    );
    w.family(
      'process_cpu_seconds_total',
      'counter',
      'Total user and system CPU time spent in seconds.',
    ).sample('process_cpu_seconds_total', {}, (cpu.user + cpu.system) / US_PER_S);
    w.family(
      'process_start_time_seconds',
      'gauge',
      'Start time of the process since unix epoch in seconds.',
    ).sample('process_start_time_seconds', {}, this.startTimeS);
    w.family('process_resident_memory_bytes', 'gauge', 'Resident memory size in bytes.').sample(
      'process_resident_memory_bytes',
      {},
      memory.rss,
    );
    const open = openFds();
    if (open !== null) {
      w.family('process_open_fds', 'gauge', 'Number of open file descriptors.').sample(
        'process_open_fds',
        {},
        open,
      );
    }
    const max = maxFds();
    if (max !== null) {
      w.family('process_max_fds', 'gauge', 'Maximum number of open file descriptors.').sample(
        'process_max_fds',
        {},
        max,
      );
    }
    const [major, minor, patch] = process.versions.node.split('.');
    w.family('nodejs_version_info', 'gauge', 'Node.js version info.').sample(
      'nodejs_version_info',
      { version: process.version, major: major ?? '', minor: minor ?? '', patch: patch ?? '' },
      1,
    );
    w.family('nodejs_heap_size_total_bytes', 'gauge', 'Process heap size from Node.js in bytes.').sample(
      'nodejs_heap_size_total_bytes',
      {},
      memory.heapTotal,
    );
    w.family('nodejs_heap_size_used_bytes', 'gauge', 'Process heap size used from Node.js in bytes.').sample(
      'nodejs_heap_size_used_bytes',
      {},
      memory.heapUsed,
    );
    w.family('nodejs_external_memory_bytes', 'gauge', 'Node.js external memory size in bytes.').sample(
      'nodejs_external_memory_bytes',
      {},
      memory.external,
    );
    const spaces = v8.getHeapSpaceStatistics();
    w.family(
      'nodejs_heap_space_size_total_bytes',
      'gauge',
      'Process heap space size total from Node.js in bytes.',
    );
    for (const space of spaces) {
      w.sample(
        'nodejs_heap_space_size_total_bytes',
        { space: space.space_name.replace(/_space$/, '') },
        space.space_size,
      );
    }
    w.family(
      'nodejs_heap_space_size_used_bytes',
      'gauge',
      'Process heap space size used from Node.js in bytes.',
    );
    for (const space of spaces) {
      w.sample(
        'nodejs_heap_space_size_used_bytes',
        { space: space.space_name.replace(/_space$/, '') },
        space.space_used_size,
      );
    }
    const delay = this.loopDelay;
    const hasSamples = delay.count > 0;
    const seconds = (ns: number) => (hasSamples ? ns / NS_PER_S : 0);
    for (const [suffix, help, value] of [
      ['min', 'The minimum recorded event loop delay.', delay.min],
      ['max', 'The maximum recorded event loop delay.', delay.max],
      ['mean', 'The mean of the recorded event loop delays.', delay.mean],
      ['stddev', 'The standard deviation of the recorded event loop delays.', delay.stddev],
      ['p50', 'The 50th percentile of the recorded event loop delays.', delay.percentile(50)],
      ['p90', 'The 90th percentile of the recorded event loop delays.', delay.percentile(90)],
      ['p99', 'The 99th percentile of the recorded event loop delays.', delay.percentile(99)],
    ] as const) {
      const name = `nodejs_eventloop_lag_${suffix}_seconds`;
      w.family(name, 'gauge', help).sample(name, {}, seconds(value));
    }
    delay.reset();
    const resources = process.getActiveResourcesInfo();
    const byType = new Map<string, number>();
    for (const type of resources) byType.set(type, (byType.get(type) ?? 0) + 1);
    w.family(
      'nodejs_active_resources',
      'gauge',
      'Number of active resources that are currently keeping the event loop alive, grouped by async resource type.',
    );
    for (const [type, count] of byType) w.sample('nodejs_active_resources', { type }, count);
    w.family('nodejs_active_resources_total', 'gauge', 'Total number of active resources.').sample(
      'nodejs_active_resources_total',
      {},
      resources.length,
    );
  }
}
