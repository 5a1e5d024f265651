/**
 * @module scripts/import-cycles
 *
 * Finds import circles among the repo's own TypeScript files: a depth-first
 * search over every relative `import … from`, `import '…'` and `export … from`
 * specifier, type-only imports included (a type-only circle still ties two
 * files' shapes together and turns into a runtime circle the day someone drops
 * the `type`). Thread: none (a developer tool; `node scripts/import-cycles.ts
 * [root …]`, default roots `src proto`). Prints one line per circle, each as
 * `a.ts -> b.ts -> a.ts`, and exits 1 when there is any.
 * test/contract/import-cycles.test.ts runs the same search over src/ and
 * proto/ so a new circle fails the suite.
 *
 * The search reports one circle per back edge it meets, which is enough to
 * tell "acyclic" from "not": a graph with no back edge has no circle. Fix the
 * ones it prints and run it again; a knot of several circles shows one at a
 * time.
 *
 * Why a script and not a dependency (madge, dpdm): the parse is the same
 * regex test/contract/imports.test.ts uses, so both agree on what an import
 * is, and it runs in milliseconds with nothing to install.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = fileURLToPath(new URL('../', import.meta.url));
/** Roots searched when none are given: the main thread and the contracts. */
export const DEFAULT_ROOTS: readonly string[] = ['src', 'proto'];

/** Same shape as test/contract/imports.test.ts STATIC_IMPORT: start-of-line import/export … from '…'. */
const STATIC_IMPORT = /^[ \t]*(?:import|export)\s+(?:[^;'"`]*?\bfrom\s*)?(['"])([^'"\n]+)\1/gm;

/** Repo-relative `.ts` files under the roots, sorted. */
export function listFiles(roots: readonly string[]): string[] {
  const files: string[] = [];
  for (const root of roots) {
    const entries = readdirSync(path.join(REPO_ROOT, root), { recursive: true, encoding: 'utf8' });
    for (const entry of entries) {
      if (entry.endsWith('.ts')) files.push(path.posix.join(root, entry.split(path.sep).join('/')));
    }
  }
  return files.sort();
}

/** Repo-relative files each file imports, restricted to the scanned set. */
export function buildGraph(files: readonly string[]): Map<string, string[]> {
  const scanned = new Set(files);
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const text = readFileSync(path.join(REPO_ROOT, file), 'utf8');
    const targets: string[] = [];
    for (const match of text.matchAll(STATIC_IMPORT)) {
      const specifier = match[2]!;
      if (!specifier.startsWith('.')) continue;
      const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), specifier));
      if (scanned.has(target) && !targets.includes(target)) targets.push(target);
    }
    graph.set(file, targets);
  }
  return graph;
}

/** Every elementary circle reachable by DFS, each reported once (rotated to start at its smallest file). */
export function findCycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  const cycles = new Map<string, string[]>();
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (file: string): void => {
    state.set(file, 'open');
    stack.push(file);
    for (const next of graph.get(file) ?? []) {
      if (state.get(next) === 'open') {
        const cycle = stack.slice(stack.indexOf(next));
        const start = cycle.indexOf([...cycle].sort()[0]!);
        const rotated = [...cycle.slice(start), ...cycle.slice(0, start)];
        cycles.set(rotated.join(' -> '), rotated);
      } else if (state.get(next) === undefined) {
        visit(next);
      }
    }
    stack.pop();
    state.set(file, 'done');
  };
  for (const file of graph.keys()) if (state.get(file) === undefined) visit(file);
  return [...cycles.values()];
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const roots = process.argv.length > 2 ? process.argv.slice(2) : DEFAULT_ROOTS;
  const cycles = findCycles(buildGraph(listFiles(roots)));
  for (const cycle of cycles) console.log([...cycle, cycle[0]].join(' -> '));
  console.log(`${cycles.length} import circle(s) in ${roots.join(', ')}`);
  process.exitCode = cycles.length === 0 ? 0 : 1;
}
