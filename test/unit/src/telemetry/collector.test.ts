/**
 * MetricsCollector on a real table with no workers: the test plays the
 * workers' part with the layout's own accessors, so wrapping Int32 cells,
 * slot reuse and summing LISTENER rows over workers are checked exactly.
 */
import { describe, expect, it } from 'vitest';
import {
  addListener,
  addResponseTime,
  addStats,
  addTarget,
  initTable,
  LISTENER_ACTIVE_CONNECTIONS,
  LISTENER_BYTES_OUT_TOTAL,
  LISTENER_REQUESTS_TOTAL,
  STATS_2XX_TOTAL,
  TARGET_REQUESTS_TOTAL,
  type TableView,
  tableBytes,
} from '../../../../proto/table-layout.ts';
import type { Topology } from '../../../../proto/thread-messages.ts';
import { MetricsCollector, renderMetrics } from '../../../../src/telemetry/index.ts';
import { metricValue, parsePrometheusText } from '../../../helpers/prometheus.ts';

const CAPACITY = { groupCapacity: 2, targetCapacity: 4, workerCapacity: 2, listenerCapacity: 1 };

function makeTable(): TableView {
  return initTable(new SharedArrayBuffer(tableBytes(CAPACITY)), CAPACITY, 1_700_000_000);
}

function topologyWith(members: { slot: number; id: string }[]): Topology {
  return {
    generation: 2,
    groups: [
      {
        groupIndex: 0,
        name: 'app',
        algorithm: 'round_robin',
        hashKey: { kind: 'source_ip', name: '' },
        members: members.map((member) => ({ ...member, host: '127.0.0.1', port: 1 })),
        connectTimeoutMs: 1_000,
        responseTimeoutMs: 1_000,
      },
    ],
    listeners: [
      {
        name: 'web',
        protocol: 'HTTP',
        host: '127.0.0.1',
        port: 80,
        defaultGroupIndex: 0,
        isTargetHeaderOn: false,
      },
    ],
  } as unknown as Topology;
}

function collectorFor(view: TableView, topology: () => Topology, alive = [true, true]) {
  return new MetricsCollector({
    view,
    topology,
    workerCount: 2,
    isWorkerAlive: (index) => alive[index] ?? false,
    readyWorkerCount: () => 2,
    restartCount: () => 0,
    version: 'test',
    nowMs: () => 0,
  });
}

/** What a scrape does: poll (not a history tick), then render. */
function scrape(collector: MetricsCollector): string {
  collector.poll(false);
  return renderMetrics(collector);
}

describe('MetricsCollector', () => {
  describe('when a counter cell wraps past 2^31 between two polls', () => {
    it('keeps counting up', () => {
      const view = makeTable();
      const collector = collectorFor(view, () => topologyWith([{ slot: 0, id: 'a:1' }]));
      addTarget(view, 0, TARGET_REQUESTS_TOTAL, 2 ** 31 - 10);
      collector.poll();
      addTarget(view, 0, TARGET_REQUESTS_TOTAL, 25); // the cell is now negative
      const families = parsePrometheusText(scrape(collector));
      expect(metricValue(families, 'ferry_target_requests_total', { target: 'a:1' })).toBe(2 ** 31 + 15);
    });
  });

  describe('when bytes wrap past 2^32 over several polls', () => {
    it('reads them unsigned and keeps the exact total', () => {
      const view = makeTable();
      const collector = collectorFor(view, () => topologyWith([]));
      for (let i = 0; i < 5; i++) {
        addListener(view, 1, 0, LISTENER_BYTES_OUT_TOTAL, 2 ** 30 * 3); // 3 GiB per poll, below 2^32
        collector.poll();
      }
      const families = parsePrometheusText(scrape(collector));
      expect(metricValue(families, 'ferry_listener_processed_bytes_total', { direction: 'out' })).toBe(
        15 * 2 ** 30,
      );
    });
  });

  describe('when listener rows of two workers count', () => {
    it('sums totals over every worker and active connections over live workers only', () => {
      const view = makeTable();
      const alive = [true, false];
      const collector = collectorFor(view, () => topologyWith([]), alive);
      addListener(view, 0, 0, LISTENER_REQUESTS_TOTAL, 3);
      addListener(view, 1, 0, LISTENER_REQUESTS_TOTAL, 4);
      addListener(view, 0, 0, LISTENER_ACTIVE_CONNECTIONS, 2);
      addListener(view, 1, 0, LISTENER_ACTIVE_CONNECTIONS, 5); // a dead worker's stale gauge
      const families = parsePrometheusText(scrape(collector));
      expect(metricValue(families, 'ferry_listener_requests_total', { listener: 'web' })).toBe(7);
      expect(metricValue(families, 'ferry_listener_active_connections', { listener: 'web' })).toBe(2);
    });
  });

  describe('when a slot passes from one target to another', () => {
    it('gives the new target only what the slot counted after the last poll', () => {
      const view = makeTable();
      let members = [{ slot: 0, id: 'old:1' }];
      const collector = collectorFor(view, () => topologyWith(members));
      addStats(view, 0, STATS_2XX_TOTAL, 40);
      collector.poll();
      members = [{ slot: 0, id: 'new:1' }];
      addStats(view, 0, STATS_2XX_TOTAL, 2);
      const families = parsePrometheusText(scrape(collector));
      expect(
        metricValue(families, 'ferry_target_responses_total', { target: 'new:1', code_class: '2xx' }),
      ).toBe(2);
      expect(() => metricValue(families, 'ferry_target_requests_total', { target: 'old:1' })).toThrow(
        /0 series/,
      );
    });
  });

  describe('when response times are recorded', () => {
    it('renders a cumulative histogram in seconds', () => {
      const view = makeTable();
      const collector = collectorFor(view, () => topologyWith([{ slot: 1, id: 'a:1' }]));
      for (const us of [100, 400, 900, 30_000, 9_000_000]) addResponseTime(view, 1, us);
      const families = parsePrometheusText(scrape(collector));
      const bucket = (le: string) =>
        metricValue(families, 'ferry_target_response_time_seconds_bucket', { target: 'a:1', le });
      expect(bucket('0.00025')).toBe(1);
      expect(bucket('0.0005')).toBe(2);
      expect(bucket('0.001')).toBe(3);
      expect(bucket('0.05')).toBe(4);
      expect(bucket('5')).toBe(4);
      expect(bucket('+Inf')).toBe(5);
      expect(metricValue(families, 'ferry_target_response_time_seconds_sum', { target: 'a:1' })).toBeCloseTo(
        9.0314,
        3,
      );
    });
  });
});
