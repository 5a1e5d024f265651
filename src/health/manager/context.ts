/**
 * @module src/health/manager/context
 *
 * What the health manager's parts share: the table, the log, the clock, the
 * records, the group policies, and the façade's emitter. Thread: main. Built
 * once by the façade (index.ts); `policies` is replaced on every apply.
 */
import type { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { DiscoveryStatus } from '../../../proto/control/messages.ts';
import type { Clock } from '../../shared/clock.ts';
import type { TableWriter } from '../../table/index.ts';
import type { HealthEvents } from './events.ts';
import type { GroupPolicy } from './policy.ts';
import type { TargetRegistry } from './registry.ts';

export interface HealthContext {
  readonly table: TableWriter;
  readonly log: Logger;
  readonly clock: Clock;
  readonly registry: TargetRegistry;
  readonly events: EventEmitter<HealthEvents>;
  /** Policies of the groups in the config last applied, by name. */
  policies: ReadonlyMap<string, GroupPolicy>;
  /** DNS discovery status by group, read by the report (src/discovery keeps it). */
  readonly discoveryStatus: () => ReadonlyMap<string, DiscoveryStatus>;
}
