/**
 * @module src/config/tls-schema
 *
 * The TLS keys of the config, as zod fields that schema.ts places into the
 * listener and target-group schemas:
 *
 *   listeners[]:    certificates, sslPolicy, mutualAuthentication, identity   (protocols HTTPS, TLS)
 *   targetGroups[]: protocol, tls                                              (re-encryption to targets)
 *
 * Thread: main (config time). Place in the flow: YAML -> schema.ts (+ these
 * fields) + rules.ts + tls-rules.ts (HTTPS needs certificates; files
 * readable, keys matching) -> ConfigSnapshot.
 *
 * Paths are kept as written; table/plan.ts resolves them against the config
 * file's folder when it builds the topology, and tls-rules.ts reads them at
 * validation time. Kept apart from schema.ts so TLS lives in one place and
 * schema.ts only gains the lines that place these fields.
 */
import { z } from 'zod';
import { TLS_POLICIES, TLS_POLICY_DEFAULT, TLS_POLICY_NAMES } from '../../proto/tls-policies.ts';
import { describeValue } from './config-error.ts';
import { booleanField, enumOf, unlessMissing } from './fields.ts';
import { spiffePatternsField } from './identity-schema.ts';

/** Target-group protocols: how Ferry speaks to the targets. */
export const TARGET_GROUP_PROTOCOLS = ['HTTP', 'HTTPS', 'GENEVE'] as const;
export type TargetGroupProtocol = (typeof TARGET_GROUP_PROTOCOLS)[number];
/** `mutualAuthentication.mode` (ALB's words; ALB's `passthrough` is not offered). */
export const MUTUAL_AUTHENTICATION_MODES = ['off', 'verify'] as const;
/** Certificates one HTTPS listener may hold (ALB's default quota is 25; SNI lookup is a hash map either way). */
export const CERTIFICATES_PER_LISTENER_MAX = 100;
/** Longest path to a PEM file, in characters. */
export const PEM_PATH_LENGTH_MAX = 4_096;
/** Longest `tls.serverName` (a DNS name is at most 253 characters). */
const SERVER_NAME_LENGTH_MAX = 253;
/** A DNS name: labels of letters, digits and '-', separated by dots (no wildcard: SNI names one host). */
const SERVER_NAME_PATTERN =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** A path to a PEM file, relative to the config file's folder or absolute. */
function pemPathField() {
  return z
    .string({
      error: unlessMissing((input) => `expected a path to a PEM file, got ${describeValue(input)}`),
    })
    .min(1, { error: 'expected a path to a PEM file, got ""' })
    .max(PEM_PATH_LENGTH_MAX, { error: `expected a path of at most ${PEM_PATH_LENGTH_MAX} characters` })
    .meta({ 'x-type': 'path', 'x-allowed': 'a PEM file; relative paths start at the config file’s folder' });
}

// === Listener keys ===
const certificateSchema = z.strictObject({
  cert: pemPathField().describe(
    'The certificate (PEM), leaf first, then any intermediates. Its DNS names (subjectAltName) are the SNI names it serves; `*.example.com` matches one label.',
  ),
  key: pemPathField().describe(
    'The private key (PEM, unencrypted) of `cert`; it must match the certificate.',
  ),
});

/** `listeners[].certificates`: only with protocol HTTPS (tls-rules.ts), where at least one is required. */
export const certificatesField = z
  .array(certificateSchema, {
    error: unlessMissing((input) => `expected a list of { cert, key }, got ${describeValue(input)}`),
  })
  .max(CERTIFICATES_PER_LISTENER_MAX, {
    error: `at most ${CERTIFICATES_PER_LISTENER_MAX} certificates per listener`,
  })
  .optional()
  .meta({
    description:
      'HTTPS and TLS listeners only, required there: certificates from PEM files. The first is the default (clients without SNI, or whose name no certificate has); the others are picked by SNI, exact names before wildcards. Files are re-read when they change, without dropping connections.',
  });

