/**
 * TableWriter.routeTo (src/table/index.ts): failover and failback as one
 * store of GROUP_ROUTE_TO inside the seqlock, kept across publish while both
 * groups stay in the plan.
 */
import { describe, expect, it } from 'vitest';
import { GROUP_ROUTE_TO, HEADER_GENERATION, loadGroup, loadHeader } from '../../../../proto/table-layout.ts';
import { type TablePlan, type TableTargetGroup, TableWriter } from '../../../../src/table/index.ts';

function group(name: string, port: number): TableTargetGroup {
  return {
    name,
    algorithm: 'round_robin',
    hashKey: { kind: 'source_ip', name: '' },
    failOpen: true,
    isHealthCheckEnabled: false,
    connectTimeoutMs: 1000,
    responseTimeoutMs: 1000,
    targets: [{ address: `127.0.0.1:${port}`, host: '127.0.0.1', port, weight: 1 }],
  };
}

function plan(...groups: TableTargetGroup[]): TablePlan {
  return { targetGroups: groups, listeners: [] };
}

function writer(): TableWriter {
  return new TableWriter({ groupCapacity: 4, targetCapacity: 8, workerCapacity: 2 });
}

describe('TableWriter.routeTo', () => {
  it('points the group at its standby in one store and returns the even generation that carries it', () => {
    const table = writer();
    table.publish(plan(group('api', 9001), group('standby', 9002)));
    const before = loadHeader(table.view, HEADER_GENERATION);
    const generation = table.routeTo('api', 'standby');
    expect(generation).toBe(before + 2);
    expect(generation % 2).toBe(0);
    expect(loadHeader(table.view, HEADER_GENERATION)).toBe(generation);
    expect(loadGroup(table.view, 0, GROUP_ROUTE_TO)).toBe(1);
    expect(loadGroup(table.view, 1, GROUP_ROUTE_TO)).toBe(1);
    expect(table.routeOf('api')).toBe('standby');
  });

  it('fails back when routed to the group itself', () => {
    const table = writer();
    table.publish(plan(group('api', 9001), group('standby', 9002)));
    table.routeTo('api', 'standby');
    table.routeTo('api', 'api');
    expect(loadGroup(table.view, 0, GROUP_ROUTE_TO)).toBe(0);
    expect(table.routeOf('api')).toBe('api');
  });

  describe('when a plan is published after a failover', () => {
    it('keeps the route, following the standby to its new index', () => {
      const table = writer();
      table.publish(plan(group('api', 9001), group('standby', 9002)));
      table.routeTo('api', 'standby');
      table.publish(plan(group('other', 9003), group('api', 9001), group('standby', 9002)));
      expect(loadGroup(table.view, 1, GROUP_ROUTE_TO)).toBe(2);
      expect(table.routeOf('api')).toBe('standby');
    });

    it('ends the failover when the standby is gone from the plan', () => {
      const table = writer();
      table.publish(plan(group('api', 9001), group('standby', 9002)));
      table.routeTo('api', 'standby');
      table.publish(plan(group('api', 9001)));
      expect(loadGroup(table.view, 0, GROUP_ROUTE_TO)).toBe(0);
      expect(table.routeOf('api')).toBe('api');
    });
  });

  describe('when a group is not in the plan', () => {
    it('throws (a precondition the failover manager checks first)', () => {
      const table = writer();
      table.publish(plan(group('api', 9001)));
      expect(() => table.routeTo('api', 'nowhere')).toThrow(/not in the plan/);
    });
  });
});
