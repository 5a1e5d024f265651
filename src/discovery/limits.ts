/**
 * @module src/discovery/limits
 *
 * The bounds of DNS discovery, with their units. Thread: main. The
 * per-group ones a user may change (minRefresh, maxRefresh) live in the
 * config schema (src/config/discovery-schema.ts); these are fixed.
 */

/** One query's timeout before c-ares tries again (it doubles per try). */
export const DNS_QUERY_TIMEOUT_MS = 1_000;
/** Tries per query and server: 1 s + 2 s, so a dead server fails a resolution within ~3 s per server. */
export const DNS_QUERY_TRIES = 2;
/** Most addresses one name may contribute; more are ignored (and logged) so a runaway answer cannot fill the table. */
export const DNS_TARGETS_PER_NAME_MAX = 256;
/** Most distinct SRV target names resolved per refresh (each is one more A/AAAA query). */
export const DNS_SRV_HOSTS_MAX = 64;
/** SRV weights are 0..65535; Ferry weights 1..WEIGHT_MAX. */
export const SRV_WEIGHT_MAX = 65_535;
