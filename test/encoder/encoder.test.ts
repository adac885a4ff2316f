import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initEngine } from '../../src/engine/index.js';
import { tinyGemma2 } from '../helpers/tiny.js';
import { GemmaModel } from '../../src/models/gemma.js';
import { Rng } from '../../src/rng/index.js';
import { attentionPool } from '../../src/nn/pooling.js';
import { headLoss } from '../../src/encoder/head.js';
import { toEncoder } from '../../src/encoder/encoder.js';
import type { Labelled } from '../../src/tokenize/batch.js';
import { padRight } from '../../src/tokenize/batch.js';
import { ConfigError } from '../../src/errors.js';
import { assertAllClose, TOL } from '../helpers/close.js';
import { withDisposed } from '../helpers/dispose.js';

await initEngine();

// A tiny Gemma 2 (sliding window 3 on layer 0, so the three attention modes differ).
const CONFIG = tinyGemma2({ vocab_size: 32, hidden_size: 16, intermediate_size: 32, num_hidden_layers: 2, head_dim: 8, query_pre_attn_scalar: 8, sliding_window: 3, layer_types: ['sliding_attention', 'full_attention'], initializer_range: 0.5, max_position_embeddings: 64 });
const SEQS = [[2, 5, 9, 11, 7, 3], [2, 8, 4], [2, 6, 6, 13, 1]];
const batchOf = (labels: number[]): Labelled => ({ ...padRight(SEQS, 0), labels });

/** float64 reference of attention pooling: per head, softmax over real keys of q.k/sqrt(K), then sum p v. */
function attentionPoolRef(x: number[][][], mask: number[][], q: number[], wk: number[][], wv: number[][], H: number): number[][] {
  const D = q.length;
  const K = D / H;
  const proj = (w: number[][], v: number[]) => w.map((row) => row.reduce((s, wi, i) => s + wi * (v[i] as number), 0));
  return x.map((rows, b) => {
    const keys = rows.map((r) => proj(wk, r));
    const vals = rows.map((r) => proj(wv, r));
    const out = new Array<number>(D).fill(0);
    for (let h = 0; h < H; h++) {
      const real = rows.map((_, t) => t).filter((t) => mask[b]![t] === 1);
      const s = real.map((t) => {
        let dot = 0;
        for (let k = 0; k < K; k++) dot += (q[h * K + k] as number) * (keys[t]![h * K + k] as number);
        return dot / Math.sqrt(K);
      });
      const mx = Math.max(...s);
      const e = s.map((v) => Math.exp(v - mx));
      const z = e.reduce((a, v) => a + v, 0);
      real.forEach((t, i) => {
        for (let k = 0; k < K; k++) out[h * K + k]! += ((e[i] as number) / z) * (vals[t]![h * K + k] as number);
      });
    }
    return out;
  });
}

test('attention pooling matches a float64 reference on fixed weights; padded keys do not matter', () => {
  const r = new Rng(11);
  const [B, T, D, H] = [3, 5, 8, 4];
  const rand = (n: number) => Array.from({ length: n }, () => r.normal());
  const x = Array.from({ length: B }, () => Array.from({ length: T }, () => rand(D)));
  const mask = [[1, 1, 1, 1, 1], [1, 1, 0, 0, 0], [1, 1, 1, 1, 0]];
  const q = rand(D);
  const wk = Array.from({ length: D }, () => rand(D));
  const wv = Array.from({ length: D }, () => rand(D));
  const want = attentionPoolRef(x, mask, q, wk, wv, H);
  const weights = { 'pooler.query': tf.tensor1d(q), 'pooler.k_proj.weight': tf.tensor2d(wk), 'pooler.v_proj.weight': tf.tensor2d(wv) };
  const got = attentionPool(tf.tensor3d(x), tf.tensor2d(mask, undefined, 'int32'), weights, H);
  const err = assertAllClose(got.arraySync(), want, TOL.parityF32, 'attention pooling vs float64');
  assert.ok(err < TOL.parityF32);
  // Garbage in padded positions must not change the result.
  const x2 = x.map((rows, b) => rows.map((row, t) => (mask[b]![t] ? row : row.map(() => 1e3))));
  assertAllClose(attentionPool(tf.tensor3d(x2), tf.tensor2d(mask, undefined, 'int32'), weights, H).arraySync(), want, TOL.parityF32, 'pads ignored');
  assert.throws(() => attentionPool(tf.tensor3d(x), tf.tensor2d(mask, undefined, 'int32'), weights, 3), ConfigError);
});

