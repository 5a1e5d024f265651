/**
 * Access logs end to end (issue 6): a real Ferry writes one JSON line per
 * request (and per TCP connection) to a file through pino's asynchronous
 * destination; the test reads the file back and checks the ALB fields
 * against what the client sent and received, and that sampling drops
 * successful requests but never errors.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestFerry, type TestFerry } from '../helpers/ferry.ts';
import { RawClient } from '../helpers/raw-http.ts';
import { closedPort } from '../helpers/raw-target.ts';
import { waitForSettled } from '../helpers/table-counters.ts';
import { startTargets, type TestTarget } from '../helpers/targets.ts';

type Line = Record<string, unknown>;

let dir: string;
let targets: TestTarget[];
let deadAddress: string;

function readLines(path: string): Line[] {
  let text = '';
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Line);
}

function waitForLines(path: string, count: number): Promise<Line[]> {
  return waitForSettled(
    () => readLines(path),
    (lines) => lines.length >= count,
    5_000,
    25,
  );
}

function config(path: string, sampleRatio: number): string {
  return `workers: 1
admin: { address: "127.0.0.1:0" }
accessLog: { enabled: true, destination: "${path}", sampleRatio: ${sampleRatio} }
listeners:
  - { name: web, protocol: HTTP, address: "127.0.0.1:0", defaultAction: { forward: { targetGroup: app } } }
  - { name: broken, protocol: HTTP, address: "127.0.0.1:0", defaultAction: { forward: { targetGroup: refusing } } }
  - { name: raw, protocol: TCP, address: "127.0.0.1:0", defaultAction: { forward: { targetGroup: app } } }
targetGroups:
  - name: app
    healthCheck: { enabled: false }
    targets: [ { address: "${targets[0]!.address}" } ]
  - name: refusing
    healthCheck: { enabled: false }
    outlierDetection: { enabled: false }
    targets: [ { address: "${deadAddress}" } ]
`;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-access-log-'));
  targets = await startTargets(1, 'logged');
  deadAddress = `127.0.0.1:${await closedPort()}`;
});

afterAll(async () => {
  await Promise.all((targets ?? []).map((target) => target.close()));
  rmSync(dir, { recursive: true, force: true });
});

describe('access log', () => {
  describe('when every request is sampled', () => {
    const path = () => join(dir, 'all', 'access.log');
    let ferry: TestFerry;
    let client: RawClient;
    let lines: Line[];

    beforeAll(async () => {
      ferry = await startTestFerry(config(path(), 1));
      client = await RawClient.connect(ferry.listenerPorts.get('web')!);
      await client.write(
        'GET /orders?id=7 HTTP/1.1\r\nhost: access.test\r\nuser-agent: log-test/1.0\r\n' +
          'traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n\r\n',
      );
      expect((await client.response()).status).toBe(200);
      const broken = await RawClient.connect(ferry.listenerPorts.get('broken')!);
      await broken.write('GET /down HTTP/1.1\r\nhost: access.test\r\n\r\n');
      expect((await broken.response()).status).toBe(502);
      const bad = await RawClient.connect(ferry.listenerPorts.get('web')!);
      await bad.write('GET / HTTP/1.1\r\nhost: a\r\nhost: b\r\n\r\n');
      expect((await bad.response()).status).toBe(400);
      const raw = net.connect(ferry.listenerPorts.get('raw')!, '127.0.0.1');
      await new Promise<void>((resolve) => raw.on('connect', () => resolve()));
      raw.write('GET / HTTP/1.0\r\n\r\n');
      await new Promise<void>((resolve) => raw.once('data', () => resolve()));
      raw.end();
      raw.resume();
      await new Promise<void>((resolve) => raw.on('close', () => resolve()));
      lines = await waitForLines(path(), 4);
    });

    afterAll(async () => {
      client?.destroy();
      await ferry?.stop(2_000);
    });

    it('writes the ALB fields of a proxied request', () => {
      const line = lines.find((entry) => entry['type'] === 'http' && entry['status'] === 200)!;
      expect(line).toMatchObject({
        listener: 'web',
        worker: 0,
        client: `127.0.0.1:${client.socket.localPort}`,
        upstream: targets[0]!.address,
        targetGroup: 'app',
        pickReason: 'balanced',
        status: 200,
        targetStatus: 200,
        request: 'GET http://access.test/orders?id=7 HTTP/1.1',
        userAgent: 'log-test/1.0',
        tlsProtocol: null,
        tlsCipher: null,
        traceId: '0af7651916cd43dd8448eb211c80319c',
        rule: 'default',
        code: null,
        phase: 'finish',
        receivedBytes: client.socket.bytesWritten,
        sentBytes: client.socket.bytesRead,
      });
      expect(Number.isNaN(Date.parse(String(line['time'])))).toBe(false);
      for (const field of [
        'requestProcessingMs',
        'targetProcessingMs',
        'responseProcessingMs',
        'durationMs',
      ]) {
        expect(line[field], field).toBeGreaterThanOrEqual(0);
      }
      expect(line['durationMs']).toBeGreaterThanOrEqual(line['targetProcessingMs'] as number);
    });

    it('writes the error code and phase of a request the target refused', () => {
      expect(lines.find((entry) => entry['status'] === 502)).toMatchObject({
        listener: 'broken',
        upstream: deadAddress,
        targetGroup: 'refusing',
        targetStatus: null,
        request: 'GET http://access.test/down HTTP/1.1',
        code: 'FERRY_ERR_UPSTREAM_CONNECT_REFUSED',
        phase: 'connect',
      });
    });

    it('writes a line for a request whose head never parsed', () => {
      expect(lines.find((entry) => entry['status'] === 400)).toMatchObject({
        listener: 'web',
        upstream: null,
        request: '- - -',
        code: 'FERRY_ERR_HTTP_BAD_REQUEST',
        phase: 'readHead',
      });
    });

    it('writes one line per TCP connection', () => {
      const line = lines.find((entry) => entry['type'] === 'tcp')!;
      expect(line).toMatchObject({
        listener: 'raw',
        upstream: targets[0]!.address,
        targetGroup: 'app',
        receivedBytes: 18,
        code: null,
        phase: 'finish',
      });
      expect(line['sentBytes']).toBeGreaterThan(0);
    });
  });

  describe('when sampleRatio is 0', () => {
    it('logs only the requests that failed', async () => {
      const path = join(dir, 'sampled.log');
      const ferry = await startTestFerry(config(path, 0));
      try {
        for (let i = 0; i < 5; i++) {
          const client = await RawClient.connect(ferry.listenerPorts.get('web')!);
          await client.write(`GET /ok/${i} HTTP/1.1\r\nhost: access.test\r\n\r\n`);
          expect((await client.response()).status).toBe(200);
          client.destroy();
        }
        const broken = await RawClient.connect(ferry.listenerPorts.get('broken')!);
        await broken.write('GET /down HTTP/1.1\r\nhost: access.test\r\n\r\n');
        expect((await broken.response()).status).toBe(502);
        const lines = await waitForLines(path, 1);
        // The error's line is out; the five successes before it would have been written first.
        expect(lines.map((line) => line['status'])).toEqual([502]);
      } finally {
        await ferry.stop(2_000);
      }
    });
  });
});
