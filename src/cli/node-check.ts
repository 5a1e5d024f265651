/**
 * @module src/cli/node-check
 *
 * The Node.js version check that `ferry` and `ferryctl` run before anything
 * else is loaded. Thread: main, first thing in the process. It imports
 * nothing, and its code is plain enough for any Node that can load an ES
 * module (12+; no top-level await here either), so an old Node gets one clear line instead of a stack trace
 * from a dependency (undici, the first to break, needs 22.19).
 *
 * NODE_VERSION_MIN must equal package.json `engines.node` (a unit test checks).
 */

/** The oldest Node.js that runs Ferry: undici 8's own minimum (its `engines`). */
export const NODE_VERSION_MIN = '22.19.0';

/** Where users get a supported Node. */
const NODE_DOWNLOAD_HINT = 'install Node.js 24 LTS (https://nodejs.org/en/download, or `nvm install 24`)';

/** [major, minor, patch] of `22.19.0` or `v22.19.0`; null if it is not that shape. */
function versionParts(text: string): [number, number, number] | null {
  const match = /^v?(\d+)\.(\d+)\.(\d+)/.exec(text);
  if (match === null) return null;
  return [Number(match[1]), Number(match[2]), Number(match[3])];
}

/** True when `found` (e.g. process.versions.node) is at least `minimum`. */
export function isNodeVersionAtLeast(found: string, minimum: string): boolean {
  const have = versionParts(found);
  const need = versionParts(minimum);
  if (have === null || need === null) return false;
  for (let i = 0; i < 3; i++) {
    if (have[i]! !== need[i]!) return have[i]! > need[i]!;
  }
  return true;
}

/** The one line printed when the running Node is too old. */
export function nodeVersionMessage(command: string, found: string): string {
  return `${command}: needs Node.js >= ${NODE_VERSION_MIN}, found ${found}; ${NODE_DOWNLOAD_HINT}\n`;
}

/**
 * Exit 1 with one line on stderr if this Node is older than NODE_VERSION_MIN;
 * return otherwise. Thread: main. Never throws.
 */
export function exitUnlessNodeSupported(command: string): void {
  const found = process.versions.node;
  if (isNodeVersionAtLeast(found, NODE_VERSION_MIN)) return;
  process.stderr.write(nodeVersionMessage(command, `v${found}`));
  process.exit(1);
}
