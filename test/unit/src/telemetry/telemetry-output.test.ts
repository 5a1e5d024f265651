/**
 * `/metrics` and `/status.json` of one known state, compared with files
 * written before src/telemetry/metrics.ts was split into collection and
 * rendering (issue 9): every table region the collector reads holds a
 * distinct value (so a field read from the wrong cell shows), a counter
 * wraps, a worker is dead, a group is failed over, a target is ejected, a
 * target leaves the topology, and health events arrive. The snapshots are
 * the contract: a byte that moves is a change a scraper or the status page
 * sees.
 *
 * The clock is faked (Date and performance), so rates, history and the
 * document's timestamps are exact. The status snapshot is pretty-printed
 * JSON kept as `.txt` so the formatter leaves its bytes alone.
 */
import { EventEmitter } from 'node:events';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  addGroup,
  addListener,
  addResponseTime,
  addStats,
  addTarget,
  GROUP_FAIL_OPEN_TOTAL,
  GROUP_FORWARD_STICKY_HITS_TOTAL,
  GROUP_FORWARD_STICKY_MISSES_TOTAL,
  GROUP_FORWARD_STICKY_REPICKS_TOTAL,
  GROUP_NO_TARGET_TOTAL,
  GROUP_ROUTE_TO,
  GROUP_STICKY_HITS_TOTAL,
  GROUP_STICKY_MISSES_TOTAL,
  GROUP_STICKY_REPICKS_TOTAL,
  initTable,
  LISTENER_ACTIVE_CONNECTIONS,
  LISTENER_BYTES_IN_TOTAL,
  LISTENER_BYTES_OUT_TOTAL,
  LISTENER_CONNECTIONS_TOTAL,
  LISTENER_FERRY_4XX_TOTAL,
  LISTENER_FERRY_5XX_TOTAL,
  LISTENER_FERRY_502_TOTAL,
  LISTENER_FERRY_503_TOTAL,
  LISTENER_FERRY_504_TOTAL,
  LISTENER_REJECTED_CONNECTIONS_TOTAL,
  LISTENER_REQUESTS_TOTAL,
  STATS_2XX_TOTAL,
  STATS_3XX_TOTAL,
  STATS_4XX_TOTAL,
  STATS_5XX_TOTAL,
  STATS_CONNECT_ERRORS_TOTAL,
  STATS_NEW_CONNECTIONS_TOTAL,
  storeGroup,
  storeTarget,
  TARGET_ACTIVE_CONNECTIONS,
  TARGET_EJECTED,
  TARGET_FAILURES_TOTAL,
  TARGET_IN_FLIGHT,
  TARGET_LATENCY_EWMA_US,
  TARGET_REQUESTS_TOTAL,
  TARGET_STATE,
  TARGET_STATE_HEALTHY,
  TARGET_STATE_UNAVAILABLE,
  TARGET_STATE_UNHEALTHY,
  TARGET_WEIGHT,
  type TableView,
  tableBytes,
} from '../../../../proto/table-layout.ts';
import type { Topology } from '../../../../proto/thread-messages.ts';
import type { CheckResult, EjectionEvent, HealthManager } from '../../../../src/health/index.ts';
import { Telemetry } from '../../../../src/telemetry/index.ts';

const CAPACITY = { groupCapacity: 3, targetCapacity: 4, workerCapacity: 2, listenerCapacity: 2 };
const EPOCH_MS = Date.UTC(2026, 0, 2, 3, 4, 5);

interface Member {
  readonly slot: number;
  readonly id: string;
}

function topologyWith(appMembers: readonly Member[]): Topology {
  const group = (groupIndex: number, name: string, members: readonly Member[]) => ({
    groupIndex,
    name,
    algorithm: groupIndex === 0 ? 'least_connections' : 'round_robin',
    hashKey: { kind: 'source_ip', name: '' },
    members: members.map((member) => ({ ...member, host: '127.0.0.1', port: 1 })),
    connectTimeoutMs: 1_000,
    responseTimeoutMs: 1_000,
    hashTable: null,
    upstreamTls: null,
  });
  const listener = (name: string) => ({
    name,
    protocol: 'HTTP',
    host: '127.0.0.1',
    port: 80,
    defaultGroupIndex: 0,
    isTargetHeaderOn: false,
  });
  return {
    generation: 4,
    groups: [
      group(0, 'app', appMembers),
      group(1, 'standby', [{ slot: 1, id: 'c:3' }]),
      group(2, 'empty', []),
    ],
    listeners: [listener('web'), listener('edge')],
  } as unknown as Topology;
}

