/**
 * @module src/telemetry/gauges
 *
 * Table values read live at scrape or status time, never accumulated: a
 * target's state, weight, load and latency estimate; a group's healthy and
 * unhealthy host counts and where its traffic goes; a listener's open
 * connections over the live workers. Thread: main. Place in the flow:
 * table -> **gauges** -> render-metrics.ts, status.ts (via the collector).
 *
 * Why apart from counters.ts: a gauge is its current value, so it needs no
 * last-read memory and no wrap handling, and a dead worker's stale gauge
 * must be skipped rather than summed.
 */
import {
  GROUP_ROUTE_TO,
  LISTENER_ACTIVE_CONNECTIONS,
  loadGroup,
  loadListener,
  loadTarget,
  TARGET_ACTIVE_CONNECTIONS,
  TARGET_EJECTED,
  TARGET_IN_FLIGHT,
  TARGET_LATENCY_EWMA_US,
  TARGET_STATE,
  TARGET_STATE_HEALTHY,
  TARGET_STATE_UNAVAILABLE,
  TARGET_STATE_UNHEALTHY,
  TARGET_WEIGHT,
  type TableView,
} from '../../proto/table-layout.ts';
import type { TopologyGroup } from '../../proto/thread-messages.ts';
import { stateName } from '../health/index.ts';

/** A target's current table gauges. */
export interface TargetGauges {
  readonly state: string;
  readonly weight: number;
  readonly inFlight: number;
  readonly activeConnections: number;
  readonly latencyEwmaMs: number | null;
  readonly isEjected: boolean;
}

/** Read a slot's gauges. Allocates the result. */
export function readTargetGauges(view: TableView, slot: number): TargetGauges {
  const ewmaUs = loadTarget(view, slot, TARGET_LATENCY_EWMA_US);
  return {
    state: stateName(loadTarget(view, slot, TARGET_STATE)),
    weight: loadTarget(view, slot, TARGET_WEIGHT),
    inFlight: loadTarget(view, slot, TARGET_IN_FLIGHT),
    activeConnections: loadTarget(view, slot, TARGET_ACTIVE_CONNECTIONS),
    latencyEwmaMs: ewmaUs > 0 ? ewmaUs / 1000 : null,
    isEjected: loadTarget(view, slot, TARGET_EJECTED) === 1,
  };
}

/**
 * Healthy (routable: healthy or checks off, not ejected) and unhealthy
 * (failing or ejected) members of a group; initial, draining and unused
 * count in neither. `group` undefined counts nothing.
 */
export function countHosts(
  view: TableView,
  group: TopologyGroup | undefined,
): { healthy: number; unhealthy: number } {
  let healthy = 0;
  let unhealthy = 0;
  for (const member of group?.members ?? []) {
    const state = loadTarget(view, member.slot, TARGET_STATE);
    const isEjected = loadTarget(view, member.slot, TARGET_EJECTED) === 1;
    if ((state === TARGET_STATE_HEALTHY || state === TARGET_STATE_UNAVAILABLE) && !isEjected) healthy++;
    else if (state === TARGET_STATE_UNHEALTHY || isEjected) unhealthy++;
  }
  return { healthy, unhealthy };
}

/** Group index that takes this group's traffic (itself unless failed over). */
export function readRouteTo(view: TableView, groupIndex: number): number {
  return loadGroup(view, groupIndex, GROUP_ROUTE_TO);
}

/**
 * A listener gauge summed over the live workers only: downstream connections
 * open now (LISTENER_ACTIVE_CONNECTIONS, the default) or UDP and GENEVE flows
 * tracked now (LISTENER_UDP_FLOWS_ACTIVE).
 */
export function countActiveConnections(
  view: TableView,
  workerCount: number,
  isWorkerAlive: (workerIndex: number) => boolean,
  listenerIndex: number,
  field: number = LISTENER_ACTIVE_CONNECTIONS,
): number {
  let total = 0;
  for (let worker = 0; worker < workerCount; worker++) {
    if (isWorkerAlive(worker)) total += loadListener(view, worker, listenerIndex, field);
  }
  return total;
}
