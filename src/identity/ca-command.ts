/**
 * @module src/identity/ca-command
 *
 * `ferry ca init | issue | serve`: Ferry's built-in certificate authority
 * for mesh identity. Thread: main of the `ferry` process (src/cli/ferry.ts
 * hands over everything after `ca`). Each command answers `--help`; a bad
 * argument is exit 2 with the usage, a refused action exit 1 with its
 * FERRY_ERR_* code.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { parseAddress, parseDuration } from '../config/index.ts';
import { isProxyError, ProxyError } from '../shared/errors.ts';
import { isTrustDomain, parseSpiffeId, spiffeIdProblem } from '../shared/spiffe.ts';
import { initCa, loadIssuingCa } from './ca-store.ts';
import { loadTokens, startIssuingService, WORKLOAD_CERT_LIFETIME_MS_DEFAULT } from './issuing-service.ts';
import { certificatePem, generateKeyPair, issueLeaf, privateKeyPem } from './x509.ts';

/** Shortest lifetime `--ttl` accepts: below this a sidecar would renew more often than it serves. */
export const WORKLOAD_CERT_LIFETIME_MS_MIN = 10_000;
/** Longest `--ttl`: short-lived is the point (the intermediate caps it anyway). */
export const WORKLOAD_CERT_LIFETIME_MS_MAX = 90 * 24 * 3600 * 1000;

const USAGE = `usage:
  ferry ca init  --dir DIR --trust-domain TD
      make a root CA (keep its key offline) and an issuing intermediate in DIR;
      writes DIR/bundle.pem (the trust bundle for every sidecar), keys with mode 0600;
      refuses to overwrite an existing CA
  ferry ca issue --dir DIR --spiffe-id ID --out PREFIX [--ttl 24h]
      issue a workload certificate and key without a service: PREFIX.pem (leaf + intermediate)
      and PREFIX.key (0600); for tests, bootstrapping and air-gapped hosts
  ferry ca serve --dir DIR --address HOST:PORT --token-file FILE [--allowed-ids PATTERN ...] [--ttl 24h]
      the HTTPS issuing service: sidecars POST a CSR and a token and get their chain back;
      the token file holds one token per line, each optionally followed by its own ID patterns;
      --allowed-ids restricts tokens without patterns (default: any ID in the trust domain)

ID patterns: * matches within one path segment, a final /** any path below:
  spiffe://ferry.local/ns/default/sa/*   spiffe://ferry.local/ns/payments/**
`;

function fail(message: string): number {
  process.stderr.write(`ferry ca: ${message}\n${USAGE}`);
  return 2;
}

function refuse(error: unknown): number {
  if (isProxyError(error)) {
    process.stderr.write(`ferry ca: ${error.code}: ${error.message}\n`);
    return 1;
  }
  process.stderr.write(`ferry ca: FERRY_ERR_INTERNAL_BUG: ${(error as Error).message}\n`);
  return 1;
}

function lifetimeOf(text: string | undefined): number | string {
  if (text === undefined) return WORKLOAD_CERT_LIFETIME_MS_DEFAULT;
  const parsed = parseDuration(text, WORKLOAD_CERT_LIFETIME_MS_MAX);
  if (!parsed.ok && parsed.isTooLong) return `--ttl: expected 10s..90d, got ${text}`;
  if (!parsed.ok) return `--ttl: ${parsed.message}`;
  if (parsed.ms < WORKLOAD_CERT_LIFETIME_MS_MIN || parsed.ms > WORKLOAD_CERT_LIFETIME_MS_MAX)
    return `--ttl: expected 10s..90d, got ${text}`;
  return parsed.ms;
}

/** Run `ferry ca …` with the arguments after `ca`. Resolves the exit code; -1 = keep running (serve). */
export async function runCa(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h') {
    process.stdout.write(USAGE);
    return command === undefined ? 2 : 0;
  }
  let values: Record<string, string | boolean | string[] | undefined>;
  try {
    values = parseArgs({
      args: [...rest],
      options: {
        dir: { type: 'string' },
        'trust-domain': { type: 'string' },
        'spiffe-id': { type: 'string' },
        out: { type: 'string' },
        ttl: { type: 'string' },
        address: { type: 'string' },
        'token-file': { type: 'string' },
        'allowed-ids': { type: 'string', multiple: true },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: true,
    }).values;
  } catch (error) {
    return fail((error as Error).message);
  }
  if (values['help'] === true) {
    process.stdout.write(USAGE);
    return 0;
  }
  const dir = values['dir'];
  if (typeof dir !== 'string') return fail('--dir is required');
  try {
    switch (command) {
      case 'init':
        return await init(resolve(dir), values['trust-domain']);
      case 'issue':
        return await issue(resolve(dir), values['spiffe-id'], values['out'], values['ttl']);
      case 'serve':
        return await serve(resolve(dir), values);
      default:
        return fail(`unknown command ${JSON.stringify(command)}: expected init, issue or serve`);
    }
  } catch (error) {
    return refuse(error);
  }
}

