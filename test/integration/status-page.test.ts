/**
 * The status page in a real browser (issue 6): Debian's Chromium, driven by
 * playwright-core, loads `/` from a running Ferry with active health checks,
 * must show every target with its state and log no console error, and must
 * show a target going down within a few seconds of it going down.
 *
 * Chromium is installed by scripts/ensure-chromium.sh (apt-get) when it is
 * missing; if that fails this test fails: it never skips.
 *
 * `FERRY_UPDATE_SCREENSHOT=1` also writes docs/status-page.png (the README's
 * screenshot); otherwise the screenshot goes to a temp folder.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestFerry, type TestFerry } from '../helpers/ferry.ts';
import { ManualClock } from '../helpers/manual-clock.ts';
import { RawClient } from '../helpers/raw-http.ts';
import { startTargets, type TestTarget } from '../helpers/targets.ts';
import { runUntil } from './health-support.ts';

const REPO_DIR = resolve(import.meta.dirname, '../..');
const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];
/** apt-get on a fresh machine downloads ~100 MB. */
const INSTALL_TIMEOUT_MS = 600_000;
/**
 * How long to wait, at most, for the page (which polls every second) to show
 * a state change: a bound on the wait, not an assertion on speed. The checks
 * that find the target down run on the manual clock the test advances.
 */
const DOWN_SHOWN_WAIT_MS = 10_000;

let ferry: TestFerry;
const clock = new ManualClock();
let targets: TestTarget[];
let context: BrowserContext;
let page: Page;
let profileDir: string;
const consoleErrors: string[] = [];

function ensureChromium(): string {
  const result = spawnSync('bash', [join(REPO_DIR, 'scripts/ensure-chromium.sh')], {
    encoding: 'utf8',
    timeout: INSTALL_TIMEOUT_MS,
  });
  if (result.status !== 0) {
    throw new Error(
      `Chromium is required for the status-page test and could not be installed:\n${result.stderr}${result.error?.message ?? ''}`,
    );
  }
  return result.stdout.trim().split('\n').at(-1)!;
}

async function sendTraffic(count: number): Promise<void> {
  const client = await RawClient.connect(ferry.port);
  for (let i = 0; i < count; i++) {
    await client.write(`GET /page/${i} HTTP/1.1\r\nhost: status.test\r\n\r\n`);
    await client.response();
  }
  client.destroy();
}

beforeAll(async () => {
  const executablePath = ensureChromium();
  targets = await startTargets(2, 'web-');
  ferry = await startTestFerry(
    `workers: 1
admin: { address: "127.0.0.1:0" }
listeners:
  - { name: public, protocol: HTTP, address: "127.0.0.1:0", defaultAction: { forward: { targetGroup: web } } }
targetGroups:
  - name: web
    algorithm: least_outstanding_requests
    healthCheck: { protocol: HTTP, path: /, interval: 1s, timeout: 500ms, healthyThreshold: 2, unhealthyThreshold: 2 }
    targets:
      - { address: "${targets[0]!.address}" }
      - { address: "${targets[1]!.address}" }
`,
    { clock },
  );
  await sendTraffic(40);
  profileDir = mkdtempSync(join(tmpdir(), 'ferry-chromium-'));
  context = await chromium.launchPersistentContext(profileDir, {
    executablePath,
    headless: true,
    args: CHROMIUM_FLAGS,
    viewport: { width: 1280, height: 820 },
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.on('console', (message) => {
    if (message.type() === 'error') consoleErrors.push(message.text());
  });
  page.on('pageerror', (error) => consoleErrors.push(error.message));
  await page.goto(`http://${ferry.adminAddress}/`);
}, INSTALL_TIMEOUT_MS);

afterAll(async () => {
  await context?.close();
  if (profileDir !== undefined) rmSync(profileDir, { recursive: true, force: true });
  await ferry?.stop(2_000);
  await Promise.all((targets ?? []).map((target) => target.close()));
});

function stateOf(address: string) {
  return page.locator(`tr[data-target="web/${address}"]`);
}

describe('status page', () => {
  it('shows every target as healthy, with the listener and group', async () => {
    for (const target of targets) {
      await expect
        .poll(() => stateOf(target.address).getAttribute('data-state'), { timeout: 5_000 })
        .toBe('healthy');
    }
    await expect.poll(() => page.locator('#listeners').textContent()).toContain('public');
    expect(await page.locator('section[data-group="web"] h2').textContent()).toContain('2 healthy');
    expect(await page.title()).toBe('Ferry status');
  });

  it('draws the group request-rate chart from live traffic, and keeps a screenshot of it', async () => {
    const groupChart = page.locator('section[data-group="web"] svg.chart title').first();
    // Traffic until the chart's peak (its <title>: "last N s, peak X") is above 0: waited on, not slept.
    await expect
      .poll(
        async () => {
          await sendTraffic(20);
          return Number(/peak ([\d.]+)/.exec((await groupChart.textContent()) ?? '')?.[1] ?? 0);
        },
        { timeout: 15_000, interval: 200 },
      )
      .toBeGreaterThan(0);
    const path =
      process.env['FERRY_UPDATE_SCREENSHOT'] === '1'
        ? join(REPO_DIR, 'docs/status-page.png')
        : join(profileDir, 'status-page.png');
    await page.screenshot({ path, fullPage: true });
    expect(readFileSync(path).subarray(1, 4).toString('latin1')).toBe('PNG');
  });

  it('shows a target going down, with its reason', async () => {
    const down = targets[1]!;
    await down.close();
    await runUntil(
      ferry.health,
      clock,
      () => ferry.health.target('web', down.address)?.state === 'unhealthy',
    );
    await expect
      .poll(() => stateOf(down.address).getAttribute('data-state'), {
        timeout: DOWN_SHOWN_WAIT_MS,
        interval: 100,
      })
      .toBe('unhealthy');
    expect(await stateOf(down.address).locator('[data-role="state"]').textContent()).toContain('Target.');
    expect(await stateOf(targets[0]!.address).getAttribute('data-state')).toBe('healthy');
    await expect.poll(() => page.locator('#transitions').textContent()).toContain('healthy → unhealthy');
  });

  it('links each target to its explain document, which names the target and says why it is out of rotation', async () => {
    const down = targets[1]!;
    const link = stateOf(down.address).locator('a[data-role="explain"]');
    const href = await link.getAttribute('href');
    expect(href).toBe(`/targets/web/${encodeURIComponent(down.address)}/explain`);
    const response = await fetch(`http://${ferry.adminAddress}${href}`);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({
      targetGroup: 'web',
      address: down.address,
      state: 'unhealthy',
      because: expect.arrayContaining(['failed_health_checks']),
    });
  });

  it('logs no console errors', () => {
    expect(consoleErrors).toEqual([]);
  });
});