/** A health manager's surface as Telemetry uses it: events and a report. */
function fakeHealth(): HealthManager {
  const emitter = new EventEmitter();
  const target = (
    address: string,
    slot: number,
    state: string,
    sinceMs: number,
    checkOutcomesTotal: Record<CheckResult['outcome'], number>,
  ) => ({
    targetGroup: 'app',
    address,
    slot,
    state,
    checkOutcomesTotal,
    reason:
      state === 'unhealthy'
        ? { code: 'Target.Timeout', description: 'Request timed out', statusCode: null, cause: null }
        : null,
    stateSinceMs: sinceMs,
    transitions: [
      { atMs: sinceMs - 5_000, from: null, to: 'initial', reason: null },
      { atMs: sinceMs, from: 'initial', to: state, reason: state === 'unhealthy' ? 'Target.Timeout' : null },
    ],
  });
  const report = {
    atMs: EPOCH_MS,
    targetGroups: [
      {
        name: 'app',
        isInUse: true,
        failOpen: true,
        targets: [
          target('a:1', 0, 'healthy', EPOCH_MS - 60_000, { pass: 2, status: 0, timeout: 0, error: 0 }),
          target('b:2', 2, 'unhealthy', EPOCH_MS - 30_000, { pass: 0, status: 1, timeout: 1, error: 0 }),
        ],
      },
      {
        name: 'standby',
        isInUse: false,
        failOpen: false,
        targets: [
          {
            ...target('c:3', 1, 'unavailable', EPOCH_MS - 90_000, {
              pass: 0,
              status: 0,
              timeout: 0,
              error: 1,
            }),
            targetGroup: 'standby',
            transitions: [],
          },
        ],
      },
    ],
  };
  return Object.assign(emitter, { report: () => report }) as unknown as HealthManager;
}

function ejection(isEjected: boolean): EjectionEvent {
  return {
    targetGroup: 'app',
    address: 'b:2',
    slot: 2,
    isEjected,
    trigger: null,
    count: 0,
    ejections: 1,
    untilMs: null,
  };
}

/** Counts into every cell the collector reads; `round` scales the values so two rounds differ. */
function count(view: TableView, round: number): void {
  const targetValues: [number, number][] = [
    [0, 7],
    [1, 3],
    [2, 11],
  ];
  for (const [slot, base] of targetValues) {
    addTarget(view, slot, TARGET_REQUESTS_TOTAL, base * round);
    addTarget(view, slot, TARGET_FAILURES_TOTAL, slot + round);
    const stats = [
      STATS_2XX_TOTAL,
      STATS_3XX_TOTAL,
      STATS_4XX_TOTAL,
      STATS_5XX_TOTAL,
      STATS_CONNECT_ERRORS_TOTAL,
      STATS_NEW_CONNECTIONS_TOTAL,
    ];
    for (const [index, field] of stats.entries()) addStats(view, slot, field, base + index * 10 + round);
    for (const us of [120, 480, 2_400, 75_000, 6_000_000].slice(0, slot + 2 + round))
      addResponseTime(view, slot, us + slot);
  }
  const groups = [
    GROUP_FAIL_OPEN_TOTAL,
    GROUP_NO_TARGET_TOTAL,
    GROUP_STICKY_HITS_TOTAL,
    GROUP_STICKY_MISSES_TOTAL,
    GROUP_STICKY_REPICKS_TOTAL,
    GROUP_FORWARD_STICKY_HITS_TOTAL,
    GROUP_FORWARD_STICKY_MISSES_TOTAL,
    GROUP_FORWARD_STICKY_REPICKS_TOTAL,
  ];
  for (let groupIndex = 0; groupIndex < 3; groupIndex++)
    for (const [index, field] of groups.entries())
      addGroup(view, groupIndex, field, 100 * groupIndex + index + round);
  const listeners = [
    LISTENER_CONNECTIONS_TOTAL,
    LISTENER_REJECTED_CONNECTIONS_TOTAL,
    LISTENER_REQUESTS_TOTAL,
    LISTENER_BYTES_IN_TOTAL,
    LISTENER_BYTES_OUT_TOTAL,
    LISTENER_FERRY_4XX_TOTAL,
    LISTENER_FERRY_5XX_TOTAL,
    LISTENER_FERRY_502_TOTAL,
    LISTENER_FERRY_503_TOTAL,
    LISTENER_FERRY_504_TOTAL,
  ];
  for (let worker = 0; worker < 2; worker++)
    for (let listenerIndex = 0; listenerIndex < 2; listenerIndex++)
      for (const [index, field] of listeners.entries())
        addListener(view, worker, listenerIndex, field, 1_000 * worker + 100 * listenerIndex + index + round);
}

