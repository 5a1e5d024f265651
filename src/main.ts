/**
 * @module src/main
 *
 * Boot: config -> table + health (first checks) -> spawn workers -> admin
 * endpoint. Thread: main.
 * The CLI (src/cli/ferry.ts) calls startFerry with a validated snapshot and
 * owns signals; tests call it directly and stop the handle.
 *
 * A bad config never half-starts: every listener address is test-bound here
 * first (port 0 is resolved to a concrete free port the workers then share
 * with reusePort), and if any worker still fails to bind, everything started
 * so far is stopped before the error is thrown.
 *
 * Health: every target starts `initial` (or `unavailable` without checks) and
 * the first round of checks runs before the workers open the listeners, so
 * the first request already sees which targets passed. `reload(snapshot)`
 * applies a new config's target groups (registering, draining and
 * re-checking targets); listener changes need a restart.
 */
import net from 'node:net';
import type { Logger } from 'pino';
import type { WorkerObservability } from '../proto/observability.ts';
import type { Topology } from '../proto/thread-messages.ts';
import { type AdminServer, startAdmin } from './admin/index.ts';
import type { ConfigSnapshot } from './config/index.ts';
import {
  type ControlContext,
  type ControlServer,
  loadControlToken,
  packageVersion,
  startControlServer,
} from './control/index.ts';
import { type DemoTargets, startDemoTargets } from './demo/index.ts';
import { FailoverManager, failoverPoliciesFromConfig } from './failover/index.ts';
import { HEALTH_FIRST_ROUND_WAIT_MS, HealthManager, policiesFromConfig } from './health/index.ts';
import { WorkloadIdentity } from './identity/index.ts';
import type { Clock } from './shared/clock.ts';
import { ProxyError } from './shared/errors.ts';
import { Supervisor } from './supervisor/index.ts';
import { HashTableBuilder, planFromConfig, TableWriter } from './table/index.ts';
import { FERRY_VERSION, resolveObservability, Telemetry } from './telemetry/index.ts';

export interface FerryOptions {
  readonly log: Logger;
  readonly logLevel: string;
  /**
   * Decision time and timers of the health and failover managers (check
   * schedule, ejections, slow start, drain deadlines, `failover.after`).
   * Tests pass a manual clock and advance it; default REAL_CLOCK.
   */
  readonly clock?: Clock;
}

export interface FerryHandle {
  readonly table: TableWriter;
  readonly supervisor: Supervisor;
  /** Target health: states, checks, ejections, drains; `deregister(group, address)` for the control port. */
  readonly health: HealthManager;
  readonly topology: () => Topology;
  /** Bound listener addresses by listener name (`host:port`, port 0 resolved). */
  readonly listenerPorts: ReadonlyMap<string, number>;
  readonly adminAddress: string;
  /** Hot failover between target groups: commands (the control port) and automatic switches. */
  readonly failover: FailoverManager;
  /** Where the control port listens (`127.0.0.1:9900`, `unix:/path`), or null without a `control` block. */
  readonly controlAddress: string | null;
  /** The config in effect: the last one started or reloaded (including control-port changes). */
  config(): ConfigSnapshot;
  /** The workload certificate (src/identity); null without an `identity` block. */
  readonly identity: WorkloadIdentity | null;
  /** Metrics, `/status.json` and the status page (src/telemetry). */
  readonly telemetry: Telemetry;
  /**
   * Apply a new config's target groups: new targets are registered (and
   * checked), removed ones drain, changed attributes take effect. Throws
   * FERRY_ERR_CONFIG_INVALID when listeners, workers, admin or limits differ
   * (those need a restart) and FERRY_ERR_CONFIG_CAPACITY when the targets,
   * with those still draining, do not fit; either way nothing changes.
   */
  reload(snapshot: ConfigSnapshot): Topology;
  /** Stop accepting, let in-flight requests finish within the grace period, stop everything. */
  stop(graceMs?: number): Promise<void>;
}

/** Bind and release each listener address to surface EADDRINUSE/EACCES before any worker starts; resolve port 0. */
async function preflightListeners(snapshot: ConfigSnapshot): Promise<Map<string, number>> {
  const ports = new Map<string, number>();
  for (const listener of snapshot.listeners) {
    const port = await new Promise<number>((resolve, reject) => {
      const probe = net.createServer();
      probe.once('error', (error: NodeJS.ErrnoException) =>
        reject(
          new ProxyError(
            'FERRY_ERR_LISTEN_FAILED',
            `listeners[${listener.name}]: cannot bind ${listener.address}: ${error.code ?? error.message}`,
          ),
        ),
      );
      probe.listen({ host: listener.host, port: listener.port, exclusive: true }, () => {
        const bound = (probe.address() as net.AddressInfo).port;
        probe.close(() => resolve(bound));
      });
    });
    ports.set(listener.name, port);
  }
  return ports;
}

