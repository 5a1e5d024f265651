/**
 * Contract of the shared table (proto/table-layout.ts): the field list and
 * LAYOUT_VERSION move together, offsets stay inside their 64-byte rows, and a
 * table written by another layout version is refused.
 *
 * Why: main and every worker read the same SharedArrayBuffer, so an offset that
 * moves without a version bump makes a worker read one field as another, and no
 * error ever says so. Two guards catch that: the file snapshot (which shows the
 * diff) and KNOWN_LAYOUT_HASHES below (which a snapshot update with `-u` cannot
 * silence: a changed layout needs a new version and a new pair here).
 */
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as layout from '../../proto/table-layout.ts';
import {
  attachTable,
  HEADER_CLOCK_ORIGIN_S,
  HEADER_LAYOUT_VERSION,
  initTable,
  LAYOUT_VERSION,
  LEDGER_CELLS,
  LEDGER_CONNECTIONS,
  LEDGER_IN_FLIGHT,
  loadHeader,
  RESPONSE_TIME_BUCKET_BOUNDS_US,
  ROW_INT32,
  ROW_INT32_PER_LISTENER,
  storeHeader,
  TABLE_FIELDS,
  type TableCapacity,
  tableBytes,
} from '../../proto/table-layout.ts';

/**
 * LAYOUT_VERSION -> hash of the layout shape (every region's fields with their
 * offsets, the row width, the ledger cells and the stored TARGET_STATE_* values).
 * Append a pair each time LAYOUT_VERSION is bumped; never edit an old one.
 */
const KNOWN_LAYOUT_HASHES: Readonly<Record<number, string>> = {
  1: '6e77f76f2b261fde',
  // Metrics regions (issue 6): STATS and HISTOGRAM rows per target, LISTENER rows per worker and listener.
  2: 'f855bf4ecc729727',
  // Sticky-session counters per group and LISTENER_SOURCE_REFUSED_TOTAL (issue 5).
  3: '7fc5aea8bebba5c7',
  // Layer-4 listener counters: PROXY refusals, SNI peek failures, UDP flows and drops (issue 13).
  4: '554b71f5fc2865ce',
  // Issue 13's listener counters and issue 12's zone counters, merged (both had taken 4).
  5: 'bc581df15b9ee776',
  // Issue 10's client-timeout and connection-limit listener counters; LISTENER rows become two cache lines.
  6: '67658fc69e08e992',
};

const CACHE_LINE_BYTES = 64;

/** Region-prefixed offsets; TARGET_STATE_* are values stored in TARGET_STATE, not offsets. */
const OFFSET_NAME = /^(HEADER|GROUP|TARGET|WORKER|STATS|HISTOGRAM|LISTENER)_/;
const TARGET_STATE_VALUE_NAME = /^TARGET_STATE_/;

type Fields = Readonly<Record<string, number>>;

/** `"<offset> <NAME>"` lines sorted by offset, so reordering declarations is not a change. */
function describeFields(fields: Fields): string[] {
  return Object.entries(fields)
    .sort(([, a], [, b]) => a - b)
    .map(([name, offset]) => `${offset} ${name}`);
}

const LEDGER_FIELDS: Fields = { LEDGER_IN_FLIGHT, LEDGER_CONNECTIONS };

const TARGET_STATES: Fields = Object.fromEntries(
  Object.entries(layout as Readonly<Record<string, unknown>>).filter(
    (entry): entry is [string, number] =>
      TARGET_STATE_VALUE_NAME.test(entry[0]) && typeof entry[1] === 'number',
  ),
);

/** Everything a reader of another version would misread if it changed. */
const layoutShape = {
  rowInt32: ROW_INT32,
  regions: {
    HEADER: describeFields(TABLE_FIELDS.HEADER),
    GROUP: describeFields(TABLE_FIELDS.GROUP),
    TARGET: describeFields(TABLE_FIELDS.TARGET),
    WORKER: describeFields(TABLE_FIELDS.WORKER),
    STATS: describeFields(TABLE_FIELDS.STATS),
    HISTOGRAM: describeFields(TABLE_FIELDS.HISTOGRAM),
    LISTENER: describeFields(TABLE_FIELDS.LISTENER),
    LEDGER: describeFields(LEDGER_FIELDS),
  },
  ledgerCells: LEDGER_CELLS,
  /** The histogram's cells mean these bounds: a reader with other bounds would mislabel every bucket. */
  responseTimeBucketBoundsUs: RESPONSE_TIME_BUCKET_BOUNDS_US,
  targetStates: describeFields(TARGET_STATES),
};

