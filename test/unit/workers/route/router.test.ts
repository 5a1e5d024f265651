/**
 * workers/route/router: sticky picks against a real shared table written by
 * the main-thread TableWriter — hit, miss, and a re-pick with a rewritten
 * cookie when the named target is unhealthy, draining, ejected or gone (its
 * slot given to another target); failover; the counters; and the weighted
 * forward's rotation and group stickiness.
 */
import { describe, expect, it } from 'vitest';
import {
  GROUP_FORWARD_STICKY_HITS_TOTAL,
  GROUP_FORWARD_STICKY_MISSES_TOTAL,
  GROUP_FORWARD_STICKY_REPICKS_TOTAL,
  GROUP_STICKY_HITS_TOTAL,
  GROUP_STICKY_MISSES_TOTAL,
  GROUP_STICKY_REPICKS_TOTAL,
  loadGroup,
  NO_SLOT,
  TARGET_STATE_HEALTHY,
  TARGET_STATE_UNHEALTHY,
} from '../../../../proto/table-layout.ts';
import type { Topology, TopologyListener } from '../../../../proto/thread-messages.ts';
import { type TablePlan, type TableTargetGroup, TableWriter } from '../../../../src/table/index.ts';
import type { RequestHead } from '../../../../workers/l7/http1-types.ts';
import { createRequestHead } from '../../../../workers/l7/parse-request-head.ts';
import { createResponseHead } from '../../../../workers/l7/parse-response-head.ts';
import { ACTION_FORWARD } from '../../../../workers/route/compile.ts';
import { ExchangeCookies, Router } from '../../../../workers/route/router.ts';
import { PICK_STICKY, TargetGroups } from '../../../../workers/route/target-groups.ts';

const NOW_MS = 1_000;

function group(
  name: string,
  addresses: readonly string[],
  extra: Partial<TableTargetGroup> = {},
): TableTargetGroup {
  return {
    name,
    algorithm: 'round_robin',
    hashKey: { kind: 'source_ip', name: '' },
    failOpen: false,
    isHealthCheckEnabled: false,
    connectTimeoutMs: 1_000,
    responseTimeoutMs: 1_000,
    stickiness: { enabled: true, type: 'lb_cookie', durationMs: 3_600_000, cookieName: '' },
    targets: addresses.map((address) => ({
      address,
      host: '127.0.0.1',
      port: Number(address.split(':')[1]),
      weight: 1,
    })),
    ...extra,
  };
}

function listener(
  defaultAction: NonNullable<TopologyListener['routing']>['defaultAction'],
): TablePlan['listeners'][number] {
  return {
    name: 'web',
    protocol: 'HTTP',
    host: '127.0.0.1',
    port: 8080,
    defaultTargetGroup: null,
    addTargetHeader: false,
    routing: { rules: [], defaultAction, scheme: 'internet-facing', allowedSources: [], internalSources: [] },
  };
}

/** A table, a worker's TargetGroups and Router over it. */
function setUp(groups: TableTargetGroup[], listeners: TablePlan['listeners'] = []) {
  const writer = new TableWriter({ groupCapacity: 4, targetCapacity: 8, workerCapacity: 1 });
  let topology = writer.publish({ targetGroups: groups, listeners });
  for (const entry of writer.targets()) writer.setState(entry.slot, TARGET_STATE_HEALTHY);
  const targetGroups = new TargetGroups(writer.view, 0, topology);
  const router = new Router(writer.view, targetGroups, topology);
  const apply = (next: Topology) => {
    topology = next;
    targetGroups.apply(next);
    router.apply(next);
  };
  return { writer, targetGroups, router, apply, topology: () => topology };
}

function request(cookies: Record<string, string> = {}): RequestHead {
  const req = createRequestHead();
  const line = Object.entries(cookies)
    .map(([name, value]) => `${name}=${value}`)
    .join('; ');
  req.headerNames = line === '' ? [] : ['cookie'];
  req.headerValues = line === '' ? [] : [line];
  req.headerCount = req.headerNames.length;
  return req;
}

/** The value of cookie `name` the response for this exchange sets ('' if none). */
function cookieSet(router: Router, cookies: ExchangeCookies, name: string): string {
  const lines = router.responseCookieLines(cookies, createResponseHead());
  const match = new RegExp(`set-cookie: ${name}=([^;]*);`).exec(lines);
  return match?.[1] ?? '';
}

