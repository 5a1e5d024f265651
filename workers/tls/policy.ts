/**
 * @module workers/tls/policy
 *
 * From a security policy name (proto/tls-policies.ts) to the node:tls options
 * that enforce it, and the PEM reading every TLS context here shares.
 * Thread: worker, at config apply and reload only (never per request).
 */
import { constants } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { SecureContextOptions } from 'node:tls';
import {
  TLS_KEY_EXCHANGE_GROUPS,
  TLS_POLICIES,
  TLS_POLICY_DEFAULT,
  type TlsPolicy,
  type TlsPolicyName,
} from '../../proto/tls-policies.ts';

/** The policy named `name`; an unknown name (config validation prevents it) falls back to the default. */
export function tlsPolicyOf(name: string): TlsPolicy {
  return name in TLS_POLICIES ? TLS_POLICIES[name as TlsPolicyName] : TLS_POLICIES[TLS_POLICY_DEFAULT];
}

/**
 * SecureContext options of a policy, without certificates. `ciphers` holds
 * both lists: node:tls sends the `TLS_*` names to SSL_CTX_set_ciphersuites
 * (TLS 1.3) and the rest to SSL_CTX_set_cipher_list (TLS 1.2). TLS 1.2
 * renegotiation is refused outright (it is a DoS lever and nothing needs it
 * from a proxy's clients); the server's cipher order wins.
 */
export function policyContextOptions(policy: TlsPolicy): SecureContextOptions {
  return {
    minVersion: policy.minVersion,
    maxVersion: policy.maxVersion,
    ciphers: [...policy.tls13Suites, ...policy.tls12Suites].join(':'),
    ecdhCurve: TLS_KEY_EXCHANGE_GROUPS,
    honorCipherOrder: true,
    secureOptions: constants.SSL_OP_NO_RENEGOTIATION,
  };
}

/** A PEM file's text. Throws (ENOENT, EACCES, …) with the path in the message. */
export function readPem(path: string): string {
  return readFileSync(path, 'utf8');
}