const layoutHash = createHash('sha256').update(JSON.stringify(layoutShape)).digest('hex').slice(0, 16);

const ROW_REGIONS = Object.entries(TABLE_FIELDS) as [string, Fields][];

function freshTable(capacity: TableCapacity, clockOriginS = 1_700_000_000): SharedArrayBuffer {
  const buffer = new SharedArrayBuffer(tableBytes(capacity));
  initTable(buffer, capacity, clockOriginS);
  return buffer;
}

describe('TABLE_FIELDS', () => {
  it('matches the snapshot of fields and offsets together with LAYOUT_VERSION', () => {
    expect({ version: LAYOUT_VERSION, ...layoutShape }).toMatchSnapshot();
  });

  it('matches the layout hash recorded for the current LAYOUT_VERSION', () => {
    const known = KNOWN_LAYOUT_HASHES[LAYOUT_VERSION];
    const message =
      known === undefined
        ? `LAYOUT_VERSION ${LAYOUT_VERSION} has no entry in KNOWN_LAYOUT_HASHES ` +
          `(test/contract/table-layout.test.ts): add \`${LAYOUT_VERSION}: '${layoutHash}'\`.`
        : `The table layout changed but LAYOUT_VERSION is still ${LAYOUT_VERSION}. ` +
          'Bump LAYOUT_VERSION in proto/table-layout.ts, add ' +
          `\`${LAYOUT_VERSION + 1}: '${layoutHash}'\` to KNOWN_LAYOUT_HASHES ` +
          'in test/contract/table-layout.test.ts, and update the snapshot (vitest -u).';
    expect(layoutHash, message).toBe(known);
  });

  it('is at the newest version KNOWN_LAYOUT_HASHES records', () => {
    const newest = Math.max(...Object.keys(KNOWN_LAYOUT_HASHES).map(Number));
    expect(LAYOUT_VERSION, 'LAYOUT_VERSION only moves forward').toBe(newest);
  });

  it('lists every region-prefixed offset the module exports', () => {
    const exported = Object.entries(layout)
      .filter(
        ([name, value]) =>
          OFFSET_NAME.test(name) && !TARGET_STATE_VALUE_NAME.test(name) && typeof value === 'number',
      )
      .map(([name]) => name)
      .sort();
    const listed = ROW_REGIONS.flatMap(([, fields]) => Object.keys(fields)).sort();
    expect(listed, 'add the new field to TABLE_FIELDS so the snapshot covers it').toEqual(exported);
  });

  it('puts each field in the region its prefix names', () => {
    for (const [region, fields] of ROW_REGIONS) {
      for (const name of Object.keys(fields)) expect(name.startsWith(`${region}_`), name).toBe(true);
    }
  });

  it('keeps HEADER_LAYOUT_VERSION in slot 0', () => {
    expect(HEADER_LAYOUT_VERSION).toBe(0);
  });

  describe.each(ROW_REGIONS)('region %s', (region, fields) => {
    const offsets = Object.values(fields);

    it('has unique offsets', () => {
      expect(new Set(offsets).size, `${region} offsets: ${describeFields(fields).join(', ')}`).toBe(
        offsets.length,
      );
    });

    it('has integer offsets inside its row (ROW_INT32 cells; a LISTENER row has ROW_INT32_PER_LISTENER)', () => {
      const rowCells = region === 'LISTENER' ? ROW_INT32_PER_LISTENER : ROW_INT32;
      for (const [name, offset] of Object.entries(fields)) {
        expect(Number.isInteger(offset) && offset >= 0 && offset < rowCells, `${name} = ${offset}`).toBe(
          true,
        );
      }
    });
  });

  describe('ledger cells', () => {
    it('are unique and below LEDGER_CELLS', () => {
      const cells = Object.values(LEDGER_FIELDS);
      expect(new Set(cells).size).toBe(cells.length);
      for (const cell of cells) expect(cell >= 0 && cell < LEDGER_CELLS, `cell ${cell}`).toBe(true);
    });
  });

  describe('TARGET_STATE_* values', () => {
    it('are unique', () => {
      const values = Object.values(TARGET_STATES);
      expect(values.length).toBeGreaterThan(0);
      expect(new Set(values).size).toBe(values.length);
    });
  });
});

