/**
 * Authorization by identity on a layer-4 TLS listener (issue 14: "a listener
 * that authorizes by identity answers a caller outside the patterns with 403
 * (HTTP) or a handshake failure (TCP)"). Certificates from `ferry ca` (the
 * real CLI), the sidecar serving its workload certificate from files, a real
 * TCP target behind it and Node TLS clients as callers: an allowed SPIFFE ID
 * is relayed; an ID outside `allowedIdentities` is closed right after the
 * handshake, counted, and nothing reaches the target; a certificate from
 * another CA fails the handshake itself.
 */
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LISTENER_REJECTED_CONNECTIONS_TOTAL } from '../../proto/table-layout.ts';
import { createPki, type TestPki } from '../helpers/certs.ts';
import { startTestFerry, type TestFerry } from '../helpers/ferry.ts';
import { MESH_PAYMENTS_ID, MESH_WEB_ID, runFerryCli } from '../helpers/ferry-ca.ts';
import { type L4Target, listenerCounter, startTcpEcho } from '../helpers/l4.ts';

let dir: string;
let ferry: TestFerry;
let echo: L4Target;
let otherPki: TestPki;

/** `ferry ca issue` for `spiffeId`: the chain and key file paths. */
async function issue(spiffeId: string, name: string): Promise<{ cert: string; key: string }> {
  const prefix = join(dir, name);
  const result = await runFerryCli([
    'ca',
    'issue',
    '--dir',
    join(dir, 'ca'),
    '--spiffe-id',
    spiffeId,
    '--out',
    prefix,
  ]);
  expect(result.code).toBe(0);
  return { cert: `${prefix}.pem`, key: `${prefix}.key` };
}

/** Handshake as the holder of `cert`/`key`, send `text`, resolve with what comes back before the close. */
async function callAs(
  cert: string,
  key: string,
  text: string,
): Promise<{ isHandshakeDone: boolean; reply: string }> {
  const socket = tls.connect({
    host: '127.0.0.1',
    port: ferry.listenerPorts.get('inbound')!,
    cert,
    key,
    ca: readFileSync(join(dir, 'ca', 'bundle.pem'), 'utf8'),
    checkServerIdentity: () => undefined, // a SPIFFE certificate names no host; the chain is still verified
  });
  let reply = '';
  let isHandshakeDone = false;
  socket.on('secureConnect', () => {
    isHandshakeDone = true;
    socket.write(text);
  });
  socket.on('data', (chunk: Buffer) => {
    reply += chunk.toString('latin1');
    socket.end();
  });
  socket.on('error', () => {});
  await once(socket, 'close');
  return { isHandshakeDone, reply };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-identity-tls-'));
  expect(
    (await runFerryCli(['ca', 'init', '--dir', join(dir, 'ca'), '--trust-domain', 'ferry.local'])).code,
  ).toBe(0);
  const served = await issue(MESH_PAYMENTS_ID, 'payments');
  echo = await startTcpEcho('db');
  otherPki = createPki('identity-tls-other');
  ferry = await startTestFerry(`workers: 2
admin: { address: "127.0.0.1:0" }
identity:
  spiffeId: ${MESH_PAYMENTS_ID}
  files: { cert: "${served.cert}", key: "${served.key}", bundle: "${join(dir, 'ca', 'bundle.pem')}" }
listeners:
  - name: inbound
    protocol: TLS
    address: 127.0.0.1:0
    identity: true
    mutualAuthentication: { mode: verify, allowedIdentities: ["${MESH_WEB_ID}"] }
    defaultAction: { forward: { targetGroup: db } }
targetGroups:
  - { name: db, healthCheck: { enabled: false }, targets: [ { address: "${echo.address}" } ] }
`);
}, 60_000);

afterAll(async () => {
  await ferry?.stop(0);
  await echo?.close();
  otherPki?.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

describe('a TLS listener that authorizes by SPIFFE ID', () => {
  it('relays an allowed caller to the target', async () => {
    const web = await issue(MESH_WEB_ID, 'web');
    const answer = await callAs(readFileSync(web.cert, 'utf8'), readFileSync(web.key, 'utf8'), 'hello');
    expect(answer).toEqual({ isHandshakeDone: true, reply: 'db:hello' });
  });

  it('closes a caller outside allowedIdentities after the handshake, counts it and relays nothing', async () => {
    const other = await issue('spiffe://ferry.local/ns/default/sa/reports', 'reports');
    const before = {
      rejected: listenerCounter(ferry, 0, LISTENER_REJECTED_CONNECTIONS_TOTAL),
      seen: echo.connections,
    };
    const answer = await callAs(readFileSync(other.cert, 'utf8'), readFileSync(other.key, 'utf8'), 'hello');
    expect(answer.reply).toBe('');
    expect(listenerCounter(ferry, 0, LISTENER_REJECTED_CONNECTIONS_TOTAL)).toBe(before.rejected + 1);
    expect(echo.connections).toBe(before.seen);
  });

  it('fails the handshake of a caller whose certificate comes from another CA', async () => {
    const stranger = otherPki.issue('stranger', { isClient: true });
    const seen = echo.connections;
    // TLS 1.3: the client's side of the handshake completes before the server checks its
    // certificate, so the refusal shows as an alert and a close with nothing relayed.
    const answer = await callAs(stranger.cert, stranger.key, 'hello');
    expect(answer.reply).toBe('');
    expect(echo.connections).toBe(seen);
  });
});
