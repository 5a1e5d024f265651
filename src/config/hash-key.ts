/**
 * @module src/config/hash-key
 *
 * The `hash` algorithm's key (`targetGroups[].hash.key`): what about a request
 * is hashed to pick its target. Thread: main (config time). Place in the flow:
 * YAML -> **schema leaf** -> ConfigSnapshot `hash` -> workers/route (which
 * extracts the key per request from the precomputed `{ kind, name }`).
 *
 * Grammar: `source_ip` | `path` | `header:<name>` | `cookie:<name>` |
 * `query:<name>` | `source_ip_dest_ip` | `five_tuple`. The last two hash
 * layer-4 flows (NLB): source and destination address, or protocol, both
 * addresses and both ports. Header names are HTTP tokens and are lowercased here once,
 * so the hot path compares without folding case; cookie and query names are
 * case-sensitive and kept as written.
 */

export const HASH_KEY_KINDS = [
  'source_ip',
  'header',
  'cookie',
  'query',
  'path',
  'source_ip_dest_ip',
  'five_tuple',
] as const;
export type HashKeyKind = (typeof HASH_KEY_KINDS)[number];
/** Keys only a layer-4 flow has (TCP, TLS, UDP listeners). */
export const FLOW_HASH_KEY_KINDS: readonly string[] = ['source_ip_dest_ip', 'five_tuple'];

/** A parsed hash key. */
export interface HashKey {
  /** As written in config, e.g. `header:X-User`. */
  readonly key: string;
  readonly kind: HashKeyKind;
  /** Header (lowercased), cookie or query parameter name; null for `source_ip` and `path`. */
  readonly name: string | null;
}

export type HashKeyParse =
  | { readonly ok: true; readonly value: HashKey }
  | { readonly ok: false; readonly message: string };

/** Longest header, cookie or query-parameter name accepted. */
export const HASH_KEY_NAME_LENGTH_MAX = 256;

/** The syntax, as error messages and the config reference state it. */
export const HASH_KEY_SYNTAX =
  'source_ip, source_ip_dest_ip, five_tuple, path, header:<name>, cookie:<name> or query:<name>';

/** RFC 9110 token: the characters a header or cookie name may use. */
const HTTP_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Query parameter names: printable ASCII other than the separators `&`, `=`, `#` and space. */
const QUERY_NAME = /^[!-~]+$/;
const QUERY_SEPARATORS = /[&=#]/;

/** Parse a hash key. Thread: any. Never throws. */
export function parseHashKey(text: string): HashKeyParse {
  if (text === 'source_ip' || text === 'path' || text === 'source_ip_dest_ip' || text === 'five_tuple')
    return { ok: true, value: { key: text, kind: text, name: null } };
  const colon = text.indexOf(':');
  const kind = colon === -1 ? text : text.slice(0, colon);
  const name = colon === -1 ? '' : text.slice(colon + 1);
  if (kind !== 'header' && kind !== 'cookie' && kind !== 'query') {
    return { ok: false, message: `expected ${HASH_KEY_SYNTAX}, got ${JSON.stringify(text)}` };
  }
  if (name.length === 0) return { ok: false, message: `expected ${kind}:<name>; the name is missing` };
  if (name.length > HASH_KEY_NAME_LENGTH_MAX) {
    return { ok: false, message: `the ${kind} name is longer than ${HASH_KEY_NAME_LENGTH_MAX} characters` };
  }
  if (kind === 'query') {
    if (!QUERY_NAME.test(name) || QUERY_SEPARATORS.test(name)) {
      return {
        ok: false,
        message: `query name ${JSON.stringify(name)} may not contain spaces, control characters, &, = or #`,
      };
    }
    return { ok: true, value: { key: text, kind, name } };
  }
  if (!HTTP_TOKEN.test(name)) {
    return { ok: false, message: `${kind} name ${JSON.stringify(name)} is not a valid HTTP token` };
  }
  return { ok: true, value: { key: text, kind, name: kind === 'header' ? name.toLowerCase() : name } };
}
