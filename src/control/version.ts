/**
 * @module src/control/version
 *
 * The package version, for the handshake (`ferry/0.1.0`, `ferryctl/0.1.0`).
 * Thread: main and ferryctl. Read once from package.json, which sits two
 * folders up from src/ (three from dist/src/ in the published package).
 */
import { readFileSync } from 'node:fs';

let cached: string | null = null;

export function packageVersion(): string {
  if (cached !== null) return cached;
  const url = new URL(
    import.meta.url.endsWith('.ts') ? '../../package.json' : '../../../package.json',
    import.meta.url,
  );
  try {
    cached = (JSON.parse(readFileSync(url, 'utf8')) as { version: string }).version;
  } catch {
    cached = '0.0.0';
  }
  return cached;
}
