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
import { LISTENER_TIMEOUTS_DEFAULT } from '../../../../src/shared/limits.ts';
import { type TablePlan, type TableTargetGroup, TableWriter } from '../../../../src/table/index.ts';
import type { RequestHead } from '../../../../workers/http/http1-types.ts';
import { createRequestHead } from '../../../../workers/http/parse-request-head.ts';
import { createResponseHead } from '../../../../workers/http/parse-response-head.ts';
import { ACTION_FORWARD } from '../../../../workers/route/compile.ts';
import { PICK_BALANCED, PICK_NONE, PICK_STICKY, type PickOutcome } from '../../../../workers/route/pick.ts';
import { Router } from '../../../../workers/route/router.ts';
import { COOKIE_ATTRIBUTES_HTTPS, ExchangeCookies } from '../../../../workers/route/sticky.ts';
import { TargetGroups } from '../../../../workers/route/target-groups.ts';

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
    timeouts: LISTENER_TIMEOUTS_DEFAULT,
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
  const lines = router.responseCookieLines(cookies, createResponseHead(), COOKIE_ATTRIBUTES_HTTPS);
  const match = new RegExp(`set-cookie: ${name}=([^;]*);`).exec(lines);
  return match?.[1] ?? '';
}

/** A fresh pick outcome (what workers/upstream/exchange.ts carries). */
function outcome(): PickOutcome {
  return {
    slot: NO_SLOT,
    target: null,
    group: null,
    pickKind: PICK_NONE,
    stickyOutcome: 0,
    cookies: new ExchangeCookies(),
  };
}

/** Pick once with `cookie` (or none); returns the slot, why, and the cookie the response would set. */
function pick(router: Router, groupIndex: number, cookie: string | null, name = 'FERRYLB-app') {
  const out = outcome();
  const slot = router.pick(
    out,
    groupIndex,
    request(cookie === null ? {} : { [name]: cookie }),
    '127.0.0.1',
    NOW_MS,
  );
  expect(out.slot).toBe(slot);
  return { slot, kind: out.pickKind, cookie: cookieSet(router, out.cookies, name) };
}

function counters(view: TableWriter['view'], groupIndex: number) {
  return {
    hits: loadGroup(view, groupIndex, GROUP_STICKY_HITS_TOTAL),
    misses: loadGroup(view, groupIndex, GROUP_STICKY_MISSES_TOTAL),
    repicks: loadGroup(view, groupIndex, GROUP_STICKY_REPICKS_TOTAL),
  };
}

describe('Router.pick', () => {
  describe('with lb_cookie stickiness', () => {
    it('balances without a cookie, then keeps the cookie’s target', () => {
      const { router, writer } = setUp([group('app', ['127.0.0.1:1', '127.0.0.1:2', '127.0.0.1:3'])]);
      const first = pick(router, 0, null);
      expect(first.cookie).not.toBe('');
      for (let i = 0; i < 10; i++) {
        const again = pick(router, 0, first.cookie);
        expect(again.slot).toBe(first.slot);
        expect(again.kind).toBe(PICK_STICKY);
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
      const first = outcome();
      const slot = router.pick(first, 0, request(), '127.0.0.1', NOW_MS);
      const cookies = first.cookies;
      expect(router.responseCookieLines(cookies, createResponseHead(), COOKIE_ATTRIBUTES_HTTPS)).toBe('');
      const res = createResponseHead();
      res.headerNames = ['set-cookie'];
      res.headerValues = ['SID=s1; Path=/'];
      res.headerCount = 1;
      const binding = /FERRYAPP-app=([^;]*);/.exec(
        router.responseCookieLines(cookies, res, COOKIE_ATTRIBUTES_HTTPS),
      )![1]!;
      expect(
        router.pick(outcome(), 0, request({ SID: 's1', 'FERRYAPP-app': binding }), '127.0.0.1', NOW_MS),
      ).toBe(slot);
      const other = outcome();
      router.pick(other, 0, request({ SID: 's2', 'FERRYAPP-app': binding }), '127.0.0.1', NOW_MS);
      expect(router.responseCookieLines(other.cookies, createResponseHead(), COOKIE_ATTRIBUTES_HTTPS)).toBe(
        '',
      );
    });
  });

  describe('when the flow has no request (a TCP connection)', () => {
    it('balances a sticky group without reading or setting any cookie', () => {
      const { router, writer } = setUp([group('app', ['127.0.0.1:1', '127.0.0.1:2'])]);
      const out = outcome();
      const slot = router.pick(out, 0, null, '10.0.0.1', NOW_MS);
      expect(slot).not.toBe(NO_SLOT);
      expect(out.target?.slot).toBe(slot);
      expect(out.group?.name).toBe('app');
      expect(out.pickKind).toBe(PICK_BALANCED);
      expect(out.cookies.isEmpty).toBe(true);
      expect(counters(writer.view, 0)).toEqual({ hits: 0, misses: 0, repicks: 0 });
    });
  });

  describe('when no target can take traffic', () => {
    it('lands NO_SLOT, no target and PICK_NONE in the outcome, and names the group that was asked', () => {
      const { router, writer } = setUp([group('app', ['127.0.0.1:1'])]);
      for (const entry of writer.targets()) writer.setState(entry.slot, TARGET_STATE_UNHEALTHY);
      const out = outcome();
      out.slot = 3;
      expect(router.pick(out, 0, request(), '127.0.0.1', NOW_MS)).toBe(NO_SLOT);
      expect(out).toMatchObject({ slot: NO_SLOT, target: null, pickKind: PICK_NONE });
      expect(out.group?.name).toBe('app');
    });
  });
});

describe('Router.pushResponseCookies', () => {
  it('writes the same Set-Cookie values for HTTP/2 as the HTTP/1.1 lines carry', () => {
    const { router } = setUp([group('app', ['127.0.0.1:1', '127.0.0.1:2'])]);
    const out = outcome();
    router.pick(out, 0, request(), '127.0.0.1', NOW_MS);
    const res = createResponseHead();
    const lines = router.responseCookieLines(out.cookies, res, COOKIE_ATTRIBUTES_HTTPS);
    const values: string[] = [];
    router.pushResponseCookies(values, out.cookies, res, COOKIE_ATTRIBUTES_HTTPS);
    expect(values).toHaveLength(2);
    expect(lines).toBe(values.map((value) => `set-cookie: ${value}\r\n`).join(''));
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
    const value = cookies.groupValue;
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
