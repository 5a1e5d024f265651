/**
 * @module src/table/hash-tables
 *
 * Builds the `hash` groups' Maglev lookup tables in a piscina pool and
 * attaches them to a Topology before it goes to the workers. Thread: main
 * (the builds run on piscina's thread). Place in the flow: table.publish ->
 * **hash tables** -> workers.
 *
 * Why: a 65,537-entry weighted Maglev build takes 2.6-3.6 ms
 * (bench/micro/pick.bench.ts); run in every worker on every membership change
 * it stalls each worker's data plane, and run inline here it would stall the
 * control port and health checks. Built once off-thread into a
 * SharedArrayBuffer, every worker maps it without copying. This is the
 * control-plane CPU work piscina is for; the long-lived proxy workers are not
 * a task pool and are supervised by src/supervisor instead.
 *
 * A worker whose members' weights no longer match a table's (slow start, a
 * weight change not yet republished) builds its own: the result is the same
 * table, so correctness never waits on this pool.
 */
import { Piscina } from 'piscina';
import { loadTarget, TARGET_WEIGHT, type TableView } from '../../proto/table-layout.ts';
import type { Topology, TopologyGroup } from '../../proto/thread-messages.ts';
import { MAGLEV_TABLE_SIZE } from '../shared/maglev.ts';
import type { MaglevTask } from './maglev-task.ts';

const TASK_URL = new URL(`./maglev-task${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url);
/** One build thread is plenty (a few ms per group); it exits after this long idle. */
const POOL_IDLE_TIMEOUT_MS = 30_000;

export class HashTableBuilder {
  private readonly view: TableView;
  private readonly pool: Piscina<MaglevTask, SharedArrayBuffer>;

  constructor(view: TableView) {
    this.view = view;
    this.pool = new Piscina({
      filename: TASK_URL.href,
      minThreads: 0,
      maxThreads: 1,
      idleTimeout: POOL_IDLE_TIMEOUT_MS,
    });
  }

  /** The topology with a fresh Maglev table on every non-empty `hash` group (others unchanged). */
  async fill(topology: Topology): Promise<Topology> {
    if (!topology.groups.some((group) => group.algorithm === 'hash' && group.members.length > 0))
      return topology;
    const groups = await Promise.all(topology.groups.map((group) => this.fillGroup(group)));
    return { ...topology, groups };
  }

  close(): Promise<void> {
    return this.pool.close();
  }

  private async fillGroup(group: TopologyGroup): Promise<TopologyGroup> {
    if (group.algorithm !== 'hash' || group.members.length === 0) return group;
    // The same weights a worker's rebuild snapshots from the table (negative clamps to 0).
    const weights = group.members.map((member) =>
      Math.max(loadTarget(this.view, member.slot, TARGET_WEIGHT), 0),
    );
    const ids = group.members.map((member) => member.id);
    const buffer = await this.pool.run({ ids, weights, tableSize: MAGLEV_TABLE_SIZE });
    return { ...group, hashTable: { buffer, weights } };
  }
}
