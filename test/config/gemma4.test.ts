/** Gemma 4 config parsing: HF defaults and derivations, the published sizes, and the errors. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gemma4ConfigToJson, gemma4InvFreq, parseGemma4Config } from '../../src/config/gemma4.js';
import { ConfigError } from '../../src/errors.js';
import { REPO_ROOT } from '../../src/io/paths.js';
import { gemma4ParameterShapes } from '../../src/models/gemma4.js';

const published = (name: string) => {
  const path = join(REPO_ROOT, 'test', 'fixtures', 'gemma4-configs', `gemma-4-${name}`, 'config.json');
  return parseGemma4Config(JSON.parse(readFileSync(path, 'utf8')), path);
};
const textParams = (c: ReturnType<typeof published>) => [...gemma4ParameterShapes(c).values()].reduce((n, s) => n + s.reduce((a, b) => a * b, 1), 0);
const fullIdx = (c: ReturnType<typeof published>) => c.layers.flatMap((l, i) => (l.type === 'full_attention' ? [i] : []));

test('gemma4_text with no fields: every HF default and derived field', () => {
  const c = parseGemma4Config({ model_type: 'gemma4_text' }, 'x.json');
  assert.equal(c.prefix, 'model.');
  assert.deepEqual([c.vocabSize, c.hiddenSize, c.intermediateSize, c.numHiddenLayers, c.numAttentionHeads, c.numKeyValueHeads], [262144, 2304, 9216, 30, 8, 4]);
  assert.deepEqual([c.headDim, c.globalHeadDim, c.numGlobalKeyValueHeads, c.slidingWindow, c.maxPositionEmbeddings], [256, 512, null, 512, 131072]);
  assert.deepEqual([c.hiddenSizePerLayerInput, c.vocabSizePerLayerInput, c.numKvSharedLayers, c.finalLogitSoftcapping], [256, 262144, 0, null]);
  assert.deepEqual(fullIdx(c), [5, 11, 17, 23, 29]);
  assert.deepEqual(
    c.layers.filter((l) => l.type === 'full_attention').map((l) => [l.headDim, l.numKvHeads]),
    Array(5).fill([512, 4]),
  );
  assert.deepEqual(c.rope.sliding_attention, { theta: 1e4, linearFactor: 1, ropeType: 'default', partialRotaryFactor: 1, rotatedPairs: 128 });
  assert.deepEqual(c.rope.full_attention, { theta: 1e6, linearFactor: 1, ropeType: 'proportional', partialRotaryFactor: 0.25, rotatedPairs: 64 });
  assert.equal(c.queryPreAttnScalar, 1); // attention scale 1.0
  assert.equal(c.tieWordEmbeddings, true);
  assert.equal(c.useBidirectionalAttention, null);
});

test('proportional RoPE frequencies: 64 of 256 pairs, exponent over the full head dim 512, the rest 0', () => {
  const c = parseGemma4Config({ model_type: 'gemma4_text' }, 'x.json');
  const inv = gemma4InvFreq(c.rope.full_attention, 512);
  assert.equal(inv.length, 256);
  assert.equal(inv[0], 1);
  assert.equal(inv[1], 1 / Math.pow(1e6, 2 / 512));
  assert.equal(inv[63], 1 / Math.pow(1e6, 126 / 512));
  assert.ok(inv.subarray(64).every((x) => x === 0));
  assert.equal(gemma4InvFreq(c.rope.sliding_attention, 256)[127], 1 / Math.pow(1e4, 254 / 256));
});

test('the last layer is forced to full_attention; "all" keeps the stored window and derives W//2+1', () => {
  const c = parseGemma4Config({ model_type: 'gemma4_text', num_hidden_layers: 4, layer_types: Array(4).fill('sliding_attention'), use_bidirectional_attention: 'all' }, 'x.json');
  assert.deepEqual(c.layerTypes, ['sliding_attention', 'sliding_attention', 'sliding_attention', 'full_attention']);
  assert.equal(c.slidingWindow, 512);
  assert.equal(c.bidirectionalWindow, 257);
  // Saved back, the window is the stored one (HF's to_dict writes (W'-1)*2), so reloading does not halve it again.
  assert.equal(gemma4ConfigToJson(c).sliding_window, 512);
  assert.equal(parseGemma4Config({ model_type: 'gemma4_text', use_bidirectional_attention: 'vision' }, 'x.json').bidirectionalWindow, 257);
});

test('published E2B / E4B / 31B / 26B-A4B configs (gemma4 wrapper) parse with the derived layers', () => {
  const e2b = published('e2b');
  assert.equal(e2b.modelType, 'gemma4');
  assert.equal(e2b.prefix, 'model.language_model.');
  assert.deepEqual(fullIdx(e2b), [4, 9, 14, 19, 24, 29, 34]);
  assert.deepEqual([...new Set(e2b.layers.filter((l) => l.kvShared).map((l) => `${l.type}<-${l.kvSource}`))].sort(), ['full_attention<-14', 'sliding_attention<-13']);
  assert.equal(e2b.layers.findIndex((l) => l.kvShared), 15);
  assert.deepEqual([e2b.layers[14]?.intermediateSize, e2b.layers[15]?.intermediateSize, e2b.layers[34]?.intermediateSize], [6144, 12288, 12288]);
  assert.deepEqual([e2b.layers[4]?.headDim, e2b.layers[4]?.numKvHeads, e2b.layers[0]?.headDim, e2b.layers[0]?.numKvHeads], [512, 1, 256, 1]);
  assert.deepEqual(e2b.multimodalTokens, { boi_token_id: 255999, eoi_token_id: 258882, image_token_id: 258880, video_token_id: 258884, boa_token_id: 256000, eoa_token_index: 258883, audio_token_id: 258881 });

  const e4b = published('e4b');
  assert.deepEqual([...new Set(e4b.layers.filter((l) => l.kvShared).map((l) => `${l.type}<-${l.kvSource}`))].sort(), ['full_attention<-23', 'sliding_attention<-22']);
  assert.equal(e4b.layers.findIndex((l) => l.kvShared), 24);
  assert.ok(e4b.layers.every((l) => l.intermediateSize === 10240));

  const b31 = published('31b');
  const full31 = b31.layers.filter((l) => l.type === 'full_attention');
  assert.ok(full31.every((l) => l.kEqV && l.headDim === 512 && l.numKvHeads === 4));
  assert.ok(b31.layers.filter((l) => l.type === 'sliding_attention').every((l) => !l.kEqV && l.headDim === 256 && l.numKvHeads === 16));
  assert.deepEqual([b31.hiddenSizePerLayerInput, b31.slidingWindow, b31.useBidirectionalAttention], [0, 1024, 'vision']);

  const moe = published('26b-a4b');
  assert.deepEqual([moe.enableMoeBlock, moe.numExperts, moe.topKExperts, moe.moeIntermediateSize, moe.intermediateSize], [true, 128, 8, 704, 2112]);
  // Text-tower parameter counts implied by the shapes (31B and 26B-A4B as named; E2B/E4B include the PLE table).
  assert.deepEqual([e2b, e4b, b31, moe].map(textParams), [4628569379, 7463013418, 30697345340, 25233141790]);
  for (const c of [e2b, e4b, b31, moe]) assert.equal(c.finalLogitSoftcapping, 30);
});

test('per_layer_config (newer transformers saves) overrides head dim and KV heads per layer', () => {
  const c = parseGemma4Config(
    { model_type: 'gemma4_text', num_hidden_layers: 2, layer_types: ['sliding_attention', 'full_attention'], per_layer_config: { '1': { head_dim: 128, num_key_value_heads: 2 } } },
    'x.json',
  );
  assert.deepEqual([c.layers[1]?.headDim, c.layers[1]?.numKvHeads], [128, 2]);
});

test('save round trip: gemma4ConfigToJson parses back to the same config', () => {
  for (const name of ['e2b', '31b', '26b-a4b']) {
    const c = published(name);
    const back = parseGemma4Config(gemma4ConfigToJson(c), c.sourcePath);
    assert.deepEqual(back, c);
  }
});

test('bad configs are ConfigErrors naming the field', () => {
  const bad = (json: Record<string, unknown>, field: RegExp) =>
    assert.throws(() => parseGemma4Config(json, 'bad.json'), (e: unknown) => e instanceof ConfigError && field.test(String((e as ConfigError).message) + String((e as { field?: string }).field)));
  bad({ model_type: 'gemma4_text', attention_k_eq_v: true }, /num_global_key_value_heads/);
  bad({ model_type: 'gemma4_text', enable_moe_block: true }, /num_experts/);
  bad({ model_type: 'gemma4_text', new_flag: 1 }, /new_flag/);
  bad({ model_type: 'gemma4_text', use_bidirectional_attention: 'sometimes' }, /use_bidirectional_attention/);
  bad({ model_type: 'gemma4_text', rope_parameters: { full_attention: { rope_type: 'yarn', rope_theta: 1 }, sliding_attention: { rope_theta: 1 } } }, /rope_type/);
  bad({ model_type: 'gemma4', text_config: { model_type: 'gemma4_text', hidden_size: 0 } }, /text_config\.hidden_size/);
  bad({ model_type: 'gemma4_text', num_hidden_layers: 4, num_kv_shared_layers: 4 }, /num_kv_shared_layers/);
});
