/**
 * @module src/identity/workload-identity
 *
 * The sidecar's workload certificate: where its files are, getting it from
 * the issuer at start, renewing it at about half its lifetime, and what the
 * status page and /metrics say about it. Thread: main. Place in the flow:
 *
 *   issuer (ferry ca serve) ──CSR+token──> **WorkloadIdentity** ──writes──> DIR/svid.pem, svid.key, bundle.pem
 *        ──> workers/tls (PemWatch) rebuild listener and upstream contexts ──> new handshakes use it
 *
 * Why files and not a message to the workers: every TLS context in the
 * workers is already built from files and reloaded when they change
 * (workers/tls/pem-watch.ts), keeping connections that are open on the
 * certificate they were made with; identity rides the same path, so a
 * rotation drops nothing, a restarted worker starts on the current files,
 * and `identity.files` (cert-manager, SPIRE) needs nothing else at all.
 * Files are replaced by rename, so a reader never sees half a file; the key
 * is written before the certificate, and the workers' settle delay reads
 * them as a pair.
 *
 * Schedule (an injected Clock, STYLE §14): a renewal falls due at half the
 * remaining lifetime after each success (24 h certificates: every 12 h),
 * never sooner than RENEW_DELAY_MS_MIN; a failure retries after
 * RETRY_DELAY_MS_MIN doubling up to RETRY_DELAY_MS_MAX, while the old
 * certificate keeps serving (as linkerd's proxy does) until it expires.
 * Every outcome is counted and logged; the status page and /metrics show
 * the ID, expiry, last renewal and failures.
 */
import { randomBytes, X509Certificate } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { ConfigSnapshot } from '../config/index.ts';
import { resolveConfigPath } from '../config/index.ts';
import { type Clock, type ClockTimer, REAL_CLOCK } from '../shared/clock.ts';
import { isProxyError, ProxyError } from '../shared/errors.ts';
import type { IdentityFiles } from '../table/index.ts';
import { type IssuedIdentity, requestIdentity } from './issuer-client.ts';

/** Never renew sooner than this after a success (a 10 s certificate still gets 5 s of service). */
export const RENEW_DELAY_MS_MIN = 1_000;
/** First retry after a failed renewal; doubles per failure. */
export const RETRY_DELAY_MS_MIN = 1_000;
/** Longest wait between retries while the issuer is unreachable. */
export const RETRY_DELAY_MS_MAX = 30_000;
/** Tries to get the first certificate before Ferry refuses to start (with waits of 0.25, 0.5, 1 s). */
export const START_ATTEMPTS = 4;
const START_RETRY_DELAY_MS = 250;

/** What /status.json and /metrics show (src/telemetry reads it). */
export interface IdentityStatus {
  readonly spiffeId: string;
  /** `issuer` (Ferry's issuing service) or `files` (another system writes them). */
  readonly source: 'issuer' | 'files';
  readonly notAfterMs: number | null;
  readonly lastRenewalMs: number | null;
  readonly nextRenewalMs: number | null;
  readonly renewalsTotal: number;
  readonly renewalFailuresTotal: number;
  /** Failures since the last success (0 when the last try worked). */
  readonly consecutiveFailures: number;
  readonly lastError: string | null;
}

export interface WorkloadIdentityOptions {
  readonly snapshot: ConfigSnapshot;
  readonly log: Logger;
  readonly clock?: Clock;
}

/** Write `text` to `path` by rename: readers see the old file or the new one, never half. */
function replaceFile(path: string, text: string, mode: number): void {
  const temp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  writeFileSync(temp, text, { mode });
  chmodSync(temp, mode);
  renameSync(temp, path);
}

function notAfterOfFile(path: string): number | null {
  try {
    return new X509Certificate(readFileSync(path)).validToDate.getTime();
  } catch {
    return null;
  }
}

export class WorkloadIdentity {
  /** Where listeners and upstream pools read the certificate (table/plan). */
  readonly files: IdentityFiles;
  private readonly source: 'issuer' | 'files';
  private readonly snapshot: ConfigSnapshot;
  private readonly log: Logger;
  private readonly clock: Clock;
  private timer: ClockTimer | null;
  private notAfterMs: number | null;
  private lastRenewalMs: number | null;
  private nextRenewalMs: number | null;
  private renewalsTotal: number;
  private renewalFailuresTotal: number;
  private consecutiveFailures: number;
  private lastError: string | null;
  private isStopped: boolean;
  private inFlight: Promise<boolean> | null;

  /** Precondition: `snapshot.identity` is set. Makes the private folder for issued files. */
  constructor(options: WorkloadIdentityOptions) {
    const identity = options.snapshot.identity;
    if (identity === null) throw new Error('WorkloadIdentity needs an identity block');
    this.snapshot = options.snapshot;
    this.log = options.log.child({ spiffeId: identity.spiffeId });
    this.clock = options.clock ?? REAL_CLOCK;
    this.timer = null;
    this.notAfterMs = null;
    this.lastRenewalMs = null;
    this.nextRenewalMs = null;
    this.renewalsTotal = 0;
    this.renewalFailuresTotal = 0;
    this.consecutiveFailures = 0;
    this.lastError = null;
    this.isStopped = false;
    this.inFlight = null;
    if (identity.files !== null) {
      this.source = 'files';
      this.files = {
        spiffeId: identity.spiffeId,
        certPath: resolveConfigPath(options.snapshot, identity.files.cert),
        keyPath: resolveConfigPath(options.snapshot, identity.files.key),
        bundlePath: resolveConfigPath(options.snapshot, identity.files.bundle),
      };
      return;
    }
    this.source = 'issuer';
    let dir: string;
    if (identity.dir !== null) {
      dir = resolveConfigPath(options.snapshot, identity.dir);
      mkdirSync(dir, { recursive: true, mode: 0o700 });
    } else {
      dir = mkdtempSync(join(tmpdir(), 'ferry-identity-'));
    }
    this.files = {
      spiffeId: identity.spiffeId,
      certPath: join(dir, 'svid.pem'),
      keyPath: join(dir, 'svid.key'),
      bundlePath: join(dir, 'bundle.pem'),
    };
  }

