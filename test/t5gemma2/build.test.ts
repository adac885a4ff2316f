import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import * as tf from '@tensorflow/tfjs-core';

import { initEngine } from '../../src/engine/index.js';
import { ConfigError } from '../../src/errors.js';
import { REPO_ROOT } from '../../src/io/paths.js';
import { GemmaModel } from '../../src/models/gemma.js';
import { loadGemmaModel, loadModel } from '../../src/models/load.js';
import { T5GemmaModel } from '../../src/models/t5gemma.js';
import { T5Gemma2Model } from '../../src/models/t5gemma2.js';
import { toEncoderDecoder } from '../../src/t5gemma/build.js';
import { checkGolden, fixtureDir } from '../t5gemma/golden.js';

const GEMMA3_TINY = fixtureDir('gemma3-tiny');
const SHIPPED = join(REPO_ROOT, 'data', 'models', 'tiny-gemma-pretrained');
const tmp = mkdtempSync(join(tmpdir(), 't5gemma2-build-'));
before(async () => {
  await initEngine();
});
after(() => rmSync(tmp, { recursive: true, force: true }));

const bits = (v: tf.Tensor): Float32Array => v.dataSync() as Float32Array;

async function reloadsBitForBit(model: T5GemmaModel | T5Gemma2Model, name: string): Promise<Record<string, unknown>> {
  const dir = join(tmp, name);
  await model.save(dir);
  const again = await loadModel(dir);
  assert.equal(again.constructor, model.constructor);
  const params = (again as T5GemmaModel | T5Gemma2Model).params;
  assert.equal(params.size, model.params.size);
  for (const [n, v] of model.params) assert.deepEqual(bits(params.get(n) as tf.Variable), bits(v), `${name}: ${n}`);
  again.dispose();
  return JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
}

test('recipe t5gemma2 from gemma3-tiny matches the independent reference build (golden); config in HF layout; reload bit for bit', async () => {
  const model = await toEncoderDecoder(GEMMA3_TINY, undefined, { recipe: 't5gemma2' });
  assert.ok(model instanceof T5Gemma2Model);
  const err = checkGolden(model, 't5gemma2-from-gemma3-tiny');
  console.log(`t5gemma2 recipe: max |err| encoder ${err.enc.toExponential(2)}, decoder ${err.dec.toExponential(2)}, logits ${err.logits.toExponential(2)}`);
  const json = await reloadsBitForBit(model, 't5gemma2-balanced');
  assert.equal(json.model_type, 't5gemma2');
  assert.deepEqual(json.architectures, ['T5Gemma2ForConditionalGeneration']);
  const enc = json.encoder as { model_type: string; text_config: Record<string, unknown> };
  assert.equal(enc.model_type, 't5gemma2_encoder');
  assert.equal(enc.text_config.model_type, 't5gemma2_text');
  assert.deepEqual(enc.text_config.rope_parameters, { full_attention: { factor: 8, rope_theta: 1e6, rope_type: 'linear' }, sliding_attention: { rope_theta: 1e4, rope_type: 'default' } });
  assert.equal((json.decoder as Record<string, unknown>).model_type, 't5gemma2_decoder');
  model.dispose();
});

test('recipe t5gemma from gemma3-tiny (separate cross-attention with q/k norms, separate tables) matches its golden; reload bit for bit', async () => {
  const model = await toEncoderDecoder(GEMMA3_TINY);
  assert.ok(model instanceof T5GemmaModel);
  assert.ok(model.params.has('model.decoder.layers.0.cross_attn.k_norm.weight'));
  assert.notEqual(model.params.get('model.encoder.embed_tokens.weight'), model.params.get('model.decoder.embed_tokens.weight'));
  const err = checkGolden(model, 't5gemma-from-gemma3-tiny');
  console.log(`t5gemma recipe (Gemma 3 source): max |err| encoder ${err.enc.toExponential(2)}, decoder ${err.dec.toExponential(2)}, logits ${err.logits.toExponential(2)}`);
  const json = await reloadsBitForBit(model, 't5gemma-balanced');
  const dec = json.decoder as Record<string, unknown>;
  assert.equal(dec.qk_norm, true);
  assert.equal(dec.rope_local_base_freq, 1e4);
  model.dispose();
});

test('unbalanced builds: t5gemma (wider encoder, random cross-attention) and t5gemma2 (deeper encoder, equal width)', async () => {
  const src = await loadGemmaModel(GEMMA3_TINY);
  const c = src.config;
  const narrow = GemmaModel.random({ ...c, hiddenSize: 32, numHiddenLayers: 2, layerTypes: ['sliding_attention', 'full_attention'], sourcePath: 'narrow' }, 3);
  const m1 = await toEncoderDecoder(src, narrow, { seed: 5 });
  assert.equal(m1.config.decoder.crossAttentionHiddenSize, 64);
  assert.deepEqual(m1.params.get('model.decoder.layers.0.cross_attn.k_proj.weight')?.shape, [c.numKeyValueHeads * c.headDim, 64]);
  await reloadsBitForBit(m1, 't5gemma-unbalanced');
  m1.dispose();
  const shallow = GemmaModel.random({ ...c, numHiddenLayers: 2, layerTypes: ['sliding_attention', 'full_attention'], sourcePath: 'shallow' }, 4);
  const m2 = await toEncoderDecoder(src, shallow, { recipe: 't5gemma2' });
  assert.equal(m2.config.encoder.numHiddenLayers, 4);
  assert.equal(m2.config.decoder.numHiddenLayers, 2);
  // decoder layers come from the decoder source, the one table from the encoder source
  assert.deepEqual(bits(m2.params.get('model.decoder.layers.1.self_attn.q_norm.weight') as tf.Variable), bits(shallow.params.get('model.layers.1.self_attn.q_norm.weight') as tf.Variable));
  assert.deepEqual(bits(m2.params.get('model.encoder.embed_tokens.weight') as tf.Variable), bits(src.params.get('model.embed_tokens.weight') as tf.Variable));
  await reloadsBitForBit(m2, 't5gemma2-unbalanced');
  m2.dispose();
  await assert.rejects(toEncoderDecoder(src, narrow, { recipe: 't5gemma2' }), (e: unknown) => e instanceof ConfigError && e.field === 'hidden_size');
  narrow.dispose();
  shallow.dispose();
  src.dispose();
});

test('the shipped data/models/tiny-gemma-pretrained is a source for both recipes; the T5Gemma 2 encoder is the source run bidirectionally', async () => {
  const gemma = await loadGemmaModel(SHIPPED);
  const m2 = await toEncoderDecoder(gemma, undefined, { recipe: 't5gemma2' });
  // 20 tokens < W/2 = 32: every key is inside the T5Gemma 2 window, so the encoder is the source with bidirectional_global attention.
  const ids = [[2, ...Array.from({ length: 19 }, (_, i) => 10 + 37 * i)]];
  const enc = m2.encode(ids);
  const ref = gemma.forward(ids, { attention: 'bidirectional_global' });
  const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(enc, ref.hiddenStates))).dataSync()[0] as number);
  assert.ok(diff < 1e-5, `encoder vs source bidirectional: ${diff}`);
  tf.dispose([enc, ref.hiddenStates]);
  await reloadsBitForBit(m2, 'shipped-t5gemma2');
  const m1 = await toEncoderDecoder(gemma);
  await reloadsBitForBit(m1, 'shipped-t5gemma');
  m1.dispose();
  m2.dispose();
  gemma.dispose();
});
