/**
 * Retries on another target (issue 10, "Origin death and retries"), through
 * real sockets and two real worker threads: a connect refused before any
 * byte is retried through the pick (any method, body intact), the retry
 * budget bounds it, and while one of two origins dies and restarts under
 * load, idempotent GETs see no error at all.
 *
 * https://github.com/ferry/ferry/issues/10
 */
import http2 from 'node:http2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPki, type TestPki } from '../helpers/certs.ts';
import { moreAnswers, startLoad } from '../helpers/control.ts';
import { startTestFerry, type TestFerry } from '../helpers/ferry.ts';
import { closedPort, type RawTarget, startRawTarget } from '../helpers/raw-target.ts';
import { startTargets, type TestTarget } from '../helpers/targets.ts';

let ferry: TestFerry;
let pki: TestPki;
let targets: TestTarget[];
let deadAddress: string;
/** Accepts, reads the request head, then resets: the request may have reached it (a replay). */
let resetter: RawTarget;

function url(listener: string, path: string): string {
  return `http://127.0.0.1:${ferry.listenerPorts.get(listener)!}${path}`;
}

async function statuses(listener: string, count: number): Promise<number[]> {
  const seen: number[] = [];
  for (let i = 0; i < count; i++) {
    const response = await fetch(url(listener, '/'));
    await response.text();
    seen.push(response.status);
  }
  return seen;
}

beforeAll(async () => {
  targets = await startTargets(3);
  deadAddress = `127.0.0.1:${await closedPort()}`;
  resetter = await startRawTarget((socket) => socket.once('data', () => socket.resetAndDestroy()));
  pki = createPki('retries');
  const site = pki.issue('site', { dnsNames: ['site.test'] });
  const https = (name: string, group: string) => `  - name: ${name}
    protocol: HTTPS
    address: "127.0.0.1:0"
    certificates: [ { cert: "${site.certPath}", key: "${site.keyPath}" } ]
    defaultAction: { forward: { targetGroup: ${group} } }
`;
  const group = (name: string, extra: string, members: string) => `  - name: ${name}
    healthCheck: { enabled: false }
    outlierDetection: { enabled: false }
${extra}
    targets: [ ${members} ]`;
  const half = `{ address: "${targets[0]!.address}" }, { address: "${deadAddress}" }`;
  const resetting = `{ address: "${targets[0]!.address}" }, { address: "${resetter.address}" }`;
  ferry = await startTestFerry(`workers: 2
admin: { address: "127.0.0.1:0" }
listeners:
  - { name: retried, address: "127.0.0.1:0", defaultAction: { forward: { targetGroup: retried } } }
  - { name: off, address: "127.0.0.1:0", defaultAction: { forward: { targetGroup: off } } }
  - { name: broke, address: "127.0.0.1:0", defaultAction: { forward: { targetGroup: broke } } }
  - { name: replayed, address: "127.0.0.1:0", defaultAction: { forward: { targetGroup: replayed } } }
  - { name: unbudgeted, address: "127.0.0.1:0", defaultAction: { forward: { targetGroup: unbudgeted } } }
${https('secure', 'retried')}${https('secure-off', 'off')}  - { name: dying, address: "127.0.0.1:0", defaultAction: { forward: { targetGroup: dying } } }
targetGroups:
${group('retried', '', half)}
${group('off', '    retries: { attempts: 0 }', half)}
${group('broke', '    retries: { budgetPercent: 0, minConcurrency: 0 }', half)}
${group('replayed', '', resetting)}
${group('unbudgeted', '    retries: { budgetPercent: 0, minConcurrency: 0 }', resetting)}
${group('dying', '', `{ address: "${targets[1]!.address}" }, { address: "${targets[2]!.address}" }`)}
`);
});

afterAll(async () => {
  await ferry?.stop(0);
  await Promise.all([...targets.map((target) => target.close()), resetter?.close()]);
  pki?.cleanup();
});

