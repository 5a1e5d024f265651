/**
 * @module src/shared/spiffe
 *
 * SPIFFE IDs and the patterns that authorize them. Thread: both, no I/O:
 * main checks IDs in the config and in CSRs (src/identity), workers match a
 * peer's verified ID against a listener's `allowedIdentities` or a group's
 * `expectedIdentities` once per connection (workers/tls/peer-identity.ts).
 *
 * An ID is `spiffe://<trust-domain>/<path>` (SPIFFE-ID spec §2): the trust
 * domain is lower-case letters, digits, `.`, `-` and `_`; the path is one
 * or more segments of letters, digits, `.`, `-` and `_`, none empty, `.` or
 * `..`; no query, fragment, port or user info.
 *
 * A pattern is an ID in which `*` stands for any run of characters inside
 * one path segment (`spiffe://ferry.local/ns/default/sa/*` admits every
 * service account of `default`, not `.../sa/a/b`); a pattern ending in
 * `/**` admits any path below it. Linkerd and Istio authorize by exact IDs
 * or prefixes; a segment wildcard covers both without regular expressions
 * in the config.
 */

/** Longest SPIFFE ID, in bytes (SPIFFE-ID spec §2.3). */
export const SPIFFE_ID_LENGTH_MAX = 2048;

const TRUST_DOMAIN = /^[a-z0-9._-]+$/;
const PATH_SEGMENT = /^[A-Za-z0-9._-]+$/;
const PATTERN_SEGMENT = /^[A-Za-z0-9._*-]+$/;
const SCHEME = 'spiffe://';

/** A parsed SPIFFE ID. */
export interface SpiffeId {
  readonly trustDomain: string;
  /** Starts with `/`. */
  readonly path: string;
}

/** Why `text` is not a workload SPIFFE ID, or null when it is one. Never throws. */
export function spiffeIdProblem(text: string, isPattern = false): string | null {
  if (text.length > SPIFFE_ID_LENGTH_MAX) return `longer than ${SPIFFE_ID_LENGTH_MAX} characters`;
  if (!text.startsWith(SCHEME)) return 'must start with spiffe://';
  const rest = text.slice(SCHEME.length);
  const slash = rest.indexOf('/');
  const trustDomain = slash === -1 ? rest : rest.slice(0, slash);
  if (trustDomain === '') return 'has no trust domain';
  if (!TRUST_DOMAIN.test(trustDomain))
    return `trust domain ${JSON.stringify(trustDomain)} may hold only a-z 0-9 . - _`;
  if (slash === -1 || slash === rest.length - 1)
    return 'has no path (a workload ID names a workload: /ns/NS/sa/NAME)';
  const segments = rest.slice(slash + 1).split('/');
  for (const [index, segment] of segments.entries()) {
    if (segment === '') return 'has an empty path segment';
    if (segment === '.' || segment === '..') return 'has a . or .. path segment';
    if (isPattern && segment === '**' && index === segments.length - 1) continue;
    if (isPattern && segment.includes('**'))
      return `path segment ${JSON.stringify(segment)}: ** may only be the whole last segment`;
    if (!(isPattern ? PATTERN_SEGMENT : PATH_SEGMENT).test(segment))
      return `path segment ${JSON.stringify(segment)} may hold only A-Z a-z 0-9 . - _${isPattern ? ' and *' : ''}`;
  }
  return null;
}

/** Parse a SPIFFE ID; null when it is not one. */
export function parseSpiffeId(text: string): SpiffeId | null {
  if (spiffeIdProblem(text) !== null) return null;
  const rest = text.slice(SCHEME.length);
  const slash = rest.indexOf('/');
  return { trustDomain: rest.slice(0, slash), path: rest.slice(slash) };
}

/** True when `text` is a valid trust domain name (`ferry.local`). */
export function isTrustDomain(text: string): boolean {
  return text.length > 0 && text.length <= 255 && TRUST_DOMAIN.test(text);
}

function escapeRegExp(text: string): string {
  return text.replace(/[.+?^${}()|[\]\\-]/g, '\\$&');
}

/**
 * Compile patterns into one matcher. Config time only (allocates); the
 * matcher itself allocates nothing. Patterns are assumed valid
 * (spiffeIdProblem(pattern, true) === null).
 */
export function compileSpiffePatterns(patterns: readonly string[]): (id: string) => boolean {
  const sources = patterns.map((pattern) => {
    const isSubtree = pattern.endsWith('/**');
    const base = isSubtree ? pattern.slice(0, -3) : pattern;
    const body = base.split('*').map(escapeRegExp).join('[^/]*');
    return isSubtree ? `${body}(?:/[^/]+)+` : body;
  });
  if (sources.length === 0) return () => false;
  const regexp = new RegExp(`^(?:${sources.join('|')})$`);
  return (id: string) => regexp.test(id);
}

/**
 * The SPIFFE IDs among a certificate's subjectAltName (node's
 * `X509Certificate#subjectAltName` / `getPeerCertificate().subjectaltname`
 * text: `URI:spiffe://…, DNS:…`). An X.509-SVID has exactly one URI SAN;
 * callers treat any other count as no identity.
 */
export function uriSansOf(subjectAltName: string | undefined): string[] {
  if (subjectAltName === undefined) return [];
  const uris: string[] = [];
  for (const part of subjectAltName.split(', ')) {
    if (part.startsWith('URI:')) uris.push(part.slice(4));
  }
  return uris;
}

/** The one SPIFFE ID of a certificate's subjectAltName, or null (none, several URIs, or not a SPIFFE ID). */
export function spiffeIdOfSan(subjectAltName: string | undefined): string | null {
  const uris = uriSansOf(subjectAltName);
  if (uris.length !== 1) return null;
  const id = uris[0]!;
  return spiffeIdProblem(id) === null ? id : null;
}