/** `listeners[].sslPolicy`. */
export const sslPolicyField = enumOf(TLS_POLICY_NAMES)
  .optional()
  .meta({
    description: `HTTPS and TLS listeners only: the security policy (TLS versions and ciphers, see docs/tls.md). ${TLS_POLICY_NAMES.map((name) => `${name}: ${TLS_POLICIES[name].doc}`).join(' ')}`,
    'x-default': `\`${TLS_POLICY_DEFAULT}\` on HTTPS and TLS listeners`,
  });

/** `listeners[].mutualAuthentication`: client certificates (mTLS). */
export const mutualAuthenticationField = z
  .strictObject({
    mode: enumOf(MUTUAL_AUTHENTICATION_MODES)
      .default('off')
      .describe(
        'off: no client certificate asked. verify: every client must present a certificate that chains to `trustStore`, or the handshake fails.',
      ),
    trustStore: pemPathField().optional().meta({
      description:
        'With mode verify, required (unless the listener has `identity: true`, which uses the identity trust bundle): the CA certificates (PEM bundle) client certificates must chain to.',
    }),
    allowedIdentities: spiffePatternsField(
      'With mode verify: the SPIFFE IDs (patterns) a client certificate must carry as its one URI SAN; others get 403 FERRY_ERR_IDENTITY_FORBIDDEN. Absent: any verified client.',
    ),
  })
  .optional()
  .meta({
    description:
      'HTTPS and TLS listeners only: mutual TLS, client certificates verified by Ferry (ALB words).',
  });

/** `listeners[].identity`: serve the workload certificate (identity-schema.ts). */
export const listenerIdentityField = booleanField().optional().meta({
  description:
    'HTTPS and TLS listeners: serve the sidecar’s workload certificate (top-level `identity`) instead of `certificates`, and verify clients against its trust bundle. Rotated without dropping connections.',
  'x-default': 'false',
});

// === Target-group keys ===
/** `targetGroups[].protocol`. */
export const targetGroupProtocolField = enumOf(TARGET_GROUP_PROTOCOLS)
  .default('HTTP')
  .describe(
    'How Ferry speaks to the targets: HTTP, HTTPS (TLS to every target, verified by `tls`), or GENEVE (appliances behind a GENEVE listener, GWLB; see docs/gateway.md). Layer-4 listeners (TCP, TLS, UDP) relay bytes and ignore it.',
  );

/** `targetGroups[].tls`: only with protocol HTTPS (tls-rules.ts). */
export const upstreamTlsField = z
  .strictObject({
    ca: pemPathField().optional().meta({
      description: "CA certificates (PEM bundle) the target's certificate must chain to.",
      'x-default': 'the public CAs bundled with Node.js',
    }),
    serverName: z
      .string({
        error: unlessMissing((input) => `expected a DNS name, got ${describeValue(input)}`),
      })
      .max(SERVER_NAME_LENGTH_MAX, {
        error: `expected a DNS name of at most ${SERVER_NAME_LENGTH_MAX} characters`,
      })
      .regex(SERVER_NAME_PATTERN, {
        error: (issue) => `expected a DNS name such as api.internal, got ${describeValue(issue.input)}`,
      })
      .optional()
      .meta({
        description: 'SNI sent to the targets, and the name their certificate must carry.',
        'x-default':
          "the target's host when it is a name; none for an IP address (the IP is verified instead)",
      }),
    cert: pemPathField()
      .optional()
      .describe('Client certificate (PEM) Ferry presents to targets that require one (mTLS); needs `key`.'),
    key: pemPathField().optional().describe('Private key (PEM, unencrypted) of `cert`.'),
    identity: booleanField()
      .default(false)
      .describe(
        'Present the sidecar’s workload certificate (top-level `identity`) and verify targets against its trust bundle, by SPIFFE ID instead of host name.',
      ),
    expectedIdentities: spiffePatternsField(
      "The SPIFFE IDs (patterns) the target's certificate must carry as its one URI SAN, checked instead of the host name. Absent with `identity: true`: any ID of the sidecar's trust domain.",
    ),
    verify: booleanField()
      .default(true)
      .describe(
        "Verify the target's certificate chain and name. false accepts any certificate (encryption without authentication): only for testing.",
      ),
  })
  .optional()
  .meta({
    description: 'HTTPS groups only: how the targets are authenticated, and the certificate Ferry presents.',
  });

