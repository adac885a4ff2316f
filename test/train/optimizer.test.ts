import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initEngine } from '../../src/engine/index.js';
import { AdamW, defaultDecay } from '../../src/train/optimizer.js';
import { makeSchedule } from '../../src/train/schedule.js';
import { clipByGlobalNorm, globalNorm } from '../../src/train/grads.js';
import { ConfigError } from '../../src/errors.js';
import { assertAllClose } from '../helpers/close.js';

await initEngine();

// Golden values: python3 test/reference/adamw_schedule.py (float64 numpy, torch.optim.AdamW formula).
const REF = {
  W: [0.4272062784573902, -0.8692609103636771, 1.8276401910592217, 0.08782055689534544],
  mW: [-0.022899999999999997, -0.0022000000000000014, 0.014299999999999997, 0.17204999999999995],
  vW: [0.00017232001000000018, 5.241004000000006e-5, 9.982009000000009e-5, 0.002292455002500002],
  b: [-0.03204659137998359, -0.07087994413542374],
  mb: [-0.20099999999999996, 0.029499999999999985],
  vb: [0.010037961000000008, 0.0007395002500000006],
};

test('AdamW: 3 updates match the float64 reference; weight decay on the matrix only', () => {
  const params = new Map<string, tf.Variable>([
    ['layer.weight', tf.variable(tf.tensor2d([[0.5, -1.0], [2.0, 0.25]]))],
    ['layer.bias', tf.variable(tf.tensor1d([0.1, -0.2]))],
  ]);
  const opt = new AdamW(params, { weightDecay: 0.1 });
  assert.equal(opt.decaysParam('layer.weight'), true);
  assert.equal(opt.decaysParam('layer.bias'), false);
  const GW = [[[0.1, -0.2], [0.3, 0.05]], [[-0.4, 0.1], [0.0, 0.2]], [[0.05, 0.05], [-0.1, 1.5]]];
  const GB = [[1.0, -0.5], [0.2, 0.0], [-3.0, 0.7]];
  const LRS = [0.1, 0.05, 0.02];
  for (let t = 0; t < 3; t++) {
    const g = new Map<string, tf.Tensor>([['layer.weight', tf.tensor2d(GW[t]!)], ['layer.bias', tf.tensor1d(GB[t]!)]]);
    opt.apply(g, LRS[t]!);
    for (const x of g.values()) x.dispose();
  }
  const s = opt.state();
  assert.equal(s.step, 3);
  assertAllClose(params.get('layer.weight')!.dataSync(), REF.W, 2e-6, 'W');
  assertAllClose(params.get('layer.bias')!.dataSync(), REF.b, 2e-6, 'b');
  assertAllClose(s.m.get('layer.weight')!.dataSync(), REF.mW, 1e-7, 'm(W)');
  assertAllClose(s.v.get('layer.weight')!.dataSync(), REF.vW, 1e-9, 'v(W)');
  assertAllClose(s.m.get('layer.bias')!.dataSync(), REF.mb, 1e-7, 'm(b)');
  assertAllClose(s.v.get('layer.bias')!.dataSync(), REF.vb, 1e-9, 'v(b)');
  opt.dispose();
});

test('defaultDecay: matrices yes; norms, biases, 1-D no', () => {
  assert.equal(defaultDecay('model.layers.0.mlp.up_proj.weight', [8, 4]), true);
  assert.equal(defaultDecay('model.layers.0.input_layernorm.weight', [4]), false);
  assert.equal(defaultDecay('model.norm.weight', [4]), false);
  assert.equal(defaultDecay('score.bias', [3]), false);
  assert.equal(defaultDecay('pooler.query', [4]), false);
});

test('schedules at specific steps (HF get_*_schedule_with_warmup; values from the reference script)', () => {
  const lin = makeSchedule({ lr: 1e-3, warmupSteps: 10, totalSteps: 110, decay: 'linear' });
  assertAllClose([0, 5, 10, 60, 110, 200].map(lin), [0.0, 0.0005, 0.001, 0.0005, 0.0, 0.0], 1e-15, 'linear');
  const cos = makeSchedule({ lr: 1e-3, warmupSteps: 10, totalSteps: 110, decay: 'cosine' });
  assertAllClose([0, 5, 10, 35, 60, 110].map(cos), [0.0, 0.0005, 0.001, 0.0008535533905932737, 0.0005, 0.0], 1e-15, 'cosine');
  const floor = makeSchedule({ lr: 1.0, totalSteps: 10, decay: 'linear', minLrRatio: 0.1 });
  assertAllClose([0, 5, 10].map(floor), [1.0, 0.55, 0.1], 1e-15, 'linear with floor');
  assert.equal(makeSchedule({ lr: 2e-5, decay: 'constant' })(1000), 2e-5);
  assert.throws(() => makeSchedule({ lr: 1e-3, warmupSteps: 10, totalSteps: 5 }), ConfigError);
});

test('clipping: norm 13 clipped to 1 keeps direction; under the limit untouched', () => {
  const g = new Map<string, tf.Tensor>([['a', tf.tensor1d([3, 4])], ['b', tf.tensor2d([[12]])]]);
  const norm = globalNorm(g);
  assertAllClose([norm], [13], 1e-5, 'global norm');
  const c = clipByGlobalNorm(g, norm, 1.0);
  const after = globalNorm(c);
  assert.ok(after <= 1.0 * (1 + 1e-6), `clipped norm ${after}`);
  assertAllClose(c.get('a')!.dataSync(), [3 / 13, 4 / 13], 1e-6, 'a direction');
  assertAllClose(c.get('b')!.dataSync(), [12 / 13], 1e-6, 'b direction');
  const same = clipByGlobalNorm(c, after, 5.0);
  assert.equal(same, c);
  for (const x of c.values()) x.dispose();
});
