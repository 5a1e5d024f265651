/**
 * Runs a real Ferry (main thread in the test process, real worker threads,
 * real sockets) from YAML text, on 127.0.0.1 with OS-chosen ports.
 */
import pino, { type Logger } from 'pino';
import { formatConfigErrors, parseConfig } from '../../src/config/index.ts';
import { type FerryHandle, startFerry } from '../../src/main.ts';
import type { Clock } from '../../src/shared/clock.ts';

export interface TestFerry extends FerryHandle {
  /** `http://127.0.0.1:<port>` of the first listener. */
  readonly url: string;
  readonly port: number;
}

/**
 * Start Ferry from YAML. Listener and admin addresses default to port 0 when
 * the YAML leaves them out. `clock` (a ManualClock from manual-clock.ts)
 * drives the health and failover managers' time; `log` replaces the silent
 * logger.
 */
export async function startTestFerry(
  yaml: string,
  options: { clock?: Clock; log?: Logger } = {},
): Promise<TestFerry> {
  const result = parseConfig(yaml, '<test>');
  if (!result.ok) throw new Error(`test config invalid:\n${formatConfigErrors(result.errors)}`);
  const level = process.env['FERRY_TEST_LOG_LEVEL'] ?? 'silent';
  const handle = await startFerry(result.snapshot, {
    log: options.log ?? pino({ level }),
    logLevel: level,
    ...(options.clock === undefined ? {} : { clock: options.clock }),
  });
  const first = result.snapshot.listeners[0]!;
  const port = handle.listenerPorts.get(first.name)!;
  return Object.assign(handle, { url: `http://127.0.0.1:${port}`, port });
}

/**
 * YAML for one HTTP listener forwarding to one group over the given targets.
 * Active health checks are off (`healthCheck: { enabled: false }`) unless
 * `groupYaml` sets `healthCheck`, so tests that count requests per target do
 * not count health-check requests too.
 */
export function simpleConfig(options: {
  targets: readonly string[];
  algorithm?: string;
  workers?: number;
  weights?: readonly number[];
  groupYaml?: string;
  listenerYaml?: string;
}): string {
  const targets = options.targets
    .map((address, i) => `      - { address: "${address}", weight: ${options.weights?.[i] ?? 1} }`)
    .join('\n');
  return `workers: ${options.workers ?? 2}
admin: { address: "127.0.0.1:0" }
listeners:
  - name: web
    protocol: HTTP
    address: "127.0.0.1:0"
    addTargetHeader: true
    defaultAction: { forward: { targetGroup: app } }
${options.listenerYaml ?? ''}
targetGroups:
  - name: app
    algorithm: ${options.algorithm ?? 'round_robin'}
${options.groupYaml?.includes('healthCheck') === true ? '' : '    healthCheck: { enabled: false }'}
${options.groupYaml ?? ''}
    targets:
${targets}
`;
}
