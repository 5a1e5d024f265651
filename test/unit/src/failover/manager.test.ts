/**
 * FailoverManager (src/failover/manager.ts) against a real TableWriter, with
 * the workers simulated: each "worker" copies HEADER_GENERATION into its
 * WORKER_OBSERVED_GENERATION when the test lets it, so the tests control
 * exactly when a switch counts as observed.
 */
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import {
  GROUP_ROUTE_TO,
  HEADER_GENERATION,
  loadGroup,
  loadHeader,
  notifyWorker,
  storeWorker,
  TARGET_STATE_HEALTHY,
  TARGET_STATE_UNHEALTHY,
  WORKER_OBSERVED_GENERATION,
} from '../../../../proto/table-layout.ts';
import {
  FailoverManager,
  type FailoverPolicy,
  type FailoverSwitchEvent,
} from '../../../../src/failover/index.ts';
import { isProxyError } from '../../../../src/shared/errors.ts';
import { type TableTargetGroup, TableWriter } from '../../../../src/table/index.ts';

const WORKER_COUNT = 2;

function group(name: string, ports: readonly number[]): TableTargetGroup {
  return {
    name,
    algorithm: 'round_robin',
    hashKey: { kind: 'source_ip', name: '' },
    failOpen: false,
    isHealthCheckEnabled: true,
    connectTimeoutMs: 1000,
    responseTimeoutMs: 1000,
    targets: ports.map((port) => ({ address: `127.0.0.1:${port}`, host: '127.0.0.1', port, weight: 1 })),
  };
}

interface Rig {
  readonly table: TableWriter;
  readonly failover: FailoverManager;
  readonly live: boolean[];
  /** Let every live worker observe the current generation. */
  observe(): void;
  setHealthy(groupName: string, isHealthy: boolean): void;
}

const managers: FailoverManager[] = [];
const timers: NodeJS.Timeout[] = [];

afterEach(() => {
  for (const manager of managers.splice(0)) manager.stop();
  for (const timer of timers.splice(0)) clearInterval(timer);
});

function rig(
  policies: readonly FailoverPolicy[] = [
    { targetGroup: 'api', standby: 'backup', afterMs: 50, autoFailback: true },
  ],
  options: { observeWaitMs?: number } = {},
): Rig {
  const table = new TableWriter({ groupCapacity: 4, targetCapacity: 8, workerCapacity: WORKER_COUNT });
  table.publish({
    targetGroups: [group('api', [9001, 9002]), group('backup', [9101]), group('other', [9201])],
    listeners: [],
  });
  const live = Array.from({ length: WORKER_COUNT }, () => true);
  const failover = new FailoverManager({
    table,
    log: pino({ level: 'silent' }),
    isWorkerLive: (index) => live[index] === true,
    ...(options.observeWaitMs === undefined ? {} : { observeWaitMs: options.observeWaitMs }),
  });
  managers.push(failover);
  failover.apply(['api', 'backup', 'other'], policies);
  const setHealthy = (groupName: string, isHealthy: boolean) => {
    for (const target of table.targets()) {
      if (target.groupName === groupName)
        table.setState(target.slot, isHealthy ? TARGET_STATE_HEALTHY : TARGET_STATE_UNHEALTHY);
    }
  };
  setHealthy('api', true);
  setHealthy('backup', true);
  setHealthy('other', true);
  const observe = () => {
    const generation = loadHeader(table.view, HEADER_GENERATION);
    for (let i = 0; i < WORKER_COUNT; i++) {
      if (!live[i]) continue;
      storeWorker(table.view, i, WORKER_OBSERVED_GENERATION, generation);
      notifyWorker(table.view, i, WORKER_OBSERVED_GENERATION);
    }
  };
  observe();
  return { table, failover, live, observe, setHealthy };
}

/** Simulated workers that observe every millisecond. */
function autoObserve(r: Rig): void {
  timers.push(setInterval(() => r.observe(), 1));
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'resolved';
  } catch (error) {
    return isProxyError(error) ? error.code : String(error);
  }
}

