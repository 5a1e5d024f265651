/**
 * `ferry ca serve` as a user runs it (a child process): a CSR and a token
 * in, a chain out; each bad request gets its stable code and nothing is
 * issued (the service logs every issuance, so the log is the witness).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCsr, generateKeyPair } from '../../src/identity/x509.ts';
import {
  type CaServeProcess,
  openssl,
  postBigBodyWithCurl,
  postToIssuer,
  runFerryCli,
  startCaServe,
} from '../helpers/ferry-ca.ts';

const TOKEN = 'sidecar-token-1';
const RESTRICTED_TOKEN = 'payments-only-token';
let dir: string;
let bundle: string;
let service: CaServeProcess;

function issuedLines(): string[] {
  return service.lines.filter((line) => line.includes('"certificate issued"'));
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-ca-serve-'));
  const init = await runFerryCli(['ca', 'init', '--dir', join(dir, 'ca'), '--trust-domain', 'ferry.local']);
  expect(init.code).toBe(0);
  bundle = readFileSync(join(dir, 'ca', 'bundle.pem'), 'utf8');
  writeFileSync(
    join(dir, 'tokens'),
    `# token [patterns]\n${TOKEN}\n${RESTRICTED_TOKEN} spiffe://ferry.local/ns/payments/**\n`,
  );
  service = await startCaServe([
    '--dir',
    join(dir, 'ca'),
    '--address',
    '127.0.0.1:0',
    '--token-file',
    join(dir, 'tokens'),
    '--allowed-ids',
    'spiffe://ferry.local/ns/default/sa/*',
    '--ttl',
    '1h',
  ]);
});

afterAll(async () => {
  await service?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** A 10 MB body file. */
function bigBody(): string {
  const path = join(dir, 'ten-megabytes.json');
  writeFileSync(path, Buffer.alloc(10 * 1024 * 1024, 0x61));
  return path;
}

async function csrFor(id: string): Promise<string> {
  return createCsr(await generateKeyPair(), id);
}

