/**
 * @module workers/http/request-target
 *
 * Where the path, query and host name sit inside a request target and a Host
 * value, as offsets: the rule matcher (workers/route/match.ts) compares in
 * place and redirects (workers/respond/local.ts) slice the same pieces.
 * Thread: worker. Allocation-free; no I/O.
 */
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