function nextSwitch(failover: FailoverManager): Promise<FailoverSwitchEvent> {
  return new Promise((resolve) => failover.once('switch', resolve));
}

describe('FailoverManager.failover', () => {
  it('stores the standby in GROUP_ROUTE_TO and resolves only once every live worker has observed it', async () => {
    const r = rig();
    let isDone = false;
    const pending = r.failover.failover('api').then((result) => {
      isDone = true;
      return result;
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(loadGroup(r.table.view, 0, GROUP_ROUTE_TO)).toBe(1);
    expect(isDone).toBe(false);
    storeWorker(r.table.view, 0, WORKER_OBSERVED_GENERATION, loadHeader(r.table.view, HEADER_GENERATION));
    notifyWorker(r.table.view, 0, WORKER_OBSERVED_GENERATION);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(isDone).toBe(false);
    r.observe();
    const result = await pending;
    expect(result).toMatchObject({
      targetGroup: 'api',
      from: 'api',
      to: 'backup',
      isChanged: true,
      workerCount: 2,
    });
    expect(result.generation).toBe(loadHeader(r.table.view, HEADER_GENERATION));
    expect(r.failover.status('api').groups[0]).toMatchObject({
      routeTo: 'backup',
      mode: 'manual',
      switchesTotal: 1,
    });
  });

  it('does not wait for a worker that is not live', async () => {
    const r = rig();
    r.live[1] = false;
    autoObserve(r);
    expect(await r.failover.failover('api')).toMatchObject({ isChanged: true, workerCount: 1 });
  });

  it('answers NOT_OBSERVED when a live worker does not acknowledge in time, with the route already switched', async () => {
    const r = rig(undefined, { observeWaitMs: 30 });
    expect(await codeOf(r.failover.failover('api'))).toBe('FERRY_ERR_CONTROL_NOT_OBSERVED');
    expect(r.table.routeOf('api')).toBe('backup');
  });

  it('is a no-op when the group already routes there', async () => {
    const r = rig();
    autoObserve(r);
    await r.failover.failover('api');
    expect(await r.failover.failover('api')).toMatchObject({
      isChanged: false,
      from: 'backup',
      to: 'backup',
    });
    expect(r.failover.switchesTotal).toBe(1);
  });

  describe('when the standby has no routable target', () => {
    it('refuses with STANDBY_UNAVAILABLE unless forced', async () => {
      const r = rig();
      autoObserve(r);
      r.setHealthy('backup', false);
      expect(await codeOf(r.failover.failover('api'))).toBe('FERRY_ERR_CONTROL_STANDBY_UNAVAILABLE');
      expect(r.table.routeOf('api')).toBe('api');
      expect(await r.failover.failover('api', { force: true })).toMatchObject({ isChanged: true });
    });
  });

  describe('when the request does not fit', () => {
    it('answers NOT_FOUND for an unknown group or standby', async () => {
      const r = rig();
      expect(await codeOf(r.failover.failover('nope'))).toBe('FERRY_ERR_CONTROL_NOT_FOUND');
      expect(await codeOf(r.failover.failover('api', { to: 'nope' }))).toBe('FERRY_ERR_CONTROL_NOT_FOUND');
    });

    it('answers CONFLICT for a group without a standby, a switch to itself, or a second hop', async () => {
      const r = rig();
      autoObserve(r);
      expect(await codeOf(r.failover.failover('other'))).toBe('FERRY_ERR_CONTROL_CONFLICT');
      expect(await codeOf(r.failover.failover('api', { to: 'api' }))).toBe('FERRY_ERR_CONTROL_CONFLICT');
      await r.failover.failover('api');
      // backup takes api's traffic: it may not fail over itself, and nothing may fail over to api.
      expect(await codeOf(r.failover.failover('backup', { to: 'other' }))).toBe('FERRY_ERR_CONTROL_CONFLICT');
      expect(await codeOf(r.failover.failover('other', { to: 'api' }))).toBe('FERRY_ERR_CONTROL_CONFLICT');
      expect(await r.failover.failover('other', { to: 'backup' })).toMatchObject({ isChanged: true });
    });
  });
});

describe('FailoverManager.failback', () => {
  it('routes the group to itself again', async () => {
    const r = rig();
    autoObserve(r);
    await r.failover.failover('api');
    expect(await r.failover.failback('api')).toMatchObject({ from: 'backup', to: 'api', isChanged: true });
    expect(loadGroup(r.table.view, 0, GROUP_ROUTE_TO)).toBe(0);
    expect(r.failover.status('api').groups[0]).toMatchObject({ mode: 'primary', switchesTotal: 2 });
  });

  it('refuses while the group has no routable target of its own, unless forced', async () => {
    const r = rig();
    autoObserve(r);
    await r.failover.failover('api');
    r.setHealthy('api', false);
    expect(await codeOf(r.failover.failback('api'))).toBe('FERRY_ERR_CONTROL_STANDBY_UNAVAILABLE');
    expect(await r.failover.failback('api', { force: true })).toMatchObject({ isChanged: true });
  });
});

describe('automatic failover', () => {
  it('fails over once the group has had no routable target for `after`, and fails back when it recovers', async () => {
    const r = rig();
    autoObserve(r);
    r.failover.start();
    const over = nextSwitch(r.failover);
    const unhealthyAtMs = Date.now();
    r.setHealthy('api', false);
    const failedOver = await over;
    expect(failedOver).toMatchObject({
      from: 'api',
      to: 'backup',
      trigger: 'auto-failover',
      isObserved: true,
    });
    expect(failedOver.atMs - unhealthyAtMs).toBeGreaterThanOrEqual(50);
    expect(r.failover.status().groups[0]).toMatchObject({ mode: 'auto', routeTo: 'backup' });
    const back = nextSwitch(r.failover);
    r.setHealthy('api', true);
    expect(await back).toMatchObject({ from: 'backup', to: 'api', trigger: 'auto-failback' });
    expect(r.failover.status()).toMatchObject({
      autoFailoversTotal: 1,
      autoFailbacksTotal: 1,
      switchesTotal: 2,
    });
  });

  it('does not fail over while the standby cannot take the traffic either', async () => {
    const r = rig();
    autoObserve(r);
    r.failover.start();
    r.setHealthy('backup', false);
    r.setHealthy('api', false);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(r.table.routeOf('api')).toBe('api');
    const over = nextSwitch(r.failover);
    r.setHealthy('backup', true);
    expect(await over).toMatchObject({ to: 'backup', trigger: 'auto-failover' });
  });

  it('never undoes a manual failover, even with autoFailback on', async () => {
    const r = rig();
    autoObserve(r);
    r.failover.start();
    await r.failover.failover('api');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(r.table.routeOf('api')).toBe('backup');
  });

  it('stays failed over when autoFailback is off', async () => {
    const r = rig([{ targetGroup: 'api', standby: 'backup', afterMs: 0, autoFailback: false }]);
    autoObserve(r);
    r.failover.start();
    const over = nextSwitch(r.failover);
    r.setHealthy('api', false);
    await over;
    r.setHealthy('api', true);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(r.table.routeOf('api')).toBe('backup');
  });
});

describe('FailoverManager.apply', () => {
  it('records a reload switch when the standby left the config (the table already routes the group to itself)', async () => {
    const r = rig();
    autoObserve(r);
    await r.failover.failover('api');
    r.table.publish({ targetGroups: [group('api', [9001, 9002]), group('other', [9201])], listeners: [] });
    const event = nextSwitch(r.failover);
    r.failover.apply(['api', 'other'], []);
    expect(await event).toMatchObject({ from: 'backup', to: 'api', trigger: 'reload' });
    expect(r.failover.status('api').groups[0]).toMatchObject({ routeTo: 'api', mode: 'primary' });
  });
});
