/** `ferry validate --config F` (src/config/validate-command.ts): output and exit codes. */
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { EXIT_INVALID, EXIT_OK, EXIT_USAGE, runValidate } from '../../../../src/config/validate-command.ts';

const fixture = (name: string): string =>
  fileURLToPath(new URL(`../../../fixtures/config/${name}`, import.meta.url));

async function run(argv: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runValidate(argv, {
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
  });
  return { code, stdout, stderr };
}

describe('runValidate', () => {
  describe('when the config is valid', () => {
    it('prints a summary to stdout and returns 0', async () => {
      expect(await run(['--config', fixture('full.yaml')])).toEqual({
        code: EXIT_OK,
        stdout: 'config OK: 2 listeners, 2 target groups, 4 targets\n',
        stderr: '',
      });
    });

    it('accepts --config=F and -c F, and counts in the singular', async () => {
      const expected = {
        code: EXIT_OK,
        stdout: 'config OK: 1 listener, 1 target group, 1 target\n',
        stderr: '',
      };
      expect(await run([`--config=${fixture('minimal.yaml')}`])).toEqual(expected);
      expect(await run(['-c', fixture('minimal.yaml')])).toEqual(expected);
    });
  });

  describe('when the config is invalid', () => {
    it('prints every error with its path and line to stderr and returns 1', async () => {
      const { code, stdout, stderr } = await run(['--config', fixture('many-errors.yaml')]);
      expect(code).toBe(EXIT_INVALID);
      expect(stdout).toBe('');
      expect(stderr.split('\n')).toEqual([
        `${fixture('many-errors.yaml')}: 7 errors [FERRY_ERR_CONFIG_INVALID]`,
        '  workers: expected auto or an integer 1..64, got "many" (line 2, column 10)',
        '  listeners[0].protocol: expected one of HTTP | HTTPS | TCP | TLS | UDP | TCP_UDP | GENEVE, got "SCTP" (line 5, column 15)',
        '  listeners[0].defaultAction.forward.targetGroup: no target group named "apii" (did you mean "api"?) (line 7, column 46)',
        '  targetGroups[0].targets[1].address: expected host:port (the port is missing), got "127.0.0.1" (line 13, column 20)',
        '  targetGroups[0].healthCheck.timeout: must be less than interval (10s), got 10s (line 14, column 44)',
        '  targetGroups[1].name: duplicate target group name "api" (also targetGroups[0].name) (line 15, column 11)',
        '  targetGroups[1].targtes: unknown key (did you mean targets?) (line 16, column 5)',
        '',
      ]);
    });

    it('returns 1 when the file does not exist', async () => {
      const { code, stderr } = await run(['--config', fixture('missing.yaml')]);
      expect(code).toBe(EXIT_INVALID);
      expect(stderr).toContain('1 error [FERRY_ERR_CONFIG_INVALID]\n  cannot read the file: ENOENT');
    });
  });

  describe('when the command line is wrong', () => {
    it('returns 2 with usage when --config is missing', async () => {
      expect(await run([])).toEqual({
        code: EXIT_USAGE,
        stdout: '',
        stderr: 'ferry validate: --config is required\nusage: ferry validate --config <file.yaml>\n',
      });
    });

    it('returns 2 with usage for an unknown option', async () => {
      const { code, stderr } = await run(['--conf', 'x.yaml']);
      expect(code).toBe(EXIT_USAGE);
      expect(stderr).toMatch(/^ferry validate: .*--conf.*\nusage: ferry validate --config <file.yaml>\n$/);
    });
  });
});