function setUp() {
  const view = initTable(new SharedArrayBuffer(tableBytes(CAPACITY)), CAPACITY, EPOCH_MS / 1000);
  let appMembers: Member[] = [
    { slot: 0, id: 'a:1' },
    { slot: 2, id: 'b:2' },
    { slot: 3, id: 'gone:4' },
  ];
  const health = fakeHealth();
  const telemetry = new Telemetry({
    view,
    topology: () => topologyWith(appMembers),
    workerCount: 2,
    isWorkerAlive: (workerIndex) => workerIndex === 0,
    readyWorkerCount: () => 1,
    restartCount: () => 2,
    isReady: () => true,
    health,
    listeners: [
      { name: 'web', protocol: 'HTTP', address: '127.0.0.1:80', targetGroup: 'app' },
      { name: 'edge', protocol: 'HTTP', address: '127.0.0.1:81', targetGroup: 'standby' },
    ],
    version: '9.9.9-test',
    tracing: { enabled: false, endpoint: null },
    accessLog: { enabled: true, destination: 'stdout' },
  });
  // Gauges.
  storeTarget(view, 0, TARGET_STATE, TARGET_STATE_HEALTHY);
  storeTarget(view, 0, TARGET_WEIGHT, 100);
  storeTarget(view, 0, TARGET_IN_FLIGHT, 3);
  storeTarget(view, 0, TARGET_ACTIVE_CONNECTIONS, 2);
  storeTarget(view, 0, TARGET_LATENCY_EWMA_US, 1_500);
  storeTarget(view, 1, TARGET_STATE, TARGET_STATE_UNAVAILABLE);
  storeTarget(view, 1, TARGET_WEIGHT, 50);
  storeTarget(view, 2, TARGET_STATE, TARGET_STATE_UNHEALTHY);
  storeTarget(view, 2, TARGET_EJECTED, 1);
  storeGroup(view, 0, GROUP_ROUTE_TO, 1);
  storeGroup(view, 1, GROUP_ROUTE_TO, 1);
  storeGroup(view, 2, GROUP_ROUTE_TO, 2);
  addListener(view, 0, 0, LISTENER_ACTIVE_CONNECTIONS, 4);
  addListener(view, 1, 0, LISTENER_ACTIVE_CONNECTIONS, 9); // dead worker: not counted
  // A cell just below the Int32 edge, so the next round wraps it.
  addTarget(view, 0, TARGET_REQUESTS_TOTAL, 2 ** 31 - 5);
  addListener(view, 0, 1, LISTENER_BYTES_OUT_TOTAL, 2 ** 31 + 2 ** 30);

  // Round 1 and a history tick one second in.
  count(view, 1);
  vi.advanceTimersByTime(1_000);
  telemetry.collector.poll();
  // gone:4 leaves; round 2 and a second tick, 1.5 s later.
  appMembers = appMembers.slice(0, 2);
  count(view, 2);
  vi.advanceTimersByTime(1_500);
  telemetry.collector.poll();
  // Ejection events (check counts come from the report), then a scrape-time round (not a history tick).
  for (const isEjected of [true, false, true]) health.emit('ejection', ejection(isEjected));
  count(view, 3);
  vi.advanceTimersByTime(250);
  return telemetry;
}

describe('Telemetry', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date', 'performance'], now: EPOCH_MS });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  describe('when every region the collector reads holds a known value', () => {
    it('renders /metrics byte for byte as before the split', async () => {
      const telemetry = setUp();
      await expect(telemetry.metricsText()).toMatchFileSnapshot('__snapshots__/telemetry-output.metrics.txt');
    });

    it('builds /status.json as before the split', async () => {
      const telemetry = setUp();
      await expect(`${JSON.stringify(telemetry.statusDocument(), null, 2)}\n`).toMatchFileSnapshot(
        '__snapshots__/telemetry-output.status.json.txt',
      );
    });

    it('renders the same text on a second scrape with nothing new counted', () => {
      const telemetry = setUp();
      expect(telemetry.metricsText()).toBe(telemetry.metricsText());
    });
  });
});
