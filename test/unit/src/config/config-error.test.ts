/** Error paths, formatting and suggestions (src/config/config-error.ts). */
import { describe, expect, it } from 'vitest';
import {
  ConfigLoadError,
  closestName,
  describeValue,
  formatConfigErrors,
  formatConfigPath,
} from '../../../../src/config/config-error.ts';
import { isProxyError } from '../../../../src/shared/errors.ts';

describe('formatConfigPath', () => {
  it('writes list indices in brackets and keys with dots', () => {
    expect(formatConfigPath(['targetGroups', 1, 'targets', 0, 'address'])).toBe(
      'targetGroups[1].targets[0].address',
    );
  });

  it('writes the whole document as an empty path', () => {
    expect(formatConfigPath([])).toBe('');
  });
});

describe('formatConfigErrors', () => {
  it('prints one indented line per error with its path, line and, for capacity, its code', () => {
    const text = formatConfigErrors([
      {
        code: 'FERRY_ERR_CONFIG_INVALID',
        path: 'targetGroups[1].targets[0].address',
        message: 'expected host:port',
        line: 12,
        column: 9,
      },
      { code: 'FERRY_ERR_CONFIG_CAPACITY', path: 'targetGroups', message: 'too many' },
      { code: 'FERRY_ERR_CONFIG_INVALID', path: '', message: 'YAML syntax: bad', line: 1, column: 2 },
    ]);
    expect(text).toBe(
      [
        '  targetGroups[1].targets[0].address: expected host:port (line 12, column 9)',
        '  targetGroups: too many [FERRY_ERR_CONFIG_CAPACITY]',
        '  YAML syntax: bad (line 1, column 2)',
      ].join('\n'),
    );
  });
});

describe('describeValue', () => {
  it.each([
    [undefined, 'nothing'],
    [null, 'an empty value'],
    ['x', '"x"'],
    [12, '12'],
    [true, 'true'],
    [[1], 'a list'],
    [{ a: 1 }, 'a mapping'],
    ['y'.repeat(50), `"${'y'.repeat(40)}…"`],
  ])('describes %j as %s', (value, text) => {
    expect(describeValue(value)).toBe(text);
  });
});

describe('closestName', () => {
  it('finds a one-letter typo', () => {
    expect(closestName('targtes', ['name', 'targets', 'hash'])).toBe('targets');
  });

  it('ignores case', () => {
    expect(closestName('TargetGroups', ['listeners', 'targetGroups'])).toBe('targetGroups');
  });

  it('suggests nothing when every candidate is far', () => {
    expect(closestName('idle', ['connect', 'response'])).toBeUndefined();
  });
});

describe('ConfigLoadError', () => {
  it('is a ProxyError with FERRY_ERR_CONFIG_INVALID when any error is a plain validation error', () => {
    const error = new ConfigLoadError('f.yaml', [
      { code: 'FERRY_ERR_CONFIG_CAPACITY', path: 'targetGroups', message: 'too many' },
      { code: 'FERRY_ERR_CONFIG_INVALID', path: 'workers', message: 'bad' },
    ]);
    expect(isProxyError(error)).toBe(true);
    expect(error.code).toBe('FERRY_ERR_CONFIG_INVALID');
    expect(error.source).toBe('config');
    expect(error.message).toBe(
      'f.yaml: 2 errors\n  targetGroups: too many [FERRY_ERR_CONFIG_CAPACITY]\n  workers: bad',
    );
  });

  it('carries FERRY_ERR_CONFIG_CAPACITY when capacity is the only problem', () => {
    const error = new ConfigLoadError('f.yaml', [
      { code: 'FERRY_ERR_CONFIG_CAPACITY', path: 'targetGroups', message: 'too many' },
    ]);
    expect(error.code).toBe('FERRY_ERR_CONFIG_CAPACITY');
  });
});
