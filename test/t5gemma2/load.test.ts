import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import * as tf from '@tensorflow/tfjs-core';

import { openCheckpoint } from '../../src/checkpoint/index.js';
import { parseT5Gemma2Config, t5gemma2ConfigToJson } from '../../src/config/t5gemma2.js';
import { initEngine } from '../../src/engine/index.js';
import { ConfigError, InputError } from '../../src/errors.js';
import { loadModel } from '../../src/models/load.js';
import { T5Gemma2Model, t5gemma2ParameterShapes } from '../../src/models/t5gemma2.js';
import { TOL, assertAllClose } from '../helpers/close.js';
import { type Case, checkGoldenNoLeaks, fixtureDir, goldenCases } from '../t5gemma/golden.js';

const tmp = mkdtempSync(join(tmpdir(), 't5gemma2-load-'));
before(async () => {
  await initEngine();
});
after(() => rmSync(tmp, { recursive: true, force: true }));

const FIX = 't5gemma2-tiny';
const rawConfig = (): Record<string, unknown> => JSON.parse(readFileSync(join(fixtureDir(FIX), 'config.json'), 'utf8')) as Record<string, unknown>;

test('t5gemma2-tiny: loadModel (vision tensors skipped unread) + forward match the float64 goldens to 1e-4', async () => {
  const model = await loadModel(fixtureDir(FIX));
  assert.ok(model instanceof T5Gemma2Model);
  const ckpt = await openCheckpoint(fixtureDir(FIX));
  assert.ok(ckpt.tensorNames.some((n) => n.includes('vision_tower')), 'the fixture stores vision tensors');
  assert.ok(![...model.params.keys()].some((n) => n.includes('vision') || n.includes('multi_modal')));
  assert.ok(!model.params.has('model.decoder.embed_tokens.weight') && !model.params.has('lm_head.out_proj.weight'), 'one tied table');
  checkGoldenNoLeaks(model, FIX);
  model.dispose();
});

test('the goldens are sensitive to merged attention, the eoi embedding and the asymmetric encoder window', async () => {
  const model = (await loadModel(fixtureDir(FIX))) as T5Gemma2Model;
  const [c] = goldenCases(FIX) as [Case];
  assert.ok(c.input_ids[0]?.includes(257), 'inputs contain the eoi id');
  const fails = (m: T5Gemma2Model, what: string, pick: (o: ReturnType<T5Gemma2Model['forward']>) => tf.Tensor3D, want: number[][][]) => {
    const out = m.forward(c.input_ids, c.decoder_input_ids, { attentionMask: c.attention_mask });
    assert.throws(() => assertAllClose(pick(out).arraySync(), want, TOL.parityF32, what), Error, what);
    tf.dispose([out.encoderHiddenStates, out.decoderHiddenStates, out.logits]);
  };
  // eoi id read as an ordinary row
  fails(new T5Gemma2Model({ ...model.config, eoiTokenIndex: 299 }, model.params), 'eoi', (o) => o.encoderHiddenStates, c.outputs.encoder_hidden_states);
  // symmetric |i-j| < W window (T5Gemma's rule) instead of T5Gemma 2's
  fails(new T5Gemma2Model({ ...model.config, encoder: { ...model.config.encoder, slidingWindow: 5 } }, model.params), 'window', (o) => o.encoderHiddenStates, c.outputs.encoder_hidden_states);
  // the decoder must read the encoder: zeroing the encoder states changes the logits
  const enc = model.encode(c.input_ids, c.attention_mask);
  const dec = model.decode(c.decoder_input_ids, tf.zerosLike(enc), c.attention_mask);
  assert.throws(() => assertAllClose(dec.logits.arraySync(), c.outputs.logits, TOL.parityF32, 'cross'));
  tf.dispose([enc, dec.logits, dec.hiddenStates]);
  model.dispose();
});

