/**
 * Renewal of the workload certificate while the issuer comes and goes
 * (issue 14), on a ManualClock for the schedule: Ferry keeps serving on the
 * certificate it has while renewals fail, says so on /status.json and
 * /metrics, and renews once the issuer is back. Real issuing service, real
 * Ferry with worker threads, real TLS.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type IssuingService,
  initCa,
  loadIssuingCa,
  loadTokens,
  startIssuingService,
} from '../../src/identity/index.ts';
import { startTestFerry, type TestFerry } from '../helpers/ferry.ts';
import { ManualClock } from '../helpers/manual-clock.ts';
import { startTarget, type TestTarget } from '../helpers/targets.ts';

const ID = 'spiffe://ferry.local/ns/default/sa/web';
const LIFETIME_MS = 3600_000;
let dir: string;
let issuer: IssuingService | null;
let issuerPort: number;
let ferry: TestFerry;
let app: TestTarget;
const clock = new ManualClock(Date.now());

async function startIssuer(port: number): Promise<IssuingService> {
  const ca = loadIssuingCa(join(dir, 'ca'));
  return startIssuingService({
    ca,
    host: '127.0.0.1',
    port,
    tokens: loadTokens(join(dir, 'token'), ca.trustDomain, []),
    lifetimeMs: LIFETIME_MS,
    log: pino({ level: 'silent' }),
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-renewal-'));
  await initCa(join(dir, 'ca'), 'ferry.local', Date.now());
  writeFileSync(join(dir, 'token'), 'renewal-token\n');
  issuer = await startIssuer(0);
  issuerPort = Number(issuer.address.split(':').at(-1));
  app = await startTarget('app');
  ferry = await startTestFerry(
    `workers: 1
admin: { address: "127.0.0.1:0" }
identity:
  spiffeId: ${ID}
  issuer: { address: "127.0.0.1:${issuerPort}", tokenFile: ${join(dir, 'token')}, trustBundle: ${join(dir, 'ca', 'bundle.pem')} }
  dir: ${join(dir, 'svid')}
listeners:
  - name: inbound
    protocol: HTTPS
    address: 127.0.0.1:0
    identity: true
    defaultAction: { forward: { targetGroup: app } }
targetGroups:
  - name: app
    healthCheck: { enabled: false }
    targets: [ { address: "${app.address}" } ]
`,
    { clock },
  );
});

afterAll(async () => {
  await ferry?.stop(1_000);
  await issuer?.close();
  await app?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** One HTTPS request to the listener: the status and the serial of the certificate it served. */
function request(): Promise<{ status: number; serial: string }> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host: '127.0.0.1',
      port: ferry.port,
      ca: readFileSync(join(dir, 'ca', 'bundle.pem'), 'utf8'),
      checkServerIdentity: () => undefined, // a SPIFFE certificate names no host; the chain is verified
      ALPNProtocols: ['http/1.1'],
    });
    let serial = '';
    let text = '';
    socket.on('secureConnect', () => {
      serial = socket.getPeerCertificate().serialNumber;
      socket.write('GET / HTTP/1.1\r\nhost: app\r\nconnection: close\r\n\r\n');
    });
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString();
    });
    socket.on('error', reject);
    socket.on('close', () => resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), serial }));
  });
}

async function statusIdentity(): Promise<Record<string, unknown>> {
  return (ferry.telemetry.statusDocument() as { identity: Record<string, unknown> }).identity;
}

/** Milliseconds on the clock until the scheduled renewal. */
async function renewalDueInMs(): Promise<number> {
  return Date.parse(String((await statusIdentity())['nextRenewal'])) - clock.nowMs();
}

/** Advance the clock to the scheduled renewal and wait for its outcome (the schedule must have started it). */
async function runNextRenewal(): Promise<boolean> {
  clock.advance(await renewalDueInMs());
  expect(ferry.identity!.isRenewing).toBe(true);
  return ferry.identity!.renew(); // the renewal in flight, not a new one
}

describe('workload certificate renewal', () => {
  it('renews at about half the lifetime', async () => {
    // The manual clock started a little before the certificate was issued, so allow that much more.
    const delayMs = await renewalDueInMs();
    expect(delayMs).toBeGreaterThan(LIFETIME_MS / 2 - 60_000);
    expect(delayMs).toBeLessThanOrEqual(LIFETIME_MS / 2 + 60_000);
  });

  describe('when the issuer is down for longer than a renewal period', () => {
    let servedSerial = '';

    it('keeps serving on the current certificate and shows the failing renewals', async () => {
      servedSerial = (await request()).serial;
      await issuer!.close();
      issuer = null;
      expect(await runNextRenewal()).toBe(false);
      expect(await runNextRenewal()).toBe(false);
      const answer = await request();
      expect(answer).toEqual({ status: 200, serial: servedSerial });
      expect(await statusIdentity()).toMatchObject({
        renewals: 1,
        renewalFailures: 2,
        consecutiveFailures: 2,
      });
      expect(String((await statusIdentity())['lastError'])).toContain('cannot reach the issuer');
      const metrics = ferry.telemetry.metricsText();
      expect(metrics).toContain(`ferry_identity_renewal_failures_total{spiffe_id="${ID}"} 2`);
      expect(metrics).toContain(`ferry_identity_renewal_consecutive_failures{spiffe_id="${ID}"} 2`);
    });

    it('backs off between retries', async () => {
      const first = await renewalDueInMs();
      expect(await runNextRenewal()).toBe(false);
      expect(await renewalDueInMs()).toBe(first * 2);
    });

    it('renews once the issuer is back, and new connections get the new certificate', async () => {
      issuer = await startIssuer(issuerPort);
      expect(await runNextRenewal()).toBe(true);
      expect(await statusIdentity()).toMatchObject({ renewals: 2, consecutiveFailures: 0, lastError: null });
      // Workers see the new files on their next poll (workers/tls/pem-watch.ts); wait for it, boundedly.
      let answer = await request();
      for (let attempt = 0; attempt < 100 && answer.serial === servedSerial; attempt++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        answer = await request();
      }
      expect(answer.status).toBe(200);
      expect(answer.serial).not.toBe(servedSerial);
    });
  });
});
