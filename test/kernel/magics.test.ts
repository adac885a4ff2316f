import assert from 'node:assert/strict';
import { test } from 'node:test';
import { blankMagics, defaultMagics, MagicUsageError, parseCell, rewriteLineMagics, splitArgs } from '../../src/kernel/magics.js';

const reg = defaultMagics();

/** Each [cell source, expected rewrite] pair, under the default magics. */
function expectRewrites(pairs: [string, string][]): void {
  for (const [src, want] of pairs) assert.equal(rewriteLineMagics(src, reg), want);
}

test('line magics become one line of typed $nb calls; line numbers are kept', () => {
  const src = 'const a = 1;\n%seed 42\n%backend wasm\n%load_model m ./ckpt/tiny\n%time const b = f(a);\na + b';
  const out = rewriteLineMagics(src, reg);
  assert.equal(
    out,
    'const a = 1;\n$nb.seed(42);\nawait $nb.backend("wasm");\nconst m = await $nb.loadModel("./ckpt/tiny", "gemma");\n$nb.timer.start(); const b = f(a); void $nb.timer.stop();\na + b',
  );
  assert.equal(out.split('\n').length, src.split('\n').length);
  assert.equal(rewriteLineMagics('%backend', reg), 'await $nb.backend();');
  assert.equal(rewriteLineMagics('%lsmagic', reg), '$nb.lsmagic();');
});

test('only registered names at column 0 are magics: modulo continuations and unknown names stay TypeScript', () => {
  expectRewrites([
    ['const r = 10\n% 3', 'const r = 10\n% 3'],
    ['const r = x\n%m', 'const r = x\n%m'],
    ['  %seed 1', '  %seed 1'],
    ['%nosuch 1', '%nosuch 1'],
  ]);
});

test('arguments are quoted safely into the generated code', () => {
  assert.equal(rewriteLineMagics('%load_model m "dir with space/x\\"y"', reg), 'const m = await $nb.loadModel("dir with space/x\\"y", "gemma");');
  assert.equal(rewriteLineMagics("%load_model m '); process.exit(1); ('", reg), 'const m = await $nb.loadModel("); process.exit(1); (", "gemma");');
  assert.deepEqual(splitArgs(`a "b c" 'd e' f`), ['a', 'b c', 'd e', 'f']);
});

test('bad magic arguments are UsageErrors naming the magic', () => {
  assert.throws(() => rewriteLineMagics('%seed 1.5', reg), (e: unknown) => e instanceof MagicUsageError && e.name === 'UsageError' && /%seed/.test(e.message));
  assert.throws(() => rewriteLineMagics('%seed a-b', reg), /%seed needs/);
  assert.throws(() => rewriteLineMagics('%load_model m ./x --kind bert', reg), /--kind takes one of gemma, t5gemma/);
  assert.throws(() => rewriteLineMagics('%seed {1 + 2', reg), /unbalanced/);
  assert.throws(() => rewriteLineMagics('%seed 1 2', reg), MagicUsageError);
  assert.throws(() => rewriteLineMagics('%load_model 1x ./ckpt', reg), /'1x' is not a valid variable name/);
  assert.throws(() => rewriteLineMagics('%load_model m', reg), /needs a variable name and a source/);
  assert.throws(() => rewriteLineMagics('%time', reg), /needs a statement/);
  assert.throws(() => rewriteLineMagics('%backend a b', reg), /at most one/);
  assert.throws(() => parseCell('%%nosuch x\nbody', reg), /Cell magic %%nosuch not found/);
});

test('cell magics get their args and a body whose line numbers match the cell', () => {
  const p = parseCell('%%time\nconst x = 1;\nx', reg);
  assert.equal(p.kind, 'cell');
  if (p.kind !== 'cell') return;
  assert.equal(p.name, 'time');
  assert.equal(p.args, '');
  assert.equal(p.body, '\nconst x = 1;\nx');
  const q = parseCell('const y = 1;\n%%time', reg);
  assert.equal(q.kind, 'code', '%% below line 1 is not a cell magic');
});

test('blankMagics keeps offsets for completion and inspection', () => {
  const src = '%%time\n%seed 3\nMath.ma';
  const out = blankMagics(src, reg);
  assert.equal(out.length, src.length);
  assert.equal(out, `${' '.repeat(6)}\n${' '.repeat(7)}\nMath.ma`);
  assert.equal(blankMagics('x\n% 2', reg), 'x\n% 2');
});

test('%lsmagic lists every registered magic with its usage', () => {
  const text = reg.list();
  for (const m of ['%time STATEMENT', '%backend', '%seed N', '%load_model NAME SOURCE', '%lsmagic', '%%time', '%%html', '%%glue NAME TASKS', '%%ablate NAME TASKS']) assert.ok(text.includes(m), m);
});

test('%%glue/%%ablate become one typed $nb call around the body, budget validated', () => {
  const p = parseCell('%%glue res sst2,rte steps=16 lr=0.001\n{ encoder: f,\n  tokenizer: t }', reg);
  assert.equal(p.kind, 'cell');
  if (p.kind !== 'cell') return;
  const calls: string[] = [];
  void p.magic.run(p.args, p.body, { execute: async (code) => (calls.push(code), true), print: () => {}, display: () => {} });
  assert.deepEqual(calls, ['const res = await $nb.glue(["sst2","rte"], {"steps":16,"lr":0.001}, (\n{ encoder: f,\n  tokenizer: t }\n));']);
  const q = parseCell('%%ablate a sst2 trainLimit=x\n{}', reg);
  assert.ok(q.kind === 'cell');
  if (q.kind !== 'cell') return;
  const ctx = { execute: async () => true, print: () => {}, display: () => {} };
  assert.throws(() => q.magic.run(q.args, q.body, ctx), /trainLimit must be a number/);
  assert.throws(() => q.magic.run('a', '{}', ctx), /needs a result name and task/);
  assert.throws(() => q.magic.run('1a sst2', '{}', ctx), /not a valid variable name/);
});

test('%time shows an expression\'s value as Out, a statement none', () => {
  expectRewrites([
    ['%time 1 + 1', '$nb.timer.start(); $nb.timer.stop(1 + 1);'],
    ['%time await f(x);', '$nb.timer.start(); $nb.timer.stop(await f(x));'],
    ['%time const x = 5', '$nb.timer.start(); const x = 5; void $nb.timer.stop();'],
    ['%time f(); g()', '$nb.timer.start(); f(); g(); void $nb.timer.stop();'],
  ]);
});

test('magics take notebook values: $name, {expression}, and a bare name for %seed', () => {
  expectRewrites([
    ['%seed $seed', '$nb.seed((seed));'],
    ['%seed seed', '$nb.seed(seed);'],
    ['%seed {seed + 1}', '$nb.seed((seed + 1));'],
    ['%backend $engine', 'await $nb.backend((engine));'],
    ['%load_model m $dir', 'const m = await $nb.loadModel((dir), "gemma");'],
    ['%load_model m {`${root}/ckpt`} --kind t5gemma', 'const m = await $nb.loadModel((`${root}/ckpt`), "t5gemma");'],
  ]);
});
