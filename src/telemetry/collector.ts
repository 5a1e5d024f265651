/**
 * @module src/telemetry/collector
 *
 * The main thread's side of metrics collection: reads the workers' counters
 * out of the shared table, turns wrapping Int32 cells into monotonic totals
 * per target, target group and listener, and ticks their per-second history.
 * Thread: main. Place in the flow: workers count (workers/record) -> table ->
 * **collector** -> render-metrics.ts (`/metrics`), status.ts (`/status.json`).
 *
 * Why a poll: workers never send a message per request; main reads the
 * table once a second (METRICS_POLL_MS) and before every scrape, which keeps
 * each cell's movement between two reads far below the 2^32 wrap-delta.ts
 * can tell apart.
 *
 * Deltas are owned by slot, not by target: whatever a slot counted since the
 * last read goes to the target holding the slot now, so a slot reused by
 * another target starts from what its previous owner left (the table never
 * resets counters) and nothing is counted twice.
 *
 *   poll ──> counters.ts (snapshot per slot, group, worker x listener)
 *        ──> wrap-delta.ts (into series totals) ──> history.ts (timer polls only)
 *
 * Which cells are read, and where each lands in a series' totals, is
 * counters.ts's descriptor tables; this file has no cell index of its own.
 */
import {
  LISTENER_UDP_FLOWS_ACTIVE,
  RESPONSE_TIME_BUCKET_COUNT,
  type TableView,
} from '../../proto/table-layout.ts';
import type { Topology } from '../../proto/thread-messages.ts';
import {
  GROUP_CELL_COUNT,
  LISTENER_CELL,
  LISTENER_CELL_COUNT,
  readGroupCells,
  readListenerCells,
  readSlotCells,
  SLOT_CELL,
  SLOT_CELL_COUNT,
} from './counters.ts';
import {
  countActiveConnections,
  countHosts,
  readRouteTo,
  readTargetGauges,
  type TargetGauges,
} from './gauges.ts';
import { tickGroup, tickRate, tickTarget } from './history.ts';
import {
  type GroupSeries,
  type ListenerSeries,
  newGroupSeries,
  newListenerSeries,
  newTargetSeries,
  seriesKey,
  type TargetSeries,
} from './series.ts';
import { accumulateWrapped } from './wrap-delta.ts';

/** How often main reads the table without a scrape (rates, history, wrap safety). */
export const METRICS_POLL_MS = 1_000;

/** Where the collector reads from; main supplies the live objects, tests may fake them. */
export interface CollectorSources {
  readonly view: TableView;
  readonly topology: () => Topology;
  readonly workerCount: number;
  readonly isWorkerAlive: (workerIndex: number) => boolean;
  readonly readyWorkerCount: () => number;
  readonly restartCount: () => number;
  readonly version: string;
  /** Monotonic ms (performance.now in production). */
  readonly nowMs?: () => number;
}

export class MetricsCollector {
  /** Read by render-metrics.ts for the process families (version, workers, restarts). */
  readonly sources: CollectorSources;
  private readonly now: () => number;
  /** Last raw cells read per slot (whoever owned it then), per group index, per worker and listener. */
  private readonly slotLast: Map<number, Int32Array>;
  private readonly groupLast: Map<number, Int32Array>;
  private readonly listenerLast: Int32Array[][];
  /** Scratch snapshots, one per layout, reused by every poll. */
  private readonly slotRaw: Int32Array;
  private readonly groupRaw: Int32Array;
  private readonly listenerRaw: Int32Array;
  readonly targets: Map<string, TargetSeries>;
  readonly groups: Map<string, GroupSeries>;
  readonly listeners: ListenerSeries[];
  private lastPollMs: number;
  private timer: NodeJS.Timeout | null;

  constructor(sources: CollectorSources) {
    this.sources = sources;
    this.now = sources.nowMs ?? (() => performance.now());
    this.slotLast = new Map();
    this.groupLast = new Map();
    const listenerCapacity = sources.view.listenerCapacity;
    this.listenerLast = Array.from({ length: sources.workerCount }, () =>
      Array.from({ length: listenerCapacity }, () => new Int32Array(LISTENER_CELL_COUNT)),
    );
    this.slotRaw = new Int32Array(SLOT_CELL_COUNT);
    this.groupRaw = new Int32Array(GROUP_CELL_COUNT);
    this.listenerRaw = new Int32Array(LISTENER_CELL_COUNT);
    this.targets = new Map();
    this.groups = new Map();
    this.listeners = sources
      .topology()
      .listeners.slice(0, listenerCapacity)
      .map((listener, index) => newListenerSeries(listener.name, index));
    this.lastPollMs = this.now();
    this.timer = null;
  }

