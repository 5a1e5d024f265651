/**
 * workers/upstream/exchange: the one place an exchange's in-flight count is
 * taken and dropped, checked against a real shared table.
 */
import { describe, expect, it } from 'vitest';
import {
  LEDGER_IN_FLIGHT,
  loadLedger,
  loadTarget,
  NO_SLOT,
  TARGET_IN_FLIGHT,
} from '../../../../proto/table-layout.ts';
import { TableWriter } from '../../../../src/table/index.ts';
import { PICK_NONE } from '../../../../workers/route/index.ts';
import { Exchange } from '../../../../workers/upstream/index.ts';

const WORKER_INDEX = 1;

function setUp() {
  const writer = new TableWriter({ groupCapacity: 2, targetCapacity: 4, workerCapacity: 2 });
  writer.publish({
    listeners: [],
    targetGroups: [
      {
        name: 'app',
        algorithm: 'round_robin',
        hashKey: { kind: 'source_ip', name: '' },
        failOpen: false,
        isHealthCheckEnabled: false,
        connectTimeoutMs: 1_234,
        responseTimeoutMs: 5_678,
        stickiness: { enabled: false, type: 'lb_cookie', durationMs: 1_000, cookieName: '' },
        targets: [{ address: '127.0.0.1:1', host: '127.0.0.1', port: 1, weight: 1 }],
      },
    ],
  });
  const slot = writer.targets()[0]!.slot;
  return { view: writer.view, slot };
}

describe('Exchange', () => {
  describe('when taken and dropped more than once', () => {
    it('counts one in-flight request on the target and in the worker ledger, then none', () => {
      const { view, slot } = setUp();
      const ex = new Exchange(view, WORKER_INDEX);
      ex.slot = slot;
      ex.take();
      ex.take();
      expect(loadTarget(view, slot, TARGET_IN_FLIGHT)).toBe(1);
      expect(loadLedger(view, WORKER_INDEX, slot, LEDGER_IN_FLIGHT)).toBe(1);
      ex.drop();
      ex.drop();
      expect(loadTarget(view, slot, TARGET_IN_FLIGHT)).toBe(0);
      expect(loadLedger(view, WORKER_INDEX, slot, LEDGER_IN_FLIGHT)).toBe(0);
    });
  });

  describe('before a pick', () => {
    it('has no slot, no target and the default timeouts', () => {
      const { view } = setUp();
      const ex = new Exchange(view, 0);
      expect(ex).toMatchObject({ slot: NO_SLOT, target: null, group: null, pickKind: PICK_NONE });
      expect(ex.connectTimeoutMs).toBe(5_000);
      expect(ex.responseTimeoutMs).toBe(60_000);
      expect(ex.cookies.isEmpty).toBe(true);
    });
  });

  describe('when reset for the next request', () => {
    it('forgets the pick and the cookies', () => {
      const { view, slot } = setUp();
      const ex = new Exchange(view, 0);
      ex.slot = slot;
      ex.pickKind = 1;
      ex.cookies.bindGroup('FERRYTG-x', 'FERRYTGCORS-x', 'v', 1);
      ex.reset();
      expect(ex).toMatchObject({ slot: NO_SLOT, target: null, group: null, pickKind: PICK_NONE });
      expect(ex.cookies.isEmpty).toBe(true);
    });
  });
});
