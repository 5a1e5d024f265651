/**
 * Real HTTP targets for tests: node:http servers on 127.0.0.1, port 0, each
 * answering with its own name, counting what it received. Behaviour per
 * target is switchable at run time (delay, status, hang) so a test can turn
 * a fast target slow or a healthy one broken.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface TestTarget {
  readonly name: string;
  readonly address: string;
  readonly port: number;
  /** Requests received, by path. */
  readonly hits: Map<string, number>;
  /** Total requests received. */
  count: number;
  /** Delay before answering, ms. */
  delayMs: number;
  /** Status to answer with. */
  status: number;
  /** Requests currently held open by /hold (answered when release() is called). */
  readonly held: http.ServerResponse[];
  /** Last request headers seen. */
  lastHeaders: http.IncomingHttpHeaders;
  release(): void;
  close(): Promise<void>;
  readonly server: http.Server;
}

/**
 * Start one target. `listen` picks another loopback address (127.0.0.2, …:
 * DNS A records carry no port, so DNS-discovered targets share one port on
 * several loopback addresses) and a fixed port; default 127.0.0.1, port 0.
 */
export async function startTarget(
  name: string,
  listen: { readonly host?: string; readonly port?: number } = {},
): Promise<TestTarget> {
  const server = http.createServer();
  const target: TestTarget = {
    name,
    address: '',
    port: 0,
    hits: new Map(),
    count: 0,
    delayMs: 0,
    status: 200,
    held: [],
    lastHeaders: {},
    release() {
      for (const res of target.held.splice(0)) res.end(`${name} released\n`);
    },
    close: () =>
      new Promise<void>((resolve) => {
        target.release();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
    server,
  };
  server.on('request', (req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    target.count++;
    target.hits.set(path, (target.hits.get(path) ?? 0) + 1);
    target.lastHeaders = req.headers;
    if (path === '/hold') {
      res.writeHead(200, { 'content-type': 'text/plain', 'x-target': name });
      res.flushHeaders();
      target.held.push(res);
      req.resume();
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const answer = () => {
        const body = path === '/echo' ? Buffer.concat(chunks) : Buffer.from(`${name}\n`);
        res.writeHead(target.status, {
          'content-type': 'text/plain',
          'x-target': name,
          'content-length': body.length,
        });
        res.end(body);
      };
      if (target.delayMs > 0) setTimeout(answer, target.delayMs);
      else answer();
    });
  });
  const host = listen.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port ?? 0, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return Object.assign(target, { address: `${host}:${port}`, port });
}

export async function startTargets(count: number, prefix = 't'): Promise<TestTarget[]> {
  return Promise.all(Array.from({ length: count }, (_, i) => startTarget(`${prefix}${i + 1}`)));
}
