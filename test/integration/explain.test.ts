/**
 * `explain` end to end on a real Ferry (real worker threads, real sockets):
 * `ferryctl explain G ADDRESS` (one screen of text, and `--json`), the admin
 * route `GET /targets/{group}/{target}/explain` serving the same document,
 * the status page linking each target to it, and the clear errors for a
 * target or group that does not exist.
 */
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configDir, ctl, type FileFerry, startFileFerry } from '../helpers/control.ts';
import { startTargets, type TestTarget } from '../helpers/targets.ts';

let ferry: FileFerry;
let dir: string;
let targets: TestTarget[];

beforeAll(async () => {
  dir = configDir();
  targets = await startTargets(2, 'e');
  ferry = await startFileFerry(
    dir,
    `workers: 1
admin: { address: "127.0.0.1:0" }
control: { address: "unix:${join(dir, 'ctl.sock')}", tokenFile: ferry.token }
listeners:
  - name: web
    protocol: HTTP
    address: "127.0.0.1:0"
    defaultAction: { forward: { targetGroup: api } }
targetGroups:
  - name: api
    healthCheck: { protocol: TCP, interval: 5s }
    targets:
${targets.map((t) => `      - { address: "${t.address}" }`).join('\n')}
`,
  );
  for (let i = 0; i < 4; i++) await (await request(`${ferry.url}/`)).body.text();
});

afterAll(async () => {
  await ferry?.stop(1_000);
  await Promise.all((targets ?? []).map((t) => t.close()));
});

function run(...args: string[]) {
  return ctl(['--config', join(dir, 'ferry.yaml'), ...args]);
}

async function admin(path: string): Promise<{ status: number; body: string }> {
  const response = await request(`http://${ferry.adminAddress}${path}`);
  return { status: response.statusCode, body: await response.body.text() };
}

describe('ferryctl explain', () => {
  it('prints one screen: the verdict, the summary, the check, recent checks and who routes to it', async () => {
    const address = targets[0]!.address;
    const result = await run('explain', 'api', address);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const lines = result.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe(`api ${address} (round_robin): IN ROTATION`);
    expect(lines[1]).toMatch(/^ {2}in rotation: healthy; last (check|\d+ checks) passed\.$/);
    expect(lines[2]).toBe('  because: healthy');
    expect(result.stdout).toContain('  health check: TCP traffic port, every 5.0 s');
    expect(result.stdout).toMatch(
      / {2}recent checks \(newest first\):\n {4}WHEN +RESULT +LATENCY +STATUS +DETAIL\n {4}[\d.]+ s ago +pass +\d+ ms +-/,
    );
    expect(result.stdout).toContain('  routed from: web default action\n');
    expect(lines.length).toBeLessThanOrEqual(24);
  });

  it('prints the reply as JSON with --json', async () => {
    const address = targets[1]!.address;
    const result = await run('explain', 'api', address, '--json');
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({
      targetGroup: 'api',
      address,
      isInRotation: true,
      because: ['healthy'],
      routes: [{ listener: 'web', rulePriority: null, targetGroup: 'api' }],
      traffic: { windowMs: 300_000 },
    });
  });

  it('exits 1 with FERRY_ERR_CONTROL_NOT_FOUND naming the registered targets for an unknown one, and 2 without both arguments', async () => {
    const unknown = await run('explain', 'api', '127.0.0.1:1');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toBe(
      `ferryctl: FERRY_ERR_CONTROL_NOT_FOUND: no target "127.0.0.1:1" in api (registered: ${targets.map((t) => t.address).join(', ')})\n`,
    );
    const usage = await run('explain', 'api');
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/^ferryctl: explain: expected G ADDRESS\n/);
  });
});

describe('GET /targets/{group}/{target}/explain', () => {
  it('serves the same document as ferryctl explain --json', async () => {
    const address = targets[0]!.address;
    const { status, body } = await admin(`/targets/api/${encodeURIComponent(address)}/explain`);
    expect(status).toBe(200);
    const document = JSON.parse(body);
    const viaControl = JSON.parse((await run('explain', 'api', address, '--json')).stdout);
    expect(Object.keys(document).sort()).toEqual(Object.keys(viaControl).sort());
    expect(document).toMatchObject({ targetGroup: 'api', address, isInRotation: true, because: ['healthy'] });
  });

  it('answers 404 with the error code for an unknown group, and for a path that is not an explain path', async () => {
    const group = await admin('/targets/nope/127.0.0.1%3A1/explain');
    expect(group.status).toBe(404);
    expect(JSON.parse(group.body).error).toMatchObject({
      code: 'FERRY_ERR_CONTROL_NOT_FOUND',
      message: 'no target group named "nope" (known: api)',
    });
    const other = await admin('/targets/api/explain');
    expect(other.status).toBe(404);
    expect(JSON.parse(other.body).error.code).toBe('FERRY_ERR_CONTROL_NOT_FOUND');
  });

  it('is linked from every target on the status page', async () => {
    const page = await admin('/');
    expect(page.body).toContain(
      "'/targets/' + encodeURIComponent(group) + '/' + encodeURIComponent(address) + '/explain'",
    );
    expect(page.body).toContain("el('a', { href: explainHref(g.name, t.address)");
  });
});
