/**
 * @module src/telemetry/version
 *
 * Ferry's version, read once from package.json (one level above src/ and
 * above dist/src/ alike). Thread: main. Shown in `ferry_info` and on the
 * status page.
 */
import { existsSync, readFileSync } from 'node:fs';

function readVersion(): string {
  for (const relative of ['../../package.json', '../../../package.json']) {
    const url = new URL(relative, import.meta.url);
    if (existsSync(url)) return (JSON.parse(readFileSync(url, 'utf8')) as { version: string }).version;
  }
  return 'unknown';
}

export const FERRY_VERSION = readVersion();
