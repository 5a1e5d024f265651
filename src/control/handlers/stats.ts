/**
 * @module src/control/handlers/stats
 *
 * `stats`: counters for a quick look from a terminal — per worker
 * (connections, requests, observed generation), per group (fail-open and
 * no-target requests, where its traffic goes), per target (requests,
 * failures, in flight, connections), failover switches, and the control
 * port's own counters. Thread: main. Reads the shared table; counters named
 * `…Total` wrap at 2^31 (compare by subtraction).
 */
import { z } from 'zod';
import type { StatsResult } from '../../../proto/control/messages.ts';
import {
  GROUP_FAIL_OPEN_TOTAL,
  GROUP_NO_TARGET_TOTAL,
  HEADER_GENERATION,
  loadGroup,
  loadHeader,
  loadTarget,
  loadWorker,
  TARGET_ACTIVE_CONNECTIONS,
  TARGET_FAILURES_TOTAL,
  TARGET_IN_FLIGHT,
  TARGET_REQUESTS_TOTAL,
  WORKER_ACTIVE_CONNECTIONS,
  WORKER_OBSERVED_GENERATION,
  WORKER_REQUESTS_TOTAL,
} from '../../../proto/table-layout.ts';
import { defineHandler } from '../context.ts';

/** The control port's own counters, filled in by the server (which owns them). */
export type ControlCounters = StatsResult['control'];

export const statsHandler = defineHandler({
  op: 'stats',
  isMutating: false,
  args: z.strictObject({}),
  run(_args, context): Omit<StatsResult, 'control'> {
    const view = context.table.view;
    const config = context.config();
    const nowMs = Date.now();
    const workers = Array.from({ length: view.workerCapacity }, (_, index) => ({
      index,
      isLive: context.supervisor.workerAt(index) !== null,
      activeConnections: loadWorker(view, index, WORKER_ACTIVE_CONNECTIONS),
      requestsTotal: loadWorker(view, index, WORKER_REQUESTS_TOTAL),
      observedGeneration: loadWorker(view, index, WORKER_OBSERVED_GENERATION),
    }));
    const targetGroups = config.targetGroups.map((group, groupIndex) => ({
      name: group.name,
      routeTo: context.table.routeOf(group.name),
      failOpenRequestsTotal: loadGroup(view, groupIndex, GROUP_FAIL_OPEN_TOTAL),
      noTargetRequestsTotal: loadGroup(view, groupIndex, GROUP_NO_TARGET_TOTAL),
    }));
    const targets = context.table
      .targets()
      .sort((a, b) => a.slot - b.slot)
      .map((target) => ({
        targetGroup: target.groupName,
        address: target.address,
        requestsTotal: loadTarget(view, target.slot, TARGET_REQUESTS_TOTAL),
        failuresTotal: loadTarget(view, target.slot, TARGET_FAILURES_TOTAL),
        inFlight: loadTarget(view, target.slot, TARGET_IN_FLIGHT),
        activeConnections: loadTarget(view, target.slot, TARGET_ACTIVE_CONNECTIONS),
      }));
    return {
      atMs: nowMs,
      uptimeMs: nowMs - context.startedAtMs,
      config: config.sourceName,
      generation: loadHeader(view, HEADER_GENERATION),
      workerRestartsTotal: context.supervisor.restartCount,
      workers,
      targetGroups,
      targets,
      failover: {
        switchesTotal: context.failover.switchesTotal,
        autoFailoversTotal: context.failover.autoFailoversTotal,
        autoFailbacksTotal: context.failover.autoFailbacksTotal,
      },
    };
  },
});
