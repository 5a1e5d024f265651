/**
 * Import boundaries (STYLE.md section 3) and the shared-view lint (section 5),
 * checked by reading the source of proto/, src/ and workers/.
 *
 *   proto/        imports only node: builtins (contracts, no policy, no I/O)
 *   src/shared/   imports only proto/ and src/shared/ from the repo
 *   workers/**    imports only proto/**, src/shared/** and workers/** from the repo
 *   src/**        never imports workers/** (src/supervisor spawns workers/entry by URL)
 *   everywhere    no `export *`
 *   src/config/   reached from outside only through src/config/index.ts
 *   `.i32[`       a plain index into the shared view appears only in proto/table-layout.ts
 *   circles       no import circle between files, nor between folders (type-only imports count:
 *                 a circle of types is a circle of concepts, and the next value import closes it)
 *
 * Why: workers and main are separate programs sharing proto/ and one table; an
 * import across the line drags main-thread code (and its I/O) into a worker,
 * and a plain index into the table skips Atomics. A type-aware lint would be
 * stricter; a regex over import statements is enough for these rules and runs
 * in milliseconds. Only import/export statements and `import('…')` count, so
 * `new URL('../../workers/entry.ts', import.meta.url)` is fine.
 *
 * Every failure lists each offending `file:line`.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SCANNED_ROOTS = ['proto', 'src', 'workers'] as const;

/** Folders inside src/ whose index.ts is the only file others may import. */
const SURFACE_ONLY_FOLDERS = [
  'src/admin',
  'src/config',
  'src/control',
  'src/demo',
  'src/discovery',
  'src/failover',
  'src/health',
  'src/identity',
  'src/supervisor',
  'src/simulate',
  'src/table',
  'src/telemetry',
  'workers/balance',
  'workers/http',
  'workers/l4',
  'workers/l7',
  'workers/listen',
  'workers/record',
  'workers/respond',
  'workers/route',
  'workers/simulate',
  'workers/tls',
  'workers/upstream',
] as const;

/** The one file allowed to index the shared Int32Array view directly. */
const TABLE_LAYOUT_FILE = 'proto/table-layout.ts';

// === Parsing ===

interface ImportSite {
  /** 1-based line of the specifier. */
  readonly line: number;
  readonly specifier: string;
}

/**
 * `import … from '…'`, `import '…'`, `export … from '…'` at the start of a line
 * (so comment lines starting with `*` or `//` never match); multi-line clauses
 * are fine because the clause may not contain `;` or quotes.
 */
