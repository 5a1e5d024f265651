/**
 * Every config under examples/ is valid, so the README's examples keep
 * working as the schema moves.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatConfigErrors, parseConfigFile } from '../../src/config/index.ts';

const EXAMPLES = join(import.meta.dirname, '../../examples');

describe('examples/', () => {
  for (const file of readdirSync(EXAMPLES).filter((name) => name.endsWith('.yaml'))) {
    it(`${file} validates`, async () => {
      const result = await parseConfigFile(join(EXAMPLES, file));
      expect(result.ok, result.ok ? '' : formatConfigErrors(result.errors)).toBe(true);
    });
  }
});
