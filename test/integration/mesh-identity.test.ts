/**
 * Mesh identity end to end (issue 14), all real: `ferry ca init` and
 * `ferry ca serve` as child processes, two Ferry processes (a client-side
 * sidecar `web` and a server-side sidecar `payments`) that get their
 * certificates from the issuing service, a real app behind `payments`, and
 * Node TLS clients playing callers with good and bad certificates.
 *
 *   test ──HTTP──> web (outbound) ══mTLS, SPIFFE IDs checked both ways══> payments (inbound) ──HTTP──> app
 */

import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import { join } from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadIssuingCa } from '../../src/identity/index.ts';
import { certificatePem, generateKeyPair, issueLeaf, privateKeyPem } from '../../src/identity/x509.ts';
import { createPki, type TestPki } from '../helpers/certs.ts';
import {
  type FerryProcess,
  MESH_PAYMENTS_ID,
  MESH_WEB_ID,
  openssl,
  runFerryCli,
  startTwoSidecarMesh,
  type TwoSidecarMesh,
} from '../helpers/ferry-ca.ts';
import { startTarget, type TestTarget } from '../helpers/targets.ts';

const WEB = MESH_WEB_ID;
const PAYMENTS = MESH_PAYMENTS_ID;

let mesh: TwoSidecarMesh;
let dir: string;
let app: TestTarget;
let payments: FerryProcess;
let web: FerryProcess;
let otherPki: TestPki;

beforeAll(async () => {
  app = await startTarget('app');
  mesh = await startTwoSidecarMesh({
    label: 'mesh',
    appAddress: app.address,
    issuerArgs: ['--allowed-ids', 'spiffe://ferry.local/ns/default/sa/*', '--ttl', '1h'],
    webExtra: (inbound) => ({
      listeners: `  - name: outbound-wrong-id
    protocol: HTTP
    address: 127.0.0.1:0
    defaultAction: { forward: { targetGroup: payments-expected-elsewhere } }
`,
      targetGroups: `  - name: payments-expected-elsewhere
    protocol: HTTPS
    healthCheck: { enabled: false }
    tls: { identity: true, expectedIdentities: ["spiffe://ferry.local/ns/billing/**"] }
    targets: [ { address: "127.0.0.1:${inbound}" } ]
`,
    }),
  });
  ({ dir, payments, web } = mesh);
  otherPki = createPki('mesh-other');
  // Four processes start here (ca init, ca serve, two sidecars): give a busy two-core machine room.
}, 120_000);

afterAll(async () => {
  await mesh?.stop();
  await app?.close();
  otherPki?.cleanup();
});

/** A plain HTTP request; resolves status, headers and body. */
function get(port: number, path: string, headers: http.OutgoingHttpHeaders = {}) {
  return new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }>(
    (resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, path, headers, agent: false }, (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => {
          body += chunk.toString();
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      });
      req.on('error', reject);
      req.end();
    },
  );
}

interface Caller {
  readonly cert: string;
  readonly key: string;
}

/** One HTTP/1.1 request over mTLS to payments' inbound listener, as `caller`. Rejects when the handshake or connection fails. */
function callPayments(
  caller: Caller,
): Promise<{ status: number; text: string; peer: tls.PeerCertificate; authorized: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host: '127.0.0.1',
      port: payments.ports.get('inbound')!,
      ca: readFileSync(join(dir, 'ca', 'bundle.pem'), 'utf8'),
      cert: caller.cert,
      key: caller.key,
      // The server proves a SPIFFE ID, not a host name: the test checks the ID itself below.
      checkServerIdentity: () => undefined,
      ALPNProtocols: ['http/1.1'],
    });
    let text = '';
    let peer: tls.PeerCertificate | null = null;
    let authorized = false;
    socket.on('secureConnect', () => {
      // Read now: after the close node no longer has the peer's certificate.
      peer = socket.getPeerCertificate();
      authorized = socket.authorized;
      socket.write('GET /who HTTP/1.1\r\nhost: payments\r\nconnection: close\r\n\r\n');
    });
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString();
    });
    socket.on('error', reject);
    socket.on('close', () => {
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
      if (status === 0) reject(new Error(`connection closed without a response: ${JSON.stringify(text)}`));
      else resolve({ status, text, peer: peer!, authorized });
    });
  });
}

