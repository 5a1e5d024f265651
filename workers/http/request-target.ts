/**
 * @module workers/http/request-target
 *
 * Where the path, query and host name sit inside a request target and a Host
 * value, as offsets: the rule matcher (workers/route/match.ts) compares in
 * place and redirects (workers/respond/local.ts) slice the same pieces.
 * Thread: worker. Allocation-free, but for takeAbsoluteFormAuthority (only
 * for absolute-form requests, which clients send to proxies, rarely here); no I/O.
 */
import { HOST_BYTES } from './http1-tokens.ts';
import type { RequestHead } from './http1-types.ts';

/**
 * Start of the path in a request target: 0 for origin-form (`/a?b`), after
 * the authority for absolute-form (`http://h/a`), -1 when there is no path
 * (`http://h`, authority-form). Allocates nothing.
 */
export function pathStartOf(target: string): number {
  if (target.charCodeAt(0) === 0x2f) return 0;
  const scheme = target.indexOf('://');
  if (scheme === -1) return target === '*' ? 0 : -1;
  const slash = target.indexOf('/', scheme + 3);
  const question = target.indexOf('?', scheme + 3);
  if (slash === -1 || (question !== -1 && question < slash)) return -1;
  return slash;
}

/** End of the path (the `?` or the end). */
export function pathEndOf(target: string, pathStart: number): number {
  const question = target.indexOf('?', pathStart); // a negative start searches from 0
  return question === -1 ? target.length : question;
}

/** Length of the host name in a Host value, without `:port` (IPv6 literals keep their brackets). */
export function hostLengthOf(host: string): number {
  if (host.charCodeAt(0) === 0x5b) {
    const close = host.indexOf(']');
    return close === -1 ? host.length : close + 1;
  }
  const colon = host.indexOf(':');
  return colon === -1 ? host.length : colon;
}

/**
 * An absolute-form request (`GET http://a.example/p`), rewritten to what the
 * rest of Ferry and the target see (issue 10, RFC 9112 §3.2.2): a server
 * ignores Host in favour of the target's authority, and a proxy forwarding
 * the request replaces Host with it. So `req.host` and the `host` field
 * become the authority (`host` is added to an HTTP/1.0 head without one), and
 * `req.target` becomes origin-form (`/p`; `/` for an empty path, `*` for
 * OPTIONS, RFC 9112 §3.2.4). Routing (host rules), hash keys, redirects, the
 * forwarded head and the access log all read these, so they cannot disagree.
 *
 * Refused (the reason is returned, '' when the head was rewritten): a scheme
 * other than http or https (Ferry is no forward proxy), no `//` authority, an
 * empty host, userinfo (`user@`, RFC 9110 §4.2.4) or any byte outside
 * HOST_BYTES in the authority.
 *
 * Precondition: `req.target` is absolute-form (the parser checked the scheme
 * syntax); `hostIndex` is the `host` field's index, or -1. Thread: worker.
 * Never throws; allocates the authority and path strings.
 */
export function takeAbsoluteFormAuthority(req: RequestHead, hostIndex: number): string {
  const target = req.target;
  const schemeEnd = target.indexOf(':');
  const scheme = target.slice(0, schemeEnd).toLowerCase();
  if (scheme !== 'http' && scheme !== 'https') return 'absolute-form target with a scheme other than http(s)';
  if (target.charCodeAt(schemeEnd + 1) !== 0x2f || target.charCodeAt(schemeEnd + 2) !== 0x2f) {
    return 'absolute-form target without an authority';
  }
  const authorityStart = schemeEnd + 3;
  let authorityEnd = authorityStart;
  while (authorityEnd < target.length) {
    const c = target.charCodeAt(authorityEnd);
    if (c === 0x2f || c === 0x3f) break; // '/' or '?'
    if (HOST_BYTES[c] !== 1) return 'invalid authority in absolute-form target';
    authorityEnd++;
  }
  if (authorityEnd === authorityStart || target.charCodeAt(authorityStart) === 0x3a) {
    return 'absolute-form target with an empty host';
  }
  const authority = target.slice(authorityStart, authorityEnd);
  if (hostIndex >= 0) {
    req.headerValues[hostIndex] = authority;
  } else {
    if (req.headerCount === req.headerNames.length) return 'no room for the host field';
    req.headerNames[req.headerCount] = 'host';
    req.headerValues[req.headerCount++] = authority;
  }
  req.host = authority;
  if (authorityEnd === target.length) req.target = req.method === 'OPTIONS' ? '*' : '/';
  else if (target.charCodeAt(authorityEnd) === 0x3f) req.target = `/${target.slice(authorityEnd)}`;
  else req.target = target.slice(authorityEnd);
  return '';
}
