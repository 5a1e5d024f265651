/**
 * No import circles among src/ and proto/ (relative imports, type-only ones
 * included), found by the same search `node scripts/import-cycles.ts` runs.
 *
 * Why: a circle makes module evaluation order depend on which file is
 * imported first, so a `const` read during load can be `undefined` in one
 * entry point and fine in another; and two files that import each other are
 * one file in two places. workers/ is left out while it is being
 * restructured (it had workers/l4/index.ts -> workers/runtime.ts ->
 * workers/listen/index.ts -> workers/l4/index.ts when this test was written).
 */
import { describe, expect, it } from 'vitest';
import { buildGraph, DEFAULT_ROOTS, findCycles, listFiles } from '../../scripts/import-cycles.ts';

describe('findCycles', () => {
  describe('when two files import each other through a third', () => {
    it('reports the circle once, starting at its smallest file', () => {
      const graph = new Map([
        ['c.ts', ['a.ts']],
        ['a.ts', ['b.ts']],
        ['b.ts', ['c.ts', 'd.ts']],
        ['d.ts', []],
      ]);
      expect(findCycles(graph)).toEqual([['a.ts', 'b.ts', 'c.ts']]);
    });
  });

  describe('when the graph only shares dependencies', () => {
    it('reports nothing', () => {
      const graph = new Map([
        ['a.ts', ['b.ts', 'c.ts']],
        ['b.ts', ['c.ts']],
        ['c.ts', []],
      ]);
      expect(findCycles(graph)).toEqual([]);
    });
  });
});

describe('src/ and proto/', () => {
  it('import one another without a circle', () => {
    const graph = buildGraph(listFiles(DEFAULT_ROOTS));
    // A known edge: if this stops being found, the parser is broken, not the code clean.
    expect(graph.get('src/table/index.ts')).toContain('proto/table-layout.ts');
    const circles = findCycles(graph).map((cycle) => [...cycle, cycle[0]].join(' -> '));
    expect(circles, 'break each circle (move the shared piece into its own file)').toEqual([]);
  });
});