/** One HTTP/2 request over mTLS to payments' inbound listener, as `caller`: status, x-ferry-error, and what the app was told. */
async function callPaymentsOverH2(caller: Caller): Promise<{ status: number; error: string; xfcc: string }> {
  const session = http2.connect(`https://127.0.0.1:${payments.ports.get('inbound')!}`, {
    ca: readFileSync(join(dir, 'ca', 'bundle.pem'), 'utf8'),
    cert: caller.cert,
    key: caller.key,
    checkServerIdentity: () => undefined, // a SPIFFE ID, not a host name (checked over HTTP/1.1 above)
  });
  try {
    const stream = session.request({
      ':path': '/who',
      // A forged identity: replaced on HTTP/2 as on HTTP/1.1.
      'x-forwarded-client-cert': 'URI=spiffe://ferry.local/ns/kube-system/sa/admin',
    });
    stream.end();
    const [headers] = (await once(stream, 'response')) as [http2.IncomingHttpHeaders];
    stream.resume();
    await once(stream, 'end');
    return {
      status: Number(headers[':status']),
      error: String(headers['x-ferry-error'] ?? ''),
      xfcc: String(app.lastHeaders['x-forwarded-client-cert'] ?? ''),
    };
  } finally {
    session.close();
  }
}

async function issuedCaller(spiffeId: string): Promise<Caller> {
  const prefix = join(dir, `caller-${spiffeId.split('/').at(-1)}`);
  const result = await runFerryCli([
    'ca',
    'issue',
    '--dir',
    join(dir, 'ca'),
    '--spiffe-id',
    spiffeId,
    '--out',
    prefix,
    '--ttl',
    '1h',
  ]);
  expect(result.code).toBe(0);
  return { cert: readFileSync(`${prefix}.pem`, 'utf8'), key: readFileSync(`${prefix}.key`, 'utf8') };
}

