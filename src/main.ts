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
import dgram from 'node:dgram';
import net from 'node:net';
import type { Logger } from 'pino';
import type { WorkerObservability } from '../proto/observability.ts';
import {
  HEADER_DRAINING,
  loadTarget,
  loadWorker,
  storeHeader,
  TARGET_IN_FLIGHT,
  WORKER_ACTIVE_CONNECTIONS,
} from '../proto/table-layout.ts';
import type { Topology } from '../proto/thread-messages.ts';
import { type AdminServer, startAdmin } from './admin/index.ts';
import type { ConfigSnapshot } from './config/index.ts';
import {
  type ControlContext,
  type ControlServer,
  type ExplainSources,
  explainReport,
  loadControlToken,
  packageVersion,
  type ReloadCounters,
  type ReloadOutcome,
  type ReloadTrigger,
  reloadConfigFile,
  startControlServer,
} from './control/index.ts';
import { type DemoTargets, startDemoTargets } from './demo/index.ts';
import { DiscoveryManager } from './discovery/index.ts';
import { FailoverManager, failoverPoliciesFromConfig } from './failover/index.ts';
import { HEALTH_FIRST_ROUND_WAIT_MS, HealthManager, policiesFromConfig } from './health/index.ts';
import { WorkloadIdentity } from './identity/index.ts';
import type { Clock } from './shared/clock.ts';
import { ProxyError } from './shared/errors.ts';
import { redactSecrets } from './shared/redact.ts';
import { DrainController, Supervisor } from './supervisor/index.ts';
import { HashTableBuilder, planFromConfig, TableWriter } from './table/index.ts';
import { FERRY_VERSION, resolveObservability, SpanExporter, Telemetry } from './telemetry/index.ts';

export interface FerryOptions {
  readonly log: Logger;
  readonly logLevel: string;
  /** Workers log in the main logger's format: JSON lines (default) or pretty. */
  readonly logFormat?: 'json' | 'pretty';
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
  /** DNS discovery: each group's watcher, its status and its 'resolution' events (src/discovery). */
  readonly discovery: DiscoveryManager;
  /**
   * Apply a new config's target groups: new targets are registered (and
   * checked), removed ones drain, changed attributes take effect. Throws
   * FERRY_ERR_CONFIG_INVALID when listeners, workers, admin or limits differ
   * (those need a restart) and FERRY_ERR_CONFIG_CAPACITY when the targets,
   * with those still draining, do not fit; either way nothing changes.
   */
  reload(snapshot: ConfigSnapshot): Topology;
  /**
   * Re-read the config file and apply it whole, or reject it whole and keep
   * serving (src/control/reload-file.ts): SIGHUP, the file watcher and the
   * control port's `reload` all come here. Never throws for a bad file.
   */
  reloadFile(trigger: ReloadTrigger): Promise<ReloadOutcome>;
  /** Config file reloads since start, by outcome, whatever triggered them. */
  readonly reloads: ReloadCounters;
  /** The sidecar's drain: /readyz 503 at once, serve for drainDelay, then stop accepting (src/supervisor/drain.ts). */
  readonly drain: DrainController;
  /** Where the probe-only endpoint (/healthz, /readyz) listens, or null without `admin.probeAddress`. */
  readonly probeAddress: string | null;
  /** Stop accepting, let in-flight requests finish within the grace period, stop everything. */
  stop(graceMs?: number): Promise<void>;
}

