/**
 * FailoverManager (src/failover/manager.ts) against a real TableWriter, with
 * the workers simulated: each "worker" copies HEADER_GENERATION into its
 * WORKER_OBSERVED_GENERATION when the test lets it (or, with autoObserve, as
 * soon as the table notifies a new generation, like an idle real worker), so
 * the tests control exactly when a switch counts as observed. The automatic
 * failover tick runs on a ManualClock the tests advance.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
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
  waitHeaderAsync,
} from '../../../../proto/table-layout.ts';
import {
  FAILOVER_TICK_MS,
  FailoverManager,
  type FailoverPolicy,
  type FailoverSwitchEvent,
} from '../../../../src/failover/index.ts';
import { isProxyError } from '../../../../src/shared/errors.ts';
import { type TableTargetGroup, TableWriter } from '../../../../src/table/index.ts';
import { ManualClock } from '../../../helpers/manual-clock.ts';

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
  readonly clock: ManualClock;
  readonly live: boolean[];
  /** Let every live worker observe the current generation. */
  observe(): void;
  setHealthy(groupName: string, isHealthy: boolean): void;
}

const managers: FailoverManager[] = [];
const observers: { isOn: boolean }[] = [];

afterEach(() => {
  for (const manager of managers.splice(0)) manager.stop();
  for (const observer of observers.splice(0)) observer.isOn = false;
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
  const clock = new ManualClock();
  const failover = new FailoverManager({
    table,
    log: pino({ level: 'silent' }),
    clock,
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
  return { table, failover, clock, live, observe, setHealthy };
}

/** Simulated idle workers: they observe each new generation as soon as the table notifies it. */
function autoObserve(r: Rig): void {
  const observer = { isOn: true };
  observers.push(observer);
  void (async () => {
    while (observer.isOn) {
      const seen = loadHeader(r.table.view, HEADER_GENERATION);
      r.observe();
      const wait = waitHeaderAsync(r.table.view, HEADER_GENERATION, seen, Number.POSITIVE_INFINITY);
      if (wait.async) await wait.value;
    }
  })();
}

/** Let queued switches run as far as they can without time passing (a few event-loop turns). */
async function settle(): Promise<void> {
  for (let turn = 0; turn < 5; turn++) await nextTurn();
}

/** Advance the clock tick by tick, letting switches the ticks queued run in between. */
async function advanceTicks(r: Rig, count: number): Promise<void> {
  for (let tick = 0; tick < count; tick++) {
    r.clock.advance(FAILOVER_TICK_MS);
    await settle();
  }
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
    await settle();
    expect(loadGroup(r.table.view, 0, GROUP_ROUTE_TO)).toBe(1);
    expect(isDone).toBe(false);
    storeWorker(r.table.view, 0, WORKER_OBSERVED_GENERATION, loadHeader(r.table.view, HEADER_GENERATION));
    notifyWorker(r.table.view, 0, WORKER_OBSERVED_GENERATION);
    await settle();
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
  it('fails over at the first tick the group has had no routable target for `after`, and fails back at the first tick it recovers', async () => {
    const r = rig([{ targetGroup: 'api', standby: 'backup', afterMs: 150, autoFailback: true }]);
    autoObserve(r);
    r.failover.start();
    const switches: FailoverSwitchEvent[] = [];
    r.failover.on('switch', (event) => switches.push(event));
    r.setHealthy('api', false);
    // Tick 1 notes the outage; ticks 2 and 3 are 100 and 200 ms into it: the switch comes at 200 >= 150.
    await advanceTicks(r, 2);
    expect(switches).toEqual([]);
    expect(r.failover.status().groups[0]?.unroutableSinceMs).toBe(r.clock.nowMs() - FAILOVER_TICK_MS);
    const over = nextSwitch(r.failover);
    await advanceTicks(r, 1);
    const failedOver = await over;
    expect(failedOver).toMatchObject({
      from: 'api',
      to: 'backup',
      trigger: 'auto-failover',
      isObserved: true,
    });
    expect(failedOver.atMs).toBe(r.clock.nowMs());
    expect(r.failover.status().groups[0]).toMatchObject({ mode: 'auto', routeTo: 'backup' });
    r.setHealthy('api', true);
    const back = nextSwitch(r.failover);
    await advanceTicks(r, 1);
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
    await advanceTicks(r, 10);
    expect(r.table.routeOf('api')).toBe('api');
    expect(r.failover.switchesTotal).toBe(0);
    const over = nextSwitch(r.failover);
    r.setHealthy('backup', true);
    await advanceTicks(r, 1);
    expect(await over).toMatchObject({ to: 'backup', trigger: 'auto-failover' });
  });

  it('never undoes a manual failover, even with autoFailback on', async () => {
    const r = rig();
    autoObserve(r);
    r.failover.start();
    await r.failover.failover('api');
    await advanceTicks(r, 10);
    expect(r.table.routeOf('api')).toBe('backup');
    expect(r.failover.switchesTotal).toBe(1);
  });

  it('stays failed over when autoFailback is off', async () => {
    const r = rig([{ targetGroup: 'api', standby: 'backup', afterMs: 0, autoFailback: false }]);
    autoObserve(r);
    r.failover.start();
    const over = nextSwitch(r.failover);
    r.setHealthy('api', false);
    await advanceTicks(r, 1);
    await over;
    r.setHealthy('api', true);
    await advanceTicks(r, 10);
    expect(r.table.routeOf('api')).toBe('backup');
    expect(r.failover.switchesTotal).toBe(1);
  });

  it('runs no tick once stopped', async () => {
    const r = rig([{ targetGroup: 'api', standby: 'backup', afterMs: 0, autoFailback: false }]);
    autoObserve(r);
    r.failover.start();
    r.failover.stop();
    r.setHealthy('api', false);
    await advanceTicks(r, 5);
    expect(r.table.routeOf('api')).toBe('api');
    expect(r.clock.pendingCount()).toBe(0);
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