describe('mesh identity between two Ferry sidecars', () => {
  it('carries requests over mTLS with issued certificates, and the app sees the caller’s SPIFFE ID', async () => {
    const answer = await get(web.ports.get('outbound')!, '/orders', {
      // A forged identity: Ferry must replace it, not pass it on.
      'x-forwarded-client-cert':
        'By=spiffe://ferry.local/ns/default/sa/payments;URI=spiffe://ferry.local/ns/kube-system/sa/admin',
    });
    expect(answer.status).toBe(200);
    expect(answer.body).toBe('app\n');
    const xfcc = String(app.lastHeaders['x-forwarded-client-cert']);
    expect(xfcc).toMatch(new RegExp(`^By=${PAYMENTS};Hash=[0-9a-f]{64};URI=${WEB}$`));
    expect(xfcc).not.toContain('kube-system');
  });

  it('serves an issued certificate that names the sidecar’s SPIFFE ID and chains to the bundle', async () => {
    const result = await callPayments(await issuedCaller(WEB));
    expect(result.status).toBe(200);
    expect(result.authorized).toBe(true);
    expect(result.peer.subjectaltname).toBe(`URI:${PAYMENTS}`);
    // openssl's independent look at the same certificate.
    const certPath = join(dir, 'payments-served.pem');
    writeFileSync(
      certPath,
      `-----BEGIN CERTIFICATE-----\n${result.peer.raw.toString('base64').replace(/(.{64})/g, '$1\n')}\n-----END CERTIFICATE-----\n`,
    );
    const text = openssl(['x509', '-in', certPath, '-noout', '-text']);
    expect(text).toContain(`URI:${PAYMENTS}`);
    expect(text).toMatch(/TLS Web Server Authentication, TLS Web Client Authentication/);
  });

  describe('when the caller speaks HTTP/2', () => {
    it('authorizes the stream by the caller’s SPIFFE ID and replaces a forged identity header', async () => {
      const allowed = await callPaymentsOverH2(await issuedCaller(WEB));
      expect(allowed.status).toBe(200);
      expect(allowed.xfcc).toMatch(new RegExp(`^By=${PAYMENTS};Hash=[0-9a-f]{64};URI=${WEB}$`));
      const before = app.count;
      const refused = await callPaymentsOverH2(
        await issuedCaller('spiffe://ferry.local/ns/default/sa/intruder'),
      );
      expect(refused).toMatchObject({ status: 403, error: 'FERRY_ERR_IDENTITY_FORBIDDEN' });
      expect(app.count).toBe(before);
    });
  });

  describe('when the caller is not who the listener allows', () => {
    it('answers a caller whose ID is outside the patterns 403 FERRY_ERR_IDENTITY_FORBIDDEN', async () => {
      const before = app.count;
      const result = await callPayments(await issuedCaller('spiffe://ferry.local/ns/default/sa/intruder'));
      expect(result.status).toBe(403);
      expect(result.text).toMatch(/x-ferry-error: FERRY_ERR_IDENTITY_FORBIDDEN/i);
      expect(app.count).toBe(before);
    });

    it('refuses a caller whose certificate comes from another CA at the handshake', async () => {
      const stranger = otherPki.issue('stranger', { isClient: true, dnsNames: ['web.example'] });
      const before = app.count;
      await expect(callPayments({ cert: stranger.cert, key: stranger.key })).rejects.toThrow();
      expect(app.count).toBe(before);
    });

    it('refuses a caller whose certificate has expired at the handshake', async () => {
      const ca = loadIssuingCa(join(dir, 'ca'));
      const keys = await generateKeyPair();
      const hourMs = 3600_000;
      const expired = await issueLeaf(
        ca.issuer,
        keys.publicKey,
        { spiffeId: WEB },
        hourMs,
        Date.now() - 3 * hourMs,
      );
      const before = app.count;
      await expect(
        callPayments({
          cert: `${certificatePem(expired)}\n${ca.intermediatePem}`,
          key: privateKeyPem(keys.privateKey),
        }),
      ).rejects.toThrow();
      expect(app.count).toBe(before);
    });
  });

  describe('when the target’s SPIFFE ID is not the expected one', () => {
    it('answers 502 FERRY_ERR_UPSTREAM_TLS and sends nothing to it', async () => {
      const before = app.count;
      const answer = await get(web.ports.get('outbound-wrong-id')!, '/orders');
      expect(answer.status).toBe(502);
      expect(answer.headers['x-ferry-error']).toBe('FERRY_ERR_UPSTREAM_TLS');
      expect(app.count).toBe(before);
    });
  });

  it('shows the workload certificate on /metrics and /status.json', async () => {
    const metrics = await get(Number(web.adminAddress.split(':').at(-1)), '/metrics');
    expect(metrics.body).toContain(`ferry_identity_renewals_total{spiffe_id="${WEB}"} 1`);
    expect(metrics.body).toMatch(
      new RegExp(
        `ferry_identity_certificate_expiry_seconds\\{spiffe_id="${WEB.replaceAll('/', '\\/')}"\\} \\d+`,
      ),
    );
    const status = JSON.parse(
      (await get(Number(web.adminAddress.split(':').at(-1)), '/status.json')).body,
    ) as {
      identity: {
        spiffeId: string;
        source: string;
        renewals: number;
        renewalFailures: number;
        notAfter: string;
      };
    };
    expect(status.identity).toMatchObject({
      spiffeId: WEB,
      source: 'issuer',
      renewals: 1,
      renewalFailures: 0,
    });
    expect(Date.parse(status.identity.notAfter)).toBeGreaterThan(Date.now());
  });
});