describe('ferry ca serve', () => {
  it('issues a chain for a valid CSR and token, which openssl verifies against the bundle, and logs it', async () => {
    const before = issuedLines().length;
    const answer = await postToIssuer(service.address, bundle, {
      token: TOKEN,
      body: JSON.stringify({ csr: await csrFor('spiffe://ferry.local/ns/default/sa/web') }),
    });
    expect(answer.status).toBe(200);
    expect(answer.body['spiffeId']).toBe('spiffe://ferry.local/ns/default/sa/web');
    const chainPath = join(dir, 'issued.pem');
    writeFileSync(chainPath, String(answer.body['chain']));
    expect(
      openssl(['verify', '-CAfile', join(dir, 'ca', 'bundle.pem'), '-untrusted', chainPath, chainPath]),
    ).toMatch(/: OK/);
    expect(openssl(['x509', '-in', chainPath, '-noout', '-ext', 'subjectAltName'])).toContain(
      'URI:spiffe://ferry.local/ns/default/sa/web',
    );
    const line = await service.waitForLine('"certificate issued"', String(answer.body['serial']));
    expect(line).toContain('spiffe://ferry.local/ns/default/sa/web');
    expect(issuedLines().length).toBeGreaterThan(before);
  });

  it('lets a token with its own patterns ask for those IDs only', async () => {
    const allowed = await postToIssuer(service.address, bundle, {
      token: RESTRICTED_TOKEN,
      body: JSON.stringify({ csr: await csrFor('spiffe://ferry.local/ns/payments/sa/api') }),
    });
    expect(allowed.status).toBe(200);
    const refused = await postToIssuer(service.address, bundle, {
      token: RESTRICTED_TOKEN,
      body: JSON.stringify({ csr: await csrFor('spiffe://ferry.local/ns/default/sa/web') }),
    });
    expect(refused).toMatchObject({ status: 403, body: { code: 'FERRY_ERR_CA_ID_FORBIDDEN' } });
  });

  describe('when the request is bad', () => {
    it.each([
      ['a wrong token', { token: 'guess' }, 'web', 401, 'FERRY_ERR_CA_UNAUTHORIZED'],
      ['no token', {}, 'web', 401, 'FERRY_ERR_CA_UNAUTHORIZED'],
      [
        'an ID outside the allowed patterns',
        { token: TOKEN },
        'ns/other/sa/x',
        403,
        'FERRY_ERR_CA_ID_FORBIDDEN',
      ],
    ])('answers %s with its code and issues nothing', async (_label, auth, idPath, status, code) => {
      const before = issuedLines().length;
      const id =
        idPath === 'web' ? 'spiffe://ferry.local/ns/default/sa/web' : `spiffe://ferry.local/${idPath}`;
      const answer = await postToIssuer(service.address, bundle, {
        ...auth,
        body: JSON.stringify({ csr: await csrFor(id) }),
      });
      expect(answer).toMatchObject({ status, body: { code } });
      // The service logs in order: once its refusal is logged, an issuance for it would be logged too.
      await service.waitForLine('"certificate refused"', code, String(answer.body['message']).slice(0, 20));
      expect(issuedLines().length).toBe(before);
    });

    it('answers an ID of another trust domain with FERRY_ERR_CA_ID_FORBIDDEN', async () => {
      const answer = await postToIssuer(service.address, bundle, {
        token: TOKEN,
        body: JSON.stringify({ csr: await csrFor('spiffe://evil.example/ns/default/sa/web') }),
      });
      expect(answer).toMatchObject({ status: 403, body: { code: 'FERRY_ERR_CA_ID_FORBIDDEN' } });
    });

    it.each([
      ['not PEM at all', 'hello'],
      [
        'PEM whose bytes are garbage',
        '-----BEGIN CERTIFICATE REQUEST-----\nAAAAAAAA\n-----END CERTIFICATE REQUEST-----\n',
      ],
    ])('answers a malformed CSR (%s) with FERRY_ERR_CA_BAD_CSR and issues nothing', async (_label, csr) => {
      const before = issuedLines().length;
      const answer = await postToIssuer(service.address, bundle, {
        token: TOKEN,
        body: JSON.stringify({ csr }),
      });
      expect(answer).toMatchObject({ status: 400, body: { code: 'FERRY_ERR_CA_BAD_CSR' } });
      await service.waitForLine('"certificate refused"', 'FERRY_ERR_CA_BAD_CSR');
      expect(issuedLines().length).toBe(before);
    });

    it('answers a CSR whose signature does not match its key with FERRY_ERR_CA_BAD_CSR', async () => {
      const good = await csrFor('spiffe://ferry.local/ns/default/sa/web');
      // Flip one character inside the base64 near the end (the signature), keeping it valid base64.
      const lines = good.trim().split('\n');
      const last = lines.length - 2;
      const line = lines[last]!;
      const at = Math.max(0, line.length - 6);
      lines[last] = line.slice(0, at) + (line[at] === 'A' ? 'B' : 'A') + line.slice(at + 1);
      const answer = await postToIssuer(service.address, bundle, {
        token: TOKEN,
        body: JSON.stringify({ csr: `${lines.join('\n')}\n` }),
      });
      expect(answer).toMatchObject({ status: 400, body: { code: 'FERRY_ERR_CA_BAD_CSR' } });
    });

    it('answers a CSR with a DNS name beside its SPIFFE ID with FERRY_ERR_CA_BAD_CSR', () => {
      const keyPath = join(dir, 'two-sans.key');
      openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', keyPath]);
      const csr = openssl([
        'req',
        '-new',
        '-key',
        keyPath,
        '-subj',
        '/O=Ferry',
        '-addext',
        'subjectAltName=URI:spiffe://ferry.local/ns/default/sa/web,DNS:web.example',
      ]);
      return postToIssuer(service.address, bundle, { token: TOKEN, body: JSON.stringify({ csr }) }).then(
        (answer) => {
          expect(answer).toMatchObject({ status: 400, body: { code: 'FERRY_ERR_CA_BAD_CSR' } });
        },
      );
    });

    it('answers a 10 MB body declared up front with FERRY_ERR_CA_BODY_TOO_LARGE and issues nothing', async () => {
      const before = issuedLines().length;
      const answer = await postBigBodyWithCurl(
        service.address,
        join(dir, 'ca', 'bundle.pem'),
        TOKEN,
        bigBody(),
        false,
      );
      expect(answer).toMatchObject({ status: 413, body: { code: 'FERRY_ERR_CA_BODY_TOO_LARGE' } });
      await service.waitForLine('"certificate refused"', 'FERRY_ERR_CA_BODY_TOO_LARGE');
      expect(issuedLines().length).toBe(before);
    });

    it('answers a 10 MB chunked body with FERRY_ERR_CA_BODY_TOO_LARGE once it passes the limit', async () => {
      const answer = await postBigBodyWithCurl(
        service.address,
        join(dir, 'ca', 'bundle.pem'),
        TOKEN,
        bigBody(),
        true,
      );
      expect(answer).toMatchObject({ status: 413, body: { code: 'FERRY_ERR_CA_BODY_TOO_LARGE' } });
    });

    it('answers another path with FERRY_ERR_CA_BAD_REQUEST', async () => {
      const answer = await postToIssuer(service.address, bundle, {
        token: TOKEN,
        body: '{}',
        path: '/v1/other',
      });
      expect(answer).toMatchObject({ status: 400, body: { code: 'FERRY_ERR_CA_BAD_REQUEST' } });
    });
  });

  it('logs every refusal with its code', () => {
    const refusals = service.lines.filter((line) => line.includes('"certificate refused"'));
    expect(refusals.some((line) => line.includes('FERRY_ERR_CA_UNAUTHORIZED'))).toBe(true);
    expect(refusals.some((line) => line.includes('FERRY_ERR_CA_BAD_CSR'))).toBe(true);
  });
});