/** Pick once with `cookie` (or none); returns the slot and the cookie the response would set. */
function pick(router: Router, groupIndex: number, cookie: string | null, name = 'FERRYLB-app') {
  const cookies = new ExchangeCookies();
  const slot = router.pickTarget(
    groupIndex,
    0,
    NOW_MS,
    request(cookie === null ? {} : { [name]: cookie }),
    cookies,
  );
  return { slot, cookie: cookieSet(router, cookies, name) };
}

function counters(view: TableWriter['view'], groupIndex: number) {
  return {
    hits: loadGroup(view, groupIndex, GROUP_STICKY_HITS_TOTAL),
    misses: loadGroup(view, groupIndex, GROUP_STICKY_MISSES_TOTAL),
    repicks: loadGroup(view, groupIndex, GROUP_STICKY_REPICKS_TOTAL),
  };
}

describe('Router.pickTarget', () => {
  describe('with lb_cookie stickiness', () => {
    it('balances without a cookie, then keeps the cookie’s target', () => {
      const { router, writer, targetGroups } = setUp([
        group('app', ['127.0.0.1:1', '127.0.0.1:2', '127.0.0.1:3']),
      ]);
      const first = pick(router, 0, null);
      expect(first.cookie).not.toBe('');
      for (let i = 0; i < 10; i++) {
        expect(pick(router, 0, first.cookie).slot).toBe(first.slot);
        expect(targetGroups.lastPickKind).toBe(PICK_STICKY);
      }
      expect(counters(writer.view, 0)).toEqual({ hits: 10, misses: 1, repicks: 0 });
    });

    it.each([
      ['unhealthy', (writer: TableWriter, slot: number) => writer.setState(slot, TARGET_STATE_UNHEALTHY)],
      ['ejected', (writer: TableWriter, slot: number) => writer.setEjected(slot, true)],
      ['at weight 0', (writer: TableWriter, slot: number) => writer.setWeight(slot, 0)],
      [
        'draining',
        (writer: TableWriter, slot: number) =>
          writer.drain('app', writer.targets().find((t) => t.slot === slot)!.address),
      ],
    ])('re-picks and rewrites the cookie when the target is %s', (_state, makeUnroutable) => {
      const { router, writer } = setUp([group('app', ['127.0.0.1:1', '127.0.0.1:2'])]);
      const first = pick(router, 0, null);
      makeUnroutable(writer, first.slot);
      const moved = pick(router, 0, first.cookie);
      expect(moved.slot).not.toBe(first.slot);
      expect(moved.slot).not.toBe(NO_SLOT);
      expect(moved.cookie).not.toBe('');
      expect(moved.cookie).not.toBe(first.cookie);
      expect(pick(router, 0, moved.cookie).slot).toBe(moved.slot);
      expect(counters(writer.view, 0)).toEqual({ hits: 1, misses: 1, repicks: 1 });
    });

    it('re-picks when the slot now holds another target (the cookie names a gone one)', () => {
      const { router, writer, apply } = setUp([group('app', ['127.0.0.1:1'])]);
      const first = pick(router, 0, null);
      writer.drain('app', '127.0.0.1:1');
      writer.release('app', '127.0.0.1:1');
      apply(writer.publish({ targetGroups: [group('app', ['127.0.0.1:9'])], listeners: [] }));
      for (const entry of writer.targets()) writer.setState(entry.slot, TARGET_STATE_HEALTHY);
      const moved = pick(router, 0, first.cookie);
      // Same slot number, but its generation moved: the cookie's target is gone.
      expect(moved.slot).toBe(first.slot);
      expect(moved.cookie).not.toBe(first.cookie);
      expect(counters(writer.view, 0).repicks).toBe(1);
    });

    it('follows a failover: the standby balances and its own cookie sticks there', () => {
      const { router, writer } = setUp([
        group('app', ['127.0.0.1:1']),
        group('standby', ['127.0.0.1:7', '127.0.0.1:8']),
      ]);
      const primary = pick(router, 0, null);
      writer.routeTo('app', 'standby');
      const failedOver = pick(router, 0, null, 'FERRYLB-standby');
      expect([7, 8].map((port) => writer.target('standby', `127.0.0.1:${port}`)!.slot)).toContain(
        failedOver.slot,
      );
      expect(pick(router, 0, failedOver.cookie, 'FERRYLB-standby').slot).toBe(failedOver.slot);
      expect(pick(router, 0, primary.cookie).slot).not.toBe(primary.slot);
      expect(counters(writer.view, 1).hits).toBe(1);
    });

    it('sets no cookie when stickiness is off, and a reload can turn it on', () => {
      const off = group('app', ['127.0.0.1:1', '127.0.0.1:2'], {
        stickiness: { enabled: false, type: 'lb_cookie', durationMs: 1_000, cookieName: '' },
      });
      const { router, writer, apply } = setUp([off]);
      expect(pick(router, 0, null).cookie).toBe('');
      apply(writer.publish({ targetGroups: [group('app', ['127.0.0.1:1', '127.0.0.1:2'])], listeners: [] }));
      expect(pick(router, 0, null).cookie).not.toBe('');
    });
  });

  describe('with app_cookie stickiness', () => {
    const appGroup = group('app', ['127.0.0.1:1', '127.0.0.1:2'], {
      stickiness: { enabled: true, type: 'app_cookie', durationMs: 60_000, cookieName: 'SID' },
    });

    it('binds only when the response sets the application cookie, and then to that session', () => {
      const { router } = setUp([appGroup]);
      const cookies = new ExchangeCookies();
      const slot = router.pickTarget(0, 0, NOW_MS, request(), cookies);
      expect(router.responseCookieLines(cookies, createResponseHead())).toBe('');
      const res = createResponseHead();
      res.headerNames = ['set-cookie'];
      res.headerValues = ['SID=s1; Path=/'];
      res.headerCount = 1;
      const binding = /FERRYAPP-app=([^;]*);/.exec(router.responseCookieLines(cookies, res))![1]!;
      const again = new ExchangeCookies();
      expect(router.pickTarget(0, 0, NOW_MS, request({ SID: 's1', 'FERRYAPP-app': binding }), again)).toBe(
        slot,
      );
      const other = new ExchangeCookies();
      router.pickTarget(0, 0, NOW_MS, request({ SID: 's2', 'FERRYAPP-app': binding }), other);
      expect(router.responseCookieLines(other, createResponseHead())).toBe('');
    });
  });
});

