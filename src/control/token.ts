/**
 * @module src/control/token
 *
 * The control token: where it comes from (`control.tokenFile`, else
 * FERRY_CONTROL_TOKEN), the rule that a non-loopback control port must have
 * one, and the constant-time comparison of a presented token. Thread: main
 * at start (load) and per handshake (compare); ferryctl reads token files
 * with the same function.
 *
 * Why hash before comparing: crypto.timingSafeEqual needs equal lengths, and
 * comparing lengths first would leak the token's length. Comparing two
 * SHA-256 digests takes the same time whatever the presented token is.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { CONTROL_TOKEN_ENV } from '../../proto/control/protocol.ts';
import { type ConfigSnapshot, isLoopbackControlAddress, resolveConfigPath } from '../config/index.ts';
import { ProxyError } from '../shared/errors.ts';
import { CONTROL_TOKEN_BYTES_MAX, CONTROL_TOKEN_BYTES_MIN } from './limits.ts';

/**
 * Read a token file: the whole file, surrounding whitespace (a trailing
 * newline) removed. Throws FERRY_ERR_CONFIG_INVALID when it cannot be read or
 * the token is shorter than CONTROL_TOKEN_BYTES_MIN or longer than the maximum.
 */
export async function readTokenFile(path: string, label = 'control.tokenFile'): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new ProxyError(
      'FERRY_ERR_CONFIG_INVALID',
      `${label}: cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
  }
  return checkToken(text.trim(), `${label} (${path})`);
}

function checkToken(token: string, source: string): string {
  const bytes = Buffer.byteLength(token);
  if (bytes < CONTROL_TOKEN_BYTES_MIN || bytes > CONTROL_TOKEN_BYTES_MAX) {
    throw new ProxyError(
      'FERRY_ERR_CONFIG_INVALID',
      `${source}: the control token must be ${CONTROL_TOKEN_BYTES_MIN}..${CONTROL_TOKEN_BYTES_MAX} bytes, got ${bytes} (try: openssl rand -hex 32)`,
    );
  }
  return token;
}

/**
 * The token Ferry's control port requires, or null for none. Thread: main,
 * at start, before anything binds. Throws FERRY_ERR_CONTROL_TOKEN_REQUIRED
 * when the port is reachable from other hosts and no token is configured,
 * and FERRY_ERR_CONFIG_INVALID for an unreadable or too-short token.
 */
export async function loadControlToken(
  snapshot: ConfigSnapshot,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string | null> {
  const control = snapshot.control;
  if (control === null) return null;
  let token: string | null = null;
  if (control.tokenFile !== null) {
    token = await readTokenFile(resolveConfigPath(snapshot, control.tokenFile));
  } else {
    const fromEnv = env[CONTROL_TOKEN_ENV]?.trim() ?? '';
    if (fromEnv !== '') token = checkToken(fromEnv, CONTROL_TOKEN_ENV);
  }
  if (token === null && !isLoopbackControlAddress(control.address)) {
    throw new ProxyError(
      'FERRY_ERR_CONTROL_TOKEN_REQUIRED',
      `control.address ${control.address.address} is reachable from other hosts: set control.tokenFile or ${CONTROL_TOKEN_ENV}, or listen on 127.0.0.1`,
    );
  }
  return token;
}

/** A token's digest, computed once at start so each handshake hashes only the presented token. */
export function tokenDigest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/** Constant-time check of a presented token against the expected digest. Never throws. */
export function isTokenValid(expectedDigest: Buffer, presented: string): boolean {
  return timingSafeEqual(expectedDigest, tokenDigest(presented));
}
