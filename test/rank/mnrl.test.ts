import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { multipleNegativesRanking } from '../../src/rank/losses.js';

// Golden: test/reference/mnrl_loss.py (python3-torch float64, sentence-transformers' MNRL semantics).
const g = JSON.parse(readFileSync(new URL('./mnrl_golden.json', import.meta.url), 'utf8')) as { q: number[][]; docs: number[][]; temperature: number; loss: number };

test('multipleNegativesRanking matches the float64 torch reference (in-batch + hard negatives, temperature)', () => {
  const loss = tf.tidy(() => multipleNegativesRanking(tf.tensor2d(g.q), tf.tensor2d(g.docs), g.temperature).dataSync()[0] as number);
  assert.ok(Math.abs(loss - g.loss) < 1e-4 * Math.max(1, Math.abs(g.loss)), `got ${loss}, reference ${g.loss}`);
  // Scaling a vector does not change cosine similarities: same loss.
  const scaled = tf.tidy(() => multipleNegativesRanking(tf.tensor2d(g.q).mul(3) as tf.Tensor2D, tf.tensor2d(g.docs), g.temperature).dataSync()[0] as number);
  assert.ok(Math.abs(scaled - loss) < 1e-5);
  assert.throws(() => multipleNegativesRanking(tf.tensor2d(g.q), tf.tensor2d(g.docs.slice(0, 4)), 0.05), RangeError);
});
