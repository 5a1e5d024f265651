/**
 * @module src/config/control-address
 *
 * Where the control port listens: `host:port` (TCP) or `unix:/path` (a Unix
 * domain socket), as written in `control.address` and given to `ferryctl
 * --control`. Thread: main (config time) and the ferryctl process. Place in
 * the flow: YAML -> **schema leaf** -> ConfigSnapshot.control -> src/control.
 *
 * Also decides what counts as loopback, because Ferry refuses to open a
 * control port reachable from other hosts without a token.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { isAbsolute } from 'node:path';
import { CONTROL_UNIX_PREFIX } from '../../proto/control/protocol.ts';
import { parseAddress } from './address.ts';

/** Longest Unix socket path (sun_path is 108 bytes on Linux, 104 on macOS; with the NUL, 103 is safe on both). */
export const UNIX_SOCKET_PATH_LENGTH_MAX = 103;

export type ControlAddress =
  | { readonly kind: 'tcp'; readonly address: string; readonly host: string; readonly port: number }
  | { readonly kind: 'unix'; readonly address: string; readonly path: string };

export type ControlAddressParse =
  | { readonly ok: true; readonly value: ControlAddress }
  | { readonly ok: false; readonly message: string };

/** Parse `host:port` or `unix:/absolute/path`. Thread: any. Never throws. */
export function parseControlAddress(text: string): ControlAddressParse {
  if (text.startsWith(CONTROL_UNIX_PREFIX)) {
    const path = text.slice(CONTROL_UNIX_PREFIX.length);
    if (!isAbsolute(path)) return { ok: false, message: 'expected unix:/absolute/path' };
    if (Buffer.byteLength(path) > UNIX_SOCKET_PATH_LENGTH_MAX) {
      return { ok: false, message: `expected a socket path of at most ${UNIX_SOCKET_PATH_LENGTH_MAX} bytes` };
    }
    return { ok: true, value: { kind: 'unix', address: text, path } };
  }
  const parsed = parseAddress(text, 0);
  if (!parsed.ok) return { ok: false, message: `${parsed.message} or unix:/path` };
  return { ok: true, value: { kind: 'tcp', ...parsed.value } };
}

/**
 * True when only this machine can reach the address: a Unix socket, an IPv4
 * 127/8 address, ::1, or `localhost`. Wildcards and other names are not.
 */
export function isLoopbackControlAddress(address: ControlAddress): boolean {
  if (address.kind === 'unix') return true;
  const host = address.host.toLowerCase();
  if (host === 'localhost') return true;
  if (isIPv4(host)) return host.startsWith('127.');
  if (isIPv6(host)) return host === '::1' || host === '0:0:0:0:0:0:0:1';
  return false;
}
