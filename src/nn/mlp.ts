/** Gemma GeGLU feed-forward: down( gelu_tanh(gate(x)) * up(x) ) (HF GemmaMLP, gelu_pytorch_tanh). */
import * as tf from '@tensorflow/tfjs';
import { linear } from './linear.js';

export interface MlpWeights {
  /** [F, D] */
  readonly gateProj: tf.Tensor2D;
  /** [F, D] */
  readonly upProj: tf.Tensor2D;
  /** [D, F] */
  readonly downProj: tf.Tensor2D;
}

/** 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))); x^3 as x*x*x (tf.pow is slow on wasm, specs/engine.md). */
export function geluTanh<T extends tf.Tensor>(x: T): T {
  return tf.tidy(() => {
    const cube = tf.mul(tf.mul(x, x), x);
    const inner = tf.mul(tf.add(x, tf.mul(cube, 0.044715)), Math.sqrt(2 / Math.PI));
    return tf.mul(tf.mul(x, 0.5), tf.add(tf.tanh(inner), 1)) as T;
  });
}

/** x: [B, T, D] -> [B, T, D]. `hiddenDropout` acts on the [B, T, F] product (T5Gemma's MLP dropout). */
export function gegluMlp(x: tf.Tensor3D, w: MlpWeights, hiddenDropout?: (h: tf.Tensor3D) => tf.Tensor3D): tf.Tensor3D {
  return tf.tidy(() => {
    let h = tf.mul(geluTanh(linear(x, w.gateProj)), linear(x, w.upProj)) as tf.Tensor3D; // [B, T, F]
    if (hiddenDropout) h = hiddenDropout(h);
    return linear(h, w.downProj);
  });
}
