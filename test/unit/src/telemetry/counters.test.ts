/**
 * The snapshot layouts counters.ts derives from its descriptor tables: every
 * key lands where its row's cells are copied, on a real table whose every
 * polled cell holds a distinct value, so a position computed apart from the
 * row order would read a neighbour's value.
 */
import { describe, expect, it } from 'vitest';
import {
  addGroup,
  addListener,
  addResponseTime,
  addStats,
  addTarget,
  GROUP_NO_TARGET_TOTAL,
  initTable,
  LISTENER_BYTES_OUT_TOTAL,
  RESPONSE_TIME_BUCKET_COUNT,
  STATS_NEW_CONNECTIONS_TOTAL,
  TARGET_FAILURES_TOTAL,
  type TableView,
  tableBytes,
} from '../../../../proto/table-layout.ts';
import {
  GROUP_CELL,
  GROUP_CELL_COUNT,
  GROUP_COUNTERS,
  LISTENER_CELL,
  LISTENER_CELL_COUNT,
  LISTENER_COUNTERS,
  readGroupCells,
  readListenerCells,
  readSlotCells,
  SLOT_CELL,
  SLOT_CELL_COUNT,
} from '../../../../src/telemetry/counters.ts';

const CAPACITY = { groupCapacity: 1, targetCapacity: 2, workerCapacity: 2, listenerCapacity: 2 };

function makeTable(): TableView {
  return initTable(new SharedArrayBuffer(tableBytes(CAPACITY)), CAPACITY, 1_700_000_000);
}

describe('SLOT_CELL', () => {
  it('places each row right after the cells of the row before it', () => {
    expect(SLOT_CELL.requests).toBe(0);
    expect(SLOT_CELL.responseTimeSum100us).toBe(SLOT_CELL.responseTimeBuckets + RESPONSE_TIME_BUCKET_COUNT);
    expect(SLOT_CELL_COUNT).toBe(SLOT_CELL.responseTimeSum100us + 1);
    expect(new Set(Object.values(SLOT_CELL)).size).toBe(Object.keys(SLOT_CELL).length);
  });
});

describe('readSlotCells', () => {
  describe('when the TARGET, STATS and HISTOGRAM rows of a slot each count', () => {
    it('copies every counter to its SLOT_CELL position', () => {
      const view = makeTable();
      addTarget(view, 1, TARGET_FAILURES_TOTAL, 11);
      addStats(view, 1, STATS_NEW_CONNECTIONS_TOTAL, 22);
      addResponseTime(view, 1, 3_000_000); // bucket 13 (2.5 s < t <= 5 s), 30,000 x 100 µs
      addTarget(view, 0, TARGET_FAILURES_TOTAL, 99); // another slot: not read
      const raw = new Int32Array(SLOT_CELL_COUNT);
      readSlotCells(view, 1, raw);
      expect(raw[SLOT_CELL.gatewayFailures]).toBe(11);
      expect(raw[SLOT_CELL.newConnections]).toBe(22);
      expect(raw[SLOT_CELL.responseTimeBuckets + 13]).toBe(1);
      expect(raw[SLOT_CELL.responseTimeSum100us]).toBe(30_000);
      expect(raw.reduce((sum, value) => sum + value, 0)).toBe(11 + 22 + 1 + 30_000);
    });
  });
});

describe('readGroupCells', () => {
  it('copies every GROUP_COUNTERS row to its GROUP_CELL position', () => {
    const view = makeTable();
    for (const [index, row] of GROUP_COUNTERS.entries()) addGroup(view, 0, row.field, 10 + index);
    const raw = new Int32Array(GROUP_CELL_COUNT);
    readGroupCells(view, 0, raw);
    for (const [index, row] of GROUP_COUNTERS.entries())
      expect(raw[GROUP_CELL[row.key]], row.key).toBe(10 + index);
    expect(raw[GROUP_CELL.noTargetRequests]).toBe(
      10 + GROUP_COUNTERS.findIndex((row) => row.field === GROUP_NO_TARGET_TOTAL),
    );
  });
});

describe('readListenerCells', () => {
  it("copies one worker's row of one listener to LISTENER_CELL positions", () => {
    const view = makeTable();
    for (const [index, row] of LISTENER_COUNTERS.entries()) addListener(view, 1, 1, row.field, 100 + index);
    addListener(view, 0, 1, LISTENER_BYTES_OUT_TOTAL, 7); // another worker: not read
    const raw = new Int32Array(LISTENER_CELL_COUNT);
    readListenerCells(view, 1, 1, raw);
    for (const [index, row] of LISTENER_COUNTERS.entries())
      expect(raw[LISTENER_CELL[row.key]], row.key).toBe(100 + index);
  });
});