/** Bind and release each listener address to surface EADDRINUSE/EACCES before any worker starts; resolve port 0. */
async function preflightListeners(snapshot: ConfigSnapshot): Promise<Map<string, number>> {
  const ports = new Map<string, number>();
  for (const listener of snapshot.listeners) {
    const fail = (error: NodeJS.ErrnoException): ProxyError =>
      new ProxyError(
        'FERRY_ERR_LISTEN_FAILED',
        `listeners[${listener.name}]: cannot bind ${listener.address}: ${error.code ?? error.message}`,
      );
    const protocol = listener.protocol;
    let port: number;
    if (protocol === 'UDP' || protocol === 'GENEVE')
      port = await probeUdp(listener.host, listener.port).catch((error) => Promise.reject(fail(error)));
    else {
      // TCP_UDP needs the same port free for both: a port 0 the OS gives for TCP is tried for UDP, a few times.
      let attempt = 0;
      while (true) {
        port = await probeTcp(listener.host, listener.port).catch((error) => Promise.reject(fail(error)));
        if (protocol !== 'TCP_UDP') break;
        const isUdpFree = await probeUdp(listener.host, port).then(
          () => true,
          (error: NodeJS.ErrnoException) => {
            if (listener.port !== 0 || attempt >= PREFLIGHT_PORT_ATTEMPTS_MAX) throw fail(error);
            return false;
          },
        );
        if (isUdpFree) break;
        attempt++;
      }
    }
    ports.set(listener.name, port);
  }
  return ports;
}

/** Tries at finding a port 0 free for both TCP and UDP (TCP_UDP listeners). */
const PREFLIGHT_PORT_ATTEMPTS_MAX = 16;

function probeTcp(host: string, port: number): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen({ host, port, exclusive: true }, () => {
      const bound = (probe.address() as net.AddressInfo).port;
      probe.close(() => resolve(bound));
    });
  });
}