test('head losses vs hand-computed values', () => {
  // CE: logits [[2,0,0],[0,1,3]], labels [0,2]: -log(e^2/(e^2+2)), -log(e^3/(1+e+e^3)).
  const ce = (-Math.log(Math.exp(2) / (Math.exp(2) + 2)) - Math.log(Math.exp(3) / (1 + Math.E + Math.exp(3)))) / 2;
  const lc = headLoss({ kind: 'classification', numClasses: 3 }, tf.tensor2d([[2, 0, 0], [0, 1, 3]]), [0, 2]);
  assertAllClose([lc.dataSync()[0]!], [ce], 1e-6, 'cross-entropy');
  // MSE: outputs [1.5, -0.5], labels [1, 1]: (0.25 + 2.25)/2 = 1.25.
  const lr = headLoss({ kind: 'regression' }, tf.tensor2d([[1.5], [-0.5]]), [1, 1]);
  assertAllClose([lr.dataSync()[0]!], [1.25], 1e-6, 'mse');
  // BCE with logits: s=[2,-1,30], y=[1,0,0]: log(1+e^-2), log(1+e^-1), 30 + log(1+e^-30).
  const bce = (Math.log1p(Math.exp(-2)) + Math.log1p(Math.exp(-1)) + 30 + Math.log1p(Math.exp(-30))) / 3;
  const lp = headLoss({ kind: 'ranking', loss: 'pointwise' }, tf.tensor2d([[2], [-1], [30]]), [1, 0, 0]);
  assertAllClose([lp.dataSync()[0]!], [bce], 1e-5, 'pointwise bce');
  // Pairwise: pairs (3, 1) and (0, 2): softplus(-2), softplus(2).
  const pw = (Math.log1p(Math.exp(-2)) + Math.log1p(Math.exp(2))) / 2;
  const lpw = headLoss({ kind: 'ranking', loss: 'pairwise' }, tf.tensor2d([[3], [1], [0], [2]]), [1, 0, 1, 0]);
  assertAllClose([lpw.dataSync()[0]!], [pw], 1e-6, 'pairwise');
  assert.throws(() => headLoss({ kind: 'classification', numClasses: 3 }, tf.tensor2d([[0, 0, 0]]), [3]), ConfigError);
  assert.throws(() => headLoss({ kind: 'ranking', loss: 'pairwise' }, tf.tensor2d([[0], [1], [2]]), [1, 0, 1]), ConfigError);
});

test("attention switch: the encoder's states equal the model's own causal / bidirectional modes, and they differ", () =>
  withDisposed(GemmaModel.random(CONFIG, 1), (model) => {
    const b = batchOf([0, 1, 0]);
    const mask = tf.tensor2d(b.mask, [b.batch, b.length], 'int32');
    const ids = tf.tensor2d(b.ids, [b.batch, b.length], 'int32');
    const means = new Map<string, number[][]>();
    for (const mode of ['causal', 'bidirectional_global', 'bidirectional_sliding'] as const) {
      const enc = toEncoder(model, { attention: mode, pooling: 'mean', head: { kind: 'classification', numClasses: 2 } });
      const got = enc.embed(b).arraySync();
      const h = model.forward(ids, { attentionMask: mask, attention: mode }).hiddenStates;
      const want = model.pool(h, mask, 'mean').arraySync();
      assertAllClose(got, want, 1e-6, `mean pooling, ${mode}`);
      means.set(mode, got);
      enc.dispose();
    }
    const diff = (a: number[][], c: number[][]) => Math.max(...a.flat().map((v, i) => Math.abs(v - (c.flat()[i] as number))));
    assert.ok(diff(means.get('causal')!, means.get('bidirectional_global')!) > 1e-3, 'causal != bidirectional');
    assert.ok(diff(means.get('bidirectional_sliding')!, means.get('bidirectional_global')!) > 1e-3, 'sliding != global (window 3, length 6)');
  }));