describe('Router.pickForwardGroup', () => {
  const blueGreen = (isSticky: boolean) => {
    const groups = [
      group('blue', ['127.0.0.1:1'], { stickiness: undefined }),
      group('green', ['127.0.0.1:2'], { stickiness: undefined }),
    ];
    const action = {
      type: 'forward' as const,
      targetGroups: [
        { name: 'blue', weight: 3 },
        { name: 'green', weight: 1 },
      ],
      stickiness: { enabled: isSticky, durationMs: 60_000 },
    };
    const setup = setUp(groups, [listener(action)]);
    const compiled = setup.router.listener('web')!;
    const forward = compiled.actions[compiled.defaultActionIndex]!;
    expect(forward.kind).toBe(ACTION_FORWARD);
    return { ...setup, forward };
  };

  it('splits exactly by weight over each cycle of this worker', () => {
    const { router, forward } = blueGreen(false);
    const picks = Array.from({ length: 400 }, () =>
      router.pickForwardGroup(forward, request(), new ExchangeCookies()),
    );
    expect(picks.filter((index) => index === 0)).toHaveLength(300);
    expect(picks.filter((index) => index === 1)).toHaveLength(100);
  });

  it('keeps a client on its group by cookie, and re-picks when the group leaves the action', () => {
    const { router, writer, forward, apply } = blueGreen(true);
    const cookies = new ExchangeCookies();
    const first = router.pickForwardGroup(forward, request(), cookies);
    const value = /FERRYTG-web-default=([^;]*);/.exec(cookies.groupLines)![1]!;
    for (let i = 0; i < 8; i++) {
      expect(
        router.pickForwardGroup(forward, request({ 'FERRYTG-web-default': value }), new ExchangeCookies()),
      ).toBe(first);
    }
    expect(loadGroup(writer.view, first, GROUP_FORWARD_STICKY_HITS_TOTAL)).toBe(8);
    expect(loadGroup(writer.view, first, GROUP_FORWARD_STICKY_MISSES_TOTAL)).toBe(1);

    // The named group's weight drops to 0: its clients move.
    const weights = [
      { name: 'blue', weight: first === 0 ? 0 : 1 },
      { name: 'green', weight: first === 1 ? 0 : 1 },
    ];
    apply(
      writer.publish({
        targetGroups: writer.currentPlan().targetGroups,
        listeners: [
          listener({
            type: 'forward',
            targetGroups: weights,
            stickiness: { enabled: true, durationMs: 60_000 },
          }),
        ],
      }),
    );
    const compiled = router.listener('web')!;
    const next = compiled.actions[compiled.defaultActionIndex]!;
    const moved = router.pickForwardGroup(
      next,
      request({ 'FERRYTG-web-default': value }),
      new ExchangeCookies(),
    );
    expect(moved).toBe(1 - first);
    expect(loadGroup(writer.view, moved, GROUP_FORWARD_STICKY_REPICKS_TOTAL)).toBe(1);
  });
});
