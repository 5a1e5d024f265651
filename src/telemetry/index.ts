/**
 * @module src/telemetry
 *
 * The main thread's observability: `/metrics` (Prometheus text, from the
 * workers' table counters), `/status.json` and the live status page at `/`,
 * and the resolution of the access-log and tracing settings every worker
 * gets at spawn. Thread: main. Place in the flow:
 *
 *   config ──> settings.ts ──> supervisor ──> workers/record (log lines, spans: in the workers)
 *   workers ──Atomics──> table ──poll──> collector.ts ──┬─> render-metrics.ts ──> prometheus.ts ──> /metrics
 *                                                       └─> status.ts ──> /status.json, status-page.ts ──> /
 *   health events (checks, ejections) ──> collector.ts; health report (states, transitions) ──> status.ts
 *
 * Collection, in small parts: counters.ts (which cells, one descriptor table
 * per table region, every snapshot position derived from it), wrap-delta.ts
 * (wrapping Int32 -> monotonic totals), series.ts + history.ts + ring.ts
 * (per-series totals and per-second history), gauges.ts (live reads).
 *
 * Nothing outside src/telemetry/ imports its other files.
 */
import type http from 'node:http';
import type { TableView } from '../../proto/table-layout.ts';
import type { Topology } from '../../proto/thread-messages.ts';
import type { CheckResult, EjectionEvent, HealthManager, TargetRef } from '../health/index.ts';
import { MetricsCollector } from './collector.ts';
import { PROMETHEUS_CONTENT_TYPE } from './prometheus.ts';
import { renderIdentityMetrics, renderMetrics } from './render-metrics.ts';
import { type StatusListener, statusDocument } from './status.ts';
import { STATUS_PAGE_CSP, STATUS_PAGE_HTML } from './status-page.ts';

export { METRICS_POLL_MS, MetricsCollector } from './collector.ts';
export { GROUP_COUNTERS } from './counters.ts';
export { HISTORY_POINTS } from './history.ts';
export { createRootLogger, logLevelFromEnv } from './logger.ts';
export { PROMETHEUS_CONTENT_TYPE, PrometheusWriter } from './prometheus.ts';
export { renderMetrics } from './render-metrics.ts';
export { resolveAccessLog, resolveObservability, resolveTracing, tracesUrlOf } from './settings.ts';
export { STATUS_SCHEMA_VERSION, type StatusListener } from './status.ts';
export { STATUS_PAGE_POLL_MS } from './status-page.ts';
export { FERRY_VERSION } from './version.ts';

/** What telemetry reads; src/main.ts passes the live objects. */
export interface TelemetrySources {
  readonly view: TableView;
  readonly topology: () => Topology;
  readonly workerCount: number;
  readonly isWorkerAlive: (workerIndex: number) => boolean;
  readonly readyWorkerCount: () => number;
  readonly restartCount: () => number;
  readonly isReady: () => boolean;
  readonly health: HealthManager | null;
  readonly listeners: readonly StatusListener[];
  readonly version: string;
  readonly tracing: { readonly enabled: boolean; readonly endpoint: string | null };
  readonly accessLog: { readonly enabled: boolean; readonly destination: string | null };
  /** The workload certificate's state (src/identity); null (or absent) without mesh identity. */
  readonly identity?: (() => IdentityStatusView) | null;
}

/** What telemetry shows of the workload certificate (src/identity's IdentityStatus, by shape). */
export interface IdentityStatusView {
  readonly spiffeId: string;
  readonly source: 'issuer' | 'files';
  readonly notAfterMs: number | null;
  readonly lastRenewalMs: number | null;
  readonly nextRenewalMs: number | null;
  readonly renewalsTotal: number;
  readonly renewalFailuresTotal: number;
  readonly consecutiveFailures: number;
  readonly lastError: string | null;
}