describe('ROW_INT32', () => {
  it('makes one row exactly one 64-byte cache line', () => {
    expect(ROW_INT32 * Int32Array.BYTES_PER_ELEMENT).toBe(CACHE_LINE_BYTES);
  });

  it('makes a LISTENER row whole cache lines', () => {
    expect((ROW_INT32_PER_LISTENER * Int32Array.BYTES_PER_ELEMENT) % CACHE_LINE_BYTES).toBe(0);
  });

  it('starts every row region on a 64-byte boundary', () => {
    const view = attachTable(freshTable({ groupCapacity: 3, targetCapacity: 7, workerCapacity: 2 }));
    for (const base of [
      view.groupBase,
      view.targetBase,
      view.workerBase,
      view.statsBase,
      view.histogramBase,
      view.listenerBase,
      view.ledgerBase,
    ]) {
      expect((base * Int32Array.BYTES_PER_ELEMENT) % CACHE_LINE_BYTES).toBe(0);
    }
  });
});

describe('tableBytes', () => {
  const capacityArbitrary = fc.record({
    groupCapacity: fc.integer({ min: 0, max: 256 }),
    targetCapacity: fc.integer({ min: 0, max: 4096 }),
    workerCapacity: fc.integer({ min: 0, max: 64 }),
  });

  it('grows when any capacity grows', () => {
    fc.assert(
      fc.property(capacityArbitrary, (capacity) => {
        const bytes = tableBytes(capacity);
        expect(tableBytes({ ...capacity, groupCapacity: capacity.groupCapacity + 1 })).toBeGreaterThan(bytes);
        expect(tableBytes({ ...capacity, targetCapacity: capacity.targetCapacity + 1 })).toBeGreaterThan(
          bytes,
        );
        expect(tableBytes({ ...capacity, workerCapacity: capacity.workerCapacity + 1 })).toBeGreaterThan(
          bytes,
        );
      }),
    );
  });

  it('is a whole number of Int32 cells and holds at least the header row', () => {
    fc.assert(
      fc.property(capacityArbitrary, (capacity) => {
        const bytes = tableBytes(capacity);
        expect(bytes % Int32Array.BYTES_PER_ELEMENT).toBe(0);
        expect(bytes).toBeGreaterThanOrEqual(CACHE_LINE_BYTES);
      }),
    );
  });
});

describe('initTable', () => {
  describe('when attachTable reads the table back', () => {
    it('round-trips the capacities, region bases and clock origin', () => {
      fc.assert(
        fc.property(
          fc.record({
            groupCapacity: fc.integer({ min: 0, max: 32 }),
            targetCapacity: fc.integer({ min: 0, max: 128 }),
            workerCapacity: fc.integer({ min: 0, max: 16 }),
          }),
          fc.integer({ min: 0, max: 2 ** 31 - 1 }),
          (capacity, clockOriginS) => {
            const buffer = new SharedArrayBuffer(tableBytes(capacity));
            const written = initTable(buffer, capacity, clockOriginS);
            const read = attachTable(buffer);
            const { i32: _writtenI32, ...writtenBases } = written;
            const { i32: _readI32, ...readBases } = read;
            expect(readBases).toEqual(writtenBases);
            expect(readBases).toMatchObject(capacity);
            expect(loadHeader(read, HEADER_CLOCK_ORIGIN_S)).toBe(clockOriginS);
            expect(loadHeader(read, HEADER_LAYOUT_VERSION)).toBe(LAYOUT_VERSION);
          },
        ),
        { numRuns: 50 },
      );
    });
  });
});

describe('attachTable', () => {
  const capacity: TableCapacity = { groupCapacity: 2, targetCapacity: 4, workerCapacity: 2 };

  describe('when the table carries another layout version', () => {
    it.each([
      ['the next version', LAYOUT_VERSION + 1],
      ['an older version', LAYOUT_VERSION - 1],
    ])('throws for %s', (_label, version) => {
      const buffer = freshTable(capacity);
      storeHeader(attachTable(buffer), HEADER_LAYOUT_VERSION, version);
      expect(() => attachTable(buffer)).toThrow(/layout version/);
    });
  });

  describe('when the buffer was never initialised', () => {
    it('throws because slot 0 holds no layout version', () => {
      expect(() => attachTable(new SharedArrayBuffer(tableBytes(capacity)))).toThrow(/layout version/);
    });
  });

  describe('when the buffer is smaller than its header says', () => {
    it('throws', () => {
      const source = new Int32Array(freshTable(capacity));
      const short = new SharedArrayBuffer(tableBytes(capacity) - Int32Array.BYTES_PER_ELEMENT);
      new Int32Array(short).set(source.subarray(0, short.byteLength / Int32Array.BYTES_PER_ELEMENT));
      expect(() => attachTable(short)).toThrow(/smaller/);
    });
  });
});
