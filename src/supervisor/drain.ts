/**
 * @module src/supervisor/drain
 *
 * The drain of the whole sidecar, as Kubernetes drives it. Thread: main.
 * One controller serves every way a drain starts (SIGTERM/SIGINT, the
 * control port's `drain` from a preStop hook) so they cannot disagree.
 *
 *   serving --begin--> draining --drainDelay--> stopping --workers exit or grace--> stopped
 *      ^                  |                       (listeners closed,
 *      +----undrain-------+                        in-flight requests finish)
 *
 * - draining: /readyz answers 503 at once (isReady() is false) while the
 *   listeners keep accepting and serving for `drainDelay`, so endpoint
 *   controllers, kube-proxy and peer sidecars stop sending before Ferry stops
 *   listening (Istio's terminationDrainDuration, a preStop sleep).
 * - `undrain` is accepted only here, before the stop begins: Ferry is
 *   serving and ready again. Once listeners close there is no way back.
 * - stopping: HEADER_DRAINING is set and every worker closes its listeners,
 *   lets in-flight requests finish, and exits; after `graceMs` what is left
 *   is cut off.
 *
 * A second begin while a drain runs joins it (SIGTERM after a preStop drain);
 * whether a caller may start one is its own rule (the control port refuses).
 */
import type { Logger } from 'pino';
import type { DrainResult } from '../../proto/control/messages.ts';

export type DrainPhase = 'serving' | 'draining' | 'stopping' | 'stopped';

/** What started a drain or undrain; the `trigger` field of its log lines. */
export type DrainTrigger = 'SIGTERM' | 'SIGINT' | 'control';

export interface DrainControllerOptions {
  readonly log: Logger;
  /** Downstream connections open now (all workers). */
  readonly openConnections: () => number;
  /** Upstream requests in flight now (all targets). */
  readonly requestsInFlight: () => number;
  /** Close listeners and wait for the workers to finish, at most graceMs (then they are stopped). */
  readonly stopAccepting: (graceMs: number) => Promise<void>;
  /** Epoch ms; injected so tests need not wait on the wall clock. */
  readonly nowMs?: () => number;
}

export type UndrainOutcome = 'undrained' | 'not-draining' | 'already-stopping';

export class DrainController {
  private readonly options: DrainControllerOptions;
  private phaseNow: DrainPhase;
  private running: Promise<DrainResult> | null;
  /** Ends the drain delay early with true: an undrain cancelled it. */
  private endDelay: ((isCancelled: boolean) => void) | null;

  constructor(options: DrainControllerOptions) {
    this.options = options;
    this.phaseNow = 'serving';
    this.running = null;
    this.endDelay = null;
  }

  get phase(): DrainPhase {
    return this.phaseNow;
  }

  /** True only while serving: /readyz turns 503 the moment a drain begins. */
  isServing(): boolean {
    return this.phaseNow === 'serving';
  }

  /**
   * Start a drain, or join the one running. Resolves when it is over: the
   * workers stopped (phase `stopped`), or an undrain cancelled it during the
   * delay (`isCancelled`, phase `serving`). Never rejects.
   */
  begin(request: { delayMs: number; graceMs: number; trigger: DrainTrigger }): Promise<DrainResult> {
    if (this.running !== null) return this.running;
    const run = this.run(request);
    this.running = run;
    return run;
  }

  /** Back to serving, if the stop has not begun. */
  undrain(trigger: DrainTrigger): UndrainOutcome {
    if (this.phaseNow === 'serving') return 'not-draining';
    if (this.phaseNow !== 'draining') return 'already-stopping';
    this.endDelay?.(true);
    this.options.log.warn({ trigger }, 'undrained: /readyz answers 200 again, Ferry keeps serving');
    return 'undrained';
  }

  private async run(request: {
    delayMs: number;
    graceMs: number;
    trigger: DrainTrigger;
  }): Promise<DrainResult> {
    const { log } = this.options;
    const nowMs = this.options.nowMs ?? Date.now;
    const startedMs = nowMs();
    this.phaseNow = 'draining';
    log.warn(
      { trigger: request.trigger, drainDelayMs: request.delayMs, graceMs: request.graceMs },
      'draining: /readyz answers 503; still serving for the drain delay so endpoints and peers stop sending',
    );
    const isCancelled = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), request.delayMs);
      this.endDelay = (cancel) => {
        clearTimeout(timer);
        resolve(cancel);
      };
    });
    this.endDelay = null;
    if (isCancelled) {
      this.phaseNow = 'serving';
      this.running = null;
      return {
        durationMs: nowMs() - startedMs,
        drainDelayMs: request.delayMs,
        connectionsAtStart: 0,
        inFlightAtStart: 0,
        inFlightAtEnd: 0,
        isComplete: false,
        isCancelled: true,
      };
    }
    this.phaseNow = 'stopping';
    const connectionsAtStart = this.options.openConnections();
    const inFlightAtStart = this.options.requestsInFlight();
    log.warn(
      {
        trigger: request.trigger,
        graceMs: request.graceMs,
        connections: connectionsAtStart,
        inFlight: inFlightAtStart,
      },
      'drain: listeners closing; in-flight requests may finish',
    );
    let inFlightAtEnd = 0;
    let isComplete = true;
    // Sampled just before the supervisor force-stops what is left (its timer is set after this one).
    const deadline = setTimeout(() => {
      isComplete = false;
      inFlightAtEnd = this.options.requestsInFlight();
    }, request.graceMs);
    await this.options.stopAccepting(request.graceMs);
    clearTimeout(deadline);
    this.phaseNow = 'stopped';
    const result: DrainResult = {
      durationMs: nowMs() - startedMs,
      drainDelayMs: request.delayMs,
      connectionsAtStart,
      inFlightAtStart,
      inFlightAtEnd,
      isComplete,
      isCancelled: false,
    };
    log.warn(
      { trigger: request.trigger, ...result },
      isComplete ? 'drained: every worker finished' : 'drained: grace period over, workers stopped',
    );
    return result;
  }
}