test('config: HF layout and defaults; round trip; bad configs are ConfigErrors naming the field', () => {
  const c = parseT5Gemma2Config(rawConfig(), 'config.json');
  assert.equal(c.eoiTokenIndex, 257);
  assert.equal(c.encoder.numHiddenLayers, 3);
  assert.equal(c.decoder.numHiddenLayers, 2);
  assert.equal(c.encoder.qkNorm, true);
  assert.deepEqual(c.encoder.rope, { full_attention: { theta: 1e6, linearFactor: 2 }, sliding_attention: { theta: 1e4, linearFactor: 1 } });
  assert.deepEqual(parseT5Gemma2Config(t5gemma2ConfigToJson(c), 'config.json'), c);
  // Defaults (transformers T5Gemma2TextConfig): window 4096, no softcaps, vocab 262208, RoPE 1e6 / 1e4, pattern 5:1, eoi 256000.
  const minimal = { hidden_size: 64, intermediate_size: 128, num_hidden_layers: 6, num_attention_heads: 4, num_key_value_heads: 1, head_dim: 16 };
  const d = parseT5Gemma2Config({ model_type: 't5gemma2', encoder: { text_config: minimal }, decoder: minimal }, 'min.json');
  assert.equal(d.vocabSize, 262_208);
  assert.equal(d.eoiTokenIndex, 256_000);
  assert.equal(d.decoder.slidingWindow, 4096);
  assert.equal(d.decoder.attnLogitSoftcapping, null);
  assert.equal(d.decoder.finalLogitSoftcapping, null);
  assert.equal(d.decoder.queryPreAttnScalar, 256);
  assert.deepEqual(d.decoder.layerTypes, ['sliding_attention', 'sliding_attention', 'sliding_attention', 'sliding_attention', 'sliding_attention', 'full_attention']);
  assert.deepEqual(d.decoder.rope, { full_attention: { theta: 1e6, linearFactor: 1 }, sliding_attention: { theta: 1e4, linearFactor: 1 } });
  const bad = (patch: (j: Record<string, unknown>) => void, field: string) => {
    const j = rawConfig();
    patch(j);
    assert.throws(() => parseT5Gemma2Config(j, 'c.json'), (e: unknown) => e instanceof ConfigError && (e.field ?? '').includes(field), field);
  };
  bad((j) => ((j.decoder as Record<string, unknown>).hidden_size = 32), 'hidden_size');
  bad((j) => (j.tie_word_embeddings = false), 'tie_word_embeddings');
  bad((j) => ((j.decoder as Record<string, unknown>).some_new_option = 1), 'some_new_option');
  bad((j) => ((j.encoder as { text_config: Record<string, unknown> }).text_config.model_type = 'gemma2'), 'model_type');
});

test('key layout: HF names, q/k norms in both stacks, no cross_attn, eoi embedding; save -> reload is bit for bit', async () => {
  const model = (await loadModel(fixtureDir(FIX))) as T5Gemma2Model;
  const names = [...t5gemma2ParameterShapes(model.config).keys()];
  assert.ok(names.includes('model.encoder.embed_tokens.eoi_embedding'));
  assert.ok(names.includes('model.decoder.layers.1.self_attn.k_norm.weight'));
  assert.ok(names.includes('model.encoder.layers.2.pre_self_attn_layernorm.weight'));
  assert.ok(!names.some((n) => n.includes('cross_attn')));
  const dir = join(tmp, 'saved');
  await model.save(dir);
  const saved = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
  assert.equal(saved.model_type, 't5gemma2');
  assert.deepEqual((saved.encoder as Record<string, unknown>).vision_config, (rawConfig().encoder as Record<string, unknown>).vision_config, 'vision config written back');
  const again = (await loadModel(dir)) as T5Gemma2Model;
  for (const [n, v] of model.params) assert.deepEqual(again.params.get(n)?.dataSync(), v.dataSync(), n);
  model.dispose();
  again.dispose();
});

test('bad input: all-pad rows without a mask are InputErrors; ids out of range name the position', async () => {
  const model = (await loadModel(fixtureDir(FIX))) as T5Gemma2Model;
  assert.throws(() => model.encode([[2, 5], [0, 0]]), (e: unknown) => e instanceof InputError && /row 1/.test(e.message));
  assert.throws(() => model.encode([[2, 300]]), /inputIds\[0\]\[1\] = 300 is not a token id/);
  model.dispose();
});
