/**
 * @module src/config/identity-schema
 *
 * The mesh-identity keys of the config (issue 14), as zod fields that
 * schema.ts and tls-schema.ts place:
 *
 *   identity:                          the sidecar's SPIFFE ID and where its certificate comes from
 *   listeners[].identity               serve the workload certificate (HTTPS, TLS)
 *   listeners[].mutualAuthentication.allowedIdentities    authorize callers by SPIFFE ID
 *   targetGroups[].tls.identity / expectedIdentities      present it to targets, check theirs
 *
 * Thread: main (config time). Cross-key rules (a listener's `identity: true`
 * needs the top-level block; files readable) are in tls-rules.ts.
 */
import { z } from 'zod';
import { spiffeIdProblem } from '../shared/spiffe.ts';
import { parseAddress } from './address.ts';
import { describeValue } from './config-error.ts';
import { unlessMissing } from './fields.ts';

/** Patterns one listener or group may list: a handful in practice, bounded so matching stays cheap. */
export const IDENTITY_PATTERNS_MAX = 100;
/** Longest path in the identity block. */
const IDENTITY_PATH_LENGTH_MAX = 4_096;

/** A SPIFFE ID (`isPattern` false) or an ID pattern with `*` segments and a final `/**`. */
export function spiffeField(isPattern: boolean) {
  const noun = isPattern ? 'a SPIFFE ID pattern' : 'a SPIFFE ID';
  return z
    .string({ error: unlessMissing((input) => `expected ${noun}, got ${describeValue(input)}`) })
    .superRefine((text, ctx) => {
      const problem = spiffeIdProblem(text, isPattern);
      if (problem !== null)
        ctx.addIssue({
          code: 'custom',
          message: `expected ${noun} such as spiffe://ferry.local/ns/default/sa/${isPattern ? '*' : 'web'}: ${describeValue(text)} ${problem}`,
          input: text,
        });
    })
    .meta({
      'x-type': isPattern ? 'SPIFFE ID pattern' : 'SPIFFE ID',
      'x-allowed': isPattern
        ? 'spiffe://TD/path; `*` matches within one path segment, a final `/**` any path below'
        : 'spiffe://TRUST-DOMAIN/path',
    });
}

/** A list of ID patterns. */
export function spiffePatternsField(description: string) {
  return z
    .array(spiffeField(true), {
      error: unlessMissing((input) => `expected a list of SPIFFE ID patterns, got ${describeValue(input)}`),
    })
    .max(IDENTITY_PATTERNS_MAX, { error: `at most ${IDENTITY_PATTERNS_MAX} patterns` })
    .optional()
    .meta({ description });
}

function pathField(what: string) {
  return z
    .string({ error: unlessMissing((input) => `expected a path to ${what}, got ${describeValue(input)}`) })
    .min(1, { error: `expected a path to ${what}, got ""` })
    .max(IDENTITY_PATH_LENGTH_MAX, {
      error: `expected a path of at most ${IDENTITY_PATH_LENGTH_MAX} characters`,
    })
    .meta({ 'x-type': 'path', 'x-allowed': 'relative paths start at the config file’s folder' });
}

const issuerAddressField = z
  .string({ error: unlessMissing((input) => `expected host:port, got ${describeValue(input)}`) })
  .transform((text, ctx) => {
    const parsed = parseAddress(text, 1);
    if (parsed.ok) return parsed.value;
    ctx.addIssue({ code: 'custom', message: `${parsed.message}, got ${describeValue(text)}`, input: text });
    return z.NEVER;
  })
  .meta({ 'x-type': 'host:port', 'x-allowed': 'IPv4, [IPv6] or host name; port 1..65535' });

/** The top-level `identity` block. */
export const identityField = z
  .strictObject({
    spiffeId: spiffeField(false).describe(
      'This sidecar’s SPIFFE ID: the one URI SAN of its workload certificate, e.g. spiffe://ferry.local/ns/default/sa/web.',
    ),
    issuer: z
      .strictObject({
        address: issuerAddressField.describe('Where `ferry ca serve` listens (HTTPS).'),
        tokenFile: pathField('a token file').describe(
          'File holding the bearer token the issuer knows (first non-empty line). Re-read at every renewal.',
        ),
        trustBundle: pathField('a PEM bundle').describe(
          'The trust bundle (the CA’s bundle.pem): verifies the issuer, peers’ certificates and its answers.',
        ),
      })
      .optional()
      .meta({
        description:
          'Get the workload certificate from Ferry’s issuing service: a CSR is sent (the key never leaves the sidecar), renewed at about half its lifetime. Exactly one of issuer and files.',
      }),
    files: z
      .strictObject({
        cert: pathField('a PEM certificate').describe(
          'The workload certificate chain (leaf first), written by another system.',
        ),
        key: pathField('a PEM key').describe('Its private key.'),
        bundle: pathField('a PEM bundle').describe('The trust bundle peers’ certificates must chain to.'),
      })
      .optional()
      .meta({
        description:
          'Use files another system writes and rotates (cert-manager csi-driver-spiffe, SPIRE’s spiffe-helper): re-read when they change. Exactly one of issuer and files.',
      }),
    dir: pathField('a folder').optional().meta({
      description:
        'With issuer: the folder the certificate, key (0600) and bundle are written to, for the workers to read.',
      'x-default': 'a new private folder under the system temp folder',
    }),
  })
  .optional()
  .meta({
    description:
      'Mesh identity (docs/identity.md): the sidecar’s SPIFFE ID and where its short-lived certificate comes from. Listeners and target groups use it with `identity: true`.',
  });

/** The normalised identity block. */
export interface IdentityOutput {
  readonly spiffeId: string;
  /** Paths as written. */
  readonly issuer: {
    readonly address: string;
    readonly host: string;
    readonly port: number;
    readonly tokenFile: string;
    readonly trustBundle: string;
  } | null;
  readonly files: { readonly cert: string; readonly key: string; readonly bundle: string } | null;
  readonly dir: string | null;
}

export function identityOutput(identity: z.output<typeof identityField>): IdentityOutput | null {
  if (identity === undefined) return null;
  return {
    spiffeId: identity.spiffeId,
    issuer:
      identity.issuer === undefined
        ? null
        : {
            address: identity.issuer.address.address,
            host: identity.issuer.address.host,
            port: identity.issuer.address.port,
            tokenFile: identity.issuer.tokenFile,
            trustBundle: identity.issuer.trustBundle,
          },
    files: identity.files ?? null,
    dir: identity.dir ?? null,
  };
}
