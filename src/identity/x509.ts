/**
 * @module src/identity/x509
 *
 * Making and reading the certificates of Ferry's mesh identity, with
 * @peculiar/x509 (no hand-written ASN.1): the CA's root and intermediate,
 * X.509-SVID leaf certificates, and the CSRs a sidecar sends. Thread: main
 * (the CA commands and the sidecar's identity manager), never the data plane.
 *
 * X.509-SVID rules followed (SPIFFE X509-SVID spec §4, §5):
 *   - ECDSA P-256 keys, ECDSA-SHA256 signatures;
 *   - a leaf has exactly one URI SAN (its SPIFFE ID), basicConstraints
 *     cA=false (critical), keyUsage digitalSignature (critical), and
 *     extendedKeyUsage serverAuth + clientAuth, so the same certificate
 *     serves listeners and presents itself to upstream sidecars;
 *   - a signing certificate has cA=true, keyCertSign + cRLSign, and the
 *     trust domain's URI (`spiffe://td`) as its SAN;
 *   - NotBefore is backdated by CERT_BACKDATE_MS for clock skew between
 *     hosts (Istio backdates too).
 */
import 'reflect-metadata'; // @peculiar/x509 resolves its parsers through tsyringe, which needs it.
import { createPrivateKey, createPublicKey, KeyObject, randomBytes, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

type CryptoKey = webcrypto.CryptoKey;

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

/** ECDSA P-256 with SHA-256: the one algorithm of Ferry's identities. */
export const EC_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
/** NotBefore is this far in the past, so a peer whose clock runs behind still accepts a fresh certificate. */
export const CERT_BACKDATE_MS = 60_000;
/** Largest CSR accepted, in PEM characters: a P-256 CSR with one URI is under 1 KiB. */
export const CSR_PEM_LENGTH_MAX = 16 * 1024;

export interface KeyPair {
  readonly privateKey: CryptoKey;
  readonly publicKey: CryptoKey;
}

/** A new P-256 key pair (extractable: it is written to a 0600 file). */
export async function generateKeyPair(): Promise<KeyPair> {
  return (await webcrypto.subtle.generateKey(EC_ALGORITHM, true, ['sign', 'verify'])) as KeyPair;
}

/** PKCS#8 PEM of a private key. */
export function privateKeyPem(key: CryptoKey): string {
  return KeyObject.from(key).export({ type: 'pkcs8', format: 'pem' }) as string;
}

/** A PEM private key (PKCS#8 or SEC1) as a signing key pair. Throws on anything else. */
export function keyPairFromPem(pem: string): KeyPair {
  const keyObject = createPrivateKey(pem);
  const privateKey = keyObject.toCryptoKey(EC_ALGORITHM, true, ['sign']);
  const publicKey = createPublicKey(keyObject).toCryptoKey(EC_ALGORITHM, true, ['verify']);
  return { privateKey, publicKey };
}

/** A random positive 128-bit serial, in hex (RFC 5280 §4.1.2.2: at most 20 octets, positive). */
function serialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0] = bytes[0]! & 0x7f;
  return bytes.toString('hex');
}

/** One signing certificate and its key. */
export interface SigningCa {
  readonly certificate: x509.X509Certificate;
  readonly keys: KeyPair;
}

/** The self-signed root of a trust domain. */
export async function createRoot(trustDomain: string, lifetimeMs: number, nowMs: number): Promise<SigningCa> {
  const keys = await generateKeyPair();
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialNumber(),
    name: `O=Ferry, CN=Ferry root CA ${trustDomain}`,
    notBefore: new Date(nowMs - CERT_BACKDATE_MS),
    notAfter: new Date(nowMs + lifetimeMs),
    signingAlgorithm: EC_ALGORITHM,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 1, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      new x509.SubjectAlternativeNameExtension([{ type: 'url', value: `spiffe://${trustDomain}` }]),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certificate, keys };
}

/** The issuing intermediate, signed by the root; it may sign leaves only (pathLen 0). */
export async function createIntermediate(
  root: SigningCa,
  trustDomain: string,
  lifetimeMs: number,
  nowMs: number,
): Promise<SigningCa> {
  const keys = await generateKeyPair();
  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: serialNumber(),
    subject: `O=Ferry, CN=Ferry issuing CA ${trustDomain}`,
    issuer: root.certificate.subject,
    notBefore: new Date(nowMs - CERT_BACKDATE_MS),
    notAfter: new Date(Math.min(nowMs + lifetimeMs, root.certificate.notAfter.getTime())),
    signingAlgorithm: EC_ALGORITHM,
    publicKey: keys.publicKey,
    signingKey: root.keys.privateKey,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      new x509.SubjectAlternativeNameExtension([{ type: 'url', value: `spiffe://${trustDomain}` }]),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(root.keys.publicKey),
    ],
  });
  return { certificate, keys };
}

