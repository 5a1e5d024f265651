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
 *   health events (ejections) ──> collector.ts; health report (states, transitions, check totals) ──> status.ts, /metrics
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
import type { FailoverManager, FailoverSwitchEvent } from '../failover/index.ts';
import type { EjectionEvent, HealthManager, ReleaseEvent, TransitionEvent } from '../health/index.ts';
import { MetricsCollector } from './collector.ts';
import { ProcessMetrics } from './process-metrics.ts';
import { PROMETHEUS_CONTENT_TYPE, PrometheusWriter } from './prometheus.ts';
import {
  renderIdentityMetrics,
  renderMetrics,
  renderReloadMetrics,
  renderSpanExportMetrics,
  type SpanExportCounts,
} from './render-metrics.ts';
import { seriesKey } from './series.ts';
import { type StatusListener, statusDocument } from './status.ts';
import { STATUS_PAGE_CSP, STATUS_PAGE_HTML } from './status-page.ts';
import { Timeline } from './timeline.ts';

export { METRICS_POLL_MS, MetricsCollector } from './collector.ts';
export { GROUP_COUNTERS } from './counters.ts';
export { HISTORY_POINTS } from './history.ts';
export {
  createLogger,
  createRootLogger,
  LOG_FORMATS,
  LOG_LEVELS,
  type LogFormat,
  type LogLevel,
  logLevelFromEnv,
  resolveLogFormat,
  resolveLogLevel,
} from './logger.ts';
export { PROMETHEUS_CONTENT_TYPE, PrometheusWriter } from './prometheus.ts';
export { renderMetrics } from './render-metrics.ts';
export { resolveAccessLog, resolveObservability, resolveTracing, tracesUrlOf } from './settings.ts';
export { SpanExporter } from './span-export.ts';
export { STATUS_SCHEMA_VERSION, type StatusListener } from './status.ts';
export { STATUS_PAGE_POLL_MS } from './status-page.ts';
export { FERRY_VERSION } from './version.ts';

/** History `explain` sums for a target's share of its group's traffic: the last 5 minutes (all of it). */
export const TRAFFIC_WINDOW_S = 300;

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
  /** Failovers and failbacks go to the status page's timeline; null (or absent) in tests without one. */
  readonly failover?: FailoverManager | null;
  readonly listeners: readonly StatusListener[];
  readonly version: string;
  readonly tracing: { readonly enabled: boolean; readonly endpoint: string | null };
  readonly accessLog: { readonly enabled: boolean; readonly destination: string | null };
  /** The workload certificate's state (src/identity); null (or absent) without mesh identity. */
  readonly identity?: (() => IdentityStatusView) | null;
  /** The span exporter's counts while tracing is on (src/telemetry/span-export.ts); null or absent while off. */
  readonly spanExport?: (() => SpanExportCounts) | null;
  /** Config file reloads by outcome (src/control/reload-file.ts's counters, by shape); absent in tests without a file. */
  readonly reloads?: ReloadCounts | null;
}

/** Config file reloads since start, by outcome. */
export interface ReloadCounts {
  readonly appliedTotal: number;
  readonly rejectedTotal: number;
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
  /** process_* and nodejs_* (process-metrics.ts), appended to /metrics after Ferry's families. */
  private processMetrics: ProcessMetrics | null;
  private readonly sources: TelemetrySources;
  private readonly startedAtMs: number;
  private readonly unsubscribe: () => void;
  /** Health transitions, finished deregistrations and failovers, for the status page. */
  readonly timeline: Timeline;

