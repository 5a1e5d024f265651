/**
 * The control token (src/control/token.ts): where Ferry takes it from, the
 * rule that a control port other hosts can reach needs one, and the
 * constant-time comparison.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../../src/config/index.ts';
import { isTokenValid, loadControlToken, tokenDigest } from '../../../../src/control/index.ts';

function snapshot(control: string, configDir = '/nonexistent') {
  const result = parseConfig(
    `${control}
listeners:
  - { name: web, address: "127.0.0.1:0", defaultAction: { forward: { targetGroup: api } } }
targetGroups:
  - { name: api }
`,
    'x.yaml',
    { configDir },
  );
  if (!result.ok) throw new Error(result.errors.map((e) => e.message).join('; '));
  return result.snapshot;
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'resolved';
  } catch (error) {
    return (error as { code: string }).code;
  }
}

describe('loadControlToken', () => {
  it('is null without a control block, and without a token on loopback', async () => {
    expect(await loadControlToken(snapshot(''), {})).toBeNull();
    expect(await loadControlToken(snapshot('control: {}'), {})).toBeNull();
  });

  it('reads the token file relative to the config folder, trimmed, before the environment', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-token-'));
    writeFileSync(join(dir, 'ferry.token'), '  file-token-0123456789abcdef\n');
    const env = { FERRY_CONTROL_TOKEN: 'env-token-0123456789abcdef' };
    expect(await loadControlToken(snapshot('control: { tokenFile: ferry.token }', dir), env)).toBe(
      'file-token-0123456789abcdef',
    );
    expect(await loadControlToken(snapshot('control: {}', dir), env)).toBe('env-token-0123456789abcdef');
  });

  it('refuses a short token and an unreadable file as config errors', async () => {
    expect(await codeOf(loadControlToken(snapshot('control: {}'), { FERRY_CONTROL_TOKEN: 'short' }))).toBe(
      'FERRY_ERR_CONFIG_INVALID',
    );
    expect(await codeOf(loadControlToken(snapshot('control: { tokenFile: missing.token }'), {}))).toBe(
      'FERRY_ERR_CONFIG_INVALID',
    );
  });

  describe('when the control address is not loopback', () => {
    it('refuses to start without a token, and accepts one from the environment', async () => {
      const open = snapshot('control: { address: "0.0.0.0:9900" }');
      expect(await codeOf(loadControlToken(open, {}))).toBe('FERRY_ERR_CONTROL_TOKEN_REQUIRED');
      expect(await loadControlToken(open, { FERRY_CONTROL_TOKEN: 'env-token-0123456789abcdef' })).toBe(
        'env-token-0123456789abcdef',
      );
    });
  });
});

describe('isTokenValid', () => {
  it('accepts exactly the token, whatever the length of a wrong one', () => {
    const digest = tokenDigest('right-token-0123456789');
    expect(isTokenValid(digest, 'right-token-0123456789')).toBe(true);
    expect(isTokenValid(digest, 'right-token-012345678')).toBe(false);
    expect(isTokenValid(digest, '')).toBe(false);
    expect(isTokenValid(digest, 'x'.repeat(4096))).toBe(false);
  });
});