test("'last' pooling is the last non-pad token's state; 'first' is position 0", () =>
  withDisposed(GemmaModel.random(CONFIG, 2), (model) => {
    const b = batchOf([0, 1, 0]);
    const h = model.forward(tf.tensor2d(b.ids, [b.batch, b.length], 'int32'), {
      attentionMask: tf.tensor2d(b.mask, [b.batch, b.length], 'int32'),
      attention: 'bidirectional_global',
    }).hiddenStates.arraySync();
    const last = toEncoder(model, { attention: 'bidirectional_global', pooling: 'last', head: { kind: 'regression' } });
    assertAllClose(last.embed(b).arraySync(), SEQS.map((s, i) => h[i]![s.length - 1]!), 1e-6, 'last non-pad');
    last.dispose();
    const first = toEncoder(model, { attention: 'bidirectional_global', pooling: 'first', head: { kind: 'regression' } });
    assertAllClose(first.embed(b).arraySync(), SEQS.map((_, i) => h[i]![0]!), 1e-6, 'first');
    first.dispose();
  }));

test('dropout: off in eval (deterministic, equal to rate 0), on in training (seeded, reproducible)', () =>
  withDisposed(GemmaModel.random(CONFIG, 3), (model) => {
    const b = batchOf([1, 0, 1]);
    const enc = toEncoder(model, {
      attention: 'bidirectional_global',
      pooling: 'attention',
      dropout: { rate: 0.3, placement: { attention: true, residual: true, head: true, embedding: true } },
      head: { kind: 'classification', numClasses: 2 },
      seed: 5,
    });
    const p1 = enc.predict(b).logits;
    assert.deepEqual(enc.predict(b).logits, p1, 'eval is deterministic');
    const l = (seed: number) => enc.loss(b, { seed }).dataSync()[0]!;
    assert.equal(l(7), l(7), 'same seed, same training loss');
    assert.notEqual(l(7), l(8), 'different seed, different dropout masks');
    assert.notEqual(l(7), enc.evalLoss(b), 'training loss uses dropout');
    // Eval output equals a rate-0 encoder with the same head weights.
    const plain = toEncoder(model, { attention: 'bidirectional_global', pooling: 'attention', head: { kind: 'classification', numClasses: 2 }, seed: 5 });
    assertAllClose(plain.predict(b).logits, p1, 1e-6, 'eval == no dropout');
    // Placement: with no site selected a rate changes nothing; the head site alone already changes the loss.
    const none = toEncoder(model, { attention: 'bidirectional_global', pooling: 'attention', dropout: { rate: 0.3, placement: {} }, head: { kind: 'classification', numClasses: 2 }, seed: 5 });
    assert.equal(none.loss(b, { seed: 7 }).dataSync()[0], none.evalLoss(b));
    const headOnly = toEncoder(model, { attention: 'bidirectional_global', pooling: 'attention', dropout: { rate: 0.3, placement: { head: true } }, head: { kind: 'classification', numClasses: 2 }, seed: 5 });
    assert.notEqual(headOnly.loss(b, { seed: 7 }).dataSync()[0], headOnly.evalLoss(b));
    for (const e of [enc, plain, none, headOnly]) e.dispose();
  }));

