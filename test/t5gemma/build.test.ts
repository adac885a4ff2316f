import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import * as tf from '@tensorflow/tfjs-core';

import { parseGemmaConfig } from '../../src/config/gemma.js';
import { initEngine } from '../../src/engine/index.js';
import { ConfigError } from '../../src/errors.js';
import { sharedDir } from '../../src/io/paths.js';
import { GemmaModel } from '../../src/models/gemma.js';
import { loadGemmaModel, loadModel } from '../../src/models/load.js';
import { T5GemmaModel } from '../../src/models/t5gemma.js';
import { crossAttentionParams, toEncoderDecoder } from '../../src/t5gemma/build.js';
import { TOL, assertAllClose } from '../helpers/close.js';
import { checkGolden, goldenCases, realTokens } from './golden.js';

const GEMMA2_TINY = join(sharedDir(), 'fixtures', 'gemma2-tiny');
const tmp = mkdtempSync(join(tmpdir(), 't5gemma-build-'));

before(async () => {
  await initEngine();
});
after(() => rmSync(tmp, { recursive: true, force: true }));

const arr = (v: tf.Tensor): Float32Array => v.dataSync() as Float32Array;

test('balanced build from gemma2-tiny matches the independent reference build (golden)', async () => {
  const model = await toEncoderDecoder(GEMMA2_TINY);
  const err = checkGolden(model, 't5gemma-from-gemma2-tiny');
  console.log(`balanced build: max |err| encoder ${err.enc.toExponential(2)}, decoder ${err.dec.toExponential(2)}, logits ${err.logits.toExponential(2)}`);
  model.dispose();
});

test('balanced build: encoder == source Gemma in bidirectional_sliding mode; decoder self-attn == source; cross-attn copied', async () => {
  const gemma = await loadGemmaModel(GEMMA2_TINY);
  const model = await toEncoderDecoder(gemma);
  assert.ok(gemma.params.size > 0, 'the source is left intact');
  const shared = JSON.parse(readFileSync(join(GEMMA2_TINY, 'golden.json'), 'utf8')) as {
    cases: { input_ids: number[][]; attention_mask: number[][]; outputs: { bidirectional_sliding: { hidden_states: number[][][] } } }[];
  };
  for (const c of shared.cases) {
    const enc = model.encode(c.input_ids, c.attention_mask);
    const src = gemma.forward(c.input_ids, { attentionMask: c.attention_mask, attention: 'bidirectional_sliding' });
    const got = realTokens(enc.arraySync(), c.attention_mask);
    assert.deepEqual(got, realTokens(src.hiddenStates.arraySync(), c.attention_mask), 'bit-identical to the source Gemma');
    assertAllClose(got, realTokens(c.outputs.bidirectional_sliding.hidden_states, c.attention_mask), TOL.parityF32, 'vs gemma2-tiny golden');
    tf.dispose([enc, src.hiddenStates]);
  }
  for (let i = 0; i < gemma.config.numHiddenLayers; i++) {
    for (const w of ['q', 'k', 'v', 'o']) {
      const s = arr(gemma.params.get(`model.layers.${i}.self_attn.${w}_proj.weight`) as tf.Variable);
      assert.deepEqual(arr(model.params.get(`model.decoder.layers.${i}.self_attn.${w}_proj.weight`) as tf.Variable), s);
      assert.deepEqual(arr(model.params.get(`model.decoder.layers.${i}.cross_attn.${w}_proj.weight`) as tf.Variable), s);
      assert.deepEqual(arr(model.params.get(`model.encoder.layers.${i}.self_attn.${w}_proj.weight`) as tf.Variable), s);
    }
    assert.deepEqual(
      arr(model.params.get(`model.decoder.layers.${i}.pre_cross_attn_layernorm.weight`) as tf.Variable),
      arr(gemma.params.get(`model.layers.${i}.input_layernorm.weight`) as tf.Variable),
    );
  }
  // Fresh variables: training the T5Gemma model does not move the source.
  const name = 'model.decoder.layers.0.cross_attn.q_proj.weight';
  const before = arr(gemma.params.get('model.layers.0.self_attn.q_proj.weight') as tf.Variable).slice();
  (model.params.get(name) as tf.Variable).assign(tf.zeros((model.params.get(name) as tf.Variable).shape));
  assert.deepEqual(arr(gemma.params.get('model.layers.0.self_attn.q_proj.weight') as tf.Variable), before);
  model.dispose();
  gemma.dispose();
});

function smallDecoderGemma(): GemmaModel {
  const json = JSON.parse(readFileSync(join(GEMMA2_TINY, 'config.json'), 'utf8')) as Record<string, unknown>;
  const cfg = parseGemmaConfig({ ...json, hidden_size: 32, intermediate_size: 64, num_attention_heads: 2, num_key_value_heads: 1, query_pre_attn_scalar: 24 }, 'small/config.json');
  return GemmaModel.random(cfg, 5);
}

