/**
 * @module src/control/context
 *
 * What a control handler may use: the running Ferry's config, table, health,
 * failover and workers, and the reload path. Thread: main. src/main.ts builds
 * it; each handlers/<op>.ts receives it. Kept as an interface so handlers can
 * be tested against a real Ferry without the socket.
 */
import type { Logger } from 'pino';
import type { z } from 'zod';
import type { ExplainResult } from '../../proto/control/messages.ts';
import type { ConfigSnapshot } from '../config/index.ts';
import type { FailoverManager } from '../failover/index.ts';
import type { HealthManager } from '../health/index.ts';
import type { DrainController, Supervisor } from '../supervisor/index.ts';
import type { TableWriter } from '../table/index.ts';
import type { ReloadCounters } from './reload-file.ts';

export interface ControlContext {
  /** The config now in effect. */
  readonly config: () => ConfigSnapshot;
  /**
   * Apply a new snapshot's target groups (Ferry's reload path): atomic, or
   * throws ProxyError (FERRY_ERR_CONFIG_INVALID when something only a restart
   * can change differs, FERRY_ERR_CONFIG_CAPACITY) having changed nothing.
   * `registered` names the targets a `register` added, so the read model
   * shows them as coming from the control port.
   */
  readonly reload: (
    next: ConfigSnapshot,
    registered?: readonly { readonly targetGroup: string; readonly address: string }[],
  ) => void;
  readonly table: TableWriter;
  readonly health: HealthManager;
  readonly failover: FailoverManager;
  readonly supervisor: Supervisor;
  readonly log: Logger;
  /** Epoch ms Ferry started. */
  readonly startedAtMs: number;
  /** The sidecar's drain (src/supervisor/drain.ts), shared with SIGTERM: drain, undrain, phase. */
  readonly drain: DrainController;
  /** Config file reloads by outcome, shared with SIGHUP and the file watcher. */
  readonly reloads?: ReloadCounters;
  /** A target's share of its group's recent requests (telemetry history), for `explain`; absent: no traffic facts. */
  readonly traffic?: (targetGroup: string, address: string) => ExplainResult['traffic'];
}

/** One control operation: its op name, whether it changes anything (logged at info), its argument shape and its work. */
export interface ControlHandler<Schema extends z.ZodType = z.ZodType, Result = unknown> {
  readonly op: string;
  readonly isMutating: boolean;
  /** The args shape (proto/control/messages.ts); a request that does not fit gets FERRY_ERR_CONTROL_BAD_ARGS. */
  readonly args: Schema;
  readonly run: (args: z.output<Schema>, context: ControlContext) => Result | Promise<Result>;
}

/** Declare a handler with its args type inferred from its schema. */
export function defineHandler<Schema extends z.ZodType, Result>(
  handler: ControlHandler<Schema, Result>,
): ControlHandler<Schema, Result> {
  return handler;
}