async function init(dir: string, trustDomain: unknown): Promise<number> {
  if (typeof trustDomain !== 'string') return fail('--trust-domain is required (e.g. ferry.local)');
  if (!isTrustDomain(trustDomain)) return fail(`--trust-domain: ${trustDomain} may hold only a-z 0-9 . - _`);
  await initCa(dir, trustDomain, Date.now());
  process.stdout.write(
    `CA for spiffe://${trustDomain} in ${dir}\n  trust bundle: ${dir}/bundle.pem (give it to every sidecar)\n  root key:     ${dir}/root.key (move it offline: issuing never needs it)\n`,
  );
  return 0;
}

async function issue(dir: string, spiffeId: unknown, out: unknown, ttl: unknown): Promise<number> {
  if (typeof spiffeId !== 'string') return fail('--spiffe-id is required');
  if (typeof out !== 'string') return fail('--out PREFIX is required');
  const problem = spiffeIdProblem(spiffeId);
  if (problem !== null) return fail(`--spiffe-id ${spiffeId} ${problem}`);
  const lifetimeMs = lifetimeOf(typeof ttl === 'string' ? ttl : undefined);
  if (typeof lifetimeMs === 'string') return fail(lifetimeMs);
  const ca = loadIssuingCa(dir);
  if (parseSpiffeId(spiffeId)?.trustDomain !== ca.trustDomain)
    return refuse(
      new ProxyError(
        'FERRY_ERR_CA_ID_FORBIDDEN',
        `${spiffeId} is outside this CA's trust domain ${ca.trustDomain}`,
      ),
    );
  const keys = await generateKeyPair();
  const leaf = await issueLeaf(ca.issuer, keys.publicKey, { spiffeId }, lifetimeMs, Date.now());
  writeFileSync(`${out}.key`, privateKeyPem(keys.privateKey), { mode: 0o600 });
  writeFileSync(`${out}.pem`, `${certificatePem(leaf)}\n${ca.intermediatePem.trim()}\n`, { mode: 0o644 });
  process.stdout.write(`${spiffeId}: ${out}.pem (until ${leaf.notAfter.toISOString()}), key ${out}.key\n`);
  return 0;
}

async function serve(dir: string, values: Record<string, unknown>): Promise<number> {
  const addressText = values['address'];
  const tokenFile = values['token-file'];
  if (typeof addressText !== 'string') return fail('--address HOST:PORT is required');
  if (typeof tokenFile !== 'string') return fail('--token-file is required');
  const address = parseAddress(addressText, 0);
  if (!address.ok) return fail(`--address: ${address.message}`);
  const allowed = (values['allowed-ids'] as string[] | undefined) ?? [];
  for (const pattern of allowed) {
    const problem = spiffeIdProblem(pattern, true);
    if (problem !== null) return fail(`--allowed-ids ${pattern} ${problem}`);
  }
  const lifetimeMs = lifetimeOf(typeof values['ttl'] === 'string' ? values['ttl'] : undefined);
  if (typeof lifetimeMs === 'string') return fail(lifetimeMs);
  const ca = loadIssuingCa(dir);
  const tokens = loadTokens(resolve(tokenFile), ca.trustDomain, allowed);
  const log = pino({ level: process.env['FERRY_LOG_LEVEL'] ?? 'info' });
  const service = await startIssuingService({
    ca,
    host: address.value.host,
    port: address.value.port,
    tokens,
    lifetimeMs,
    log,
  });
  const stop = () => {
    service.close().then(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  return -1;
}

/** For tests and tools: the PEM text of a file (so callers need not import node:fs just for that). */
export function readPemFile(path: string): string {
  return readFileSync(path, 'utf8');
}
