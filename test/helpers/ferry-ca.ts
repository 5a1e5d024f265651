/**
 * Runs Ferry's built-in CA for tests: `ferry ca …` as a real child process
 * (the CLI the user runs), and `openssl` as the independent check of what it
 * wrote, and the two-sidecar mesh both identity tests run. Files live in a
 * temp folder the caller removes.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const FERRY_CLI = join(import.meta.dirname, '../../src/cli/ferry.ts');

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Run `ferry ARGS…` to its end. */
export async function runFerryCli(args: readonly string[]): Promise<CliResult> {
  const proc = spawn(process.execPath, [FERRY_CLI, ...args], {
    env: { ...process.env, FERRY_LOG_LEVEL: 'info' },
  });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  proc.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const [code] = (await once(proc, 'exit')) as [number | null];
  return { code, stdout, stderr };
}

/** `openssl ARGS…`; returns stdout and stderr together, throws on a non-zero exit. */
export function openssl(args: readonly string[]): string {
  return execFileSync('openssl', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** A running `ferry ca serve`, with its log lines as they come. */
export interface CaServeProcess {
  readonly proc: ChildProcess;
  /** `127.0.0.1:PORT` it listens on. */
  readonly address: string;
  /** Every stdout line so far (pino JSON). */
  readonly lines: string[];
  /** The first line (already there or still to come) that contains every one of `parts`. */
  waitForLine(...parts: string[]): Promise<string>;
  stop(): Promise<void>;
}

/** Start `ferry ca serve` and wait for its `issuing service listening` line. */
export async function startCaServe(args: readonly string[]): Promise<CaServeProcess> {
  const proc = spawn(process.execPath, [FERRY_CLI, 'ca', 'serve', ...args], {
    env: { ...process.env, FERRY_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const waiters: { parts: string[]; resolve: (line: string) => void }[] = [];
  const matches = (line: string, parts: string[]) => parts.every((part) => line.includes(part));
  let stderr = '';
  proc.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  let buffered = '';
  const address = await new Promise<string>((resolve, reject) => {
    proc.once('exit', (code) => reject(new Error(`ferry ca serve exited ${code}: ${stderr}`)));
    proc.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      let newline = buffered.indexOf('\n');
      while (newline !== -1) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        lines.push(line);
        for (const waiter of waiters.splice(0)) {
          if (matches(line, waiter.parts)) waiter.resolve(line);
          else waiters.push(waiter);
        }
        const entry = JSON.parse(line) as { msg?: string; address?: string };
        if (entry.msg === 'issuing service listening' && entry.address !== undefined) resolve(entry.address);
        newline = buffered.indexOf('\n');
      }
    });
  });
  return {
    proc,
    address,
    lines,
    waitForLine: (...parts: string[]) => {
      const found = lines.find((line) => matches(line, parts));
      if (found !== undefined) return Promise.resolve(found);
      return new Promise<string>((resolve) => waiters.push({ parts, resolve }));
    },
    stop: async () => {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = once(proc, 'exit');
      proc.kill('SIGTERM');
      await exited;
    },
  };
}

export interface IssuerAnswer {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

/**
 * POST to `ferry ca serve`'s /v1/certificate over HTTPS verified with
 * `bundlePem`. `body` is sent as it is (a Buffer for big ones); with
 * `isChunked` no Content-Length is declared. Resolves on the answer, even
 * when the service closes before the whole body was written.
 */
export function postToIssuer(
  address: string,
  bundlePem: string,
  options: { token?: string; body: string | Buffer; isChunked?: boolean; path?: string },
): Promise<IssuerAnswer> {
  const [host, portText] = [
    address.slice(0, address.lastIndexOf(':')),
    address.slice(address.lastIndexOf(':') + 1),
  ];
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { 'content-type': 'application/json' };
    if (options.token !== undefined) headers['authorization'] = `Bearer ${options.token}`;
    if (options.isChunked !== true) headers['content-length'] = Buffer.byteLength(options.body);
    const req = httpsRequest(
      {
        host,
        port: Number(portText),
        method: 'POST',
        path: options.path ?? '/v1/certificate',
        ca: bundlePem,
        headers,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>,
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', (error: NodeJS.ErrnoException) => {
      // EPIPE/ECONNRESET after the answer arrived are the service closing on an oversized body.
      if (error.code !== 'EPIPE' && error.code !== 'ECONNRESET') reject(error);
    });
    if (options.isChunked === true && Buffer.isBuffer(options.body)) {
      const body = options.body;
      const chunkBytes = 64 * 1024;
      let offset = 0;
      const writeMore = () => {
        while (offset < body.length) {
          const isFlowing = req.write(body.subarray(offset, offset + chunkBytes));
          offset += chunkBytes;
          if (!isFlowing) {
            req.once('drain', writeMore);
            return;
          }
        }
        req.end();
      };
      writeMore();
    } else {
      req.end(options.body);
    }
  });
}

/**
 * POST a file with curl (its length declared up front, or chunked),
 * which reads an answer the service sends before the body is done, as any
 * HTTP client should (node's client may not surface it while still writing).
 */
export async function postBigBodyWithCurl(
  address: string,
  bundlePath: string,
  token: string,
  bodyPath: string,
  isChunked: boolean,
): Promise<IssuerAnswer> {
  const { execFile } = await import('node:child_process');
  const out = await new Promise<string>((resolve, reject) => {
    execFile(
      'curl',
      [
        '-s',
        '-m',
        '60',
        '--cacert',
        bundlePath,
        '-X',
        'POST',
        '-H',
        `authorization: Bearer ${token}`,
        '-H',
        'content-type: application/json',
        ...(isChunked ? ['-H', 'transfer-encoding: chunked'] : []),
        '--data-binary',
        `@${bodyPath}`,
        '-w',
        '\n%{http_code}',
        `https://${address}/v1/certificate`,
      ],
      { encoding: 'utf8', maxBuffer: 1024 * 1024 },
      (error, stdout) => (error === null ? resolve(stdout) : reject(error)),
    );
  });
  const newline = out.lastIndexOf('\n');
  return {
    status: Number(out.slice(newline + 1)),
    body: JSON.parse(out.slice(0, newline)) as Record<string, unknown>,
  };
}

/** A `ferry --config F` child process, with its bound listener ports and admin address. */
export interface FerryProcess {
  readonly proc: ChildProcess;
  /** Listener name -> bound port. */
  readonly ports: ReadonlyMap<string, number>;
  readonly adminAddress: string;
  readonly lines: string[];
  stop(): Promise<void>;
}

/** Run `ferry --config PATH` and wait for `ferry is ready`; rejects with stderr if it exits first. */
export async function startFerryProcess(configPath: string): Promise<FerryProcess> {
  const proc = spawn(process.execPath, [FERRY_CLI, '--config', configPath], {
    env: { ...process.env, FERRY_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const ports = new Map<string, number>();
  let stderr = '';
  proc.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  let buffered = '';
  const adminAddress = await new Promise<string>((resolve, reject) => {
    proc.once('exit', (code) => reject(new Error(`ferry exited ${code}: ${stderr}`)));
    proc.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      let newline = buffered.indexOf('\n');
      while (newline !== -1) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        lines.push(line);
        const entry = JSON.parse(line) as {
          msg?: string;
          listener?: string;
          address?: string;
          admin?: string;
        };
        if (
          entry.msg?.startsWith('listening') === true &&
          entry.listener !== undefined &&
          entry.address !== undefined
        )
          ports.set(entry.listener, Number(entry.address.slice(entry.address.lastIndexOf(':') + 1)));
        if (entry.msg === 'ferry is ready' && entry.admin !== undefined) resolve(entry.admin);
        newline = buffered.indexOf('\n');
      }
    });
  });
  return {
    proc,
    ports,
    adminAddress,
    lines,
    stop: async () => {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = once(proc, 'exit');
      proc.kill('SIGTERM');
      await exited;
    },
  };
}

/** The SPIFFE IDs of the two sidecars startTwoSidecarMesh runs. */
export const MESH_WEB_ID = 'spiffe://ferry.local/ns/default/sa/web';
export const MESH_PAYMENTS_ID = 'spiffe://ferry.local/ns/default/sa/payments';

export interface TwoSidecarMesh {
  /** The temp folder: `ca/` (the CA, `ca/bundle.pem` the trust bundle), `token`, both configs. */
  readonly dir: string;
  readonly issuer: CaServeProcess;
  readonly payments: FerryProcess;
  readonly web: FerryProcess;
  /** Stop both sidecars and the issuer and remove the folder (the app is the caller's). */
  stop(): Promise<void>;
}

/**
 * The mesh the identity tests run, all real processes: a CA (`ferry ca
 * init`), its issuing service (`ferry ca serve` with `issuerArgs` after the
 * folder, address and token), the server-side sidecar `payments` in front of
 * `appAddress` (HTTPS inbound with its workload certificate, mTLS allowing
 * only `web`), and the client-side sidecar `web`, whose `outbound` HTTP
 * listener forwards to payments over mTLS expecting payments' ID.
 * `webExtra(inboundPort)` adds listeners and target groups to web's config
 * (YAML: `listeners` entries, then `targetGroups` entries).
 */
export async function startTwoSidecarMesh(options: {
  readonly label: string;
  readonly appAddress: string;
  readonly issuerArgs: readonly string[];
  readonly webExtra?: (inboundPort: number) => { readonly listeners: string; readonly targetGroups: string };
}): Promise<TwoSidecarMesh> {
  const dir = mkdtempSync(join(tmpdir(), `ferry-${options.label}-`));
  const init = await runFerryCli(['ca', 'init', '--dir', join(dir, 'ca'), '--trust-domain', 'ferry.local']);
  if (init.code !== 0) throw new Error(`ferry ca init exited ${init.code}: ${init.stderr}`);
  writeFileSync(join(dir, 'token'), `${options.label}-token\n`);
  const issuer = await startCaServe([
    '--dir',
    join(dir, 'ca'),
    '--address',
    '127.0.0.1:0',
    '--token-file',
    join(dir, 'token'),
    ...options.issuerArgs,
  ]);
  const identityBlock = (spiffeId: string) => `identity:
  spiffeId: ${spiffeId}
  issuer: { address: "${issuer.address}", tokenFile: token, trustBundle: ca/bundle.pem }
`;
  writeFileSync(
    join(dir, 'payments.yaml'),
    `workers: 1
admin: { address: "127.0.0.1:0" }
${identityBlock(MESH_PAYMENTS_ID)}listeners:
  - name: inbound
    protocol: HTTPS
    address: 127.0.0.1:0
    identity: true
    mutualAuthentication: { mode: verify, allowedIdentities: ["${MESH_WEB_ID}"] }
    defaultAction: { forward: { targetGroup: local-app } }
targetGroups:
  - name: local-app
    healthCheck: { enabled: false }
    targets: [ { address: "${options.appAddress}" } ]
`,
  );
  const payments = await startFerryProcess(join(dir, 'payments.yaml'));
  const inbound = payments.ports.get('inbound')!;
  const extra = options.webExtra?.(inbound) ?? { listeners: '', targetGroups: '' };
  writeFileSync(
    join(dir, 'web.yaml'),
    `workers: 1
admin: { address: "127.0.0.1:0" }
${identityBlock(MESH_WEB_ID)}listeners:
  - name: outbound
    protocol: HTTP
    address: 127.0.0.1:0
    defaultAction: { forward: { targetGroup: payments } }
${extra.listeners}targetGroups:
  - name: payments
    protocol: HTTPS
    healthCheck: { enabled: false }
    tls: { identity: true, expectedIdentities: ["${MESH_PAYMENTS_ID}"] }
    targets: [ { address: "127.0.0.1:${inbound}" } ]
${extra.targetGroups}`,
  );
  const web = await startFerryProcess(join(dir, 'web.yaml'));
  return {
    dir,
    issuer,
    payments,
    web,
    stop: async () => {
      await web.stop();
      await payments.stop();
      await issuer.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
