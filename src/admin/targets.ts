/**
 * @module src/admin/targets
 *
 * `GET /targets`: every target group and target with its health, as JSON
 * (read-only; the "visible through an API" part of health checks). Thread:
 * main. Kept apart from the router in index.ts so the metrics exporter and
 * the status page can reuse `targetsDocument` for their own views.
 *
 * It serialises the health manager's one read model (src/health report):
 * times become ISO 8601 strings, booleans drop their `is` prefix; nothing is
 * looked up or derived here.
 *
 * Shape (times are ISO 8601 strings, durations `…Ms` integers):
 *
 *   { "at": "...", "targetGroups": [ { "name", "algorithm", "routeTo", "inUse", "healthCheck": {...},
 *     "failOpen", "failOpenRequestsTotal", "noTargetRequestsTotal",
 *     "targets": [ { "address", "slot",
 *       "health": { "state", "reason", "description", "statusCode", "cause" },
 *       "stateSince", "timeInStateMs",
 *       "lastCheck": { "at", "durationMs", "statusCode", "outcome", "reason" } | null,
 *       "consecutiveSuccesses", "consecutiveFailures", "checksTotal",
 *       "checks": { "pass", "status", "timeout", "error" },   (since registration; = ferry_target_health_checks_total)
 *       "transitions": [ { "at", "from", "to", "reason" } ],
 *       "weight": { "configured", "effective" }, "slowStart": {...} | null,
 *       "outlier": { "ejected", "ejectedUntil", "ejectionsTotal", ... },
 *       "drain": { "since", "deadline" } | null, "inFlight", "activeConnections",
 *       "latencyEwmaUs" } ] } ] }
 *
 * `health` follows ELB's DescribeTargetHealth (State, Reason, Description).
 */
import type http from 'node:http';
import type { TargetStatus, TargetsReport } from '../health/index.ts';

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function targetDocument(target: TargetStatus): Record<string, unknown> {
  return {
    address: target.address,
    slot: target.slot,
    health: {
      state: target.state,
      reason: target.reason?.code ?? null,
      description: target.reason?.description ?? null,
      statusCode: target.reason?.statusCode ?? null,
      cause: target.reason?.cause ?? null,
    },
    stateSince: iso(target.stateSinceMs),
    timeInStateMs: target.timeInStateMs,
    lastCheck:
      target.lastCheck === null
        ? null
        : {
            at: iso(target.lastCheck.atMs),
            durationMs: target.lastCheck.durationMs,
            statusCode: target.lastCheck.statusCode,
            outcome: target.lastCheck.outcome,
            reason: target.lastCheck.reason?.code ?? null,
            description: target.lastCheck.reason?.description ?? null,
          },
    consecutiveSuccesses: target.consecutiveSuccesses,
    consecutiveFailures: target.consecutiveFailures,
    checksTotal: target.checksTotal,
    checks: target.checkOutcomesTotal,
    transitions: target.transitions.map((transition) => ({
      at: iso(transition.atMs),
      from: transition.from,
      to: transition.to,
      reason: transition.reason,
    })),
    weight: target.weight,
    slowStart:
      target.slowStart === null
        ? null
        : {
            since: iso(target.slowStart.sinceMs),
            until: iso(target.slowStart.untilMs),
            percent: target.slowStart.percent,
          },
    outlier: {
      ejected: target.outlier.isEjected,
      ejectedUntil: target.outlier.ejectedUntilMs === null ? null : iso(target.outlier.ejectedUntilMs),
      ejectionsTotal: target.outlier.ejectionsTotal,
      multiplier: target.outlier.multiplier,
      lastTrigger: target.outlier.lastTrigger,
      consecutive5xx: target.outlier.consecutive5xx,
      consecutiveGatewayFailures: target.outlier.consecutiveGatewayFailures,
    },
    drain:
      target.drain === null
        ? null
        : { since: iso(target.drain.sinceMs), deadline: iso(target.drain.deadlineMs) },
    inFlight: target.inFlight,
    activeConnections: target.activeConnections,
    latencyEwmaUs: target.latencyEwmaUs,
  };
}

/** The `/targets` document for a report: plain JSON-ready data. */
export function targetsDocument(report: TargetsReport): Record<string, unknown> {
  return {
    at: iso(report.atMs),
    targetGroups: report.targetGroups.map((group) => ({
      name: group.name,
      algorithm: group.algorithm,
      routeTo: group.routeTo,
      inUse: group.isInUse,
      healthCheck: group.healthCheck,
      failOpen: group.failOpen,
      failOpenRequestsTotal: group.failOpenRequestsTotal,
      noTargetRequestsTotal: group.noTargetRequestsTotal,
      targets: group.targets.map(targetDocument),
    })),
  };
}

/** Answer `GET /targets` (HEAD gets the headers only). */
export function serveTargets(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  report: TargetsReport,
): void {
  const body = `${JSON.stringify(targetsDocument(report), null, 2)}\n`;
  res.writeHead(200, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}

/** `/targets/{group}/{target}/explain`, each part URL-encoded (an IPv6 target's brackets and colons may be). */
const EXPLAIN_PATH = /^\/targets\/([^/]+)\/([^/]+)\/explain$/;

/**
 * Answer `GET /targets/{group}/{target}/explain` with the `explain`
 * document as JSON; 404 with `{"error": {code, message}}` for an unknown
 * path, group or target, 400 for a part that does not decode.
 */
export function serveExplain(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  path: string,
  explain: (targetGroup: string, address: string) => unknown,
): void {
  const match = EXPLAIN_PATH.exec(path);
  let status = 200;
  let document: unknown;
  if (match === null) {
    status = 404;
    document = {
      error: {
        code: 'FERRY_ERR_CONTROL_NOT_FOUND',
        message: 'expected /targets/{targetGroup}/{target}/explain',
      },
    };
  } else {
    try {
      document = explain(decodeURIComponent(match[1]!), decodeURIComponent(match[2]!));
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (error instanceof URIError) {
        status = 400;
        document = { error: { code: 'FERRY_ERR_CONTROL_BAD_ARGS', message: `bad URL encoding in ${path}` } };
      } else if (typeof code === 'string') {
        status = 404;
        document = { error: { code, message: (error as Error).message } };
      } else {
        status = 500;
        document = { error: { code: 'FERRY_ERR_INTERNAL_BUG', message: String(error) } };
      }
    }
  }
  const body = `${JSON.stringify(document, null, 2)}\n`;
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}