// === Normalised output ===
/** The TLS part of a listener snapshot. */
export interface ListenerTlsOutput {
  /** Paths as written; empty for HTTP and TCP listeners. */
  readonly certificates: readonly { readonly cert: string; readonly key: string }[];
  /** The security policy of an HTTPS listener; null for HTTP and TCP. */
  readonly sslPolicy: (typeof TLS_POLICY_NAMES)[number] | null;
  readonly mutualAuthentication: {
    readonly mode: (typeof MUTUAL_AUTHENTICATION_MODES)[number];
    /** Path as written; null when mode is off (or the identity bundle is used). */
    readonly trustStore: string | null;
    /** SPIFFE ID patterns a verified client must match; null = any verified client. */
    readonly allowedIdentities: readonly string[] | null;
  };
  /** Serve the workload certificate (top-level `identity`). */
  readonly identity: boolean;
}

/** Normalise a listener's TLS keys (defaults filled; nothing for non-HTTPS listeners). */
export function listenerTlsOutput(listener: {
  readonly protocol: string;
  readonly certificates?: readonly { readonly cert: string; readonly key: string }[] | undefined;
  readonly sslPolicy?: (typeof TLS_POLICY_NAMES)[number] | undefined;
  readonly mutualAuthentication?:
    | {
        readonly mode: 'off' | 'verify';
        readonly trustStore?: string | undefined;
        readonly allowedIdentities?: readonly string[] | undefined;
      }
    | undefined;
  readonly identity?: boolean | undefined;
}): ListenerTlsOutput {
  if (listener.protocol !== 'HTTPS' && listener.protocol !== 'TLS') {
    return {
      certificates: [],
      sslPolicy: null,
      mutualAuthentication: { mode: 'off', trustStore: null, allowedIdentities: null },
      identity: false,
    };
  }
  const mutual = listener.mutualAuthentication;
  const isVerify = mutual?.mode === 'verify';
  return {
    certificates: listener.certificates ?? [],
    sslPolicy: listener.sslPolicy ?? TLS_POLICY_DEFAULT,
    mutualAuthentication: {
      mode: isVerify ? 'verify' : 'off',
      trustStore: isVerify ? (mutual?.trustStore ?? null) : null,
      allowedIdentities: isVerify ? (mutual?.allowedIdentities ?? null) : null,
    },
    identity: listener.identity ?? false,
  };
}

/** The upstream TLS of a target-group snapshot: null for HTTP groups. */
export interface UpstreamTlsOutput {
  readonly ca: string | null;
  readonly serverName: string | null;
  readonly cert: string | null;
  readonly key: string | null;
  readonly verify: boolean;
  /** Present the workload certificate and trust its bundle. */
  readonly identity: boolean;
  /** SPIFFE ID patterns the target must match; null = host-name verification (or, with identity, the trust domain). */
  readonly expectedIdentities: readonly string[] | null;
}

export function upstreamTlsOutput(
  protocol: TargetGroupProtocol,
  tls:
    | {
        readonly ca?: string | undefined;
        readonly serverName?: string | undefined;
        readonly cert?: string | undefined;
        readonly key?: string | undefined;
        readonly verify: boolean;
        readonly identity: boolean;
        readonly expectedIdentities?: readonly string[] | undefined;
      }
    | undefined,
): UpstreamTlsOutput | null {
  if (protocol !== 'HTTPS') return null;
  return {
    ca: tls?.ca ?? null,
    serverName: tls?.serverName ?? null,
    cert: tls?.cert ?? null,
    key: tls?.key ?? null,
    verify: tls?.verify ?? true,
    identity: tls?.identity ?? false,
    expectedIdentities: tls?.expectedIdentities ?? null,
  };
}
