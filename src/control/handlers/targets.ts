/**
 * @module src/control/handlers/targets
 *
 * `targets [--target-group G]`: every target with its ELB state, reason and
 * description, plus what HAProxy's stats show: live connections, in-flight
 * requests, latency estimate, weight. Thread: main. Everything comes from
 * the health manager's one read model (src/health report); this handler only
 * filters it and picks the fields the control protocol's row carries.
 */
import { z } from 'zod';
import type { TargetGroupRows, TargetRow, TargetsResult } from '../../../proto/control/messages.ts';
import { type ControlContext, defineHandler } from '../context.ts';
import { ControlError } from '../errors.ts';
import { groupNameArg } from './args.ts';

export const targetsHandler = defineHandler({
  op: 'targets',
  isMutating: false,
  args: z.strictObject({ targetGroup: groupNameArg.optional() }),
  run: (args, context): TargetsResult => targetsReport(context, args.targetGroup),
});

/** The targets reply, for one group or all. Throws FERRY_ERR_CONTROL_NOT_FOUND for an unknown group. */
export function targetsReport(context: ControlContext, targetGroup: string | undefined): TargetsResult {
  const report = context.health.report();
  const groups: TargetGroupRows[] = [];
  for (const group of report.targetGroups) {
    if (targetGroup !== undefined && group.name !== targetGroup) continue;
    const targets: TargetRow[] = group.targets.map((target) => ({
      address: target.address,
      state: target.state,
      reason: target.reason?.code ?? null,
      description: target.reason?.description ?? null,
      timeInStateMs: target.timeInStateMs,
      activeConnections: target.activeConnections,
      inFlight: target.inFlight,
      latencyEwmaUs: target.latencyEwmaUs,
      weight: target.weight,
      isEjected: target.outlier.isEjected,
      drain: target.drain,
      source: target.source,
      discoveredBy: target.discoveredBy,
      zone: target.zone,
    }));
    groups.push({
      name: group.name,
      routeTo: group.routeTo,
      algorithm: group.algorithm,
      targets,
      discovery: group.discovery,
      zones:
        group.zones === null
          ? null
          : { crossZoneTotal: group.zones.crossZoneTotal, spillTotal: group.zones.spillTotal },
    });
  }
  if (targetGroup !== undefined && groups.length === 0) {
    throw new ControlError(
      'FERRY_ERR_CONTROL_NOT_FOUND',
      `no target group named ${JSON.stringify(targetGroup)} (known: ${report.targetGroups.map((g) => g.name).join(', ') || 'none'})`,
    );
  }
  return { atMs: report.atMs, targetGroups: groups };
}
