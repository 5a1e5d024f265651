/**
 * @module src/admin
 *
 * The read-only admin HTTP endpoint: `/healthz` (the process is alive) and
 * `/readyz` (every worker listens and config is applied), for Kubernetes
 * probes, `/targets` (every target's health as JSON, see targets.ts) and
 * `/targets/{group}/{target}/explain` (why one target is in or out of rotation).
 * `/metrics`, `/status.json` and the status page at `/` come from src/telemetry.
 * Thread: main. node:http is right here: a handful of requests per
 * second, off the data plane.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TargetsReport } from '../health/index.ts';
import { serveExplain, serveTargets } from './targets.ts';

export { serveTargets, targetsDocument } from './targets.ts';

export interface AdminSources {
  /** True when listeners are bound and config applied. */
  isReady(): boolean;
  /** Every target's health for `GET /targets`; without it the path is 404. */
  targets?(): TargetsReport;
  /**
   * `GET /targets/{group}/{target}/explain` (both URL-encoded): the control
   * port's `explain` document; throws a ProxyError (FERRY_ERR_CONTROL_NOT_FOUND)
   * for an unknown group or target, answered 404 with the code.
   */
  explain?(targetGroup: string, address: string): unknown;
  /** `/metrics`, `/status.json` and `/` (src/telemetry); `serve` returns false for other paths. */
  telemetry?: { serve(req: http.IncomingMessage, res: http.ServerResponse, path: string): boolean } | null;
}

export interface AdminServer {
  readonly address: string;
  close(): Promise<void>;
}

export function startAdmin(host: string, port: number, sources: AdminSources): Promise<AdminServer> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else if (path === '/readyz') {
      const isReady = sources.isReady();
      res
        .writeHead(isReady ? 200 : 503, { 'content-type': 'text/plain' })
        .end(isReady ? 'ready\n' : 'not ready\n');
    } else if (path === '/targets' && sources.targets !== undefined) {
      serveTargets(req, res, sources.targets());
    } else if (path?.startsWith('/targets/') === true && sources.explain !== undefined) {
      serveExplain(req, res, path, sources.explain);
    } else if (sources.telemetry?.serve(req, res, path ?? '/') !== true) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      const info = server.address() as AddressInfo;
      resolve({
        address: `${info.address}:${info.port}`,
        close: () => new Promise<void>((r) => server.close(() => r())),
      });
    });
  });
}
