/**
 * Helpers shared by the health integration tests (test/integration/health*.test.ts):
 * multi-group YAML, bounded waits on the health manager's events, plain GETs.
 * Waits are bounded by a count of events, never by a clock.
 */
import { Writable } from 'node:stream';
import pino, { type Logger } from 'pino';
import { type Dispatcher, request } from 'undici';
import type { HealthEvents, HealthManager } from '../../src/health/index.ts';

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

/** Wait for `count` control ticks (100 ms each) of the manager. */
export async function ticks(health: HealthManager, count: number): Promise<void> {
  for (let i = 0; i < count; i++) await nextEvent(health, 'tick', () => true);
}

/** Poll `condition` once per tick, at most `maxTicks` times. */
export async function untilTick(
  health: HealthManager,
  condition: () => boolean,
  maxTicks = 300,
): Promise<void> {
  for (let i = 0; i < maxTicks; i++) {
    if (condition()) return;
    await ticks(health, 1);
  }
  throw new Error(`condition not met within ${maxTicks} ticks`);
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
