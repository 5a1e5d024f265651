/**
 * @module src/lifecycle/signals
 *
 * What Ferry does on each process signal, as a Kubernetes sidecar and a
 * systemd service expect. Thread: main. src/cli/ferry-run.ts installs it
 * once Ferry runs.
 *
 *   SIGHUP           reload the config file (FerryHandle.reloadFile: apply
 *                    whole or reject whole and keep serving; never exit)
 *   SIGTERM, SIGINT  drain: /readyz 503 at once, serve for drainDelay, stop
 *                    accepting, let in-flight requests finish within
 *                    shutdownGracePeriod, stop, exit 0. A drain already
 *                    started by `ferryctl drain` (a preStop hook) is joined.
 *   second SIGTERM or SIGINT during the drain: exit 1 at once (in-flight
 *                    requests are cut), as Envoy and most servers do.
 */
import type { Logger } from 'pino';
import type { FerryHandle } from '../main.ts';

/** Exit code of the second-signal exit: not a clean drain. */
export const EXIT_SECOND_SIGNAL = 1;

export interface SignalHandlers {
  /** Remove the handlers (tests; the process normally exits). */
  remove(): void;
}

/**
 * Install SIGHUP, SIGTERM and SIGINT handlers for a running Ferry. `exit`
 * is process.exit in the CLI. Thread: main.
 */
export function installSignalHandlers(
  ferry: FerryHandle,
  log: Logger,
  exit: (code: number) => void,
  beforeStop: () => void = () => {},
): SignalHandlers {
  let isStopping = false;
  let reloads: Promise<unknown> = Promise.resolve();
  let isReloadQueued = false;

  const onHangup = () => {
    // Reloads run one at a time; SIGHUPs that arrive while one waits are one more reload, not many.
    if (isReloadQueued) return;
    isReloadQueued = true;
    log.info({ signal: 'SIGHUP' }, 'SIGHUP: reloading the config file');
    reloads = reloads.then(() => {
      isReloadQueued = false;
      return ferry.reloadFile('SIGHUP');
    });
  };

  const onStop = (signal: 'SIGTERM' | 'SIGINT') => {
    if (isStopping) {
      log.warn({ signal }, 'second signal during the drain: exiting now, in-flight requests are cut off');
      exit(EXIT_SECOND_SIGNAL);
      return;
    }
    isStopping = true;
    beforeStop();
    const config = ferry.config();
    const graceMs = config.shutdownGracePeriodMs;
    log.info({ signal, drainDelayMs: config.drainDelayMs, graceMs }, 'shutting down');
    ferry.drain
      .begin({ delayMs: config.drainDelayMs, graceMs, trigger: signal })
      .then(() => ferry.stop(graceMs))
      .then(
        () => exit(0),
        (error: unknown) => {
          log.error({ err: error }, 'shutdown failed');
          exit(1);
        },
      );
  };
  const onTerm = () => onStop('SIGTERM');
  const onInt = () => onStop('SIGINT');
  process.on('SIGHUP', onHangup);
  process.on('SIGTERM', onTerm);
  process.on('SIGINT', onInt);
  return {
    remove() {
      process.off('SIGHUP', onHangup);
      process.off('SIGTERM', onTerm);
      process.off('SIGINT', onInt);
    },
  };
}
