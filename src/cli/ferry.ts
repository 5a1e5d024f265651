#!/usr/bin/env node
/**
 * @module src/cli/ferry
 *
 * The `ferry` command: `ferry [--config F]` runs the sidecar (the embedded
 * demo default when no config is given), `ferry validate --config F` checks a
 * config, `ferry ca …` runs the built-in CA (src/identity). Thread: main. Owns process signals: SIGTERM/SIGINT drain and exit 0.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { defaultConfig, formatConfigErrors, parseConfigFile, runValidate } from '../config/index.ts';
import { runCa } from '../identity/index.ts';
import { startFerry } from '../main.ts';
import { isProxyError } from '../shared/errors.ts';
import { createRootLogger, logLevelFromEnv } from '../telemetry/index.ts';

const USAGE = `usage:
  ferry [--config ferry.yaml]       run the sidecar (no --config: embedded demo default)
  ferry validate --config F         check a config, print every error with its path
  ferry ca init|issue|serve ...     the built-in CA for mesh identity (ferry ca --help)
  ferry --help | --version

environment:
  FERRY_LOG_LEVEL   trace | debug | info | warn | error | silent (default info)
`;

function packageVersion(): string {
  const url = new URL(
    import.meta.url.endsWith('.ts') ? '../../package.json' : '../../../package.json',
    import.meta.url,
  );
  return (JSON.parse(readFileSync(url, 'utf8')) as { version: string }).version;
}

async function run(argv: string[]): Promise<number> {
  if (argv[0] === 'validate') return runValidate(argv.slice(1));
  if (argv[0] === 'ca') return runCa(argv.slice(1));
  let values: { config?: string | undefined; help?: boolean | undefined; version?: boolean | undefined };
  try {
    values = parseArgs({
      args: argv,
      options: {
        config: { type: 'string', short: 'c' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
      },
      strict: true,
      allowPositionals: false,
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
  let snapshot = defaultConfig();
  if (values.config !== undefined) {
    const result = await parseConfigFile(values.config);
    if (!result.ok) {
      process.stderr.write(
        `${values.config}: invalid config, nothing started\n${formatConfigErrors(result.errors)}\n`,
      );
      return 1;
    }
    snapshot = result.snapshot;
  }
  const logLevel = logLevelFromEnv();
  const log = createRootLogger(logLevel);
  if (values.config === undefined) {
    log.info('no --config given: running the embedded demo default (try: curl -i http://127.0.0.1:8080/)');
  }
  try {
    const ferry = await startFerry(snapshot, { log, logLevel });
    let isStopping = false;
    const stop = (signal: string) => {
      if (isStopping) return;
      isStopping = true;
      log.info({ signal }, 'shutting down');
      ferry.stop().then(
        () => process.exit(0),
        (error: unknown) => {
          log.error({ err: error }, 'shutdown failed');
          process.exit(1);
        },
      );
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
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