/** What a leaf names besides its SPIFFE ID (the issuing service's own certificate adds its address). */
export interface LeafNames {
  readonly spiffeId: string;
  readonly dnsNames?: readonly string[];
  readonly ips?: readonly string[];
}

/**
 * Sign an X.509-SVID for `publicKey`. Its NotAfter never passes the
 * issuer's (a chain is only as valid as its shortest link).
 */
export async function issueLeaf(
  issuer: SigningCa,
  publicKey: CryptoKey,
  names: LeafNames,
  lifetimeMs: number,
  nowMs: number,
): Promise<x509.X509Certificate> {
  const sans: x509.JsonGeneralName[] = [{ type: 'url', value: names.spiffeId }];
  for (const dns of names.dnsNames ?? []) sans.push({ type: 'dns', value: dns });
  for (const ip of names.ips ?? []) sans.push({ type: 'ip', value: ip });
  return x509.X509CertificateGenerator.create({
    serialNumber: serialNumber(),
    subject: 'O=Ferry',
    issuer: issuer.certificate.subject,
    notBefore: new Date(nowMs - CERT_BACKDATE_MS),
    notAfter: new Date(Math.min(nowMs + lifetimeMs, issuer.certificate.notAfter.getTime())),
    signingAlgorithm: EC_ALGORITHM,
    publicKey,
    signingKey: issuer.keys.privateKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([
        x509.ExtendedKeyUsage.serverAuth,
        x509.ExtendedKeyUsage.clientAuth,
      ]),
      // Critical when the subject carries no name of its own would be RFC 5280's rule; ours has O=Ferry.
      new x509.SubjectAlternativeNameExtension(sans),
      await x509.SubjectKeyIdentifierExtension.create(publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(issuer.keys.publicKey),
    ],
  });
}

/** A PKCS#10 request for `spiffeId`, signed with the sidecar's own key (which never leaves it). */
export async function createCsr(keys: KeyPair, spiffeId: string): Promise<string> {
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: 'O=Ferry',
    keys,
    signingAlgorithm: EC_ALGORITHM,
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'url', value: spiffeId }])],
  });
  return csr.toString('pem');
}

/** id-ce-subjectAltName (RFC 5280 §4.2.1.6). */
const SUBJECT_ALT_NAME_OID = '2.5.29.17';

/** A CSR that passed every check: its signature, one URI SAN, a P-256 key. */
export interface CheckedCsr {
  readonly spiffeId: string;
  readonly publicKey: CryptoKey;
}

/**
 * Parse and check a PEM CSR. Returns the reason in words when it is not
 * acceptable: not PEM, does not parse, bad self-signature, not exactly one
 * URI SAN, other SAN types, or a key other than ECDSA P-256. Never throws.
 */
export async function checkCsr(pem: string): Promise<CheckedCsr | { readonly problem: string }> {
  if (pem.length > CSR_PEM_LENGTH_MAX) return { problem: `longer than ${CSR_PEM_LENGTH_MAX} characters` };
  if (!pem.includes('-----BEGIN CERTIFICATE REQUEST-----'))
    return { problem: 'not a PEM certificate request (-----BEGIN CERTIFICATE REQUEST-----)' };
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(pem);
  } catch (error) {
    return { problem: `does not parse (${(error as Error).message})` };
  }
  let isSigned = false;
  try {
    isSigned = await csr.verify();
  } catch {
    isSigned = false;
  }
  if (!isSigned) return { problem: 'its signature does not verify with its own key' };
  const algorithm = csr.publicKey.algorithm as { name: string; namedCurve?: string };
  if (algorithm.name !== 'ECDSA' || algorithm.namedCurve !== 'P-256')
    return {
      problem: `the key must be ECDSA P-256 (got ${algorithm.name} ${algorithm.namedCurve ?? ''})`.trim(),
    };
  const san = csr.getExtension(SUBJECT_ALT_NAME_OID);
  const names = san instanceof x509.SubjectAlternativeNameExtension ? san.names.items : [];
  const uris = names.filter((name) => name.type === 'url').map((name) => name.value);
  if (uris.length !== 1 || names.length !== 1)
    return {
      problem: `must name exactly one URI SAN (its SPIFFE ID) and nothing else; it names ${names.length}`,
    };
  let publicKey: CryptoKey;
  try {
    publicKey = await csr.publicKey.export(EC_ALGORITHM, ['verify']);
  } catch (error) {
    return { problem: `its public key cannot be read (${(error as Error).message})` };
  }
  return { spiffeId: uris[0]!, publicKey };
}

/** Parse a PEM certificate (first block). Throws on a bad one. */
export function parseCertificate(pem: string): x509.X509Certificate {
  return new x509.X509Certificate(pem);
}

/** PEM of a certificate. */
export function certificatePem(certificate: x509.X509Certificate): string {
  return certificate.toString('pem');
}
