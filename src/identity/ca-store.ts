/**
 * @module src/identity/ca-store
 *
 * The files of a Ferry CA folder, made by `ferry ca init` and read by
 * `ferry ca issue` and `ferry ca serve`. Thread: main (CLI).
 *
 *   DIR/ca.json            { trustDomain }                    0644
 *   DIR/bundle.pem         the trust bundle (the root)        0644  <- give this to every sidecar
 *   DIR/root.pem           the root certificate               0644
 *   DIR/root.key           the root's private key             0600  <- move offline after init
 *   DIR/intermediate.pem   the issuing CA's certificate       0644
 *   DIR/intermediate.key   the issuing CA's private key       0600  <- what `ca serve` needs
 *
 * Why two levels (linkerd's trust anchor + issuer, Istio's plug-in CA):
 * the root signs only the intermediate, once, so its key can live on a
 * machine that is off; the issuing service holds a key that can be
 * replaced (a new intermediate under the same root) without touching any
 * sidecar's trust bundle. Nothing here reads root.key after init.
 */
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { ProxyError } from '../shared/errors.ts';
import {
  certificatePem,
  createIntermediate,
  createRoot,
  keyPairFromPem,
  parseCertificate,
  privateKeyPem,
  type SigningCa,
} from './x509.ts';

/** The root outlives many intermediates: 10 years (linkerd's trust anchors are typically long-lived too). */
export const ROOT_LIFETIME_MS = 10 * 365 * 24 * 3600 * 1000;
/** The issuing intermediate: 1 year; rotate it under the same root before then. */
export const INTERMEDIATE_LIFETIME_MS = 365 * 24 * 3600 * 1000;

export const CA_FILES = {
  meta: 'ca.json',
  bundle: 'bundle.pem',
  rootCert: 'root.pem',
  rootKey: 'root.key',
  intermediateCert: 'intermediate.pem',
  intermediateKey: 'intermediate.key',
} as const;

/** Write a new file only (O_EXCL): never replaces one that appeared meanwhile. */
function writeNew(path: string, text: string, mode: number): void {
  const fd = openSync(path, 'wx', mode);
  try {
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
  chmodSync(path, mode); // the umask may have taken bits off `mode`
}

/**
 * Make a CA in `dir` for `trustDomain`. Throws FERRY_ERR_CA_EXISTS (and
 * writes nothing) when any CA file is already there.
 */
export async function initCa(dir: string, trustDomain: string, nowMs: number): Promise<void> {
  for (const name of Object.values(CA_FILES)) {
    if (existsSync(join(dir, name)))
      throw new ProxyError(
        'FERRY_ERR_CA_EXISTS',
        `${join(dir, name)} exists: ${dir} already holds a CA; refusing to overwrite it (choose another --dir)`,
      );
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const root = await createRoot(trustDomain, ROOT_LIFETIME_MS, nowMs);
  const intermediate = await createIntermediate(root, trustDomain, INTERMEDIATE_LIFETIME_MS, nowMs);
  const rootPem = certificatePem(root.certificate);
  // Keys first: a folder with certificates but no keys would look like a CA that cannot sign.
  writeNew(join(dir, CA_FILES.rootKey), privateKeyPem(root.keys.privateKey), 0o600);
  writeNew(join(dir, CA_FILES.intermediateKey), privateKeyPem(intermediate.keys.privateKey), 0o600);
  writeNew(join(dir, CA_FILES.rootCert), rootPem, 0o644);
  writeNew(join(dir, CA_FILES.intermediateCert), certificatePem(intermediate.certificate), 0o644);
  writeNew(join(dir, CA_FILES.bundle), rootPem, 0o644);
  writeNew(join(dir, CA_FILES.meta), `${JSON.stringify({ trustDomain }, null, 2)}\n`, 0o644);
}

/** The issuing side of a CA folder: what `ca issue` and `ca serve` sign with. */
export interface IssuingCa {
  readonly trustDomain: string;
  readonly issuer: SigningCa;
  /** PEM of the intermediate, appended to every leaf (the chain a peer needs besides the bundle). */
  readonly intermediatePem: string;
  readonly bundlePem: string;
}

/** Read the issuing intermediate of `dir`. Throws FERRY_ERR_CA_NOT_FOUND with the missing file. */
export function loadIssuingCa(dir: string): IssuingCa {
  const read = (name: string): string => {
    try {
      return readFileSync(join(dir, name), 'utf8');
    } catch (error) {
      throw new ProxyError(
        'FERRY_ERR_CA_NOT_FOUND',
        `cannot read ${join(dir, name)} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); make a CA with: ferry ca init --dir ${dir} --trust-domain TD`,
      );
    }
  };
  const meta = JSON.parse(read(CA_FILES.meta)) as { trustDomain?: unknown };
  if (typeof meta.trustDomain !== 'string')
    throw new ProxyError('FERRY_ERR_CA_NOT_FOUND', `${join(dir, CA_FILES.meta)} names no trustDomain`);
  const intermediatePem = read(CA_FILES.intermediateCert);
  return {
    trustDomain: meta.trustDomain,
    issuer: {
      certificate: parseCertificate(intermediatePem),
      keys: keyPairFromPem(read(CA_FILES.intermediateKey)),
    },
    intermediatePem,
    bundlePem: read(CA_FILES.bundle),
  };
}
