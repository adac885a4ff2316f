/** The `forward` and `inspect` CLIs, spawned as users run them, checked against the goldens. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { REPO_ROOT, sharedDir } from '../../src/io/paths.js';
import { assertAllClose, TOL } from '../helpers/close.js';
import { runCli } from '../helpers/cli.js';
import { withTempDir } from '../helpers/dispose.js';
import { fixturePoolingKey, nonPad, readGolden } from '../models/golden.js';

const G2 = join(sharedDir(), 'fixtures', 'gemma2-tiny');
const G3 = join(REPO_ROOT, 'test', 'fixtures', 'gemma3-tiny');

const cli = (...args: string[]) => runCli(args);

interface ForwardFile {
  attention: string;
  hidden_states: number[][][];
  logits?: number[][][];
  pooled: Record<string, number[][]>;
}

test('forward CLI reproduces the goldens (gemma2-tiny every mode, gemma3-tiny HF bidirectional mode)', () =>
  withTempDir('gemma-cli-', async (dir) => {
    const runs: [string, string, string][] = [
      [G2, 'right_padded', 'causal'],
      [G2, 'short_first_row_padded', 'bidirectional_global'],
      [G2, 'right_padded', 'bidirectional_sliding'],
      [G3, 'right_padded', 'bidirectional_sliding_gemma3_hf'],
    ];
    for (const [fixture, caseName, mode] of runs) {
      const c = readGolden(fixture).cases.find((x) => x.name === caseName)!;
      const input = join(dir, 'in.json');
      const out = join(dir, `${mode}.json`);
      await writeFile(input, JSON.stringify({ input_ids: c.input_ids, attention_mask: c.attention_mask }));
      const r = cli('forward', '--model', fixture, '--input', input, '--attention', mode, '--out', out);
      assert.equal(r.code, 0, r.stderr);
      const got = JSON.parse(await readFile(out, 'utf8')) as ForwardFile;
      const want = c.outputs[mode]!;
      assert.equal(got.attention, mode);
      assertAllClose(nonPad(got.hidden_states, c.lengths), nonPad(want.hidden_states, c.lengths), TOL.parityF32, `${mode} hidden_states`);
      if (mode === 'causal') assertAllClose(nonPad(got.logits!, c.lengths), nonPad(want.logits!, c.lengths), TOL.parityF32, 'logits');
      else assert.equal(got.logits, undefined);
      for (const k of ['mean', 'first', 'last']) assertAllClose(got.pooled[k]!, want.pooled[fixturePoolingKey(k)]!, TOL.parityF32, `${mode} pooled.${k}`);
    }
  }));

test('forward CLI: bad input names the file; bad mode is a usage error', () =>
  withTempDir('gemma-cli-', async (dir) => {
    const input = join(dir, 'bad.json');
    await writeFile(input, JSON.stringify({ input_ids: [[2, 3], [2]] }));
    let r = cli('forward', '--model', G2, '--input', input, '--out', join(dir, 'o.json'));
    assert.equal(r.code, 1);
    assert.match(r.stderr, /DataFileError: .*bad\.json: 'input_ids' row 1 has length 1, row 0 has 2/);
    await writeFile(input, JSON.stringify({ input_ids: [[2, 300]] }));
    r = cli('forward', '--model', G2, '--input', input, '--out', join(dir, 'o.json'));
    assert.equal(r.code, 1);
    assert.match(r.stderr, /bad\.json: inputIds\[0\]\[1\] = 300 is not a token id/);
    r = cli('forward', '--model', G2, '--input', input, '--out', join(dir, 'o.json'), '--attention', 'sideways');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown --attention 'sideways'/);
  }));

test('inspect CLI: family, sizes, dtype and parameter count', () => {
  const r = cli('inspect', G2, '--json');
  assert.equal(r.code, 0, r.stderr);
  const rep = JSON.parse(r.stdout);
  assert.equal(rep.modelType, 'gemma2');
  assert.equal(rep.configDtype, 'bfloat16');
  assert.deepEqual(rep.tensorDtypes, { BF16: 24 });
  // embed 256*64 + 2 layers * (q 64*64 + k,v 2*32*64 + o 64*64 + mlp 3*64*128 + 4 norms * 64) + final norm 64
  assert.equal(rep.parameters, 256 * 64 + 2 * (64 * 64 * 2 + 32 * 64 * 2 + 3 * 64 * 128 + 4 * 64) + 64);
  assert.equal(rep.sizes.heads, 4);
  assert.equal(rep.sizes.kv_heads, 2);
  const text = cli('inspect', G3);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /family +gemma3_text/);
  assert.match(text.stdout, /parameters +165,056 in 54 tensors/);
  assert.match(text.stdout, /rope +full theta 1000000 x1\/8, sliding theta 10000 x1\/1/);
});
