/**
 * The large-tensor path (a tensor past the wasm32 heap cannot be made in a test, so its parts are):
 *   - 'auto' picks the cpu backend + native kernels when the expected bytes pass WASM_BUDGET_BYTES
 *     (the gemma-3-270m config's training footprint does), wasm + native below, and fitEngineTo
 *     moves an 'auto' engine, never an explicit one;
 *   - the cpu path equals wasm + native on a tiny Gemma (forward, loss and every gradient, 1e-5
 *     absolute on O(1e-2..1) values: the same native kernels, summation order of stock ops differs);
 *   - the float32 view of an int32 tensor cast to float32 on cpu (it shares the Int32Array): the
 *     masked mean pooling that failed with "native Mul: float32 input without float32 data";
 *   - layer recomputation (engine/recompute.ts) gives the same loss and gradients (1e-5) on both.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { parseGemmaConfig } from '../../src/config/gemma.js';
import { toEncoder } from '../../src/encoder/encoder.js';
import { estimateModelBytes, fitEngineTo, initEngine, planEngine, WASM_BUDGET_BYTES } from '../../src/engine/index.js';
import { GemmaModel, gemmaParameterShapes } from '../../src/models/gemma.js';
import { parsedConfig, REAL_CONFIGS } from '../../bench/real-configs.js';
import { assertAllClose } from '../helpers/close.js';

const count = (shapes: Map<string, number[]>) => [...shapes.values()].reduce((a, s) => a + s.reduce((x, y) => x * y, 1), 0);

describe('auto selection by size', () => {
  it('expected bytes past the wasm budget select cpu + native', () => {
    assert.deepEqual(planEngine('auto', { expectedBytes: WASM_BUDGET_BYTES + 1 }), { backend: 'cpu', native: true, warnings: [] });
    assert.deepEqual(planEngine('auto', { expectedBytes: WASM_BUDGET_BYTES }), { backend: 'wasm', native: true, warnings: [] });
    assert.equal(planEngine('auto', { expectedBytes: 2 ** 40, nativeError: 'x' }).backend, 'cpu');
    // explicit choices are obeyed whatever the size
    assert.equal(planEngine('native', { expectedBytes: 2 ** 40 }).backend, 'wasm');
  });

  it('gemma-3-270m training and gemma-3-1b inference pass the budget; a tiny model does not', () => {
    const p270 = count(gemmaParameterShapes(parsedConfig(REAL_CONFIGS.find((c) => c.name === 'gemma-3-270m')!)));
    const p1b = count(gemmaParameterShapes(parsedConfig(REAL_CONFIGS.find((c) => c.name === 'gemma-3-1b')!)));
    assert.equal(p270, 268_098_176);
    assert.equal(estimateModelBytes(p270, { training: true }), p270 * 16);
    assert.ok(estimateModelBytes(p270, { training: true }) > WASM_BUDGET_BYTES);
    assert.ok(estimateModelBytes(p1b) > WASM_BUDGET_BYTES);
    assert.ok(estimateModelBytes(1_000_000, { training: true }) < WASM_BUDGET_BYTES);
  });

  it('fitEngineTo moves an auto engine to cpu, and leaves an explicit one', async () => {
    await initEngine('native');
    assert.equal((await fitEngineTo(WASM_BUDGET_BYTES * 2))?.backend, 'wasm');
    await initEngine('auto');
    assert.equal((await fitEngineTo(1024))?.backend, 'wasm');
    const info = await fitEngineTo(WASM_BUDGET_BYTES * 2);
    assert.equal(info?.backend, 'cpu');
    assert.equal(info?.native, true);
    // a later plain initEngine() keeps the big choice (tensors stay off the wasm heap)
    assert.equal((await initEngine('auto')).backend, 'cpu');
    await initEngine('native');
  });
});

const TINY = {
  model_type: 'gemma3_text',
  vocab_size: 97,
  hidden_size: 32,
  intermediate_size: 64,
  num_hidden_layers: 3,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  head_dim: 8,
  max_position_embeddings: 64,
  sliding_window: 4,
  layer_types: ['sliding_attention', 'sliding_attention', 'full_attention'],
  query_pre_attn_scalar: 8,
  hidden_activation: 'gelu_pytorch_tanh',
};

/** Loss (masked mean pooling + 2-class head) and every gradient of a seeded tiny Gemma 3 encoder. */
function lossAndGrads(recomputeLayers: boolean): { loss: number; grads: Map<string, Float32Array> } {
  const model = GemmaModel.random(parseGemmaConfig(TINY, 'test/engine/bigmem.test.ts'), 7);
  model.recomputeLayers = recomputeLayers;
  const enc = toEncoder(model, { attention: 'bidirectional_sliding', pooling: 'mean', head: { kind: 'classification', numClasses: 2 }, seed: 3 });
  const [B, T] = [3, 9];
  const ids = Int32Array.from({ length: B * T }, (_, i) => 1 + ((i * 37) % 96));
  const mask = Int32Array.from({ length: B * T }, (_, i) => (i % T < T - (i / T | 0) * 2 ? 1 : 0)); // right padding 0, 2, 4
  const batch = { ids, mask, batch: B, length: T, labels: [0, 1, 1] };
  const vars = [...enc.params.values()];
  const { value, grads } = tf.variableGrads(() => enc.loss(batch, { seed: 0 }), vars);
  const out = { loss: value.dataSync()[0] as number, grads: new Map([...enc.params].map(([n, v]) => [n, (grads[v.name] as tf.Tensor).dataSync().slice() as Float32Array])) };
  tf.dispose([value, grads]);
  enc.dispose();
  model.dispose();
  return out;
}

describe('cpu + native equals wasm + native', () => {
  it('tiny Gemma 3 encoder: loss and all gradients to 1e-5, with and without layer recomputation', async () => {
    await initEngine('native');
    const ref = lossAndGrads(false);
    const refRecompute = lossAndGrads(true);
    await initEngine('cpu');
    const cpu = lossAndGrads(false);
    const cpuRecompute = lossAndGrads(true);
    await initEngine('native');
    assert.ok(Number.isFinite(ref.loss) && ref.loss > 0.1, `loss ${ref.loss}`);
    assert.equal(ref.grads.size, cpu.grads.size);
    for (const [what, got] of [['cpu', cpu], ['wasm recompute', refRecompute], ['cpu recompute', cpuRecompute]] as const) {
      assert.ok(Math.abs(got.loss - ref.loss) < 1e-5, `${what} loss ${got.loss} vs ${ref.loss}`);
      for (const [n, g] of ref.grads) assertAllClose(got.grads.get(n) as Float32Array, g, 1e-5, `${what} grad ${n}`);
    }
    // the gradients are not trivially zero
    assert.ok(Math.max(...(ref.grads.get('model.layers.0.mlp.gate_proj.weight') as Float32Array).map(Math.abs)) > 1e-4);
  });

  it('cpu: an int32 mask cast to float32 feeds the native Mul (shared Int32Array data)', async () => {
    await initEngine('cpu');
    const got = tf.tidy(() => {
      const m = tf.cast(tf.tensor2d([[1, 1, 0], [1, 0, 0]], [2, 3], 'int32'), 'float32');
      return tf.mul(tf.tensor3d([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], [2, 3, 2]), tf.expandDims(m, 2)).dataSync().slice();
    });
    await initEngine('native');
    assert.deepEqual([...got], [1, 2, 3, 4, 0, 0, 7, 8, 0, 0, 0, 0]);
  });
});