export async function startFerry(snapshot: ConfigSnapshot, options: FerryOptions): Promise<FerryHandle> {
  const { log } = options;
  const startedAtMs = Date.now();
  // Before anything binds: a control port reachable from other hosts without a token refuses to start.
  const controlToken = await loadControlToken(snapshot);
  const listenerPorts = await preflightListeners(snapshot);
  // The workload certificate is on disk before any worker builds a TLS context from it.
  const identity =
    snapshot.identity === null
      ? null
      : new WorkloadIdentity({
          snapshot,
          log,
          ...(options.clock === undefined ? {} : { clock: options.clock }),
        });
  try {
    await identity?.start();
  } catch (error) {
    identity?.stop();
    throw error;
  }
  const identityFiles = identity?.files ?? null;
  let demo: DemoTargets | null = null;
  if (snapshot.demo) {
    const demoTargets = snapshot.targetGroups.flatMap((group) => group.targets);
    demo = await startDemoTargets(demoTargets);
    log.info(
      { targets: demo.addresses },
      'demo mode: started 3 built-in demo targets (fast, medium, slow); they exist only in demo mode',
    );
  }
  const table = new TableWriter({
    groupCapacity: snapshot.limits.maxTargetGroups,
    targetCapacity: snapshot.limits.maxTargets,
    workerCapacity: snapshot.workerCount,
    listenerCapacity: snapshot.listeners.length,
  });
  let supervisor: Supervisor | null = null;
  let admin: AdminServer | null = null;
  let telemetry: Telemetry | null = null;
  const hashTables = new HashTableBuilder(table.view);
  // Topologies leave for the workers once their hash tables are built (src/table/hash-tables.ts);
  // builds finish in order of request, and an older one finishing late is never sent after a newer one.
  let sentTopology: Topology | null = null;
  let requestedCount = 0;
  let sentCount = 0;
  const sendTopology = (topology: Topology): void => {
    const order = ++requestedCount;
    const send = (filled: Topology) => {
      if (order < sentCount) return;
      sentCount = order;
      sentTopology = filled;
      supervisor?.broadcast({ type: 'topology', topology: filled });
    };
    hashTables.fill(topology).then(send, (error: unknown) => {
      log.error({ err: error }, 'hash table build failed; workers build their own');
      send(topology);
    });
  };
  const health = new HealthManager({
    table,
    log,
    publishTopology: sendTopology,
    ...(options.clock === undefined ? {} : { clock: options.clock }),
  });
  const failover = new FailoverManager({
    table,
    log,
    isWorkerLive: (workerIndex) => (supervisor?.workerAt(workerIndex) ?? null) !== null,
    ...(options.clock === undefined ? {} : { clock: options.clock }),
  });
  let control: ControlServer | null = null;
  try {
    health.apply(planFromConfig(snapshot, listenerPorts, identityFiles), policiesFromConfig(snapshot));
    failover.apply(
      snapshot.targetGroups.map((group) => group.name),
      failoverPoliciesFromConfig(snapshot),
    );
    await firstRound(health, log);
    sentTopology = await hashTables.fill(table.current());
    const observability = resolveObservability(snapshot, process.env);
    supervisor = new Supervisor({
      tableBuffer: table.buffer,
      view: table.view,
      workerCount: snapshot.workerCount,
      logLevel: options.logLevel,
      shutdownGraceMs: snapshot.shutdownGracePeriodMs,
      log,
      topology: () => sentTopology ?? table.current(),
      observability,
    });
    await supervisor.start();
    const running = supervisor;
    telemetry = startTelemetry(snapshot, observability, listenerPorts, table, running, health, identity);
    const [adminHost, adminPort] = [snapshot.admin.host, snapshot.admin.port];
    admin = await startAdmin(adminHost, adminPort, {
      isReady: () => running.readyCount === snapshot.workerCount,
      targets: () => health.report(),
      telemetry,
    });
  } catch (error) {
    identity?.stop();
    telemetry?.stop();
    await health.stop();
    await supervisor?.terminate();
    await hashTables.close();
    await demo?.close();
    throw error;
  }
  const running = supervisor;
  const adminServer = admin;
  failover.start();
  const runningTelemetry = telemetry!;
  let current = snapshot;
  for (const listener of snapshot.listeners) {
    log.info(
      {
        listener: listener.name,
        protocol: listener.protocol,
        address: `${listener.host}:${listenerPorts.get(listener.name)}`,
      },
      `listening; forwarding to target groups: ${listener.forwardTargetGroups.join(', ') || 'none'}`,
    );
  }
  log.info(
    { workers: snapshot.workerCount, admin: adminServer.address, config: snapshot.sourceName },
    'ferry is ready',
  );
  const handle: FerryHandle = {
    table,
    supervisor: running,
    failover,
    get controlAddress() {
      return control?.address ?? null;
    },
    config: () => current,
    identity,
    health,
    topology: () => table.current(),
    listenerPorts,
    adminAddress: adminServer.address,
    telemetry: runningTelemetry,
    reload(next: ConfigSnapshot): Topology {
      if (
        JSON.stringify([next.accessLog, next.tracing]) !==
        JSON.stringify([current.accessLog, current.tracing])
      ) {
        throw new ProxyError(
          'FERRY_ERR_CONFIG_INVALID',
          'reload applies target groups only; accessLog and tracing changed: restart Ferry to apply them',
        );
      }
      if (restartKey(next) !== restartKey(current)) {
        throw new ProxyError(
          'FERRY_ERR_CONFIG_INVALID',
          'reload applies target groups only; listeners, workers, admin and limits changed: restart Ferry to apply them',
        );
      }
      if (JSON.stringify(next.control) !== JSON.stringify(current.control)) {
        throw new ProxyError(
          'FERRY_ERR_CONFIG_INVALID',
          'reload applies target groups only; control changed: restart Ferry to apply it',
        );
      }
      const topology = health.apply(
        planFromConfig(next, listenerPorts, identityFiles),
        policiesFromConfig(next),
      );
      failover.apply(
        next.targetGroups.map((group) => group.name),
        failoverPoliciesFromConfig(next),
      );
      current = next;
      log.info({ config: next.sourceName, targetGroups: next.targetGroups.length }, 'config reloaded');
      return topology;
    },
    async stop(graceMs = snapshot.shutdownGracePeriodMs) {
      log.info({ graceMs }, 'draining: no new connections; in-flight requests may finish');
      failover.stop();
      identity?.stop();
      await control?.close();
      await health.stop();
      await running.drain(graceMs);
      runningTelemetry.stop();
      await hashTables.close();
      await adminServer.close();
      await demo?.close();
      log.info('stopped');
    },
  };
  if (snapshot.control !== null) {
    const context: ControlContext = {
      config: () => current,
      reload: (next) => {
        handle.reload(next);
      },
      table,
      health,
      failover,
      supervisor: running,
      log,
      startedAtMs,
      isDrained: false,
    };
    try {
      control = await startControlServer({
        address: snapshot.control.address,
        token: controlToken,
        context,
        log,
        serverName: `ferry/${packageVersion()}`,
      });
    } catch (error) {
      await handle.stop(0);
      throw error;
    }
  }
  return handle;
}

