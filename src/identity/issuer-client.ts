/**
 * @module src/identity/issuer-client
 *
 * The sidecar's side of `ferry ca serve`: send a CSR with the token, get
 * the chain back, and check it before anything uses it. Thread: main.
 *
 * The connection to the issuer is verified against the trust bundle (the
 * issuer's certificate is issued by the same CA) and its host; the answer
 * is checked too: the leaf carries exactly the SPIFFE ID asked for, holds
 * our public key, and chains to the bundle. An issuer that answers
 * anything else is treated as unreachable (FERRY_ERR_IDENTITY_UNAVAILABLE).
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import https from 'node:https';
import { isIP } from 'node:net';
import { ProxyError } from '../shared/errors.ts';
import { spiffeIdOfSan } from '../shared/spiffe.ts';
import { ISSUE_PATH } from './issuing-service.ts';
import { createCsr, generateKeyPair, privateKeyPem } from './x509.ts';

/** One request to the issuer may take this long, connect to answer. */
export const ISSUER_REQUEST_TIMEOUT_MS = 10_000;
/** Largest answer read: a chain and a bundle are a few KiB. */
const ISSUER_ANSWER_BYTES_MAX = 256 * 1024;

export interface IssuerTarget {
  readonly host: string;
  readonly port: number;
  readonly token: string;
  readonly bundlePem: string;
}

/** What the sidecar writes for its workers: a fresh key and the chain for it. */
export interface IssuedIdentity {
  readonly chainPem: string;
  readonly keyPem: string;
  readonly bundlePem: string;
  readonly notAfterMs: number;
  readonly notBeforeMs: number;
  readonly serial: string;
}

function unavailable(message: string): ProxyError {
  return new ProxyError('FERRY_ERR_IDENTITY_UNAVAILABLE', message);
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/** True when `chain[0]` chains through the rest of `chain` to a certificate of the bundle. */
function chainsToBundle(chain: readonly X509Certificate[], bundle: readonly X509Certificate[]): boolean {
  let current = chain[0];
  for (let depth = 0; current !== undefined && depth <= chain.length; depth++) {
    const cert: X509Certificate = current;
    const anchor = bundle.find((root) => cert.checkIssued(root) && cert.verify(root.publicKey));
    if (anchor !== undefined) return true;
    current = chain.find((candidate) => cert.checkIssued(candidate) && cert.verify(candidate.publicKey));
    if (current === cert) return false;
  }
  return false;
}

/**
 * Ask the issuer for a certificate for `spiffeId` with a new key. Throws
 * FERRY_ERR_IDENTITY_UNAVAILABLE with the reason (connection, refusal with
 * the issuer's code, or an answer that does not check out).
 */
export async function requestIdentity(target: IssuerTarget, spiffeId: string): Promise<IssuedIdentity> {
  const keys = await generateKeyPair();
  const csr = await createCsr(keys, spiffeId);
  const body = JSON.stringify({ csr });
  const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = https.request(
      {
        host: target.host,
        port: target.port,
        method: 'POST',
        path: ISSUE_PATH,
        ca: target.bundlePem,
        ...(isIP(target.host) === 0 ? { servername: target.host } : {}),
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          authorization: `Bearer ${target.token}`,
        },
        timeout: ISSUER_REQUEST_TIMEOUT_MS,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > ISSUER_ANSWER_BYTES_MAX) {
            req.destroy(unavailable(`the issuer's answer is larger than ${ISSUER_ANSWER_BYTES_MAX} bytes`));
            return;
          }
          chunks.push(chunk);
        });
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () =>
      req.destroy(unavailable(`the issuer did not answer within ${ISSUER_REQUEST_TIMEOUT_MS} ms`)),
    );
    req.on('error', (error: NodeJS.ErrnoException) =>
      reject(
        error instanceof ProxyError
          ? error
          : unavailable(
              `cannot reach the issuer at ${target.host}:${target.port}: ${error.code ?? error.message}`,
            ),
      ),
    );
    req.end(body);
  });
  let answer: Record<string, unknown>;
  try {
    answer = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw unavailable(`the issuer answered ${status} with a body that is not JSON`);
  }
  if (status !== 200)
    throw unavailable(
      `the issuer refused: ${String(answer['code'] ?? status)}: ${String(answer['message'] ?? '')}`,
    );
  const chainPem = answer['chain'];
  if (typeof chainPem !== 'string') throw unavailable('the issuer answered no chain');
  const chain = (chainPem.match(PEM_CERTIFICATE) ?? []).map((block) => new X509Certificate(block));
  const bundle = (target.bundlePem.match(PEM_CERTIFICATE) ?? []).map((block) => new X509Certificate(block));
  const leaf = chain[0];
  if (leaf === undefined) throw unavailable('the issuer answered an empty chain');
  if (spiffeIdOfSan(leaf.subjectAltName) !== spiffeId)
    throw unavailable(`the issued certificate names ${leaf.subjectAltName ?? 'nothing'}, not ${spiffeId}`);
  const keyPem = privateKeyPem(keys.privateKey);
  if (!leaf.checkPrivateKey(createPrivateKey(keyPem)))
    throw unavailable('the issued certificate is not for the key this sidecar sent');
  if (!chainsToBundle(chain, bundle))
    throw unavailable('the issued chain does not verify against the trust bundle');
  return {
    chainPem,
    keyPem,
    bundlePem: target.bundlePem,
    notAfterMs: leaf.validToDate.getTime(),
    notBeforeMs: leaf.validFromDate.getTime(),
    serial: leaf.serialNumber,
  };
}