test('unbalanced build (64-wide encoder + 32-wide MQA decoder): random cross-attn with k/v width 64, saved and reloaded identically', async () => {
  const small = smallDecoderGemma();
  const model = await toEncoderDecoder(GEMMA2_TINY, small, { seed: 11 });
  assert.equal(model.config.decoder.crossAttentionHiddenSize, 64);
  assert.equal(model.config.decoder.finalLogitSoftcapping, small.config.finalLogitSoftcapping);
  assert.deepEqual(model.params.get('model.decoder.layers.1.cross_attn.k_proj.weight')?.shape, [16, 64]);
  assert.deepEqual(model.params.get('model.decoder.layers.1.cross_attn.q_proj.weight')?.shape, [32, 32]);
  const cross = crossAttentionParams(model);
  assert.equal(cross.size, 2 * 6, 'q/k/v/o + 2 norms per decoder layer');
  const q = arr(cross.get('model.decoder.layers.0.cross_attn.q_proj.weight') as tf.Variable);
  const std = Math.sqrt(q.reduce((s, x) => s + x * x, 0) / q.length);
  assert.ok(Math.abs(std - 0.02) < 0.004, `random init std ${std} ~ initializer_range 0.02`);
  assert.deepEqual(arr(cross.get('model.decoder.layers.0.pre_cross_attn_layernorm.weight') as tf.Variable), new Float32Array(32));
  assert.deepEqual(
    arr(model.params.get('model.decoder.layers.0.mlp.up_proj.weight') as tf.Variable),
    arr(small.params.get('model.layers.0.mlp.up_proj.weight') as tf.Variable),
  );

  const dir = join(tmp, 'unbalanced');
  await model.save(dir);
  const loaded = await loadModel(dir);
  assert.ok(loaded instanceof T5GemmaModel);
  const [c] = goldenCases('t5gemma-tiny-unbalanced');
  const a = model.forward(c!.input_ids, c!.decoder_input_ids, { attentionMask: c!.attention_mask });
  const b = loaded.forward(c!.input_ids, c!.decoder_input_ids, { attentionMask: c!.attention_mask });
  assert.deepEqual(b.logits.arraySync(), a.logits.arraySync(), 'identical logits after save + loadModel');
  assert.deepEqual(b.encoderHiddenStates.arraySync(), a.encoderHiddenStates.arraySync());
  tf.dispose([a.encoderHiddenStates, a.decoderHiddenStates, a.logits, b.encoderHiddenStates, b.decoderHiddenStates, b.logits]);
  loaded.dispose();
  model.dispose();
  small.dispose();
});

test('balanced round trip: save, loadModel, identical outputs', async () => {
  const model = await toEncoderDecoder(GEMMA2_TINY);
  const dir = join(tmp, 'balanced');
  await model.save(dir);
  const loaded = (await loadModel(dir)) as T5GemmaModel;
  const c = goldenCases('t5gemma-from-gemma2-tiny')[1]!;
  const a = model.forward(c.input_ids, c.decoder_input_ids, { attentionMask: c.attention_mask });
  const b = loaded.forward(c.input_ids, c.decoder_input_ids, { attentionMask: c.attention_mask });
  assert.deepEqual(b.logits.arraySync(), a.logits.arraySync());
  tf.dispose([a.encoderHiddenStates, a.decoderHiddenStates, a.logits, b.encoderHiddenStates, b.decoderHiddenStates, b.logits]);
  loaded.dispose();
  model.dispose();
});

test('build refuses what it cannot map', async () => {
  const small = smallDecoderGemma();
  await assert.rejects(toEncoderDecoder(GEMMA2_TINY, small, { crossAttentionInit: 'copy' }), ConfigError);
  const json = JSON.parse(readFileSync(join(GEMMA2_TINY, 'config.json'), 'utf8')) as Record<string, unknown>;
  const otherVocab = GemmaModel.random(parseGemmaConfig({ ...json, vocab_size: 300 }, 'v/config.json'), 1);
  await assert.rejects(toEncoderDecoder(GEMMA2_TINY, otherVocab), (e: unknown) => e instanceof ConfigError && e.field === 'vocab_size');
  const g1 = GemmaModel.random(
    parseGemmaConfig({ model_type: 'gemma', vocab_size: 256, hidden_size: 64, intermediate_size: 128, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 1, head_dim: 16 }, 'g1/config.json'),
    1,
  );
  await assert.rejects(toEncoderDecoder(g1), (e: unknown) => e instanceof ConfigError && e.field === 'model_type');
  [small, otherVocab, g1].forEach((m) => m.dispose());
});

test('CLI to-encoder-decoder writes a checkpoint loadModel reads; bad flags are ConfigErrors', async () => {
  const cli = (await import('../../src/cli/to-encoder-decoder.js')).default;
  const out = join(tmp, 'cli');
  const log = console.log;
  console.log = () => {};
  try {
    assert.equal(await cli.run(['--encoder', GEMMA2_TINY, '--out', out]), 0);
    assert.equal(await cli.run([]), 2);
  } finally {
    console.log = log;
  }
  const loaded = await loadModel(out);
  assert.ok(loaded instanceof T5GemmaModel);
  const err = checkGolden(loaded, 't5gemma-from-gemma2-tiny');
  assert.ok(err.logits < TOL.parityF32);
  loaded.dispose();
  await assert.rejects(cli.run(['--encoder', GEMMA2_TINY, '--out', out, '--dtype', 'F8']), ConfigError);
});