/** The parts of a config a reload cannot change (they are bound or sized at start). */
function restartKey(snapshot: ConfigSnapshot): string {
  return JSON.stringify([
    snapshot.listeners.map(listenerRestartKey),
    snapshot.workerCount,
    snapshot.admin,
    snapshot.limits,
  ]);
}

/**
 * A listener's bound part. Rules, actions and source checks reach the workers
 * in the topology (workers/route, workers/listen/source-filter.ts), so a
 * reload applies them; a TCP listener's default forward is bound at accept.
 */
function listenerRestartKey(listener: ConfigSnapshot['listeners'][number]): unknown {
  const { rules, defaultAction, allowedSources, internalSources, forwardTargetGroups, scheme, ...bound } =
    listener;
  return listener.protocol === 'TCP' ? { ...bound, defaultAction } : bound;
}

/** Metrics, status page and the observability log lines (src/telemetry). */
function startTelemetry(
  snapshot: ConfigSnapshot,
  observability: WorkerObservability,
  listenerPorts: ReadonlyMap<string, number>,
  table: TableWriter,
  supervisor: Supervisor,
  health: HealthManager,
  identity: WorkloadIdentity | null,
): Telemetry {
  const topology = table.current();
  const telemetry = new Telemetry({
    view: table.view,
    topology: () => table.current(),
    workerCount: snapshot.workerCount,
    isWorkerAlive: (workerIndex) => supervisor.workerAt(workerIndex) !== null,
    readyWorkerCount: () => supervisor.readyCount,
    restartCount: () => supervisor.restartCount,
    isReady: () => supervisor.readyCount === snapshot.workerCount,
    health,
    listeners: topology.listeners.map((listener) => ({
      name: listener.name,
      protocol: listener.protocol,
      address: `${listener.host}:${listenerPorts.get(listener.name) ?? listener.port}`,
      targetGroup:
        topology.groups.find((group) => group.groupIndex === listener.defaultGroupIndex)?.name ?? '',
    })),
    version: FERRY_VERSION,
    tracing: {
      enabled: observability.tracing !== null,
      endpoint: observability.tracing?.tracesUrl ?? null,
    },
    accessLog: {
      enabled: observability.accessLog !== null,
      destination: observability.accessLog?.destination ?? null,
    },
    identity: identity === null ? null : () => identity.status(),
  });
  telemetry.start();
  return telemetry;
}

/** Start health checking and wait for the first round, at most HEALTH_FIRST_ROUND_WAIT_MS. */
async function firstRound(health: HealthManager, log: Logger): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const isDone = await Promise.race([
    health.start().then(() => true),
    new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), HEALTH_FIRST_ROUND_WAIT_MS);
    }),
  ]);
  clearTimeout(timer);
  if (!isDone) {
    log.warn(
      { waitedMs: HEALTH_FIRST_ROUND_WAIT_MS },
      'first health checks still running; opening listeners with those targets still initial',
    );
  }
}
