/**
 * @module src/cli/ferry-run
 *
 * The `ferry` command (loaded by the `ferry` bin, src/cli/ferry.ts, after its Node check): `ferry [--config F]` runs the sidecar (the embedded
 * demo default when no config is given), `ferry validate --config F` checks a
 * config. Thread: main. Owns the process: signals (src/lifecycle/signals.ts:
 * SIGHUP reloads, SIGTERM/SIGINT drain and exit 0, a second one exits at
 * once) and the config file watcher (src/lifecycle/config-watch.ts).
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import {
  type ConfigSnapshot,
  configErrorsCode,
  countErrors,
  defaultConfig,
  formatConfigErrors,
  parseConfigFile,
  runValidate,
} from '../config/index.ts';
import { loadControlToken } from '../control/index.ts';
import { runCa } from '../identity/index.ts';
import { type ConfigWatch, installSignalHandlers, watchConfigFile } from '../lifecycle/index.ts';
import { startFerry } from '../main.ts';
import { isProxyError } from '../shared/errors.ts';
import { runSimulate } from '../simulate/index.ts';
import { createRootLogger, LOG_LEVELS, resolveLogFormat, resolveLogLevel } from '../telemetry/index.ts';

/** `ferry validate` refuses what startup refuses: the control token rules (src/control/token.ts). */
async function checkControlToken(snapshot: ConfigSnapshot): Promise<string | null> {
  // A token file is a deployment secret (a mounted Kubernetes Secret, say) that the machine running
  // `ferry validate` need not hold: naming one meets the rule, and start reads it.
  if (snapshot.control !== null && snapshot.control.tokenFile !== null) return null;
  try {
    await loadControlToken(snapshot);
    return null;
  } catch (error) {
    return isProxyError(error) ? `${error.code}: ${error.message}` : (error as Error).message;
  }
}

const USAGE = `usage:
  ferry [--config ferry.yaml]       run the sidecar (no --config: embedded demo default)
  ferry validate --config F         check a config, print every error with its path
  ferry simulate --config F --trace T   replay a trace through every algorithm (ferry simulate --help)
  ferry ca init|issue|serve ...     the built-in CA for mesh identity (ferry ca --help)
  ferry --help | --version

options:
  -c, --config F          the config file (YAML); reloaded on SIGHUP and when it changes on disk
  --no-watch-config       do not watch the config file (SIGHUP and ferryctl reload still work)
  --log-level LEVEL       ${LOG_LEVELS.join(' | ')} (default: FERRY_LOG_LEVEL, else info)
  --log-format FORMAT     json (default: one JSON object per line) | pretty (for a terminal)

signals:
  SIGHUP                  reload the config file: apply it whole, or reject it and keep serving
  SIGTERM, SIGINT         drain (/readyz 503, serve for drainDelay, finish in-flight requests), exit 0;
                          a second one exits at once

environment:
  FERRY_LOG_LEVEL         ${LOG_LEVELS.join(' | ')} (default info)
`;

function packageVersion(): string {
  const url = new URL(
    import.meta.url.endsWith('.ts') ? '../../package.json' : '../../../package.json',
    import.meta.url,
  );
  return (JSON.parse(readFileSync(url, 'utf8')) as { version: string }).version;
}

interface Flags {
  config?: string | undefined;
  help?: boolean | undefined;
  version?: boolean | undefined;
  'watch-config'?: boolean | undefined;
  'log-level'?: string | undefined;
  'log-format'?: string | undefined;
}

async function run(argv: string[]): Promise<number> {
  if (argv[0] === 'validate') return runValidate(argv.slice(1), undefined, checkControlToken);
  if (argv[0] === 'simulate') return runSimulate(argv.slice(1));
  if (argv[0] === 'ca') return runCa(argv.slice(1));
  let values: Flags;
  try {
    values = parseArgs({
      args: argv,
      options: {
        config: { type: 'string', short: 'c' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
        'watch-config': { type: 'boolean', default: true },
        'log-level': { type: 'string' },
        'log-format': { type: 'string' },
      },
      strict: true,
      allowPositionals: false,
      allowNegative: true,
    }).values;
  } catch (error) {
    process.stderr.write(`ferry: ${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help === true) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (values.version === true) {
    process.stdout.write(`ferry ${packageVersion()}\n`);
    return 0;
  }
  // Log settings first: a typo in FERRY_LOG_LEVEL is one clear line, not a pino stack trace.
  const logLevel = resolveLogLevel(values['log-level'], process.env);
  const logFormat = resolveLogFormat(values['log-format']);
  for (const setting of [logLevel, logFormat]) {
    if (!setting.ok) {
      process.stderr.write(`ferry: ${setting.message}; nothing started\n`);
      return 1;
    }
  }
  if (!logLevel.ok || !logFormat.ok) return 1;
  let snapshot = defaultConfig();
  if (values.config !== undefined) {
    const result = await parseConfigFile(values.config);
    if (!result.ok) {
      // The same code as every other refused start (`ferry: CODE: …; nothing started`) and as ferry validate.
      process.stderr.write(
        `ferry: ${configErrorsCode(result.errors)}: ${values.config}: ${countErrors(result.errors.length)}; ` +
          `nothing started\n${formatConfigErrors(result.errors)}\n`,
      );
      return 1;
    }
    snapshot = result.snapshot;
  }
  const log = createRootLogger(logLevel.value, logFormat.value);
  // Until the real handlers are installed, SIGHUP would kill Ferry (the default action); a
  // `systemctl reload` during start must not. The config is read after this point anyway.
  const onEarlyHangup = () =>
    log.warn('SIGHUP while starting: ignored (the config being started is the file)');
  process.on('SIGHUP', onEarlyHangup);
  if (values.config === undefined) {
    log.info('no --config given: running the embedded demo default (try: curl -i http://127.0.0.1:8080/)');
  }
  try {
    const ferry = await startFerry(snapshot, { log, logLevel: logLevel.value, logFormat: logFormat.value });
    let watch: ConfigWatch | null = null;
    process.off('SIGHUP', onEarlyHangup);
    installSignalHandlers(
      ferry,
      log,
      (code) => process.exit(code),
      () => watch?.close(),
    );
    if (values.config !== undefined && values['watch-config'] !== false) {
      try {
        watch = await watchConfigFile({
          path: values.config,
          log,
          onChange: () => ferry.reloadFile('file-watch'),
        });
      } catch (error) {
        log.error(
          { err: error, config: values.config },
          'cannot watch the config file; SIGHUP still reloads it',
        );
      }
    }
    return -1; // keep running
  } catch (error) {
    const code = isProxyError(error) ? error.code : 'FERRY_ERR_INTERNAL_BUG';
    process.stderr.write(`ferry: ${code}: ${(error as Error).message}; nothing started\n`);
    return 1;
  }
}

run(process.argv.slice(2)).then((code) => {
  if (code >= 0) process.exitCode = code;
});
