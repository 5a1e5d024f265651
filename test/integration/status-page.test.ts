/**
 * The status page in a real browser (issue 6): Debian's Chromium, driven by
 * playwright-core, loads `/` from a running Ferry with active health checks,
 * must show every target with its state and log no console error, and must
 * show a target going down within a few seconds of it going down.
 *
 * Chromium is installed by scripts/ensure-chromium.sh (apt-get) when it is
 * missing; if that fails this test fails: it never skips.
 *
 * The screenshot it takes goes to a temp folder: docs/status-page.png is the
 * real demo, taken by scripts/status-page-screenshot.sh (npm run screenshot:status).
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
  targets = await startTargets(3, 'web-');
  ferry = await startTestFerry(
    `workers: 1
admin: { address: "127.0.0.1:0" }
listeners:
  - { name: public, protocol: HTTP, address: "127.0.0.1:0", defaultAction: { forward: { targetGroup: web } } }
targetGroups:
  - name: web
    algorithm: least_outstanding_requests
    healthCheck: { protocol: HTTP, path: /, interval: 1s, timeout: 500ms, healthyThreshold: 2, unhealthyThreshold: 2 }
    failover: { standby: spare, after: 1h }
    targets:
      - { address: "${targets[0]!.address}" }
      - { address: "${targets[1]!.address}" }
  - name: spare
    healthCheck: { enabled: false }
    targets:
      - { address: "${targets[2]!.address}" }
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
    for (const target of targets.slice(0, 2)) {
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
    const path = join(profileDir, 'status-page.png');
    await page.screenshot({ path, fullPage: true });
    expect(readFileSync(path).subarray(1, 4).toString('latin1')).toBe('PNG');
  });

  it('draws the request-rate and response-time charts with axes in their units', async () => {
    const group = page.locator('section[data-group="web"]');
    await expect
      .poll(() => group.locator('[data-chart="requests"] [data-axis="y-max"]').textContent())
      .toMatch(/ req\/s$/);
    await expect
      .poll(() => group.locator('[data-chart="latency"] [data-axis="y-max"]').textContent())
      .toMatch(/ ms$/);
    for (const chartName of ['requests', 'latency']) {
      const chart = group.locator(`[data-chart="${chartName}"]`);
      expect(await chart.locator('[data-axis="y-min"]').textContent()).toBe('0');
      expect(await chart.locator('[data-axis="x-max"]').textContent()).toBe('now');
      expect(await chart.locator('[data-axis="x-min"]').textContent()).toMatch(/^−\d+ s$/);
    }
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
    // No latency for a target that does not answer (its EWMA is fed by timeouts): "—" and why.
    const latency = stateOf(down.address).locator('[data-role="latency"]');
    await expect.poll(() => latency.textContent()).toMatch(/^—unhealthy/);
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

  describe('when every target of a group is down and it fails over to its standby', () => {
    it('shows the group failed over, not failing open, and the failover in the timeline', async () => {
      const last = targets[0]!;
      await last.close();
      await runUntil(
        ferry.health,
        clock,
        () => ferry.health.target('web', last.address)?.state === 'unhealthy',
      );
      const title = page.locator('section[data-group="web"] h2');
      await expect.poll(() => title.textContent(), { timeout: DOWN_SHOWN_WAIT_MS }).toContain('failing open');
      await ferry.failover.failover('web');
      await expect
        .poll(() => title.textContent(), { timeout: DOWN_SHOWN_WAIT_MS })
        .toContain('failed over to spare');
      expect(await title.textContent()).not.toContain('failing open');
      await expect
        .poll(() => page.locator('#transitions li[data-kind="failover"]').first().textContent())
        .toContain('web failed over to spare (command)');
    });
  });

  describe('when a target is deregistered and its drain ends', () => {
    it('keeps the deregistration in the timeline after the target is gone', async () => {
      const gone = targets[1]!;
      expect(ferry.health.deregister('web', gone.address)).toBe('draining');
      await runUntil(ferry.health, clock, () => ferry.health.target('web', gone.address) === undefined);
      await expect.poll(() => stateOf(gone.address).count(), { timeout: DOWN_SHOWN_WAIT_MS }).toBe(0);
      await expect
        .poll(() => page.locator('#transitions li[data-kind="deregistered"]').first().textContent())
        .toContain(`web/${gone.address} deregistered (drained)`);
      expect(await page.locator('#transitions').textContent()).toContain(
        `web/${gone.address} unhealthy → draining`,
      );
    });
  });

  it('logs no console errors', () => {
    expect(consoleErrors).toEqual([]);
  });
});
