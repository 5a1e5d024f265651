/**
 * @module bench/e2e/configs
 *
 * Renders the config files of the end-to-end bench: the NGINX that plays the
 * three targets, and the three proxies under test (NGINX, HAProxy, Ferry),
 * all pointed at the same three targets with keep-alive to them. Thread: the
 * bench's main thread, outside Ferry. Place in the flow: harness layer under
 * `bench/e2e/http.ts`.
 *
 * Why these settings: each proxy gets the configuration an operator would
 * write for a fair keep-alive comparison, and nothing tuned beyond it.
 * - Both sides allow a million requests per keep-alive connection: NGINX's
 *   default of 1,000 (`keepalive_requests`) would make wrk and the upstream
 *   pool reconnect every 1,000 requests, which HAProxy and Ferry do not do.
 * - NGINX and HAProxy add X-Forwarded-For like Ferry does, so every proxy
 *   rewrites the head the same way.
 * - NGINX reads upstream responses in 64 KiB buffers, the size a Node
 *   socket reads at a time, instead of its default of one page (4 KiB),
 *   which cost it about a quarter of its streaming MB/s here; and it never
 *   spills a response to a temp file (`proxy_max_temp_file_size 0`): the
 *   1 GiB stream must measure the proxy, not the disk. HAProxy keeps its
 *   defaults (16 KiB buffers, no splicing).
 * - No access logs anywhere: logging cost is not what is compared here.
 */

/** Body of `/` on every target: exactly 9 bytes. */
export const TINY_BODY = 'ferry-ok\n';
export const TINY_BODY_BYTES = 9;
/** Size of `/16k` on every target. */
export const MEDIUM_BODY_BYTES = 16 * 1024;
/** Size of `/1g` (a sparse file) on every target. */
export const STREAM_BODY_BYTES = 1024 * 1024 * 1024;

/** Paths of the files the configs refer to, all inside the bench's temp dir. */
export type BenchDirs = {
  /** Temp dir root: pid files, logs, NGINX temp paths. */
  readonly rootDir: string;
  /** Document root holding `16k` and `1g`. */
  readonly wwwDir: string;
};

function nginxTempPaths(dirs: BenchDirs, name: string): string {
  // NGINX opens its temp dirs at start even when nothing spills; keep them in the temp dir.
  return ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
    .map((kind) => `  ${kind}_temp_path ${dirs.rootDir}/${name}-${kind}-temp;`)
    .join('\n');
}

/**
 * One NGINX with a server block per target port: `/` -> the 9-byte body,
 * `/16k` and `/1g` -> static files (sendfile). One worker process: the
 * targets share core 0 with wrk in the pinned layout.
 */
export function renderTargetsNginxConf(dirs: BenchDirs, targetPorts: readonly number[]): string {
  const servers = targetPorts
    .map(
      (port) => `  server {
    listen 127.0.0.1:${port};
    root ${dirs.wwwDir};
    location = / { return 200 "${TINY_BODY.replace('\n', '\\n')}"; }
  }`,
    )
    .join('\n');
  return `# Targets for bench:http (generated; see bench/e2e/configs.ts)
worker_processes 1;
daemon off;
pid ${dirs.rootDir}/targets.pid;
error_log ${dirs.rootDir}/targets-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  default_type application/octet-stream;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  keepalive_timeout 120s;
${nginxTempPaths(dirs, 'targets')}
${servers}
}
`;
}

/** NGINX as the proxy under test: `worker_processes` = `workerCount`, keep-alive upstream pool of 64. */
export function renderProxyNginxConf(
  dirs: BenchDirs,
  name: string,
  workerCount: number,
  listenPort: number,
  targetPorts: readonly number[],
): string {
  const servers = targetPorts.map((port) => `    server 127.0.0.1:${port};`).join('\n');
  return `# NGINX under test for bench:http (generated; see bench/e2e/configs.ts)
worker_processes ${workerCount};
daemon off;
pid ${dirs.rootDir}/${name}.pid;
error_log ${dirs.rootDir}/${name}-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  keepalive_timeout 120s;
${nginxTempPaths(dirs, name)}
  upstream app {
${servers}
    keepalive 64;
    keepalive_requests 1000000;
    keepalive_timeout 120s;
  }
  server {
    listen 127.0.0.1:${listenPort};
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_buffer_size 64k;
      proxy_buffers 8 64k;
      proxy_busy_buffers_size 128k;
      proxy_max_temp_file_size 0;
    }
  }
}
`;
}

/** HAProxy as the proxy under test: `nbthread` = `threadCount`, round robin, `http-reuse always`. */
export function renderHaproxyConf(
  threadCount: number,
  listenPort: number,
  targetPorts: readonly number[],
): string {
  const servers = targetPorts.map((port, index) => `  server t${index + 1} 127.0.0.1:${port}`).join('\n');
  return `# HAProxy under test for bench:http (generated; see bench/e2e/configs.ts)
global
  nbthread ${threadCount}
  maxconn 4096

defaults
  mode http
  option http-keep-alive
  option forwardfor
  http-reuse always
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  timeout http-keep-alive 120s

frontend web
  bind 127.0.0.1:${listenPort}
  default_backend app

backend app
  balance roundrobin
  http-reuse always
${servers}
`;
}

/** Ferry's config in the user contract's shape (issue 2). */
export function renderFerryYaml(
  workerCount: number,
  listenPort: number,
  adminPort: number,
  targetPorts: readonly number[],
): string {
  const targets = targetPorts.map((port) => `{ address: 127.0.0.1:${port} }`).join(', ');
  return `# Ferry under test for bench:http (generated; see bench/e2e/configs.ts)
workers: ${workerCount}
admin: { address: 127.0.0.1:${adminPort} }
listeners:
  - { name: web, protocol: HTTP, address: 127.0.0.1:${listenPort}, defaultAction: { forward: { targetGroup: app } } }
targetGroups:
  - name: app
    algorithm: round_robin
    targets: [ ${targets} ]
`;
}

/**
 * A tiny OTLP/HTTP sink, run as `node -e OTLP_SINK_SOURCE PORT`: accepts every export and answers
 * an empty 200 (what a healthy collector does). Shared by bench:observability and bench:profile.
 */
export const OTLP_SINK_SOURCE = `
const http = require('node:http');
http.createServer((req, res) => {
  req.on('data', () => {});
  req.on('end', () => { res.writeHead(200, { 'content-type': 'application/x-protobuf' }); res.end(); });
}).listen(Number(process.argv[1]), '127.0.0.1');
`;