  /**
   * Have a certificate before any worker starts: with an issuer, get one
   * (START_ATTEMPTS tries) and schedule its renewal; with files, nothing to
   * do (validation read them). Throws FERRY_ERR_IDENTITY_UNAVAILABLE.
   */
  async start(): Promise<void> {
    if (this.source === 'files') {
      this.notAfterMs = notAfterOfFile(this.files.certPath);
      return;
    }
    for (let attempt = 1; ; attempt++) {
      if (await this.renew()) return;
      if (attempt >= START_ATTEMPTS || this.isStopped)
        throw new ProxyError(
          'FERRY_ERR_IDENTITY_UNAVAILABLE',
          `no workload certificate for ${this.files.spiffeId} after ${attempt} tries: ${this.lastError ?? ''}`,
        );
      await new Promise((resolve) => setTimeout(resolve, START_RETRY_DELAY_MS * 2 ** (attempt - 1)));
    }
  }

  /** True while a renewal is waiting for the issuer. */
  get isRenewing(): boolean {
    return this.inFlight !== null;
  }

  /** Renew now (the schedule calls it; tests and tools may too). Resolves whether a new certificate is in place. */
  renew(): Promise<boolean> {
    if (this.inFlight !== null) return this.inFlight;
    this.inFlight = this.renewOnce().finally(() => {
      this.inFlight = null;
    });
    return this.inFlight;
  }

  private async renewOnce(): Promise<boolean> {
    const issuer = this.snapshot.identity?.issuer ?? null;
    if (issuer === null || this.isStopped) return false;
    let issued: IssuedIdentity;
    try {
      const token = readFileSync(resolveConfigPath(this.snapshot, issuer.tokenFile), 'utf8')
        .split('\n')[0]!
        .trim();
      const bundlePem = readFileSync(resolveConfigPath(this.snapshot, issuer.trustBundle), 'utf8');
      issued = await requestIdentity(
        { host: issuer.host, port: issuer.port, token, bundlePem },
        this.files.spiffeId,
      );
    } catch (error) {
      this.failed(isProxyError(error) ? error.message : `${(error as Error).message}`);
      return false;
    }
    if (this.isStopped) return false;
    replaceFile(this.files.bundlePath, issued.bundlePem, 0o644);
    replaceFile(this.files.keyPath, issued.keyPem, 0o600);
    replaceFile(this.files.certPath, issued.chainPem, 0o644);
    const nowMs = this.clock.nowMs();
    this.notAfterMs = issued.notAfterMs;
    this.lastRenewalMs = nowMs;
    this.renewalsTotal++;
    this.consecutiveFailures = 0;
    this.lastError = null;
    const delayMs = Math.max(RENEW_DELAY_MS_MIN, Math.floor((issued.notAfterMs - nowMs) / 2));
    this.schedule(delayMs);
    this.log.info(
      { serial: issued.serial, notAfter: new Date(issued.notAfterMs).toISOString(), renewInMs: delayMs },
      'workload certificate renewed',
    );
    return true;
  }

  private failed(reason: string): void {
    this.renewalFailuresTotal++;
    this.consecutiveFailures++;
    this.lastError = reason;
    const delayMs = Math.min(RETRY_DELAY_MS_MAX, RETRY_DELAY_MS_MIN * 2 ** (this.consecutiveFailures - 1));
    this.log.warn(
      {
        code: 'FERRY_ERR_IDENTITY_UNAVAILABLE',
        reason,
        failures: this.consecutiveFailures,
        retryInMs: delayMs,
        notAfter: this.notAfterMs === null ? null : new Date(this.notAfterMs).toISOString(),
      },
      'workload certificate renewal failed; still serving the current certificate',
    );
    this.schedule(delayMs);
  }

  private schedule(delayMs: number): void {
    if (this.isStopped) return;
    if (this.timer !== null) this.clock.clearTimer(this.timer);
    this.nextRenewalMs = this.clock.nowMs() + delayMs;
    this.timer = this.clock.setTimeout(() => {
      this.timer = null;
      void this.renew();
    }, delayMs);
  }

  /** Identity, expiry, last renewal and failures, for /status.json and /metrics. */
  status(): IdentityStatus {
    return {
      spiffeId: this.files.spiffeId,
      source: this.source,
      notAfterMs: this.source === 'files' ? notAfterOfFile(this.files.certPath) : this.notAfterMs,
      lastRenewalMs: this.lastRenewalMs,
      nextRenewalMs: this.source === 'files' ? null : this.nextRenewalMs,
      renewalsTotal: this.renewalsTotal,
      renewalFailuresTotal: this.renewalFailuresTotal,
      consecutiveFailures: this.consecutiveFailures,
      lastError: this.lastError,
    };
  }

  stop(): void {
    this.isStopped = true;
    if (this.timer !== null) this.clock.clearTimer(this.timer);
    this.timer = null;
  }
}
