/** parseGemmaConfig: every accepted spelling, HF-equivalent derivations, and errors naming file and field. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gemmaConfigToJson, parseGemmaConfig, KNOWN_IRRELEVANT_KEYS } from '../../src/config/gemma.js';
import { ConfigError } from '../../src/errors.js';
import { REPO_ROOT, sharedDir } from '../../src/io/paths.js';

const read = (p: string) => JSON.parse(readFileSync(p, 'utf8')) as Record<string, unknown>;
const G2 = join(sharedDir(), 'fixtures', 'gemma2-tiny', 'config.json');
const G1 = join(REPO_ROOT, 'test', 'fixtures', 'gemma1-tiny', 'config.json');
const G3 = join(REPO_ROOT, 'test', 'fixtures', 'gemma3-tiny', 'config.json');

function throwsConfig(fn: () => unknown, field: string, msg: RegExp) {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ConfigError, `not a ConfigError: ${String(e)}`);
    assert.equal(e.field, field);
    assert.equal(e.file, 'cfg.json');
    assert.match(e.message, msg);
    assert.match(e.message, /^cfg\.json: field/);
    return true;
  });
}

test('gemma2 fixture config: values, defaults and freezing', () => {
  const c = parseGemmaConfig(read(G2), G2);
  assert.equal(c.modelType, 'gemma2');
  assert.deepEqual(
    [c.hiddenSize, c.numAttentionHeads, c.numKeyValueHeads, c.headDim, c.queryPreAttnScalar, c.attnLogitSoftcapping, c.finalLogitSoftcapping, c.slidingWindow],
    [64, 4, 2, 16, 32, 10, 5, 8],
  );
  assert.deepEqual(c.layerTypes, ['sliding_attention', 'full_attention']);
  assert.deepEqual(c.rope, { full_attention: { theta: 10000, linearFactor: 1 }, sliding_attention: { theta: 10000, linearFactor: 1 } });
  assert.equal(c.sandwichNorms, true);
  assert.equal(c.qkNorm, false);
  assert.equal(c.dtype, 'bfloat16');
  assert.ok(Object.isFrozen(c) && Object.isFrozen(c.layerTypes) && Object.isFrozen(c.rope));
});

test('gemma1: hidden_act (and legacy "gelu") accepted, scale = head_dim, no sliding, 2 norms', () => {
  const c = parseGemmaConfig(read(G1), G1);
  assert.equal(c.queryPreAttnScalar, 16);
  assert.equal(c.slidingWindow, null);
  assert.equal(c.sandwichNorms, false);
  assert.deepEqual(c.layerTypes, ['full_attention', 'full_attention']);
  assert.equal(parseGemmaConfig({ ...read(G1), hidden_act: 'gelu', hidden_activation: undefined }, G1).hiddenActivation, 'gelu_pytorch_tanh');
  throwsConfig(() => parseGemmaConfig({ ...read(G1), hidden_act: 'silu' }, 'cfg.json'), 'hidden_act', /unsupported activation/);
  throwsConfig(() => parseGemmaConfig({ ...read(G2), hidden_activation: 'gelu' }, 'cfg.json'), 'hidden_activation', /unsupported/);
});

test('gemma3: local/global rope from v4 keys, v5 rope_parameters (keyed and flat) give the same config', () => {
  const v4 = read(G3);
  const c = parseGemmaConfig(v4, G3);
  assert.deepEqual(c.rope, { full_attention: { theta: 1e6, linearFactor: 8 }, sliding_attention: { theta: 1e4, linearFactor: 1 } });
  assert.deepEqual(c.layerTypes, ['sliding_attention', 'sliding_attention', 'full_attention', 'sliding_attention']);
  assert.equal(c.qkNorm, true);
  const { rope_theta: _t, rope_scaling: _s, rope_local_base_freq: _l, dtype: _d, ...rest } = v4;
  const v5 = {
    ...rest,
    torch_dtype: 'float32',
    rope_parameters: {
      full_attention: { rope_type: 'linear', factor: 8, rope_theta: 1e6 },
      sliding_attention: { rope_type: 'default', rope_theta: 1e4 },
    },
  };
  assert.deepEqual({ ...parseGemmaConfig(v5, G3) }, { ...c });
  const flat = parseGemmaConfig({ ...read(G2), rope_theta: undefined, rope_parameters: { rope_type: 'default', rope_theta: 500 } }, G2);
  assert.deepEqual(flat.rope.sliding_attention, { theta: 500, linearFactor: 1 });
  // v4 keys left beside rope_parameters must agree with it
  assert.deepEqual({ ...parseGemmaConfig({ ...v5, rope_local_base_freq: 1e4, rope_theta: 1e6 }, G3) }, { ...c });
  throwsConfig(() => parseGemmaConfig({ ...v5, rope_local_base_freq: 5e4 }, 'cfg.json'), 'rope_local_base_freq', /disagrees with rope_parameters/);
  throwsConfig(() => parseGemmaConfig({ ...v4, rope_scaling: { rope_type: 'yarn', factor: 4 } }, 'cfg.json'), 'rope_scaling.rope_type', /unsupported rope_type/);
  throwsConfig(() => parseGemmaConfig({ ...v4, rope_scaling: { rope_type: 'linear', factor: 8, original_max_position_embeddings: 8 } }, 'cfg.json'), 'rope_scaling.original_max_position_embeddings', /unsupported rope option/);
});

test('layer_types is authoritative; derived from the pattern / alternation only when absent', () => {
  const g3 = read(G3);
  const inconsistent = parseGemmaConfig({ ...g3, sliding_window_pattern: 2, _sliding_window_pattern: 2 }, G3);
  assert.deepEqual(inconsistent.layerTypes, g3.layer_types);
  const derived = parseGemmaConfig({ ...g3, layer_types: undefined, num_hidden_layers: 6 }, G3);
  assert.deepEqual(derived.layerTypes.map((t) => t[0]), ['s', 's', 'f', 's', 's', 'f']);
  const g2 = parseGemmaConfig({ ...read(G2), layer_types: undefined, num_hidden_layers: 3 }, G2);
  assert.deepEqual(g2.layerTypes.map((t) => t[0]), ['s', 'f', 's']);
  throwsConfig(() => parseGemmaConfig({ ...read(G2), layer_types: ['full_attention'] }, 'cfg.json'), 'layer_types', /1 entries but num_hidden_layers is 2/);
  throwsConfig(() => parseGemmaConfig({ ...read(G2), layer_types: ['full_attention', 'chunked'] }, 'cfg.json'), 'layer_types[1]', /unknown layer type/);
  throwsConfig(() => parseGemmaConfig({ ...read(G1), layer_types: ['full_attention', 'sliding_attention'] }, 'cfg.json'), 'layer_types', /no sliding_window/);
});

test('inconsistent sizes, unknown model_type, math-affecting and unknown keys are ConfigErrors', () => {
  const g2 = read(G2);
  throwsConfig(() => parseGemmaConfig({ ...g2, model_type: 'llama' }, 'cfg.json'), 'model_type', /unknown model_type 'llama'/);
  throwsConfig(() => parseGemmaConfig({ ...g2, num_key_value_heads: 3 }, 'cfg.json'), 'num_key_value_heads', /multiple/);
  throwsConfig(() => parseGemmaConfig({ ...g2, head_dim: 15 }, 'cfg.json'), 'head_dim', /even/);
  throwsConfig(() => parseGemmaConfig({ ...g2, hidden_size: undefined }, 'cfg.json'), 'hidden_size', /required/);
  throwsConfig(() => parseGemmaConfig({ ...g2, hidden_size: 64.5 }, 'cfg.json'), 'hidden_size', /integer/);
  throwsConfig(() => parseGemmaConfig({ ...g2, attention_bias: true }, 'cfg.json'), 'attention_bias', /not supported/);
  throwsConfig(() => parseGemmaConfig({ ...g2, quantization_config: { bits: 4 } }, 'cfg.json'), 'quantization_config', /unknown key/);
  throwsConfig(() => parseGemmaConfig({ ...g2, rope_local_base_freq: 1 }, 'cfg.json'), 'rope_local_base_freq', /unknown key/); // gemma3-only key
  throwsConfig(() => parseGemmaConfig({ ...g2, torch_dtype: 'float32' }, 'cfg.json'), 'torch_dtype', /disagrees/);
  throwsConfig(() => parseGemmaConfig({ ...g2, sliding_window_size: 16 }, 'cfg.json'), 'sliding_window_size', /disagrees/);
  throwsConfig(() => parseGemmaConfig({ ...g2, is_encoder_decoder: true }, 'cfg.json'), 'is_encoder_decoder', /unsupported/);
  assert.equal(parseGemmaConfig({ ...g2, my_note: 1 }, 'cfg.json', { ignoreKeys: ['my_note'] }).hiddenSize, 64);
  assert.equal(parseGemmaConfig({ ...g2, torch_dtype: 'bfloat16', architectures: ['X'], use_cache: false }, G2).dtype, 'bfloat16');
  assert.ok('transformers_version' in KNOWN_IRRELEVANT_KEYS);
});

test('gemmaConfigToJson round-trips every fixture config', () => {
  for (const p of [G1, G2, G3]) {
    const c = parseGemmaConfig(read(p), p);
    assert.deepEqual({ ...parseGemmaConfig(gemmaConfigToJson(c), p) }, { ...c });
  }
});

test('Hub-style configs (key sets of google/gemma-2b, gemma-3-1b-it and EmbeddingGemma) parse', () => {
  const gemma2b = {
    architectures: ['GemmaForCausalLM'], attention_bias: false, attention_dropout: 0.0, bos_token_id: 2, eos_token_id: 1,
    head_dim: 256, hidden_act: 'gelu', hidden_size: 2048, initializer_range: 0.02, intermediate_size: 16384,
    max_position_embeddings: 8192, model_type: 'gemma', num_attention_heads: 8, num_hidden_layers: 18,
    num_key_value_heads: 1, pad_token_id: 0, rms_norm_eps: 1e-6, rope_scaling: null, rope_theta: 10000.0,
    torch_dtype: 'bfloat16', transformers_version: '4.38.0.dev0', use_cache: true, vocab_size: 256000,
  };
  const g1 = parseGemmaConfig(gemma2b, 'gemma-2b/config.json');
  assert.equal(g1.queryPreAttnScalar, 256);
  assert.equal(g1.dtype, 'bfloat16');
  const gemma3 = {
    architectures: ['Gemma3ForCausalLM'], attention_bias: false, attention_dropout: 0.0, attn_logit_softcapping: null,
    bos_token_id: 2, cache_implementation: 'hybrid', eos_token_id: [1, 106], final_logit_softcapping: null, head_dim: 256,
    hidden_activation: 'gelu_pytorch_tanh', hidden_size: 1152, initializer_range: 0.02, intermediate_size: 6912,
    max_position_embeddings: 32768, model_type: 'gemma3_text', num_attention_heads: 4, num_hidden_layers: 26,
    num_key_value_heads: 1, pad_token_id: 0, query_pre_attn_scalar: 256, rms_norm_eps: 1e-6, rope_local_base_freq: 10000,
    rope_scaling: null, rope_theta: 1000000, sliding_window: 512, sliding_window_pattern: 6, torch_dtype: 'bfloat16',
    transformers_version: '4.50.0.dev0', use_cache: true, vocab_size: 262144,
  };
  const g3 = parseGemmaConfig(gemma3, 'gemma-3-1b-it/config.json');
  assert.deepEqual(g3.layerTypes.flatMap((t, i) => (t === 'full_attention' ? [i] : [])), [5, 11, 17, 23]);
  assert.equal(g3.eosTokenId, 1);
  assert.equal(g3.useBidirectionalAttention, false);
  const emb = parseGemmaConfig({ ...gemma3, use_bidirectional_attention: true, hidden_size: 768 }, 'embeddinggemma/config.json');
  assert.equal(emb.useBidirectionalAttention, true);
});
