/**
 * Gemma 4 mixture-of-experts feed-forward (HF Gemma4TextRouter + Gemma4TextExperts):
 *   router: g = rmsnorm_noscale(r) * scale * D^-0.5; p = softmax(g W^T) [N, E]; keep the top-k of p,
 *           renormalise them to sum 1, multiply each by per_expert_scale[e].
 *   expert e: [gate; up] = u gate_up_proj[e]^T; y_e = (gelu_tanh(gate) * up) down_proj[e]^T.
 *   out = sum over a token's k experts of weight * y_e.
 * The routing choice (which k experts) is data-dependent and made on the host; the weights stay
 * tensors, so gradients reach the router through the kept probabilities as in HF.
 */
import * as tf from '@tensorflow/tfjs-core';
import { linear } from './linear.js';
import { geluTanh } from './mlp.js';
import { rmsNormDirect } from './norm.js';

export interface MoeWeights {
  /** [E, D] */
  readonly routerProj: tf.Tensor2D;
  /** [D] */
  readonly routerScale: tf.Tensor1D;
  /** [E] */
  readonly perExpertScale: tf.Tensor1D;
  /** [E, 2*I, D]: rows 0..I-1 gate, I..2I-1 up */
  readonly gateUp: tf.Tensor3D;
  /** [E, D, I] */
  readonly down: tf.Tensor3D;
}

/** Indices of the k largest values of each row (ties: lower index first, as torch.topk on CPU). */
export function topKRows(p: Float32Array, rows: number, cols: number, k: number): Int32Array {
  const out = new Int32Array(rows * k);
  const idx = Array.from({ length: cols }, (_, j) => j);
  for (let n = 0; n < rows; n++) {
    const row = p.subarray(n * cols, (n + 1) * cols);
    const best = [...idx].sort((a, b) => (row[b] as number) - (row[a] as number) || a - b).slice(0, k);
    out.set(best, n * k);
  }
  return out;
}

/**
 * Router weights: r [N, D] (the un-normed residual stream) -> dense [N, E], zero off each row's top-k.
 * Also returns the chosen experts [N * k] for dispatch.
 */
export function routeTopK(r: tf.Tensor2D, w: MoeWeights, k: number, eps: number): { weights: tf.Tensor2D; chosen: Int32Array } {
  // Call inside a tf.tidy: the intermediates stay alive for backprop and are freed with the scope.
  const [N, D] = r.shape;
  const E = w.routerProj.shape[0];
  const g = tf.mul(tf.mul(rmsNormDirect(r, null, eps), w.routerScale), D ** -0.5);
  const probs = tf.softmax(linear(g, w.routerProj), -1) as tf.Tensor2D; // [N, E]
  const chosen = topKRows(probs.dataSync() as Float32Array, N, E, k);
  const keep = new Float32Array(N * E);
  for (let n = 0; n < N; n++) for (let j = 0; j < k; j++) keep[n * E + (chosen[n * k + j] as number)] = 1;
  const kept = tf.mul(probs, tf.tensor2d(keep, [N, E])); // [N, E]
  const weights = tf.mul(tf.div(kept, tf.sum(kept, -1, true)), w.perExpertScale) as tf.Tensor2D;
  return { weights, chosen };
}

/** u [N, D] (the experts' normed input), r [N, D] (router input) -> [N, D]. */
export function moeExperts(u: tf.Tensor2D, r: tf.Tensor2D, w: MoeWeights, k: number, eps: number): tf.Tensor2D {
  const [N, D] = u.shape;
  const E = w.routerProj.shape[0];
  const I = w.down.shape[2];
  return tf.tidy(() => {
    const { weights, chosen } = routeTopK(r, w, k, eps);
    const rowsOf: number[][] = Array.from({ length: E }, () => []);
    for (let n = 0; n < N; n++) for (let j = 0; j < k; j++) (rowsOf[chosen[n * k + j] as number] as number[]).push(n);
    const parts: tf.Tensor2D[] = [];
    const segIds: number[] = [];
    rowsOf.forEach((rows, e) => {
      if (rows.length === 0) return;
      const idx = tf.tensor1d(rows, 'int32');
      const x = tf.gather(u, idx); // [n_e, D]
      const gu = linear(x, tf.reshape(tf.slice(w.gateUp, [e, 0, 0], [1, 2 * I, D]), [2 * I, D]) as tf.Tensor2D); // [n_e, 2I]
      const h = tf.mul(geluTanh(tf.slice(gu, [0, 0], [rows.length, I])), tf.slice(gu, [0, I], [rows.length, I])) as tf.Tensor2D;
      const y = linear(h, tf.reshape(tf.slice(w.down, [e, 0, 0], [1, D, I]), [D, I]) as tf.Tensor2D); // [n_e, D]
      const we = tf.gather(tf.reshape(tf.slice(weights, [0, e], [N, 1]), [N]), idx); // [n_e]
      parts.push(tf.mul(y, tf.reshape(we, [rows.length, 1])) as tf.Tensor2D);
      segIds.push(...rows);
    });
    return tf.unsortedSegmentSum(tf.concat(parts, 0), tf.tensor1d(segIds, 'int32'), N) as tf.Tensor2D;
  });
}