const STATIC_IMPORT = /^[ \t]*(?:import|export)\s+(?:[^;'"`]*?\bfrom\s*)?(['"])([^'"\n]+)\1/gm;
const DYNAMIC_IMPORT = /\bimport\s*\(\s*(['"`])([^'"`\n]+)\1\s*\)/g;
const EXPORT_STAR = /^[ \t]*export\s+(?:type\s+)?\*/gm;
const SHARED_VIEW_INDEX = /\.i32\s*\[/g;

function lineAt(text: string, index: number): number {
  let line = 1;
  for (let i = 0; i < index; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

function isCommentLine(text: string, index: number): boolean {
  const start = text.lastIndexOf('\n', index - 1) + 1;
  const head = text.slice(start, index).trimStart();
  return head.startsWith('//') || head.startsWith('*') || head.startsWith('/*');
}

/** Every static and dynamic import specifier in a source text, with its line. */
function parseImports(text: string): ImportSite[] {
  const sites: ImportSite[] = [];
  for (const match of text.matchAll(STATIC_IMPORT)) {
    const specifier = match[2]!;
    sites.push({ line: lineAt(text, match.index + match[0].lastIndexOf(specifier)), specifier });
  }
  for (const match of text.matchAll(DYNAMIC_IMPORT)) {
    if (isCommentLine(text, match.index)) continue;
    sites.push({ line: lineAt(text, match.index), specifier: match[2]! });
  }
  return sites.sort((a, b) => a.line - b.line);
}

/** 1-based lines matching a pattern outside comment lines. */
function findLines(text: string, pattern: RegExp): number[] {
  const lines: number[] = [];
  for (const match of text.matchAll(pattern)) {
    if (!isCommentLine(text, match.index)) lines.push(lineAt(text, match.index));
  }
  return lines;
}

// === Repository scan ===

interface SourceFile {
  /** Repo-relative, `/`-separated. */
  readonly file: string;
  readonly text: string;
}

type Target =
  | { readonly kind: 'builtin'; readonly name: string }
  | { readonly kind: 'package'; readonly name: string }
  | { readonly kind: 'repo'; readonly file: string };

function listSources(): SourceFile[] {
  const files: SourceFile[] = [];
  for (const root of SCANNED_ROOTS) {
    const entries = readdirSync(path.join(REPO_ROOT, root), { recursive: true, encoding: 'utf8' });
    for (const entry of entries) {
      if (!entry.endsWith('.ts')) continue;
      const file = path.posix.join(root, entry.split(path.sep).join('/'));
      files.push({ file, text: readFileSync(path.join(REPO_ROOT, file), 'utf8') });
    }
  }
  return files.sort((a, b) => a.file.localeCompare(b.file));
}

function resolveTarget(fromFile: string, specifier: string): Target {
  if (specifier.startsWith('node:')) return { kind: 'builtin', name: specifier };
  if (specifier.startsWith('.')) {
    return {
      kind: 'repo',
      file: path.posix.normalize(path.posix.join(path.posix.dirname(fromFile), specifier)),
    };
  }
  return { kind: 'package', name: specifier };
}

function isUnder(file: string, folder: string): boolean {
  return file === folder || file.startsWith(`${folder}/`);
}

interface Violation {
  readonly file: string;
  readonly line: number;
  readonly detail: string;
}

function format(violations: readonly Violation[]): string[] {
  return violations.map((v) => `${v.file}:${v.line}  ${v.detail}`);
}

const SOURCES = listSources();
const IMPORTS = SOURCES.flatMap(({ file, text }) =>
  parseImports(text).map((site) => ({ file, ...site, target: resolveTarget(file, site.specifier) })),
);

type ImportEdge = (typeof IMPORTS)[number];

/** The repo file an import lands on, or undefined for builtins and packages. */
function repoTarget(edge: ImportEdge): string | undefined {
  return edge.target.kind === 'repo' ? edge.target.file : undefined;
}

function importViolation(edge: ImportEdge, note = ''): Violation {
  return { file: edge.file, line: edge.line, detail: `imports '${edge.specifier}'${note}` };
}

/** Repo imports from files under `fromFolder` that land outside every allowed folder. */
function repoImportsOutside(fromFolder: string, allowed: readonly string[]): Violation[] {
  return IMPORTS.filter((edge) => {
    const target = repoTarget(edge);
    return (
      isUnder(edge.file, fromFolder) &&
      target !== undefined &&
      !allowed.some((folder) => isUnder(target, folder))
    );
  }).map((edge) => importViolation(edge));
}

// === Circles ===

/**
 * The strongly connected components with more than one node (or a self-loop)
 * of a directed graph, each as its sorted node list: every import circle.
 * Tarjan's algorithm, iterative-free recursion is fine at this repo's size.
 */
function circlesOf(edges: ReadonlyMap<string, ReadonlySet<string>>): string[][] {
  let nextIndex = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const circles: string[][] = [];
  const visit = (node: string): void => {
    index.set(node, nextIndex);
    low.set(node, nextIndex);
    nextIndex++;
    stack.push(node);
    onStack.add(node);
    for (const next of edges.get(node) ?? []) {
      if (!index.has(next)) {
        visit(next);
        low.set(node, Math.min(low.get(node)!, low.get(next)!));
      } else if (onStack.has(next)) low.set(node, Math.min(low.get(node)!, index.get(next)!));
    }
    if (low.get(node) !== index.get(node)) return;
    const component: string[] = [];
    let member: string;
    do {
      member = stack.pop()!;
      onStack.delete(member);
      component.push(member);
    } while (member !== node);
    if (component.length > 1 || edges.get(node)?.has(node) === true) circles.push(component.sort());
  };
  for (const node of [...edges.keys()].sort()) if (!index.has(node)) visit(node);
  return circles.sort((a, b) => a[0]!.localeCompare(b[0]!));
}

/**
 * The area a file belongs to: its top folder under a root (`workers/l7` for
 * `workers/l7/h2/`, `src/control` for `src/control/handlers/drain.ts`), or
 * the file itself at a root (`workers/runtime.ts`). A subfolder is part of
 * its area, as handlers/ is of the control port.
 */
function areaOf(file: string): string {
  const parts = file.split('/');
  return parts.length <= 2 ? file : `${parts[0]}/${parts[1]}`;
}

/** The repo import graph, with each file mapped to a node by `nodeOf` (itself, or its folder). */
function importGraph(nodeOf: (file: string) => string): Map<string, Set<string>> {
  const edges = new Map<string, Set<string>>();
  for (const edge of IMPORTS) {
    const target = repoTarget(edge);
    if (target === undefined) continue;
    const from = nodeOf(edge.file);
    const to = nodeOf(target);
    if (from === to) continue;
    const set = edges.get(from) ?? new Set<string>();
    set.add(to);
    edges.set(from, set);
  }
  return edges;
}

// === Tests ===

describe('parseImports', () => {
  it('finds single-line, multi-line, type-only, side-effect, re-export and dynamic imports', () => {
    const text = [
      "import { a } from './a.ts';",
      'import {',
      '  b,',
      '  type C,',
      "} from '../b.ts';",
      "import type { D } from 'node:net';",
      "import './side-effect.ts';",
      "export { e } from './e.ts';",
      "export * from './star.ts';",
      "const lazy = await import('./lazy.ts');",
    ].join('\n');
    expect(parseImports(text)).toEqual([
      { line: 1, specifier: './a.ts' },
      { line: 5, specifier: '../b.ts' },
      { line: 6, specifier: 'node:net' },
      { line: 7, specifier: './side-effect.ts' },
      { line: 8, specifier: './e.ts' },
      { line: 9, specifier: './star.ts' },
      { line: 10, specifier: './lazy.ts' },
    ]);
  });

  it('ignores URLs, strings, exported values and comments', () => {
    const text = [
      "const ENTRY_URL = new URL('../../workers/entry.ts', import.meta.url);",
      "export const NAME = 'from';",
      " * import { x } from '../../workers/entry.ts';",
      "// const y = import('../../workers/entry.ts');",
      'const s = \'import { z } from "./z.ts"\';',
    ].join('\n');
    expect(parseImports(text)).toEqual([]);
  });
});

describe('the repository scan', () => {
  it('reads every scanned root and finds their imports', () => {
    for (const root of SCANNED_ROOTS) {
      expect(
        SOURCES.some(({ file }) => isUnder(file, root)),
        root,
      ).toBe(true);
    }
    // A known edge: if this stops being found, the parser is broken, not the code clean.
    expect(IMPORTS).toContainEqual(
      expect.objectContaining({
        file: 'workers/entry.ts',
        target: { kind: 'repo', file: 'proto/table-layout.ts' },
      }),
    );
  });
});

describe('proto/', () => {
  it('imports nothing but node: builtins', () => {
    const violations = IMPORTS.filter(
      (edge) => isUnder(edge.file, 'proto') && edge.target.kind !== 'builtin',
    ).map((edge) => importViolation(edge));
    expect(format(violations), 'proto/ may import only node: builtins').toEqual([]);
  });
});

describe('src/shared/', () => {
  it('imports from the repo only proto/ and src/shared/', () => {
    const violations = repoImportsOutside('src/shared', ['proto', 'src/shared']);
    expect(format(violations), 'src/shared/ may import only proto/ and src/shared/').toEqual([]);
  });
});

describe('workers/', () => {
  it('imports from the repo only proto/, src/shared/ and workers/', () => {
    const violations = repoImportsOutside('workers', ['proto', 'src/shared', 'workers']);
    expect(format(violations), 'workers/ may import only proto/, src/shared/ and workers/').toEqual([]);
  });
});

describe('src/', () => {
  it('never imports workers/ (src/supervisor spawns workers/entry by URL)', () => {
    const violations = IMPORTS.filter((edge) => {
      const target = repoTarget(edge);
      return isUnder(edge.file, 'src') && target !== undefined && isUnder(target, 'workers');
    }).map((edge) => importViolation(edge));
    expect(format(violations), 'src/ must not import workers/').toEqual([]);
  });
});

describe('export *', () => {
  it('appears nowhere in proto/, src/ or workers/', () => {
    const violations = SOURCES.flatMap(({ file, text }) =>
      findLines(text, EXPORT_STAR).map((line) => ({ file, line, detail: 'export * (name the exports)' })),
    );
    expect(format(violations), 'use named exports, not export *').toEqual([]);
  });
});

describe.each(SURFACE_ONLY_FOLDERS)('%s/', (folder) => {
  it('is imported from outside only through its index.ts', () => {
    const surface = `${folder}/index.ts`;
    const violations = IMPORTS.filter((edge) => {
      const target = repoTarget(edge);
      return (
        !isUnder(edge.file, folder) && target !== undefined && isUnder(target, folder) && target !== surface
      );
    }).map((edge) => importViolation(edge, `, not ${surface}`));
    expect(format(violations), `import ${surface}, not the files behind it`).toEqual([]);
  });
});

describe('circlesOf', () => {
  it('finds each circle once and leaves a chain alone', () => {
    const graph = new Map([
      ['a', new Set(['b'])],
      ['b', new Set(['c'])],
      ['c', new Set(['a', 'd'])],
      ['d', new Set(['e'])],
      ['e', new Set<string>()],
      ['x', new Set(['x'])],
    ]);
    expect(circlesOf(graph)).toEqual([['a', 'b', 'c'], ['x']]);
    expect(circlesOf(new Map([['a', new Set(['b'])]]))).toEqual([]);
  });
});

describe('import circles', () => {
  it('exist between no two files of proto/, src/ or workers/', () => {
    const circles = circlesOf(importGraph((file) => file)).map((circle) => circle.join(' <-> '));
    expect(circles, 'break each circle (move the shared part down a layer)').toEqual([]);
  });

  it('exist between no two areas (src/<area>, workers/<area>; workers/l7 and workers/l4 included)', () => {
    const circles = circlesOf(importGraph(areaOf)).map((circle) => circle.join(' <-> '));
    expect(circles, 'an area may not import one that imports it back').toEqual([]);
  });
});

describe('the shared Int32Array view', () => {
  it(`is indexed with .i32[ only in ${TABLE_LAYOUT_FILE}`, () => {
    const violations = SOURCES.filter(({ file }) => file !== TABLE_LAYOUT_FILE).flatMap(({ file, text }) =>
      findLines(text, SHARED_VIEW_INDEX).map((line) => ({
        file,
        line,
        detail: `.i32[ (use the Atomics accessors in ${TABLE_LAYOUT_FILE})`,
      })),
    );
    expect(
      format(violations),
      `a plain index into the shared view belongs only in ${TABLE_LAYOUT_FILE}`,
    ).toEqual([]);
  });
});
