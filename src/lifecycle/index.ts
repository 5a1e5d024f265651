/**
 * @module src/lifecycle
 *
 * The process around a running Ferry: signals (SIGHUP reload, SIGTERM/SIGINT
 * drain, a second signal exits) and the config file watcher. Thread: main.
 * Place in the flow: the CLI (src/cli/ferry-run.ts) -> **lifecycle** ->
 * FerryHandle (reloadFile, drain, stop). The drain state machine itself is
 * src/supervisor/drain.ts, shared with the control port's drain/undrain.
 */
export {
  CONFIG_WATCH_DEBOUNCE_MS,
  type ConfigWatch,
  type ConfigWatchOptions,
  watchConfigFile,
} from './config-watch.ts';
export { EXIT_SECOND_SIGNAL, installSignalHandlers, type SignalHandlers } from './signals.ts';
