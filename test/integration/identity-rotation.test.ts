/**
 * Rotation under load (issue 14): certificates that live 20 s, renewed by
 * both sidecars about every 10 s, while two keep-alive connections carry
 * requests for 60 s: one through the client-side sidecar (HTTP in, mTLS
 * between the sidecars), one straight to the server-side sidecar over mTLS.
 * No request fails, each connection stays the same one throughout, and new
 * handshakes see the certificate change. Real processes, real TLS.
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type FerryProcess,
  MESH_PAYMENTS_ID,
  MESH_WEB_ID,
  runFerryCli,
  startTwoSidecarMesh,
  type TwoSidecarMesh,
} from '../helpers/ferry-ca.ts';
import { startTarget, type TestTarget } from '../helpers/targets.ts';

const WEB = MESH_WEB_ID;
const PAYMENTS = MESH_PAYMENTS_ID;

const LOAD_DURATION_MS = 60_000;
/** Pause between requests on each connection: steady load without hogging the two-core machine. */
const REQUEST_GAP_MS = 20;
let mesh: TwoSidecarMesh;
let dir: string;
let app: TestTarget;
let payments: FerryProcess;
let web: FerryProcess;

beforeAll(async () => {
  app = await startTarget('app');
  mesh = await startTwoSidecarMesh({
    label: 'rotation',
    appAddress: app.address,
    issuerArgs: ['--ttl', '20s'],
  });
  ({ dir, payments, web } = mesh);
}, 120_000);

afterAll(async () => {
  await mesh?.stop();
  await app?.close();
});

/** Sequential HTTP/1.1 requests on one socket (keep-alive), parsing just enough to frame each response. */
class KeepAliveConnection {
  private readonly socket: net.Socket;
  private buffer: string;
  private waiting: ((status: number) => void) | null;
  private failure: Error | null;
  isClosed: boolean;

  constructor(socket: net.Socket) {
    this.socket = socket;
    this.buffer = '';
    this.waiting = null;
    this.failure = null;
    this.isClosed = false;
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.buffer += chunk;
      this.deliver();
    });
    socket.on('error', (error) => {
      this.failure = error;
    });
    socket.on('close', () => {
      this.isClosed = true;
      this.deliver();
    });
  }

  private deliver(): void {
    if (this.waiting === null) return;
    const headEnd = this.buffer.indexOf('\r\n\r\n');
    if (headEnd === -1) {
      if (this.isClosed) this.waiting(0);
      return;
    }
    const length = Number(/\r\ncontent-length: *(\d+)/i.exec(this.buffer.slice(0, headEnd))?.[1] ?? 0);
    if (this.buffer.length < headEnd + 4 + length) {
      if (this.isClosed) this.waiting(0);
      return;
    }
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(this.buffer)?.[1] ?? 0);
    this.buffer = this.buffer.slice(headEnd + 4 + length);
    const done = this.waiting;
    this.waiting = null;
    done(status);
  }

  /** The status of one GET; 0 when the connection closed or failed first. */
  request(path: string): Promise<number> {
    if (this.isClosed || this.failure !== null) return Promise.resolve(0);
    return new Promise((resolve) => {
      this.waiting = resolve;
      this.socket.write(`GET ${path} HTTP/1.1\r\nhost: payments\r\n\r\n`);
    });
  }

  close(): void {
    this.socket.destroy();
  }
}

function connectPlain(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port }, () => resolve(socket));
    socket.once('error', reject);
  });
}

function connectMtls(caller: { cert: string; key: string }): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect(
      {
        host: '127.0.0.1',
        port: payments.ports.get('inbound')!,
        ca: readFileSync(join(dir, 'ca', 'bundle.pem'), 'utf8'),
        cert: caller.cert,
        key: caller.key,
        checkServerIdentity: () => undefined, // the chain is verified; the ID is read below
        ALPNProtocols: ['http/1.1'],
      },
      () => resolve(socket),
    );
    socket.once('error', reject);
  });
}

async function metricOf(ferry: FerryProcess, name: string): Promise<number> {
  const port = Number(ferry.adminAddress.split(':').at(-1));
  const text = await new Promise<string>((resolve, reject) => {
    net
      .connect({ host: '127.0.0.1', port }, function (this: net.Socket) {
        this.write('GET /metrics HTTP/1.1\r\nhost: admin\r\nconnection: close\r\n\r\n');
        let body = '';
        this.on('data', (chunk: Buffer) => {
          body += chunk.toString();
        });
        this.on('end', () => resolve(body));
      })
      .on('error', reject);
  });
  return Number(new RegExp(`^${name}\\{[^}]*\\} (\\d+)`, 'm').exec(text)?.[1] ?? -1);
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('workload certificate rotation under keep-alive load', () => {
  it('renews at least twice in 60 s with no failed request and no connection dropped', async () => {
    const prefix = join(dir, 'direct-caller');
    expect(
      (
        await runFerryCli([
          'ca',
          'issue',
          '--dir',
          join(dir, 'ca'),
          '--spiffe-id',
          WEB,
          '--out',
          prefix,
          '--ttl',
          '1h',
        ])
      ).code,
    ).toBe(0);
    const caller = {
      cert: readFileSync(`${prefix}.pem`, 'utf8'),
      key: readFileSync(`${prefix}.key`, 'utf8'),
    };
    const throughSidecars = new KeepAliveConnection(await connectPlain(web.ports.get('outbound')!));
    const direct = new KeepAliveConnection(await connectMtls(caller));
    const renewalsBefore = await metricOf(payments, 'ferry_identity_renewals_total');
    const servedSerials = new Set<string>();
    const statuses = new Map<number, number>();
    const count = (status: number) => statuses.set(status, (statuses.get(status) ?? 0) + 1);
    const endMs = Date.now() + LOAD_DURATION_MS;
    const load = async (connection: KeepAliveConnection) => {
      while (Date.now() < endMs) {
        count(await connection.request('/orders'));
        await pause(REQUEST_GAP_MS);
      }
    };
    const probeHandshakes = async () => {
      while (Date.now() < endMs) {
        const socket = await connectMtls(caller);
        servedSerials.add(socket.getPeerCertificate().serialNumber);
        expect(socket.getPeerCertificate().subjectaltname).toBe(`URI:${PAYMENTS}`);
        socket.destroy();
        await pause(2_000);
      }
    };
    await Promise.all([load(throughSidecars), load(direct), probeHandshakes()]);
    expect([...statuses.keys()]).toEqual([200]);
    expect(statuses.get(200)!).toBeGreaterThan(100);
    expect(throughSidecars.isClosed).toBe(false);
    expect(direct.isClosed).toBe(false);
    expect(await metricOf(payments, 'ferry_identity_renewals_total')).toBeGreaterThanOrEqual(
      renewalsBefore + 2,
    );
    expect(await metricOf(web, 'ferry_identity_renewals_total')).toBeGreaterThanOrEqual(3);
    expect(await metricOf(payments, 'ferry_identity_renewal_failures_total')).toBe(0);
    expect(servedSerials.size).toBeGreaterThanOrEqual(2);
    throughSidecars.close();
    direct.close();
  }, 120_000);
});
