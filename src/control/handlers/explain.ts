/**
 * @module src/control/handlers/explain
 *
 * `explain G ADDRESS`: why a target is, or is not, taking traffic: its state
 * and reason, its last checks, ejections and their backoff, slow start, drain
 * and deadline, the listener rules that reach it, and its share of its
 * group's recent requests. Thread: main. The health manager builds the
 * document from its one read model (src/health explain); this file adds the
 * two facts health does not own (routes from the config and the table's
 * failover pointers, traffic from telemetry) and is shared with the admin
 * route `GET /targets/{group}/{target}/explain` (src/main.ts wires it).
 */
import { z } from 'zod';
import type { ExplainResult } from '../../../proto/control/messages.ts';
import type { ConfigSnapshot } from '../../config/index.ts';
import type { HealthManager } from '../../health/index.ts';
import type { TableWriter } from '../../table/index.ts';
import { defineHandler } from '../context.ts';
import { ControlError } from '../errors.ts';
import { addressArg, groupNameArg } from './args.ts';

export const explainHandler = defineHandler({
  op: 'explain',
  isMutating: false,
  args: z.strictObject({ targetGroup: groupNameArg, address: addressArg }),
  run: (args, context): ExplainResult => explainReport(context, args.targetGroup, args.address),
});

/** What an explanation reads: ControlContext has it all; the admin route passes the same objects. */
export interface ExplainSources {
  readonly config: () => ConfigSnapshot;
  readonly table: Pick<TableWriter, 'routeOf'>;
  readonly health: HealthManager;
  /** The target's share of its group's recent requests (telemetry); absent: null in the reply. */
  readonly traffic?: ((targetGroup: string, address: string) => ExplainResult['traffic']) | undefined;
}

/**
 * The explanation of one target. Throws ControlError FERRY_ERR_CONTROL_NOT_FOUND
 * when the group or the target is not known (naming what is).
 */
export function explainReport(sources: ExplainSources, targetGroup: string, address: string): ExplainResult {
  const routes = routesTo(sources.config(), sources.table, targetGroup);
  const traffic = sources.traffic?.(targetGroup, address) ?? null;
  const explained = sources.health.explain(targetGroup, address, { routes, traffic });
  if (explained !== undefined) return explained;
  const report = sources.health.report();
  const group = report.targetGroups.find((candidate) => candidate.name === targetGroup);
  if (group === undefined) {
    throw new ControlError(
      'FERRY_ERR_CONTROL_NOT_FOUND',
      `no target group named ${JSON.stringify(targetGroup)} (known: ${report.targetGroups.map((g) => g.name).join(', ') || 'none'})`,
    );
  }
  throw new ControlError(
    'FERRY_ERR_CONTROL_NOT_FOUND',
    `no target ${JSON.stringify(address)} in ${targetGroup} (registered: ${group.targets.map((t) => t.address).join(', ') || 'none'})`,
  );
}

/**
 * Listener rules and default actions whose traffic lands on `targetGroup`
 * now: those naming a group whose route (itself, or its standby after a
 * failover) is `targetGroup`.
 */
function routesTo(
  config: ConfigSnapshot,
  table: Pick<TableWriter, 'routeOf'>,
  targetGroup: string,
): ExplainResult['routes'] {
  const routes: ExplainResult['routes'][number][] = [];
  for (const listener of config.listeners) {
    const actions = [
      { rulePriority: null, action: listener.defaultAction },
      ...listener.rules.map((rule) => ({ rulePriority: rule.priority, action: rule.action })),
    ];
    for (const { rulePriority, action } of actions) {
      if (action.type !== 'forward') continue;
      for (const group of action.targetGroups) {
        if (table.routeOf(group.name) === targetGroup) {
          routes.push({ listener: listener.name, rulePriority, targetGroup: group.name });
        }
      }
    }
  }
  return routes;
}