function isoOrNull(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

export class Telemetry {
  readonly collector: MetricsCollector;
  private readonly sources: TelemetrySources;
  private readonly startedAtMs: number;
  private readonly unsubscribe: () => void;

  constructor(sources: TelemetrySources) {
    this.sources = sources;
    this.startedAtMs = Date.now();
    this.collector = new MetricsCollector({
      view: sources.view,
      topology: sources.topology,
      workerCount: sources.workerCount,
      isWorkerAlive: sources.isWorkerAlive,
      readyWorkerCount: sources.readyWorkerCount,
      restartCount: sources.restartCount,
      version: sources.version,
    });
    const health = sources.health;
    if (health === null) {
      this.unsubscribe = () => {};
      return;
    }
    const collector = this.collector;
    const check = (ref: TargetRef, result: CheckResult) =>
      collector.onCheck(ref.targetGroup, ref.address, result.outcome);
    const ejection = (event: EjectionEvent) =>
      collector.onEjection(event.targetGroup, event.address, event.isEjected);
    health.on('check', check);
    health.on('ejection', ejection);
    this.unsubscribe = () => {
      health.off('check', check);
      health.off('ejection', ejection);
    };
  }

  start(): void {
    this.collector.start();
  }

  stop(): void {
    this.collector.stop();
    this.unsubscribe();
  }

  /** The `/metrics` text (polls first, so a scrape is current). */
  metricsText(): string {
    this.collector.poll(false);
    const text = renderMetrics(this.collector);
    const identity = this.sources.identity?.() ?? null;
    return identity === null ? text : text + renderIdentityMetrics(identity);
  }

  /** The `/status.json` document. */
  statusDocument(): Record<string, unknown> {
    const { sources } = this;
    this.collector.poll(false);
    const topology = sources.topology();
    const identity = sources.identity?.() ?? null;
    const document = statusDocument({
      collector: this.collector,
      listeners: sources.listeners,
      report: sources.health?.report() ?? null,
      isReady: sources.isReady(),
      workerCount: sources.workerCount,
      readyWorkerCount: sources.readyWorkerCount(),
      restartCount: sources.restartCount(),
      version: sources.version,
      startedAtMs: this.startedAtMs,
      nowMs: Date.now(),
      tracing: sources.tracing,
      accessLog: sources.accessLog,
      groupIndexByName: new Map(topology.groups.map((group) => [group.name, group.groupIndex])),
      groupAlgorithmByName: new Map(topology.groups.map((group) => [group.name, group.algorithm])),
    });
    if (identity === null) return document;
    return {
      ...document,
      identity: {
        spiffeId: identity.spiffeId,
        source: identity.source,
        notAfter: isoOrNull(identity.notAfterMs),
        lastRenewal: isoOrNull(identity.lastRenewalMs),
        nextRenewal: isoOrNull(identity.nextRenewalMs),
        renewals: identity.renewalsTotal,
        renewalFailures: identity.renewalFailuresTotal,
        consecutiveFailures: identity.consecutiveFailures,
        lastError: identity.lastError,
      },
    };
  }

  /**
   * Serve `/metrics`, `/status.json` or the page at `/` (GET and HEAD; the
   * admin router checked the method). Returns false for any other path.
   */
  serve(req: http.IncomingMessage, res: http.ServerResponse, path: string): boolean {
    if (path === '/metrics') {
      send(req, res, PROMETHEUS_CONTENT_TYPE, this.metricsText(), {});
    } else if (path === '/status.json') {
      send(req, res, 'application/json; charset=utf-8', `${JSON.stringify(this.statusDocument())}\n`, {});
    } else if (path === '/' || path === '/status') {
      send(req, res, 'text/html; charset=utf-8', STATUS_PAGE_HTML, {
        'content-security-policy': STATUS_PAGE_CSP,
        'x-content-type-options': 'nosniff',
        'referrer-policy': 'no-referrer',
      });
    } else {
      return false;
    }
    return true;
  }
}

function send(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  contentType: string,
  body: string,
  headers: Record<string, string>,
): void {
  res.writeHead(200, {
    'content-type': contentType,
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}
