/**
 * @module proto/tls-policies
 *
 * The security policies an HTTPS listener may name in `sslPolicy`: which TLS
 * versions and which cipher suites it accepts from clients, in the manner of
 * ELB's predefined security policies (a policy is a fixed, named pairing of
 * protocols and ciphers; users pick one, never a cipher string). Thread: both.
 * Main validates `sslPolicy` against these names and renders the docs table
 * from them; workers/tls builds each listener's SecureContexts from them.
 *
 * Why fixed policies and not a free cipher string: a cipher string is easy to
 * get subtly wrong (a CBC or RSA-key-exchange suite slipping in), hard to
 * review, and differs between OpenSSL versions. A named policy is reviewed
 * once, here, and documented in docs/tls.md.
 *
 * Both policies use one named cipher set for TLS 1.2, `ECDHE-AEAD`: forward
 * secrecy (ECDHE key exchange) and authenticated encryption (GCM, ChaCha20-
 * Poly1305) only, for RSA and ECDSA certificates alike. TLS 1.3 suites are
 * all AEAD with forward secrecy by design. TLS 1.0 and 1.1 are never offered.
 *
 * Append-only in spirit: a policy's contents may be tightened when a cipher
 * is broken, but a name, once shipped, keeps meaning "this version floor".
 */

/** TLS version names as node:tls spells them (`minVersion` / `maxVersion`). */
export type TlsVersionName = 'TLSv1.2' | 'TLSv1.3';

export interface TlsPolicy {
  /** One sentence for docs and `ferry validate` messages. */
  readonly doc: string;
  readonly minVersion: TlsVersionName;
  readonly maxVersion: TlsVersionName;
  /** Name of the TLS 1.2 cipher set, as documented ('' when TLS 1.2 is not offered). */
  readonly cipherSetName: string;
  /** TLS 1.3 suites, in preference order (OpenSSL names). */
  readonly tls13Suites: readonly string[];
  /** TLS 1.2 suites, in preference order (OpenSSL names); empty when TLS 1.2 is not offered. */
  readonly tls12Suites: readonly string[];
}

/** TLS 1.3 cipher suites (all AEAD, all forward-secret). */
const TLS13_SUITES = ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256'];

/** The `ECDHE-AEAD` cipher set for TLS 1.2: ECDHE key exchange, AEAD encryption, ECDSA or RSA certificates. */
const ECDHE_AEAD_SUITES = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
];

export const TLS_POLICIES = {
  tls12: {
    doc: 'TLS 1.2 and 1.3; TLS 1.2 limited to the ECDHE-AEAD cipher set (the default).',
    minVersion: 'TLSv1.2',
    maxVersion: 'TLSv1.3',
    cipherSetName: 'ECDHE-AEAD',
    tls13Suites: TLS13_SUITES,
    tls12Suites: ECDHE_AEAD_SUITES,
  },
  tls13: {
    doc: 'TLS 1.3 only; clients that cannot speak TLS 1.3 fail the handshake.',
    minVersion: 'TLSv1.3',
    maxVersion: 'TLSv1.3',
    cipherSetName: '',
    tls13Suites: TLS13_SUITES,
    tls12Suites: [],
  },
} as const satisfies Record<string, TlsPolicy>;

export type TlsPolicyName = keyof typeof TLS_POLICIES;

/** Policy names in documentation order; the first is the default. */
export const TLS_POLICY_NAMES = ['tls12', 'tls13'] as const satisfies readonly TlsPolicyName[];

/** `sslPolicy` when a listener does not name one. */
export const TLS_POLICY_DEFAULT: TlsPolicyName = 'tls12';

/** Key-exchange groups offered, in preference order (OpenSSL `ecdhCurve` syntax). */
export const TLS_KEY_EXCHANGE_GROUPS = 'X25519:P-256:P-384';

/**
 * ALPN protocols an HTTPS listener offers, in server preference order: HTTP/2
 * first, so clients that can speak both get HTTP/2.
 */
export const HTTPS_ALPN_PROTOCOLS = ['h2', 'http/1.1'] as const;