/** `count` requests as HTTP/2 streams on one session; their statuses and x-ferry-error codes. */
async function h2Statuses(
  listener: string,
  count: number,
  method = 'GET',
): Promise<{ status: number; error: string }[]> {
  const session = http2.connect(`https://127.0.0.1:${ferry.listenerPorts.get(listener)!}`, {
    servername: 'site.test',
    ca: pki.ca.cert,
  });
  try {
    const seen: { status: number; error: string }[] = [];
    for (let i = 0; i < count; i++) {
      const stream = session.request({ ':path': '/echo', ':method': method });
      const answer = new Promise<http2.IncomingHttpHeaders>((resolve) => stream.once('response', resolve));
      stream.end(method === 'POST' ? `body ${i}` : undefined);
      const headers = await answer;
      stream.resume();
      await new Promise((resolve) => stream.once('end', resolve));
      seen.push({ status: Number(headers[':status']), error: String(headers['x-ferry-error'] ?? '') });
    }
    return seen;
  } finally {
    session.close();
  }
}

describe('HttpConnection retries (issue 10: https://github.com/ferry/ferry/issues/10)', () => {
  describe('when one of two targets refuses connections', () => {
    it('answers every GET from the live target', async () => {
      expect(new Set(await statuses('retried', 12))).toEqual(new Set([200]));
    });

    it('retries a POST with its body intact (no target saw a byte of it)', async () => {
      for (let i = 0; i < 6; i++) {
        const response = await fetch(url('retried', '/echo'), { method: 'POST', body: `body ${i}` });
        expect(response.status).toBe(200);
        expect(await response.text()).toBe(`body ${i}`);
      }
    });
  });

  describe('when one of two targets refuses connections, over HTTP/2', () => {
    it('answers every GET stream from the live target', async () => {
      expect(new Set((await h2Statuses('secure', 12)).map((answer) => answer.status))).toEqual(
        new Set([200]),
      );
    });

    it('does not retry a stream with a body, which undici has begun to read', async () => {
      const errors = (await h2Statuses('secure', 8, 'POST')).map((answer) => answer.error);
      expect(errors).toContain('FERRY_ERR_UPSTREAM_CONNECT_REFUSED');
      expect(errors).toContain('');
    });

    it('answers 502 when retries are off', async () => {
      const errors = (await h2Statuses('secure-off', 8)).map((answer) => answer.error);
      expect(errors).toContain('FERRY_ERR_UPSTREAM_CONNECT_REFUSED');
    });
  });

  describe('when retries are off', () => {
    it('answers the refused connects with 502 FERRY_ERR_UPSTREAM_CONNECT_REFUSED', async () => {
      const seen = await statuses('off', 8);
      expect(seen).toContain(502);
      expect(seen).toContain(200);
    });
  });

  describe('when a target resets idempotent GETs after reading them', () => {
    it('replays each on the other target', async () => {
      expect(new Set(await statuses('replayed', 12))).toEqual(new Set([200]));
      expect(resetter.connections).toBeGreaterThan(0);
    });
  });

  describe('when the retry budget allows no retry', () => {
    it('answers a reset request with 502 instead of replaying it', async () => {
      const response = await (async () => {
        for (let i = 0; i < 8; i++) {
          const answer = await fetch(url('unbudgeted', '/'));
          await answer.text();
          if (answer.status !== 200) return answer;
        }
        return null;
      })();
      expect(response?.status).toBe(502);
      expect(response?.headers.get('x-ferry-error')).toBe('FERRY_ERR_UPSTREAM_RESET');
    });

    it('still retries a refused connect, which no target did work for', async () => {
      expect(new Set(await statuses('broke', 12))).toEqual(new Set([200]));
    });
  });

  describe('when one of two origins dies and restarts under load', () => {
    it('answers every idempotent GET with 200', async () => {
      const victim = targets[2]!;
      const load = startLoad(url('dying', ''), 8, 2);
      try {
        await moreAnswers(load, 200);
        victim.server.closeAllConnections();
        await new Promise<void>((resolve) => victim.server.close(() => resolve()));
        await moreAnswers(load, 400);
        const beforeRestart = victim.count;
        await new Promise<void>((resolve) => victim.server.listen(victim.port, '127.0.0.1', () => resolve()));
        await moreAnswers(load, 400);
        expect(victim.count).toBeGreaterThan(beforeRestart); // back in rotation
      } finally {
        await load.stop();
      }
      expect(load.answers.length).toBeGreaterThan(900);
      expect(load.failures()).toEqual([]);
    }, 30_000);
  });
});
