import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  isNodeVersionAtLeast,
  NODE_VERSION_MIN,
  nodeVersionMessage,
} from '../../../../src/cli/node-check.ts';

const REPO = join(import.meta.dirname, '../../../..');
const packageJson = (path: string) =>
  JSON.parse(readFileSync(join(REPO, path), 'utf8')) as { engines: { node: string } };

describe('isNodeVersionAtLeast', () => {
  it.each([
    ['22.19.0', '22.19.0', true],
    ['v22.19.1', '22.19.0', true],
    ['22.20.0', '22.19.0', true],
    ['24.0.0', '22.19.0', true],
    ['22.18.9', '22.19.0', false],
    ['20.20.2', '22.19.0', false],
    ['v4.9.1', '22.19.0', false],
    ['not-a-version', '22.19.0', false],
  ])('compares %s with %s: %s', (found, minimum, expected) => {
    expect(isNodeVersionAtLeast(found, minimum)).toBe(expected);
  });
});

describe('NODE_VERSION_MIN', () => {
  it('is what package.json engines states', () => {
    expect(packageJson('package.json').engines.node).toBe(`>=${NODE_VERSION_MIN}`);
  });

  it("is at least every runtime dependency's own minimum (undici's is the highest)", () => {
    const dependencies = Object.keys(
      (
        JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as {
          dependencies: Record<string, string>;
        }
      ).dependencies,
    );
    for (const name of dependencies) {
      const range = (
        JSON.parse(readFileSync(join(REPO, 'node_modules', name, 'package.json'), 'utf8')) as {
          engines?: { node?: string };
        }
      ).engines?.node;
      const lowest = /^>=\s*v?(\d+(?:\.\d+){0,2})/.exec(range ?? '')?.[1];
      if (lowest === undefined) continue; // no simple lower bound stated
      const full = [...lowest.split('.'), '0', '0'].slice(0, 3).join('.');
      expect(isNodeVersionAtLeast(NODE_VERSION_MIN, full), `${name} needs ${range}`).toBe(true);
    }
  });
});

describe('nodeVersionMessage', () => {
  it('is one line: what is needed, what was found, how to get it', () => {
    const message = nodeVersionMessage('ferry', 'v20.20.2');
    expect(message).toBe(
      `ferry: needs Node.js >= ${NODE_VERSION_MIN}, found v20.20.2; install Node.js 24 LTS (https://nodejs.org/en/download, or \`nvm install 24\`)\n`,
    );
    expect(message.split('\n')).toHaveLength(2);
  });
});