function probeUdp(host: string, port: number): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const probe = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
    probe.once('error', (error) => {
      probe.close();
      reject(error);
    });
    probe.bind({ address: host, port, exclusive: true }, () => {
      const bound = probe.address().port;
      probe.close(() => resolve(bound));
    });
  });
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
  /** Exports the workers' span batches while tracing is on (src/telemetry/span-export.ts). */
  let spanExporter: SpanExporter | null = null;
  /** Config file reloads by outcome, for every trigger (SIGHUP, the watcher, the control port) and /metrics. */
  const reloads: ReloadCounters = { appliedTotal: 0, rejectedTotal: 0 };
  let drain: DrainController | null = null;
  let admin: AdminServer | null = null;
  let probe: AdminServer | null = null;
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
  // Discovered targets join the plan (src/discovery); a changed answer re-applies it through the
  // same path as a reload, so they are checked, registered and drained like any target.
  let current = snapshot;
  let isPlanApplied = false;
  /** `group/address` of targets `ferryctl register` added, so the status can say where a target came from. */
  const controlRegistered = new Set<string>();
  const discovery = new DiscoveryManager({
    log,
    ...(options.clock === undefined ? {} : { clock: options.clock }),
    onChange: () => {
      if (!isPlanApplied) return;
      try {
        health.apply(planOf(current), policiesFromConfig(current));
      } catch (error) {
        log.error(
          { err: error },
          'DNS discovery: the discovered targets do not fit; keeping the previous set',
        );
      }
    },
  });
  const planOf = (config: ConfigSnapshot) =>
    planFromConfig(config, listenerPorts, discovery.discovered(), controlRegistered, identityFiles);
  const health = new HealthManager({
    table,
    log,
    publishTopology: sendTopology,
    discoveryStatus: () => discovery.status(),
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
    await discovery.apply(snapshot);
    health.apply(planOf(snapshot), policiesFromConfig(snapshot));
    isPlanApplied = true;
    failover.apply(
      snapshot.targetGroups.map((group) => group.name),
      failoverPoliciesFromConfig(snapshot),
    );
    await firstRound(health, log);
    sentTopology = await hashTables.fill(table.current());
    const observability = resolveObservability(snapshot, process.env);
    spanExporter = observability.tracing === null ? null : new SpanExporter(observability.tracing, log);
    const exporting = spanExporter;
    supervisor = new Supervisor({
      tableBuffer: table.buffer,
      view: table.view,
      workerCount: snapshot.workerCount,
      logLevel: options.logLevel,
      ...(options.logFormat === undefined ? {} : { logFormat: options.logFormat }),
      shutdownGraceMs: snapshot.shutdownGracePeriodMs,
      log,
      topology: () => sentTopology ?? table.current(),
      observability,
      ...(exporting === null
        ? {}
        : {
            onSpans: (workerIndex: number, spans: Uint8Array, spanCount: number, dropped: number) =>
              exporting.accept(workerIndex, spans, spanCount, dropped),
          }),
    });
    await supervisor.start();
    const running = supervisor;
    drain = new DrainController({
      log,
      openConnections: () => openConnections(table, running),
      requestsInFlight: () => requestsInFlight(table),
      stopAccepting: (graceMs) => {
        storeHeader(table.view, HEADER_DRAINING, 1);
        return running.drain(graceMs);
      },
    });
    const draining = drain;
    // Ready: every worker listens and no drain has begun (a drain turns /readyz 503 at once).
    const isReady = () => draining.isServing() && running.readyCount === snapshot.workerCount;
    telemetry = startTelemetry(
      snapshot,
      observability,
      listenerPorts,
      table,
      running,
      health,
      failover,
      isReady,
      identity,
      exporting,
      reloads,
    );
    const [adminHost, adminPort] = [snapshot.admin.host, snapshot.admin.port];
    const explainSources: ExplainSources = {
      config: () => current,
      table,
      health,
      traffic: (group, address) => telemetry?.trafficShare(group, address) ?? null,
    };
    admin = await startAdmin(adminHost, adminPort, {
      isReady,
      targets: () => health.report(),
      explain: (group, address) => explainReport(explainSources, group, address),
      telemetry,
    });
    if (snapshot.probeAddress !== null) {
      // Probes only: kubelet reaches it on the pod IP; metrics, status and targets stay on loopback.
      probe = await startAdmin(snapshot.probeAddress.host, snapshot.probeAddress.port, { isReady });
    }
  } catch (error) {
    await admin?.close();
    discovery.stop();
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
  const probeServer = probe;
  const drainController = drain!;
  failover.start();
  const runningTelemetry = telemetry!;
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
    {
      workers: snapshot.workerCount,
      admin: adminServer.address,
      ...(probeServer === null ? {} : { probes: probeServer.address }),
      config: snapshot.sourceName,
    },
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
    probeAddress: probeServer?.address ?? null,
    telemetry: runningTelemetry,
    drain: drainController,
    reloads,
    reloadFile(trigger) {
      return reloadConfigFile(
        { config: () => current, reload: (next) => handle.reload(next), log },
        trigger,
        reloads,
      );
    },
    discovery,
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
      if (JSON.stringify(next.probeAddress) !== JSON.stringify(current.probeAddress)) {
        throw new ProxyError(
          'FERRY_ERR_CONFIG_INVALID',
          'reload applies target groups only; admin.probeAddress changed: restart Ferry to apply it',
        );
      }
      if (JSON.stringify(next.control) !== JSON.stringify(current.control)) {
        throw new ProxyError(
          'FERRY_ERR_CONFIG_INVALID',
          'reload applies target groups only; control changed: restart Ferry to apply it',
        );
      }
      // Watchers of removed or changed discovery blocks stop now (synchronously); new ones resolve
      // in the background and re-apply the plan when their first answer arrives.
      const discovering = discovery.apply(next);
      const topology = health.apply(planOf(next), policiesFromConfig(next));
      void discovering.catch((error: unknown) => log.error({ err: error }, 'DNS discovery failed to start'));
      failover.apply(
        next.targetGroups.map((group) => group.name),
        failoverPoliciesFromConfig(next),
      );
      current = next;
      for (const key of controlRegistered) if (!isTargetIn(next, key)) controlRegistered.delete(key);
      log.info({ config: next.sourceName, targetGroups: next.targetGroups.length }, 'config reloaded');
      return topology;
    },
    async stop(graceMs = snapshot.shutdownGracePeriodMs) {
      log.info({ graceMs }, 'draining: no new connections; in-flight requests may finish');
      failover.stop();
      discovery.stop();
      identity?.stop();
      await control?.close();
      await health.stop();
      await running.drain(graceMs);
      // The workers posted their last spans before exiting; wait (bounded) for them to leave.
      await spanExporter?.shutdown();
      runningTelemetry.stop();
      await hashTables.close();
      await adminServer.close();
      await probeServer?.close();
      await demo?.close();
      log.info('stopped');
    },
  };
  if (snapshot.control !== null) {
    const context: ControlContext = {
      config: () => current,
      reload: (next, registered) => {
        for (const target of registered ?? [])
          controlRegistered.add(`${target.targetGroup}/${target.address}`);
        handle.reload(next);
      },
      table,
      health,
      failover,
      supervisor: running,
      log,
      startedAtMs,
      drain: drainController,
      reloads,
      traffic: (group, address) => runningTelemetry.trafficShare(group, address),
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

/** True when `key` (`group/address`) is a configured target of `snapshot`. */
function isTargetIn(snapshot: ConfigSnapshot, key: string): boolean {
  return snapshot.targetGroups.some((group) =>
    group.targets.some((target) => `${group.name}/${target.address}` === key),
  );
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
 * in the topology (workers/route, workers/route/source-filter.ts), so a
 * reload applies them; a TCP listener's default forward is bound at accept.
 */
function listenerRestartKey(listener: ConfigSnapshot['listeners'][number]): unknown {
  const { rules, defaultAction, allowedSources, internalSources, forwardTargetGroups, scheme, ...bound } =
    listener;
  return listener.protocol === 'HTTP' || listener.protocol === 'HTTPS' ? bound : { ...bound, defaultAction };
}

/** Metrics, status page and the observability log lines (src/telemetry). */
function startTelemetry(
  snapshot: ConfigSnapshot,
  observability: WorkerObservability,
  listenerPorts: ReadonlyMap<string, number>,
  table: TableWriter,
  supervisor: Supervisor,
  health: HealthManager,
  failover: FailoverManager,
  isReady: () => boolean,
  identity: WorkloadIdentity | null,
  spanExporter: SpanExporter | null,
  reloads: ReloadCounters,
): Telemetry {
  const topology = table.current();
  const telemetry = new Telemetry({
    view: table.view,
    topology: () => table.current(),
    workerCount: snapshot.workerCount,
    isWorkerAlive: (workerIndex) => supervisor.workerAt(workerIndex) !== null,
    readyWorkerCount: () => supervisor.readyCount,
    restartCount: () => supervisor.restartCount,
    isReady,
    health,
    failover,
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
      // Shown on /status.json and the status page: a collector URL may carry a user and password or a token (issue 10).
      endpoint: observability.tracing === null ? null : redactSecrets(observability.tracing.tracesUrl),
    },
    accessLog: {
      enabled: observability.accessLog !== null,
      destination: observability.accessLog?.destination ?? null,
    },
    identity: identity === null ? null : () => identity.status(),
    spanExport: spanExporter === null ? null : () => spanExporter,
    reloads,
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

/** Downstream connections open now, over every live worker. */
function openConnections(table: TableWriter, supervisor: Supervisor): number {
  let total = 0;
  for (let worker = 0; worker < table.view.workerCapacity; worker++) {
    if (supervisor.workerAt(worker) !== null)
      total += loadWorker(table.view, worker, WORKER_ACTIVE_CONNECTIONS);
  }
  return total;
}

/** Upstream requests in flight now, over every target. */
function requestsInFlight(table: TableWriter): number {
  let total = 0;
  for (const target of table.targets())
    total += Math.max(0, loadTarget(table.view, target.slot, TARGET_IN_FLIGHT));
  return total;
}
