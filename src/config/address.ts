/**
 * @module src/config/address
 *
 * `host:port` addresses as written in config, for listeners, targets and the
 * admin endpoint: an IPv4 literal (`10.0.0.7:80`), a bracketed IPv6 literal
 * (`[::1]:8080`) or a host name (`api.internal:9000`). Thread: main (config
 * time). Place in the flow: YAML -> **schema leaves** -> ConfigSnapshot
 * `{ address, host, port }`.
 *
 * Why a parser of our own and not `new URL()`: URL accepts and silently
 * rewrites things a config must reject (`0x7f.1:80`, ports out of range become
 * errors only sometimes, default ports vanish), and its messages do not say
 * which part is wrong.
 */
import { isIPv4, isIPv6 } from 'node:net';

/** An address split for `net.listen`/`net.connect`, with the text the user wrote. */
export interface HostPort {
  /** As written in config, e.g. `[::1]:8080`; also the target's identity in logs and the control port. */
  readonly address: string;
  /** Host without brackets: `::1`, `127.0.0.1`, `api.internal`. */
  readonly host: string;
  readonly port: number;
}

export type AddressParse =
  | { readonly ok: true; readonly value: HostPort }
  | { readonly ok: false; readonly message: string };

/** Longest host name DNS allows (RFC 1035). */
export const HOST_NAME_LENGTH_MAX = 253;

const HOST_LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
const DIGITS_AND_DOTS = /^[0-9.]+$/;
const PORT_DIGITS = /^[0-9]{1,5}$/;

/**
 * Parse `host:port`. Thread: any. Never throws. `portMin` is 0 where the OS
 * may pick the port (listeners, admin) and 1 where Ferry must connect to it
 * (targets). Every failure message starts with "expected host:port".
 */
export function parseAddress(text: string, portMin: 0 | 1): AddressParse {
  const fail = (detail: string): AddressParse => ({
    ok: false,
    message: `expected host:port${detail}`,
  });
  const schemeEnd = text.indexOf('://');
  if (schemeEnd !== -1) return fail(` without a scheme (drop "${text.slice(0, schemeEnd + 3)}")`);
  let host: string;
  let portText: string;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close === -1 || text[close + 1] !== ':') return fail(' (IPv6 as [addr]:port)');
    host = text.slice(1, close);
    portText = text.slice(close + 2);
    if (!isIPv6(host)) return fail(` (${JSON.stringify(host)} is not an IPv6 address)`);
  } else {
    const colon = text.lastIndexOf(':');
    if (colon === -1) return fail(' (the port is missing)');
    host = text.slice(0, colon);
    portText = text.slice(colon + 1);
    if (host.includes(':')) return fail(' (write IPv6 addresses in brackets, e.g. [::1]:8080)');
    if (host.length === 0) return fail(' (the host is missing; use 0.0.0.0 for every interface)');
    if (DIGITS_AND_DOTS.test(host)) {
      if (!isIPv4(host)) return fail(` (${JSON.stringify(host)} is not an IPv4 address)`);
    } else if (!isHostName(host)) {
      return fail(` (${JSON.stringify(host)} is not a valid host name)`);
    }
  }
  if (!PORT_DIGITS.test(portText)) return fail(` (port ${portMin}..65535)`);
  const port = Number(portText);
  if (port < portMin || port > 65_535) return fail(` (port ${portMin}..65535)`);
  return { ok: true, value: { address: text, host, port } };
}

/** True for an RFC 1123 host name: dot-separated labels of letters, digits and inner hyphens. */
function isHostName(host: string): boolean {
  if (host.length > HOST_NAME_LENGTH_MAX) return false;
  for (const label of host.split('.')) {
    if (!HOST_LABEL.test(label)) return false;
  }
  return true;
}

/** True for the any-address of either family (`0.0.0.0`, `::`), which overlaps every address on its port. */
export function isWildcardHost(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '::0' || host === '0:0:0:0:0:0:0:0';
}
