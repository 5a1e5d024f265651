/**
 * @module src/demo/targets
 *
 * The three demo targets behind the embedded default config: tiny HTTP
 * servers in the main thread that answer after different delays, so a new
 * user sees balancing (and response-time picking) with nothing else running.
 * Thread: main. Only started when the config says `demo: true`.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** Delay per demo target, in order: fast, medium, slow. */
export const DEMO_DELAYS_MS = [5, 20, 50] as const;

export interface DemoTargets {
  readonly addresses: readonly string[];
  close(): Promise<void>;
}

/** Start one demo server per address (`host:port`). */
export async function startDemoTargets(
  addresses: readonly { host: string; port: number }[],
): Promise<DemoTargets> {
  const servers = await Promise.all(
    addresses.map(
      ({ host, port }, index) =>
        new Promise<http.Server>((resolve, reject) => {
          const delayMs = DEMO_DELAYS_MS[index % DEMO_DELAYS_MS.length]!;
          const name = `demo-${index + 1}`;
          const server = http.createServer((req, res) => {
            req.resume();
            setTimeout(() => {
              const body = `${name} answered ${req.method} ${req.url} after ${delayMs}ms\n`;
              res.writeHead(200, { 'content-type': 'text/plain', 'x-demo-target': name });
              res.end(body);
            }, delayMs);
          });
          server.once('error', reject);
          server.listen(port, host, () => resolve(server));
        }),
    ),
  );
  return {
    addresses: servers.map((server) => {
      const info = server.address() as AddressInfo;
      return `${info.address}:${info.port}`;
    }),
    close: () =>
      Promise.all(servers.map((server) => new Promise<void>((r) => server.close(() => r())))).then(() => {}),
  };
}
