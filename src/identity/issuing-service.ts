/**
 * @module src/identity/issuing-service
 *
 * `ferry ca serve`: the HTTPS issuing service. A sidecar POSTs a CSR and a
 * bearer token; if the token is known, the CSR is valid and its SPIFFE ID
 * is one the token may have, the service signs an X.509-SVID with the
 * intermediate and answers the chain. Thread: main of the `ferry ca serve`
 * process (not the sidecar).
 *
 *   POST /v1/certificate   authorization: Bearer TOKEN   {"csr": "-----BEGIN CERTIFICATE REQUEST-----…"}
 *     200 {"spiffeId", "chain" (leaf + intermediate PEM), "bundle", "notAfter", "serial"}
 *     4xx {"code": "FERRY_ERR_CA_…", "message"}      nothing issued
 *
 * The private key never leaves the sidecar: only its public key comes, in
 * the CSR. Every issuance is logged (ID, serial, expiry, which token);
 * every refusal too, with its code. Bodies over ISSUE_BODY_BYTES_MAX are
 * refused before they are read (Content-Length) or as soon as they pass it.
 *
 * Tokens: the token file holds one token per line, optionally followed by
 * the ID patterns that token may ask for (`TOKEN spiffe://td/ns/web/**`);
 * a token with no patterns of its own gets `--allowed-ids`, and with none
 * given, any ID in the trust domain. Tokens are compared by SHA-256 digest
 * in constant time.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { isIP } from 'node:net';
import type { Logger } from 'pino';
import { ERROR_CODES, type ErrorCode } from '../../proto/error-codes.ts';
import { ProxyError } from '../shared/errors.ts';
import { compileSpiffePatterns, parseSpiffeId, spiffeIdProblem } from '../shared/spiffe.ts';
import type { IssuingCa } from './ca-store.ts';
import { certificatePem, checkCsr, generateKeyPair, issueLeaf, privateKeyPem } from './x509.ts';

/** Largest request body read, in bytes: a CSR in JSON is about 1 KiB. */
export const ISSUE_BODY_BYTES_MAX = 64 * 1024;
/** An oversized body is read and dropped up to this many bytes (so its sender sees the 413), then cut. */
const ISSUE_DRAIN_BYTES_MAX = 32 * 1024 * 1024;
/** A client has this long to send its whole request. */
const ISSUE_REQUEST_TIMEOUT_MS = 10_000;
/** Default lifetime of an issued workload certificate (linkerd and Istio: 24 h). */
export const WORKLOAD_CERT_LIFETIME_MS_DEFAULT = 24 * 3600 * 1000;
/** The issuing service's own certificate: long enough for a long-running service, renewed on restart. */
const SERVICE_CERT_LIFETIME_MS = 30 * 24 * 3600 * 1000;
/** The SPIFFE ID path the issuing service presents, so a sidecar can tell it from a workload. */
export const ISSUER_SPIFFE_PATH = '/ferry/issuer';
export const ISSUE_PATH = '/v1/certificate';

interface TokenEntry {
  readonly digest: Buffer;
  /** Label for logs: the token's position in the file, never the token. */
  readonly label: string;
  readonly isAllowed: (id: string) => boolean;
  readonly patterns: readonly string[];
}

