/**
 * @module workers/route/hash-key
 *
 * Computes the 32-bit key the `hash` algorithm balances on, from the part of
 * the request the target group names (`hash.key`). Thread: worker. Place in
 * the flow: route -> **pick** (only for groups whose algorithm is `hash`).
 *
 * A missing header, cookie or query parameter hashes as the empty string, so
 * such requests still land on one consistent target rather than failing.
 */
import type { TopologyHashKey } from '../../proto/thread-messages.ts';
import { hashString } from '../../src/shared/hash.ts';
import type { RequestHead } from '../http/index.ts';

/**
 * The hash key of one request, or of one TCP flow (`req` null): a byte
 * stream has only its source address, so every key falls back to
 * `source_ip` there. `remoteAddress` is the client's address without the
 * `::ffff:` of an IPv4-mapped address, on every protocol, so one client
 * hashes alike on HTTP and TCP listeners. Allocates only the substring it
 * hashes.
 */
export function requestKeyHash(key: TopologyHashKey, req: RequestHead | null, remoteAddress: string): number {
  if (req === null) return hashString(remoteAddress);
  switch (key.kind) {
    case 'source_ip':
      return hashString(remoteAddress);
    case 'path':
      return hashString(pathOf(req.target));
    case 'header':
      return hashString(headerValue(req, key.name));
    case 'cookie':
      return hashString(cookieValue(headerValue(req, 'cookie'), key.name));
    case 'query':
      return hashString(queryValue(req.target, key.name));
    default:
      // source_ip_dest_ip and five_tuple are flow keys (config refuses them for HTTP listeners).
      return hashString(remoteAddress);
  }
}

function pathOf(target: string): string {
  const q = target.indexOf('?');
  return q === -1 ? target : target.slice(0, q);
}

/** First value of a header (names are lower-cased by the parser). */
export function headerValue(req: RequestHead, lowerName: string): string {
  for (let i = 0; i < req.headerCount; i++) {
    if (req.headerNames[i] === lowerName) return req.headerValues[i] ?? '';
  }
  return '';
}

/** Value of cookie `name` in a Cookie header (`a=1; b=2`), or ''. */
export function cookieValue(cookieHeader: string, name: string): string {
  let start = 0;
  while (start < cookieHeader.length) {
    let end = cookieHeader.indexOf(';', start);
    if (end === -1) end = cookieHeader.length;
    while (cookieHeader.charCodeAt(start) === 0x20) start++;
    const eq = cookieHeader.indexOf('=', start);
    if (eq !== -1 && eq < end && eq - start === name.length && cookieHeader.startsWith(name, start)) {
      return cookieHeader.slice(eq + 1, end).trim();
    }
    start = end + 1;
  }
  return '';
}

/** Raw (not percent-decoded) value of query parameter `name` in a request target, or ''. */
export function queryValue(target: string, name: string): string {
  const q = target.indexOf('?');
  if (q === -1) return '';
  let start = q + 1;
  while (start < target.length) {
    let end = target.indexOf('&', start);
    if (end === -1) end = target.length;
    const eq = target.indexOf('=', start);
    const nameEnd = eq !== -1 && eq < end ? eq : end;
    if (nameEnd - start === name.length && target.startsWith(name, start)) {
      return nameEnd === end ? '' : target.slice(nameEnd + 1, end);
    }
    start = end + 1;
  }
  return '';
}
