/**
 * Helpers shared by the health integration tests (test/integration/health*.test.ts
 * and failover.test.ts): multi-group YAML, bounded waits on the health
 * manager's events, driving its ManualClock, plain GETs. Waits are bounded by
 * a count of events or clock steps, never by wall time: configured intervals
 * pass on the manual clock, and only real I/O (a check's connect, a request,
 * a worker's acknowledgement) is waited for.
 */
import { Writable } from 'node:stream';
import { setImmediate as nextTurn } from 'node:timers/promises';
import pino, { type Logger } from 'pino';
import { type Dispatcher, request } from 'undici';
import {
  HEADER_GENERATION,
  loadHeader,
  loadTarget,
  TARGET_REQUESTS_TOTAL,
} from '../../proto/table-layout.ts';
import { waitForWorkers } from '../../src/failover/index.ts';
import { HEALTH_TICK_MS, type HealthEvents, type HealthManager } from '../../src/health/index.ts';
import type { TestFerry } from '../helpers/ferry.ts';
import type { ManualClock } from '../helpers/manual-clock.ts';

export interface GroupSpec {
  readonly name: string;
  readonly targets: readonly string[];
  /** Extra YAML lines for the group, indented 4 spaces. */
  readonly yaml?: string;
}

/** One HTTP listener per group (a group without one would be `unused` and never checked). */
export function groupsConfig(groups: readonly GroupSpec[], workers = 2): string {
  const listeners = groups
    .map(
      (group) => `  - name: l-${group.name}
    protocol: HTTP
    address: "127.0.0.1:0"
    addTargetHeader: true
    defaultAction: { forward: { targetGroup: ${group.name} } }`,
    )
    .join('\n');
  const targetGroups = groups
    .map(
      (group) => `  - name: ${group.name}
${group.yaml ?? ''}
    targets:
${group.targets.map((address) => `      - { address: "${address}" }`).join('\n')}`,
    )
    .join('\n');
  return `workers: ${workers}
admin: { address: "127.0.0.1:0" }
listeners:
${listeners}
targetGroups:
${targetGroups}
`;
}

/**
 * Resolve with the first `event` whose arguments satisfy `isMatch`; reject
 * after `maxEvents` non-matching ones (a bound in events, not in time).
 */
export function nextEvent<K extends keyof HealthEvents>(
  health: HealthManager,
  event: K,
  isMatch: (...args: HealthEvents[K]) => boolean,
  maxEvents = 1_000,
): Promise<HealthEvents[K]> {
  return new Promise((resolve, reject) => {
    let seen = 0;
    const listener = (...args: HealthEvents[K]): void => {
      if (isMatch(...args)) {
        health.off(event, listener as never);
        resolve(args);
      } else if (++seen >= maxEvents) {
        health.off(event, listener as never);
        reject(new Error(`no matching '${String(event)}' event in ${maxEvents}`));
      }
    };
    health.on(event, listener as never);
  });
}

/** Wait until no health check is running (each is bounded by its own real timeout). */
export async function checksSettled(health: HealthManager): Promise<void> {
  while (health.checkLoad().running > 0) await nextTurn();
}

/**
 * Run `count` control ticks of the health (and failover) manager on `clock`,
 * letting the event loop turn after each one.
 */
export async function ticks(clock: ManualClock, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    clock.advance(HEALTH_TICK_MS);
    await nextTurn();
  }
}

/**
 * Move `clock` straight to each next due timer (checks, ticks), letting the
 * checks that start finish on real I/O in between, until `condition` holds;
 * at most `maxSteps` clock steps.
 */
export async function runUntil(
  health: HealthManager,
  clock: ManualClock,
  condition: () => boolean,
  maxSteps = 5_000,
): Promise<void> {
  for (let step = 0; step < maxSteps; step++) {
    await checksSettled(health);
    await nextTurn();
    if (condition()) return;
    const dueInMs = clock.nextDueInMs();
    if (dueInMs === null) throw new Error('condition not met and no timer left on the clock');
    clock.advance(dueInMs);
  }
  throw new Error(`condition not met within ${maxSteps} clock steps`);
}

/** Wait until every live worker has observed the table's current generation (a real event, bounded). */
export async function workersCaughtUp(ferry: TestFerry): Promise<void> {
  const generation = loadHeader(ferry.table.view, HEADER_GENERATION);
  const outcome = await waitForWorkers(
    ferry.table.view,
    generation,
    (index) => ferry.supervisor.workerAt(index) !== null,
    10_000,
  );
  if (!outcome.isObserved)
    throw new Error(`workers ${outcome.behind.join(', ')} did not observe ${generation}`);
}

/** Wait until the workers have recorded `total` exchanges with the group's targets (TARGET_REQUESTS_TOTAL). */
export async function exchangesRecorded(ferry: TestFerry, group: string, total: number): Promise<void> {
  const slots = ferry.table
    .targets()
    .filter((target) => target.groupName === group)
    .map((target) => target.slot);
  const recorded = () =>
    slots.reduce((sum, slot) => sum + loadTarget(ferry.table.view, slot, TARGET_REQUESTS_TOTAL), 0);
  for (let turn = 0; turn < 100_000 && recorded() < total; turn++) await nextTurn();
  if (recorded() < total) throw new Error(`only ${recorded()} of ${total} exchanges recorded`);
}

export interface Answer {
  readonly status: number;
  readonly target: string;
  readonly error: string;
  readonly body: string;
}

/** GET a path; never throws (a failed exchange comes back with `status` 0). */
export async function get(url: string, dispatcher?: Dispatcher): Promise<Answer> {
  try {
    const res = await request(url, dispatcher === undefined ? {} : { dispatcher });
    const body = await res.body.text();
    return {
      status: res.statusCode,
      target: String(res.headers['x-ferry-target'] ?? ''),
      error: String(res.headers['x-ferry-error'] ?? ''),
      body,
    };
  } catch (error) {
    return { status: 0, target: '', error: String((error as Error).message), body: '' };
  }
}

/** A pino logger whose lines are kept as parsed objects. */
export function capturingLogger(): { log: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n'))
        if (line.trim() !== '') lines.push(JSON.parse(line));
      callback();
    },
  });
  return { log: pino({ level: 'info' }, stream), lines };
}
