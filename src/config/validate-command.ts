/**
 * @module src/config/validate-command
 *
 * `ferry validate --config F`: check a config without starting anything and
 * print every error with its path. Thread: main (CLI). Place in the flow:
 * src/cli/ferry.ts dispatches here; this module parses, prints and returns
 * the exit code, and never exits the process itself (so tests call it).
 */
import { parseArgs } from 'node:util';
import { configErrorsCode, countErrors, formatConfigErrors } from './config-error.ts';
import { type ConfigSnapshot, parseConfigFile } from './parse.ts';

/** Where the command writes; the CLI passes process.stdout/stderr, tests pass collectors. */
export interface CommandOutput {
  readonly stdout: { write(text: string): unknown };
  readonly stderr: { write(text: string): unknown };
}

/**
 * A check startup makes beyond the schema, which validate runs too (the CLI
 * passes it: src/config cannot reach src/control). Resolves to the error
 * text (with its code) or null. Must not throw.
 */
export type StartupCheck = (snapshot: ConfigSnapshot) => Promise<string | null>;

export const VALIDATE_USAGE = 'usage: ferry validate --config <file.yaml>';

/** Exit codes: the config is valid, it is not (or cannot be read), the command line is wrong. */
export const EXIT_OK = 0;
export const EXIT_INVALID = 1;
export const EXIT_USAGE = 2;

/**
 * Run `ferry validate`. `argv` is what follows `validate` (`--config F`,
 * `--config=F` or `-c F`). Prints `config OK: …` to stdout, or the errors to
 * stderr. Returns EXIT_OK, EXIT_INVALID or EXIT_USAGE. Never throws.
 */
export async function runValidate(
  argv: readonly string[],
  output: CommandOutput = { stdout: process.stdout, stderr: process.stderr },
  checkStartup: StartupCheck | null = null,
): Promise<number> {
  let configPath: string | undefined;
  try {
    const { values } = parseArgs({
      args: [...argv],
      options: { config: { type: 'string', short: 'c' } },
      allowPositionals: false,
      strict: true,
    });
    configPath = values.config;
  } catch (error) {
    output.stderr.write(`ferry validate: ${(error as Error).message}\n${VALIDATE_USAGE}\n`);
    return EXIT_USAGE;
  }
  if (configPath === undefined || configPath.length === 0) {
    output.stderr.write(`ferry validate: --config is required\n${VALIDATE_USAGE}\n`);
    return EXIT_USAGE;
  }
  const result = await parseConfigFile(configPath);
  if (!result.ok) {
    output.stderr.write(
      `${configPath}: ${countErrors(result.errors.length)} [${configErrorsCode(result.errors)}]\n${formatConfigErrors(result.errors)}\n`,
    );
    return EXIT_INVALID;
  }
  if (checkStartup !== null) {
    // What startup checks beyond the schema (issue 10: a control port off loopback without a token).
    const refusal = await checkStartup(result.snapshot);
    if (refusal !== null) {
      output.stderr.write(`${configPath}: ${refusal}\n`);
      return EXIT_INVALID;
    }
  }
  const { listeners, targetGroups } = result.snapshot;
  const targetCount = targetGroups.reduce((sum, group) => sum + group.targets.length, 0);
  output.stdout.write(
    `config OK: ${plural(listeners.length, 'listener')}, ${plural(targetGroups.length, 'target group')}, ` +
      `${plural(targetCount, 'target')}\n`,
  );
  return EXIT_OK;
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}