  constructor(sources: TelemetrySources) {
    this.timeline = new Timeline();
    this.sources = sources;
    this.startedAtMs = Date.now();
    this.processMetrics = null;
    this.collector = new MetricsCollector({
      view: sources.view,
      topology: sources.topology,
      workerCount: sources.workerCount,
      isWorkerAlive: sources.isWorkerAlive,
      readyWorkerCount: sources.readyWorkerCount,
      restartCount: sources.restartCount,
      version: sources.version,
    });
    const timeline = this.timeline;
    const failover = sources.failover ?? null;
    const onSwitch = (event: FailoverSwitchEvent) => timeline.onSwitch(event);
    failover?.on('switch', onSwitch);
    const health = sources.health;
    if (health === null) {
      this.unsubscribe = () => {
        failover?.off('switch', onSwitch);
      };
      return;
    }
    // Ejections are counted from events (outlier detection starts with the tick, after telemetry).
    // Check counts are not: they are copied from the health read model on every poll of a view
    // (syncChecks), because checks run before telemetry exists (the first round, before the
    // workers start) and before a target's series is first polled; counting events lost those,
    // and /metrics' pass count fell behind /targets' (issue 15 §4).
    const collector = this.collector;
    const ejection = (event: EjectionEvent) =>
      collector.onEjection(event.targetGroup, event.address, event.isEjected);
    const onTransition = (event: TransitionEvent) => timeline.onTransition(event);
    const onReleased = (event: ReleaseEvent) => timeline.onReleased(event);
    health.on('ejection', ejection);
    health.on('transition', onTransition);
    health.on('released', onReleased);
    this.unsubscribe = () => {
      health.off('ejection', ejection);
      health.off('transition', onTransition);
      health.off('released', onReleased);
      failover?.off('switch', onSwitch);
    };
  }

  /** Copy every target's check totals from the health read model into its series (one source of truth). */
  private syncChecks(): void {
    const report = this.sources.health?.report();
    if (report === undefined) return;
    const { targets } = this.collector;
    for (const group of report.targetGroups) {
      for (const target of group.targets) {
        const series = targets.get(seriesKey(group.name, target.address));
        if (series !== undefined) Object.assign(series.checks, target.checkOutcomesTotal);
      }
    }
  }

  start(): void {
    this.collector.start();
    this.processMetrics ??= new ProcessMetrics();
  }

  stop(): void {
    this.collector.stop();
    this.processMetrics?.stop();
    this.unsubscribe();
  }

  /**
   * The whole `/metrics` text: Ferry's families (metricsText) and, once
   * started, the standard process_* and nodejs_* ones. Kept apart from
   * metricsText so that stays a pure function of the table and health.
   */
  scrapeText(): string {
    const text = this.metricsText();
    if (this.processMetrics === null) return text;
    const w = new PrometheusWriter();
    this.processMetrics.render(w);
    return text + w.toString();
  }

  /**
   * A target's share of its group's requests over the last `windowS`
   * seconds of history (one point per second, so requests ≈ the sum of the
   * per-second rates), for `explain`. Null when the target has no series.
   */
  trafficShare(
    targetGroup: string,
    address: string,
    windowS = TRAFFIC_WINDOW_S,
  ): { windowMs: number; requests: number; groupRequests: number; sharePercent: number | null } | null {
    const { collector } = this;
    const series = collector.targets.get(seriesKey(targetGroup, address));
    if (series === undefined) return null;
    let groupRequests = 0;
    for (const member of collector.targets.values()) {
      if (member.targetGroup === targetGroup) groupRequests += member.requestRate.sumLast(windowS);
    }
    const requests = Math.round(series.requestRate.sumLast(windowS));
    groupRequests = Math.round(groupRequests);
    return {
      windowMs: windowS * 1000,
      requests,
      groupRequests,
      sharePercent: groupRequests === 0 ? null : Math.round((requests / groupRequests) * 1000) / 10,
    };
  }

  /** The `/metrics` text (polls first, so a scrape is current). */
  metricsText(): string {
    this.collector.poll(false);
    this.syncChecks();
    const text = renderMetrics(this.collector, this.sources.health?.report() ?? null);
    const identity = this.sources.identity?.() ?? null;
    const spans = this.sources.spanExport?.() ?? null;
    const reloads = this.sources.reloads ?? null;
    return (
      text +
      (reloads === null ? '' : renderReloadMetrics(reloads)) +
      (identity === null ? '' : renderIdentityMetrics(identity)) +
      (spans === null ? '' : renderSpanExportMetrics(spans))
    );
  }

  /** The `/status.json` document. */
  statusDocument(): Record<string, unknown> {
    const { sources } = this;
    this.collector.poll(false);
    this.syncChecks();
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
      timeline: this.timeline.recent(),
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
      send(req, res, PROMETHEUS_CONTENT_TYPE, this.scrapeText(), {});
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