test('params = backbone + pooling + head; saveHead/loadHead round-trips; frozen backbone option', async () => {
  const model = GemmaModel.random(CONFIG, 4);
  const dir = await mkdtemp(join(tmpdir(), 'gl-head-'));
  try {
    const enc = toEncoder(model, { attention: 'causal', pooling: 'attention', head: { kind: 'classification', numClasses: 3 }, seed: 1 });
    assert.deepEqual([...enc.headParams.keys()], ['pooler.query', 'pooler.k_proj.weight', 'pooler.v_proj.weight', 'score.weight', 'score.bias']);
    assert.equal(enc.params.size, model.params.size + 5);
    const b = batchOf([0, 1, 2]);
    const before = enc.predict(b).logits;
    await enc.saveHead(join(dir, 'head.safetensors'));
    const other = toEncoder(model, { attention: 'causal', pooling: 'attention', head: { kind: 'classification', numClasses: 3 }, seed: 2 });
    assert.notDeepEqual(other.predict(b).logits, before);
    await other.loadHead(join(dir, 'head.safetensors'));
    assert.deepEqual(other.predict(b).logits, before);
    const wrong = toEncoder(model, { attention: 'causal', pooling: 'mean', head: { kind: 'classification', numClasses: 2 } });
    await assert.rejects(wrong.loadHead(join(dir, 'head.safetensors')), ConfigError);
    const frozen = toEncoder(model, { attention: 'causal', pooling: 'mean', head: { kind: 'regression' }, trainBackbone: false });
    assert.deepEqual([...frozen.params.keys()], ['score.weight', 'score.bias']);
    for (const e of [enc, other, wrong, frozen]) e.dispose();
    assert.throws(() => toEncoder(model, { attention: 'sideways' as 'causal', pooling: 'mean', head: { kind: 'regression' } }), ConfigError);
  } finally {
    model.dispose();
    await rm(dir, { recursive: true, force: true });
  }
});

test('every head trains end to end through the trainer (attention pooling gets gradients; loss falls)', async () => {
  const { train } = await import('../../src/train/trainer.js');
  const model = GemmaModel.random(CONFIG, 6);
  try {
    const heads = [
      [{ kind: 'classification', numClasses: 2 }, [0, 1, 0]],
      [{ kind: 'regression' }, [0.5, 4.0, 2.5]],
      [{ kind: 'ranking', loss: 'pointwise' }, [1, 0, 1]],
      [{ kind: 'ranking', loss: 'pairwise' }, [1, 0]],
    ] as const;
    for (const [head, labels] of heads) {
      const enc = toEncoder(model, { attention: 'bidirectional_global', pooling: 'attention', head, seed: 3, trainBackbone: false });
      const b: Labelled = { ...padRight(SEQS.slice(0, labels.length), 0), labels };
      const q0 = Array.from(enc.headParams.get('pooler.query')!.dataSync());
      const r = await train(enc, { epoch: () => [b], size: (x) => x.batch }, { seed: 0, maxSteps: 15, schedule: { lr: 0.05, decay: 'constant' } });
      assert.ok(r.logs.at(-1)!.loss < r.logs[0]!.loss, `${JSON.stringify(head)}: loss ${r.logs[0]!.loss} -> ${r.logs.at(-1)!.loss}`);
      assert.notDeepEqual(Array.from(enc.headParams.get('pooler.query')!.dataSync()), q0, 'pooling query was updated');
      enc.dispose();
    }
  } finally {
    model.dispose();
  }
});

test('no tensor leaks: an encoder head (attention pooling + score) holds one tensor per variable and dispose frees them', () =>
  withDisposed(GemmaModel.random(CONFIG, 1), (model) => {
    const before = tf.memory().numTensors;
    const enc = toEncoder(model, { attention: 'bidirectional_global', pooling: 'attention', attentionPoolingHeads: 2, head: { kind: 'classification', numClasses: 3 } });
    assert.equal(tf.memory().numTensors, before + 5); // pooler.query, pooler.k_proj, pooler.v_proj, score.weight, score.bias
    enc.dispose();
    assert.equal(tf.memory().numTensors, before);
  }));