function digestOf(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

/**
 * Read a token file. Throws FERRY_ERR_CONFIG_INVALID with the line of a
 * bad pattern, or when no token is in the file.
 */
export function loadTokens(
  path: string,
  trustDomain: string,
  defaultPatterns: readonly string[],
): TokenEntry[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ProxyError(
      'FERRY_ERR_CONFIG_INVALID',
      `cannot read the token file ${path} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
    );
  }
  const entries: TokenEntry[] = [];
  for (const [index, rawLine] of text.split('\n').entries()) {
    const line = rawLine.trim();
    if (line === '' || line.startsWith('#')) continue;
    const [token, ...own] = line.split(/\s+/);
    const patterns =
      own.length > 0 ? own : defaultPatterns.length > 0 ? defaultPatterns : [`spiffe://${trustDomain}/**`];
    for (const pattern of patterns) {
      const problem = spiffeIdProblem(pattern, true);
      if (problem !== null)
        throw new ProxyError(
          'FERRY_ERR_CONFIG_INVALID',
          `${path}:${index + 1}: ID pattern ${pattern} ${problem}`,
        );
    }
    entries.push({
      digest: digestOf(token!),
      label: `${path}:${index + 1}`,
      isAllowed: compileSpiffePatterns(patterns),
      patterns,
    });
  }
  if (entries.length === 0) throw new ProxyError('FERRY_ERR_CONFIG_INVALID', `${path} holds no token`);
  return entries;
}

export interface IssuingServiceOptions {
  readonly ca: IssuingCa;
  readonly host: string;
  readonly port: number;
  readonly tokens: readonly TokenEntry[];
  readonly lifetimeMs: number;
  readonly log: Logger;
  /** Wall clock for NotBefore/NotAfter: certificates are checked against real time by every peer. */
  readonly nowMs?: () => number;
}

export interface IssuingService {
  /** `host:port` bound (port 0 resolved). */
  readonly address: string;
  /** How many certificates this process has issued. */
  issuedCount(): number;
  close(): Promise<void>;
}

class Refusal extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

/** Start the issuing service. Its own certificate is issued by the intermediate at start. */
export async function startIssuingService(options: IssuingServiceOptions): Promise<IssuingService> {
  const { ca, log, tokens } = options;
  const nowMs = options.nowMs ?? Date.now;
  const serviceKeys = await generateKeyPair();
  const serviceCert = await issueLeaf(
    ca.issuer,
    serviceKeys.publicKey,
    {
      spiffeId: `spiffe://${ca.trustDomain}${ISSUER_SPIFFE_PATH}`,
      dnsNames: isIP(options.host) === 0 ? [options.host, 'localhost'] : ['localhost'],
      ips: isIP(options.host) !== 0 ? [options.host, '127.0.0.1'] : ['127.0.0.1'],
    },
    SERVICE_CERT_LIFETIME_MS,
    nowMs(),
  );
  let issued = 0;

  const issue = async (authorization: string | undefined, body: string): Promise<Record<string, string>> => {
    const token = authorization?.startsWith('Bearer ') ? authorization.slice(7).trim() : '';
    const digest = digestOf(token);
    const entry =
      token === '' ? undefined : tokens.find((candidate) => timingSafeEqual(candidate.digest, digest));
    if (entry === undefined)
      throw new Refusal('FERRY_ERR_CA_UNAUTHORIZED', 'missing or unknown bearer token');
    let csrPem: unknown;
    try {
      csrPem = (JSON.parse(body) as { csr?: unknown }).csr;
    } catch {
      throw new Refusal('FERRY_ERR_CA_BAD_REQUEST', 'the body is not JSON: send {"csr": "<PEM>"}');
    }
    if (typeof csrPem !== 'string')
      throw new Refusal('FERRY_ERR_CA_BAD_REQUEST', 'the body has no "csr" string');
    const checked = await checkCsr(csrPem);
    if ('problem' in checked) throw new Refusal('FERRY_ERR_CA_BAD_CSR', `the CSR ${checked.problem}`);
    const id = parseSpiffeId(checked.spiffeId);
    if (id === null)
      throw new Refusal(
        'FERRY_ERR_CA_BAD_CSR',
        `the CSR's URI SAN ${checked.spiffeId} is not a SPIFFE ID (${spiffeIdProblem(checked.spiffeId)})`,
      );
    if (id.trustDomain !== ca.trustDomain)
      throw new Refusal(
        'FERRY_ERR_CA_ID_FORBIDDEN',
        `${checked.spiffeId} is outside the trust domain ${ca.trustDomain}`,
      );
    if (!entry.isAllowed(checked.spiffeId))
      throw new Refusal(
        'FERRY_ERR_CA_ID_FORBIDDEN',
        `${checked.spiffeId} is not allowed for this token (allowed: ${entry.patterns.join(' ')})`,
      );
    const leaf = await issueLeaf(
      ca.issuer,
      checked.publicKey,
      { spiffeId: checked.spiffeId },
      options.lifetimeMs,
      nowMs(),
    );
    issued++;
    log.info(
      {
        spiffeId: checked.spiffeId,
        serial: leaf.serialNumber,
        notAfter: leaf.notAfter.toISOString(),
        token: entry.label,
      },
      'certificate issued',
    );
    return {
      spiffeId: checked.spiffeId,
      chain: `${certificatePem(leaf)}\n${ca.intermediatePem.trim()}\n`,
      bundle: ca.bundlePem,
      notAfter: leaf.notAfter.toISOString(),
      serial: leaf.serialNumber,
    };
  };

  const server = https.createServer(
    {
      cert: `${certificatePem(serviceCert)}\n${ca.intermediatePem.trim()}\n`,
      key: privateKeyPem(serviceKeys.privateKey),
      minVersion: 'TLSv1.2',
      requestTimeout: ISSUE_REQUEST_TIMEOUT_MS,
      headersTimeout: ISSUE_REQUEST_TIMEOUT_MS,
    },
    (req, res) => {
      const answer = (status: number, payload: Record<string, string>) => {
        if (res.headersSent) return;
        const text = JSON.stringify(payload);
        res.writeHead(status, {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(text),
        });
        res.end(text);
      };
      const refuse = (refusal: Refusal) => {
        log.warn(
          { code: refusal.code, remote: req.socket.remoteAddress, reason: refusal.message },
          'certificate refused',
        );
        answer(ERROR_CODES[refusal.code].status, { code: refusal.code, message: refusal.message });
      };
      if (req.method !== 'POST' || req.url !== ISSUE_PATH) {
        req.resume();
        refuse(
          new Refusal(
            'FERRY_ERR_CA_BAD_REQUEST',
            `${req.method} ${req.url}: the service takes POST ${ISSUE_PATH}`,
          ),
        );
        return;
      }
      const tooLarge = new Refusal(
        'FERRY_ERR_CA_BODY_TOO_LARGE',
        `the body is larger than ${ISSUE_BODY_BYTES_MAX} bytes`,
      );
      // An oversized body is answered at once and then read into nothing, so the client (still
      // writing) gets the answer instead of a reset; past ISSUE_DRAIN_BYTES_MAX the socket is cut.
      const chunks: Buffer[] = [];
      let size = 0;
      let isOver = Number(req.headers['content-length'] ?? '0') > ISSUE_BODY_BYTES_MAX;
      if (isOver) refuse(tooLarge);
      req.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > ISSUE_DRAIN_BYTES_MAX) {
          req.socket.destroy();
          return;
        }
        if (isOver) return;
        if (size > ISSUE_BODY_BYTES_MAX) {
          isOver = true;
          chunks.length = 0;
          refuse(tooLarge);
          return;
        }
        chunks.push(chunk);
      });
      req.on('end', () => {
        if (isOver) return;
        issue(req.headers.authorization, Buffer.concat(chunks).toString('utf8')).then(
          (payload) => answer(200, payload),
          (error: unknown) => {
            if (error instanceof Refusal) refuse(error);
            else {
              log.error({ err: (error as Error).message }, 'issuing failed');
              answer(500, { code: 'FERRY_ERR_INTERNAL_BUG', message: 'issuing failed' });
            }
          },
        );
      });
    },
  );
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        new ProxyError(
          'FERRY_ERR_LISTEN_FAILED',
          `cannot bind ${options.host}:${options.port}: ${error.code ?? error.message}`,
        ),
      ),
    );
    server.listen({ host: options.host, port: options.port }, resolve);
  });
  const port = (server.address() as AddressInfo).port;
  const address = `${options.host.includes(':') ? `[${options.host}]` : options.host}:${port}`;
  log.info(
    { address, trustDomain: ca.trustDomain, lifetimeMs: options.lifetimeMs, tokens: tokens.length },
    'issuing service listening',
  );
  return {
    address,
    issuedCount: () => issued,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
