/**
 * The package boundary: package.json `exports` (what `import ... from 'gemma-lab'` reaches), its types for a
 * consumer outside the repo (NodeNext resolution) and for notebooks (tslab's Node10 resolution, through
 * `typesVersions`), and that the types named by exported signatures are exported. Checks the built dist/
 * (`npm test` builds first).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import ts from 'typescript';
import { REPO_ROOT } from '../../src/io/paths.js';
import { ENTRIES, publicSurface } from './surface.js';

let consumer: string;

before(() => {
  assert.ok(existsSync(join(REPO_ROOT, 'dist', 'index.d.ts')), 'dist/ is not built: run `npm run build`');
  consumer = mkdtempSync(join(tmpdir(), 'gemma-lab-consumer-'));
  mkdirSync(join(consumer, 'node_modules'));
  symlinkSync(REPO_ROOT, join(consumer, 'node_modules', 'gemma-lab'), 'dir');
});

after(() => rmSync(consumer, { recursive: true, force: true }));

test('every project type named in an exported signature is exported', () => {
  const { exported, missing } = publicSurface();
  assert.ok(exported.size > 150, `only ${exported.size} exported declarations`);
  assert.deepEqual(missing, [], 'add these to src/index.ts (or the entry that exports their user)');
});

const CONSUMER_TS = `
import { encodeBatch, initEngine, loadTokenizer, msmarcoMrr, toEncoder, type BatchOptions, type EncoderOptions, type GlueFinetuneOptions, type ModelLoadOptions, type RunEntry } from 'gemma-lab';
import { FINDINGS, loadFinding } from 'gemma-lab/experiments';
const opts: BatchOptions = { maxLength: 8, padToMax: true };
const batch: Int32Array = encodeBatch(loadTokenizer(), ['Hello'], opts).ids;
const enc: Partial<EncoderOptions> = {};
const load: ModelLoadOptions = {};
const ft: Partial<GlueFinetuneOptions> = {};
const run: RunEntry[] = [];
export const used = [batch, enc, load, ft, run, initEngine, toEncoder, msmarcoMrr, FINDINGS, loadFinding];
`;

function typecheck(options: ts.CompilerOptions): string[] {
  const file = join(consumer, 'consumer.ts');
  writeFileSync(file, CONSUMER_TS);
  const program = ts.createProgram([file], {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    target: ts.ScriptTarget.ES2022,
    types: ['node'],
    typeRoots: [join(REPO_ROOT, 'node_modules', '@types')],
    ...options,
  });
  return ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
}

test('a consumer outside the repo type-checks against the package (NodeNext: exports map)', () => {
  assert.deepEqual(typecheck({ module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext }), []);
});

test('notebook cells type-check it the way tslab does (Node10 resolution: types + typesVersions)', () => {
  assert.deepEqual(typecheck({ module: ts.ModuleKind.ESNext, moduleResolution: ts.ModuleResolutionKind.Node10, esModuleInterop: true }), []);
});

function node(cwd: string, code: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { cwd, encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('at run time: the entry points load from dist/, deep imports are refused, self-reference works in the repo', () => {
  const code = `
    const gl = await import('gemma-lab');
    const ex = await import('gemma-lab/experiments');
    const tok = gl.loadTokenizer();
    let deep = 'allowed';
    try { await import('gemma-lab/dist/models/gemma.js'); } catch (e) { deep = e.code; }
    console.log(JSON.stringify({ ids: tok.encode('Hello world'), fn: typeof gl.toEncoder, findings: Object.keys(ex.FINDINGS).length > 0, deep }));`;
  for (const cwd of [consumer, REPO_ROOT, join(REPO_ROOT, 'notebooks')]) {
    const r = node(cwd, code);
    assert.equal(r.status, 0, `${cwd}: ${r.stderr}`);
    // Gemma 3 ids of "Hello world" (bos, "Hello", " world"), the same as test/tokenize's reference.
    assert.deepEqual(JSON.parse(r.stdout), { ids: [2, 9259, 1902], fn: 'function', findings: true, deep: 'ERR_PACKAGE_PATH_NOT_EXPORTED' }, cwd);
  }
});

test('package.json exports exactly the documented entry points, each built', async () => {
  const pkg = (await import('../../package.json', { with: { type: 'json' } })).default as { exports: Record<string, unknown> };
  assert.deepEqual(Object.keys(pkg.exports), ['.', './experiments', './package.json']);
  assert.deepEqual(Object.keys(ENTRIES), ['gemma-lab', 'gemma-lab/experiments']);
  for (const sub of ['.', './experiments']) {
    const entry = pkg.exports[sub] as { types: string; default: string };
    assert.ok(existsSync(join(REPO_ROOT, entry.types)) && existsSync(join(REPO_ROOT, entry.default)), sub);
  }
});
