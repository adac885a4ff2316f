import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import { parseT5GemmaConfig, t5gemmaConfigToJson } from '../../src/config/t5gemma.js';
import { ConfigError } from '../../src/errors.js';
import { REPO_ROOT } from '../../src/io/paths.js';

const fixture = (name: string): Record<string, unknown> =>
  JSON.parse(readFileSync(join(REPO_ROOT, 'test', 'fixtures', name, 'config.json'), 'utf8')) as Record<string, unknown>;

test('parses the balanced fixture config', () => {
  const c = parseT5GemmaConfig(fixture('t5gemma-tiny'), 'config.json');
  assert.equal(c.vocabSize, 256);
  assert.equal(c.encoder.hiddenSize, 64);
  assert.equal(c.decoder.crossAttentionHiddenSize, 64);
  assert.deepEqual(c.encoder.layerTypes, ['sliding_attention', 'full_attention']);
  assert.equal(c.encoder.slidingWindow, 8);
  assert.equal(c.encoder.queryPreAttnScalar, 32);
  assert.equal(c.decoder.attnLogitSoftcapping, 10);
  assert.equal(c.decoder.finalLogitSoftcapping, 5);
  assert.deepEqual(c.decoder.rope.full_attention, { theta: 10000, linearFactor: 1 });
  assert.equal(c.bosTokenId, 2);
  assert.equal(c.tieWordEmbeddings, true);
});

test('unbalanced fixture: decoder MQA + narrower, cross width = encoder hidden, softcap 30 from the decoder', () => {
  const c = parseT5GemmaConfig(fixture('t5gemma-tiny-unbalanced'), 'config.json');
  assert.equal(c.decoder.hiddenSize, 32);
  assert.equal(c.decoder.numKeyValueHeads, 1);
  assert.equal(c.decoder.crossAttentionHiddenSize, 64);
  assert.equal(c.decoder.finalLogitSoftcapping, 30);
  assert.equal(c.encoder.finalLogitSoftcapping, 5);
});

test('top-level vocab_size, dropout_rate and attention_dropout override the sub-configs (HF semantics)', () => {
  const j = fixture('t5gemma-tiny');
  const c = parseT5GemmaConfig(
    { ...j, vocab_size: 300, dropout_rate: 0.1, attention_dropout: 0.05, encoder: { ...(j.encoder as object), vocab_size: 7, dropout_rate: 0.5 } },
    'config.json',
  );
  assert.equal(c.vocabSize, 300);
  assert.equal(c.encoder.vocabSize, 300);
  assert.equal(c.decoder.vocabSize, 300);
  assert.equal(c.encoder.dropoutRate, 0.1);
  assert.equal(c.decoder.attentionDropout, 0.05);
  const noTop = { ...j };
  delete noTop.vocab_size;
  assert.equal(parseT5GemmaConfig(noTop, 'config.json').encoder.vocabSize, 256000, 'HF default of the top level wins');
});

test('round trip through t5gemmaConfigToJson', () => {
  for (const name of ['t5gemma-tiny', 't5gemma-tiny-unbalanced']) {
    const c = parseT5GemmaConfig(fixture(name), 'config.json');
    assert.deepEqual(parseT5GemmaConfig(t5gemmaConfigToJson(c), 'config.json'), c);
    const written = t5gemmaConfigToJson(c) as Record<string, unknown>;
    const original = fixture(name);
    delete original.transformers_version;
    assert.deepEqual(written, original, 'writes what the HF-format fixture holds');
  }
});

test('bad configs fail with ConfigError naming the field', () => {
  const j = fixture('t5gemma-tiny-unbalanced');
  const dec = j.decoder as Record<string, unknown>;
  const cases: [Record<string, unknown>, string][] = [
    [{ ...j, model_type: 'gemma2' }, 'model_type'],
    [{ ...j, decoder: { ...dec, cross_attention_hidden_size: 32 } }, 'decoder.cross_attention_hidden_size'],
    [{ ...j, decoder: { ...dec, num_key_value_heads: 3 } }, 'decoder.num_key_value_heads'],
    [{ ...j, decoder: { ...dec, is_decoder: false } }, 'decoder.is_decoder'],
    [{ ...j, encoder: { ...(j.encoder as object), some_new_flag: 1 } }, 'encoder.some_new_flag'],
    [{ ...j, dropout_rate: 1.5 }, 'dropout_rate'],
    [{ ...j, encoder: null }, 'encoder'],
  ];
  for (const [cfg, field] of cases) {
    assert.throws(
      () => parseT5GemmaConfig(cfg, 'x/config.json'),
      (e: unknown) => e instanceof ConfigError && e.field === field && e.file === 'x/config.json',
      field,
    );
  }
});

test('a released-style 2B-2B config (eos list, torch_dtype, classifier_dropout_rate in modules, no layer_types) parses', () => {
  const module = {
    attention_bias: false,
    attention_dropout: 0.0,
    attn_logit_softcapping: 50.0,
    classifier_dropout_rate: 0.0,
    dropout_rate: 0.0,
    final_logit_softcapping: 30.0,
    head_dim: 256,
    hidden_activation: 'gelu_pytorch_tanh',
    hidden_size: 2304,
    initializer_range: 0.02,
    intermediate_size: 9216,
    max_position_embeddings: 8192,
    model_type: 't5_gemma_module',
    num_attention_heads: 8,
    num_hidden_layers: 26,
    num_key_value_heads: 4,
    query_pre_attn_scalar: 256,
    rms_norm_eps: 1e-6,
    rope_theta: 10000.0,
    sliding_window: 4096,
    torch_dtype: 'bfloat16',
    use_cache: true,
    vocab_size: 256000,
    pad_token_id: 0,
    eos_token_id: [1, 107],
  };
  const c = parseT5GemmaConfig(
    { architectures: ['T5GemmaForConditionalGeneration'], model_type: 't5gemma', encoder: { ...module, is_decoder: false }, decoder: { ...module, is_decoder: true, cross_attention_hidden_size: 2304 }, eos_token_id: [1, 107], torch_dtype: 'bfloat16', vocab_size: 256000 },
    'config.json',
  );
  assert.equal(c.eosTokenId, 1);
  assert.equal(c.decoder.eosTokenId, 1);
  assert.equal(c.dtype, 'bfloat16');
  assert.equal(c.encoder.layerTypes[0], 'sliding_attention');
  assert.equal(c.encoder.layerTypes[25], 'full_attention');
  assert.equal(c.decoder.queryPreAttnScalar, 256);
});
