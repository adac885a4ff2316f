/** `forward` on encoder-decoders and `generate`, spawned as users run them, checked against goldens and the library. */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { initEngine } from '../../src/engine/index.js';
import { REPO_ROOT } from '../../src/io/paths.js';
import { loadModel } from '../../src/models/load.js';
import type { T5Gemma2Model } from '../../src/models/t5gemma2.js';
import { toEncoderDecoder } from '../../src/t5gemma/build.js';
import { generate } from '../../src/t5gemma/generate.js';
import { TOL, assertAllClose } from '../helpers/close.js';
import { runCli } from '../helpers/cli.js';
import { type Case, fixtureDir, goldenCases, realTokens } from '../t5gemma/golden.js';

const SHIPPED = join(REPO_ROOT, 'data', 'models', 'tiny-gemma-pretrained');
let dir = '';
before(async () => {
  await initEngine();
  dir = await mkdtemp(join(tmpdir(), 'gemma-cli-s2s-'));
});
after(async () => rm(dir, { recursive: true, force: true }));

const cli = (...args: string[]) => runCli(args, 120_000);

interface S2SFile {
  model_type: string;
  encoder_hidden_states: number[][][];
  encoder_pooled: Record<string, number[][]>;
  decoder_hidden_states: number[][][];
  logits: number[][][];
}

for (const fixture of ['t5gemma2-tiny', 't5gemma-tiny']) {
  test(`forward CLI on ${fixture}: encoder/decoder states, logits and encoder pooling match the goldens`, async () => {
    const c = goldenCases(fixture).find((x) => x.name === 'right_padded') as Case;
    const input = join(dir, `${fixture}.in.json`);
    const out = join(dir, `${fixture}.out.json`);
    await writeFile(input, JSON.stringify({ input_ids: c.input_ids, attention_mask: c.attention_mask, decoder_input_ids: c.decoder_input_ids }));
    const r = cli('forward', '--model', fixtureDir(fixture), '--input', input, '--out', out);
    assert.equal(r.code, 0, r.stderr);
    const got = JSON.parse(await readFile(out, 'utf8')) as S2SFile;
    assertAllClose(realTokens(got.encoder_hidden_states, c.attention_mask), realTokens(c.outputs.encoder_hidden_states, c.attention_mask), TOL.parityF32, 'encoder');
    assertAllClose(got.decoder_hidden_states, c.outputs.decoder_hidden_states, TOL.parityF32, 'decoder');
    assertAllClose(got.logits, c.outputs.logits, TOL.parityF32, 'logits');
    // pooled from the golden states directly (mean over real tokens, first, last real token)
    const want = c.outputs.encoder_hidden_states.map((rows, b) => {
      const real = rows.filter((_, t) => c.attention_mask[b]![t] === 1);
      return { mean: real[0]!.map((_, k) => real.reduce((s, v) => s + v[k]!, 0) / real.length), first: rows[0]!, last: real[real.length - 1]! };
    });
    assertAllClose(got.encoder_pooled.mean!, want.map((w) => w.mean), TOL.parityF32, 'mean');
    assertAllClose(got.encoder_pooled.first!, want.map((w) => w.first), TOL.parityF32, 'first');
    assertAllClose(got.encoder_pooled.last!, want.map((w) => w.last), TOL.parityF32, 'last');
  });
}

test('generate CLI: --input greedy / beam / sampling equal the library call; bad input names the file', async () => {
  const c = goldenCases('t5gemma2-tiny')[1] as Case;
  const input = join(dir, 'gen.json');
  await writeFile(input, JSON.stringify({ input_ids: c.input_ids }));
  const model = (await loadModel(fixtureDir('t5gemma2-tiny'))) as T5Gemma2Model;
  for (const [flags, o] of [
    [['--max-new-tokens', '6'], { maxNewTokens: 6 }],
    [['--max-new-tokens', '5', '--beams', '3'], { maxNewTokens: 5, numBeams: 3 }],
    [['--max-new-tokens', '6', '--sample', '--seed', '5', '--temperature', '1.5', '--top-k', '40', '--top-p', '0.9'], { maxNewTokens: 6, sample: { seed: 5, temperature: 1.5, topK: 40, topP: 0.9 } }],
  ] as const) {
    const out = join(dir, 'gen.out.json');
    const r = cli('generate', '--model', fixtureDir('t5gemma2-tiny'), '--input', input, '--out', out, ...flags);
    assert.equal(r.code, 0, r.stderr);
    const got = JSON.parse(await readFile(out, 'utf8')) as { rows: { tokens: number[]; log_prob: number }[] };
    const want = await generate(model, c.input_ids, undefined, o);
    assert.deepEqual(got.rows.map((x) => x.tokens), want.map((h) => h.tokens), flags.join(' '));
    got.rows.forEach((x, i) => assert.ok(Math.abs(x.log_prob - want[i]!.logProb) < 1e-9));
  }
  model.dispose();
  await writeFile(input, JSON.stringify({ input_ids: [[2, 5, 6], [0, 0, 0]] }));
  const bad = cli('generate', '--model', fixtureDir('t5gemma2-tiny'), '--input', input);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /DataFileError: .*gen\.json: input.*row 1 holds only the pad id 0/);
  const dec = cli('generate', '--model', fixtureDir('gemma3-tiny'), '--input', input);
  assert.equal(dec.code, 1);
  assert.match(dec.stderr, /needs an encoder-decoder/);
});

test('generate CLI --text on a T5Gemma 2 built from the shipped model (tokenizer from --tokenizer)', async () => {
  const m = await toEncoderDecoder(SHIPPED, undefined, { recipe: 't5gemma2' });
  const ckpt = join(dir, 'shipped-t5gemma2');
  await m.save(ckpt);
  m.dispose();
  const r = cli('generate', '--model', ckpt, '--tokenizer', SHIPPED, '--text', 'the cat sat on the\nhello world', '--max-new-tokens', '4');
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 2);
  assert.match(lines[0] as string, /^0\t".*"\tlogP -\d/);
});