  /** Poll every METRICS_POLL_MS until stop(). */
  start(): void {
    this.timer = setInterval(() => this.poll(), METRICS_POLL_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  // === Events from health (src/health emits them; telemetry/index.ts wires them here) ===
  onEjection(targetGroup: string, address: string, isEjected: boolean): void {
    const series = this.targets.get(seriesKey(targetGroup, address));
    if (series !== undefined && isEjected) series.ejections++;
  }

  // === Poll ===
  /**
   * Read every counter once and accumulate. Called by the timer and before
   * each scrape; `isHistoryTick` is false for scrapes so the history stays at
   * one point per second. Allocates only for series it has not seen before.
   */
  poll(isHistoryTick = true): void {
    const topology = this.sources.topology();
    const nowMs = this.now();
    const elapsedS = Math.max((nowMs - this.lastPollMs) / 1000, 1e-3);
    for (const series of this.targets.values()) series.isSeen = false;
    for (const series of this.groups.values()) series.isSeen = false;
    for (const group of topology.groups) {
      const groupSeries = this.groupSeries(group.name);
      groupSeries.isSeen = true;
      this.pollGroup(group.groupIndex, groupSeries);
      let groupRate = 0;
      for (const member of group.members) {
        const series = this.targetSeries(group.name, member.id, member.slot);
        this.pollSlot(member.slot, series);
        if (isHistoryTick) groupRate += tickTargetHistory(series, elapsedS);
      }
      if (isHistoryTick) tickGroup(groupSeries, groupRate);
    }
    // Targets gone from the topology (released) and groups gone from config stop being exported.
    for (const [key, series] of this.targets) if (!series.isSeen) this.targets.delete(key);
    for (const [name, series] of this.groups) if (!series.isSeen) this.groups.delete(name);
    this.pollListeners(elapsedS, isHistoryTick);
    if (isHistoryTick) this.lastPollMs = nowMs;
  }

  private targetSeries(targetGroup: string, address: string, slot: number): TargetSeries {
    const key = seriesKey(targetGroup, address);
    let series = this.targets.get(key);
    if (series === undefined) {
      series = newTargetSeries(targetGroup, address, slot);
      this.targets.set(key, series);
    }
    series.slot = slot;
    series.isSeen = true;
    return series;
  }

  private groupSeries(name: string): GroupSeries {
    let series = this.groups.get(name);
    if (series === undefined) {
      series = newGroupSeries(name);
      this.groups.set(name, series);
    }
    return series;
  }

  private pollSlot(slot: number, series: TargetSeries): void {
    readSlotCells(this.sources.view, slot, this.slotRaw);
    accumulateWrapped(series.totals, this.slotRaw, lastOf(this.slotLast, slot, SLOT_CELL_COUNT));
  }

  private pollGroup(groupIndex: number, series: GroupSeries): void {
    readGroupCells(this.sources.view, groupIndex, this.groupRaw);
    accumulateWrapped(series.totals, this.groupRaw, lastOf(this.groupLast, groupIndex, GROUP_CELL_COUNT));
  }

  /** Each listener's totals are the sum over every worker's row, live or dead (a dead worker's counts stay counted). */
  private pollListeners(elapsedS: number, isHistoryTick: boolean): void {
    const { view } = this.sources;
    for (const series of this.listeners) {
      for (let worker = 0; worker < this.listenerLast.length; worker++) {
        readListenerCells(view, worker, series.index, this.listenerRaw);
        accumulateWrapped(series.totals, this.listenerRaw, this.listenerLast[worker]![series.index]!);
      }
      if (isHistoryTick) tickRate(series, series.totals[LISTENER_CELL.requests]!, elapsedS);
    }
  }

  // === Live gauges (gauges.ts, with this collector's sources) ===
  /** Downstream connections open on a listener now, over the live workers. */
  activeConnections(listenerIndex: number): number {
    const { view, workerCount, isWorkerAlive } = this.sources;
    return countActiveConnections(view, workerCount, isWorkerAlive, listenerIndex);
  }

  /** UDP and GENEVE flows tracked on a listener now, over the live workers. */
  activeUdpFlows(listenerIndex: number): number {
    const { view, workerCount, isWorkerAlive } = this.sources;
    return countActiveConnections(view, workerCount, isWorkerAlive, listenerIndex, LISTENER_UDP_FLOWS_ACTIVE);
  }

  targetGauges(slot: number): TargetGauges {
    return readTargetGauges(this.sources.view, slot);
  }

  /** Healthy (routable: healthy or checks off, not ejected) and unhealthy (failing or ejected) members of a group. */
  hostCounts(groupIndex: number): { healthy: number; unhealthy: number } {
    const group = this.sources.topology().groups.find((candidate) => candidate.groupIndex === groupIndex);
    return countHosts(this.sources.view, group);
  }

  /** Group index that takes this group's traffic (itself unless failed over). */
  routeTo(groupIndex: number): number {
    return readRouteTo(this.sources.view, groupIndex);
  }
}

/** The last-read snapshot kept under `key`; zeros when never read (a fresh table holds zeros, so everything counted so far is new). */
function lastOf(lastByKey: Map<number, Int32Array>, key: number, cellCount: number): Int32Array {
  let last = lastByKey.get(key);
  if (last === undefined) {
    last = new Int32Array(cellCount);
    lastByKey.set(key, last);
  }
  return last;
}

/** One history tick of a target from its totals; returns its rate for the group's sum. */
function tickTargetHistory(series: TargetSeries, elapsedS: number): number {
  const { totals } = series;
  let answered = 0;
  for (let i = 0; i < RESPONSE_TIME_BUCKET_COUNT; i++) answered += totals[SLOT_CELL.responseTimeBuckets + i]!;
  return tickTarget(
    series,
    totals[SLOT_CELL.requests]!,
    answered,
    totals[SLOT_CELL.responseTimeSum100us]!,
    elapsedS,
  );
}
