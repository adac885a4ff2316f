import { describe, it, before } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initEngine } from '../../src/engine/index.js';
import { headLoss } from '../../src/encoder/head.js';
import { marginRanking, pointwiseBce, softmaxCrossEntropy } from '../../src/rank/losses.js';
import { assertAllClose, TOL } from '../helpers/close.js';

// Expected values: float64 torch, `/usr/bin/python3 test/reference/rank_losses.py`
// (F.binary_cross_entropy_with_logits, F.cross_entropy, F.margin_ranking_loss), plus closed forms.
describe('ranking losses (float32 tf vs float64 torch reference)', () => {
  before(async () => {
    await initEngine();
  });

  it('pointwise BCE with logits, stable at |s| = 30', () => {
    const got = tf.tidy(() => pointwiseBce(tf.tensor1d([2, -1, 0, 30, -30, 0.5]), tf.tensor1d([1, 0, 1, 0, 1, 1])).dataSync()[0] as number);
    assertAllClose([got], [10.26790231055024], 0, 'bce', TOL.kernelRel);
    const half = tf.tidy(() => pointwiseBce(tf.tensor1d([0]), tf.tensor1d([1])).dataSync()[0] as number);
    assertAllClose([half], [Math.LN2], 0, 'bce(0, 1) = ln 2', TOL.kernelRel);
  });

  it('pointwise BCE gradient is (sigmoid(s) - y) / B', () => {
    const s = [2, -1, 0.5];
    const y = [1, 0, 0];
    const g = tf.tidy(() => tf.grad((x: tf.Tensor) => pointwiseBce(x as tf.Tensor1D, tf.tensor1d(y)))(tf.tensor1d(s)).arraySync() as number[]);
    assertAllClose(g, s.map((v, i) => (1 / (1 + Math.exp(-v)) - (y[i] as number)) / 3), 1e-7, 'dBCE/ds');
  });

  it('softmax cross-entropy over [positive, negatives]', () => {
    const got = tf.tidy(() => softmaxCrossEntropy(tf.tensor2d([[3, 1, 0], [-1, 2, 2], [100, -100, 0]])).dataSync()[0] as number);
    assertAllClose([got], [1.2958606460743294], 0, 'softmax ce', TOL.kernelRel);
    // One negative: log(1 + exp(s_neg - s_pos)) = RankNet; s_pos = s_neg -> ln 2.
    const tie = tf.tidy(() => softmaxCrossEntropy(tf.tensor2d([[0.25, 0.25]])).dataSync()[0] as number);
    assertAllClose([tie], [Math.LN2], 0, 'tie', TOL.kernelRel);
  });

  it('margin ranking hinge', () => {
    const got = tf.tidy(() => marginRanking(tf.tensor1d([1, 0.2, -0.5]), tf.tensor2d([[0.5, -1], [0.7, 0.1], [-0.4, -3]])).dataSync()[0] as number);
    assertAllClose([got], [0.6666666666666666], 0, 'margin', TOL.kernelRel);
  });

  it("agrees with the encoder's ranking head losses (pointwise BCE; pairwise RankNet = softmax CE with one negative)", () => {
    const pos = [1.5, -0.3, 0.2];
    const neg = [0.5, 0.7, -2];
    const mine = tf.tidy(() => softmaxCrossEntropy(tf.tensor2d(pos.map((p, i) => [p, neg[i] as number]))).dataSync()[0] as number);
    const interleaved = pos.flatMap((p, i) => [[p], [neg[i] as number]]);
    const theirs = tf.tidy(() => headLoss({ kind: 'ranking', loss: 'pairwise' }, tf.tensor2d(interleaved), [1, 0, 1, 0, 1, 0]).dataSync()[0] as number);
    assertAllClose([mine], [theirs], 1e-6, 'pairwise');
    const bce = tf.tidy(() => pointwiseBce(tf.tensor1d(interleaved.flat()), tf.tensor1d([1, 0, 1, 0, 1, 0])).dataSync()[0] as number);
    const head = tf.tidy(() => headLoss({ kind: 'ranking', loss: 'pointwise' }, tf.tensor2d(interleaved), [1, 0, 1, 0, 1, 0]).dataSync()[0] as number);
    assertAllClose([bce], [head], 1e-6, 'pointwise');
  });
});
