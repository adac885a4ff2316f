/**
 * The native kernels are deterministic: a Gemma forward + backward (every native kernel on the hot
 * path: GEMM, elementwise, fused attention forward and backward) gives bit-identical loss and
 * gradients with 1 and 2 OpenMP threads. Sizes are chosen above every threading threshold, so the
 * 2-thread run really splits work.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { parseGemmaConfig } from '../../src/config/gemma.js';
import { initEngine } from '../../src/engine/index.js';
import { loadNativeAddon } from '../../src/engine/native.js';
import { GemmaModel } from '../../src/models/gemma.js';
import { Rng } from '../../src/rng/index.js';

const config = parseGemmaConfig(
  {
    model_type: 'gemma3_text', vocab_size: 512, hidden_size: 128, intermediate_size: 512, num_hidden_layers: 2,
    num_attention_heads: 4, num_key_value_heads: 2, head_dim: 32, query_pre_attn_scalar: 32, sliding_window: 48,
    layer_types: ['sliding_attention', 'full_attention'], rms_norm_eps: 1e-6, rope_theta: 10000, rope_local_base_freq: 10000,
    pad_token_id: 0, bos_token_id: 2, eos_token_id: 1, initializer_range: 0.02, hidden_activation: 'gelu_pytorch_tanh',
    max_position_embeddings: 512, attn_logit_softcapping: 20,
  },
  'determinism test',
);

describe('native kernels are deterministic across thread counts', async () => {
  await initEngine('native');
  const lib = loadNativeAddon();
  const threads = lib.threads();
  after(() => lib.setThreads(threads));
  const model = GemmaModel.random(config, 7);
  const rng = new Rng('determinism');
  // 3 rows x 4 heads (GQA 2:1): more attention tasks than threads, so threads really share the work.
  const B = 3;
  const T = 128;
  const ids = Array.from({ length: B }, () => Array.from({ length: T }, () => 3 + rng.int(500)));
  const mask = ids.map((row, b) => row.map((_, t) => (t < T - 17 * b ? 1 : 0)));

  function run(): { loss: Float32Array; grads: Map<string, Float32Array> } {
    const { value, grads } = tf.variableGrads(() => {
      const out = model.forward(ids, { attentionMask: mask, logits: true });
      const logp = tf.logSoftmax(out.logits as tf.Tensor3D);
      return tf.neg(tf.mean(tf.max(logp, -1))) as tf.Scalar;
    }, [...model.params.values()]);
    const named = new Map<string, Float32Array>();
    for (const [name, v] of model.params) named.set(name, (grads[v.name] as tf.Tensor).dataSync() as Float32Array);
    const loss = value.dataSync() as Float32Array;
    tf.dispose([value, grads]);
    return { loss, grads: named };
  }

  it('loss and every gradient are bit-identical with 1 and 2 threads', (t) => {
    if (threads < 2) t.diagnostic('this machine runs 1 OpenMP thread by default; forcing 2 anyway');
    lib.setThreads(1);
    const one = run();
    lib.setThreads(2);
    const two = run();
    const twoAgain = run();
    assert.ok(Number.isFinite(one.loss[0] as number));
    assert.deepEqual(two.loss, one.loss);
    assert.deepEqual(twoAgain.loss, one.loss);
    for (const [name, g1] of one.grads) {
      const g2 = two.grads.get(name) as Float32Array;
      let diff = 0;
      for (let i = 0; i < g1.length; i++) if (Object.is(g1[i], g2[i]) === false) diff++;
      assert.equal(diff, 0, `${name}: ${diff} of ${g1.length} gradient values differ between 1 and 2 threads`);
    }
    // and the gradients are not trivially zero
    assert.ok([...one.grads.values()].every((g) => g.some((x) => x !== 0)));
  });
});
