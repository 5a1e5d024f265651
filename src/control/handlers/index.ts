/**
 * @module src/control/handlers
 *
 * The op table: one handler per control operation (proto/control/messages.ts
 * CONTROL_OPS), each in its own file named after its op. Thread: main.
 * `stats` leaves its `control` block to the server, which owns those counters.
 */
import type { ControlOp } from '../../../proto/control/messages.ts';
import type { ControlHandler } from '../context.ts';
import { deregisterHandler } from './deregister.ts';
import { drainHandler } from './drain.ts';
import { explainHandler } from './explain.ts';
import { failbackHandler } from './failback.ts';
import { failoverHandler } from './failover.ts';
import { failoverStatusHandler } from './failover-status.ts';
import { registerHandler } from './register.ts';
import { reloadHandler } from './reload.ts';
import { setAttributesHandler } from './set-attributes.ts';
import { setWeightHandler } from './set-weight.ts';
import { statsHandler } from './stats.ts';
import { targetsHandler } from './targets.ts';
import { undrainHandler } from './undrain.ts';

export { parseArgs } from './args.ts';
export { type ExplainSources, explainReport } from './explain.ts';
export type { ControlCounters } from './stats.ts';

/** Every op's handler, by op name. A test checks the keys equal CONTROL_OPS. */
export const CONTROL_HANDLERS: ReadonlyMap<ControlOp, ControlHandler> = new Map<ControlOp, ControlHandler>([
  ['targets', targetsHandler as ControlHandler],
  ['register', registerHandler as ControlHandler],
  ['deregister', deregisterHandler as ControlHandler],
  ['set-weight', setWeightHandler as ControlHandler],
  ['set-attributes', setAttributesHandler as ControlHandler],
  ['failover', failoverHandler as ControlHandler],
  ['failback', failbackHandler as ControlHandler],
  ['failover-status', failoverStatusHandler as ControlHandler],
  ['drain', drainHandler as ControlHandler],
  ['reload', reloadHandler as ControlHandler],
  ['stats', statsHandler as ControlHandler],
  ['undrain', undrainHandler as ControlHandler],
  ['explain', explainHandler as ControlHandler],
]);
