/**
 * Folder-level import graph of src/: folder A depends on folder B when a file in A imports (statically,
 * `import`/`export ... from`, or dynamically, `import('...')`) a file in B. Any cycle between folders is
 * a layering error: a folder must be usable without the folders built on top of it. Type-only imports
 * count too (they still couple the folders' vocabularies).
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';

const SRC = resolve(import.meta.dirname, '..', '..', 'src');

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** Top folder of a file under src/ ('.' for src/index.ts, src/errors.ts). */
const folderOf = (file: string): string => {
  const parts = relative(SRC, file).split('/');
  return parts.length > 1 ? (parts[0] as string) : '.';
};

const IMPORT = /(?:import|export)\s[^'"]*?from\s*['"](\.[^'"]+)['"]|import\(\s*['"](\.[^'"]+)['"]\s*\)/g;

/** folder -> folder -> one importing file (for the message). */
export function folderGraph(): Map<string, Map<string, string>> {
  const g = new Map<string, Map<string, string>>();
  for (const f of files(SRC)) {
    const from = folderOf(f);
    for (const m of readFileSync(f, 'utf8').matchAll(IMPORT)) {
      const spec = (m[1] ?? m[2]) as string;
      const target = resolve(dirname(f), spec);
      if (!target.startsWith(SRC)) continue;
      const to = folderOf(target);
      if (to === from || to === '.' || from === '.') continue; // the root files (errors, index) are outside the layering
      const edges = g.get(from) ?? new Map<string, string>();
      if (!edges.has(to)) edges.set(to, relative(SRC, f));
      g.set(from, edges);
    }
  }
  return g;
}

/** Every elementary cycle's folders, found by DFS from each node (small graph). */
export function cycles(g: Map<string, Map<string, string>>): string[][] {
  const out = new Map<string, string[]>();
  const walk = (start: string, node: string, path: string[]) => {
    for (const next of g.get(node)?.keys() ?? []) {
      if (next === start) {
        const key = [...path].sort().join(',');
        if (!out.has(key)) out.set(key, [...path, start]);
      } else if (!path.includes(next) && next > start) walk(start, next, [...path, next]);
    }
  };
  for (const n of g.keys()) walk(n, n, [n]);
  return [...out.values()];
}

test('no import cycle between folders of src/', () => {
  const g = folderGraph();
  assert.ok((g.get('encoder')?.size ?? 0) > 0, 'the graph was read (encoder imports other folders)');
  const found = cycles(g).map((c) => c.map((f, i) => (i + 1 < c.length ? `${f} (${g.get(f)?.get(c[i + 1] as string)})` : f)).join(' -> '));
  assert.deepEqual(found, []);
});

test('the checker finds a planted cycle', () => {
  const g = new Map([
    ['a', new Map([['b', 'a/x.ts']])],
    ['b', new Map([['c', 'b/y.ts']])],
    ['c', new Map([['a', 'c/z.ts']])],
  ]);
  assert.deepEqual(cycles(g), [['a', 'b', 'c', 'a']]);
});
