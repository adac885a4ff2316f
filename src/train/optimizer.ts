/**
 * AdamW (Loshchilov & Hutter): decoupled weight decay, PyTorch `torch.optim.AdamW` semantics:
 *   p <- p - lr*wd*p;  m <- b1 m + (1-b1) g;  v <- b2 v + (1-b2) g^2
 *   p <- p - lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)
 * Generic over named variables; the moments are plain tensors so a checkpoint can store them.
 */
import * as tf from '@tensorflow/tfjs-core';
import { nativeAdamW, nativeAdamWAvailable, ownsData, type AdamWGroup } from '../engine/optimizer.js';
import { TrainingError } from '../errors.js';

export interface AdamWOptions {
  readonly beta1?: number;
  readonly beta2?: number;
  readonly eps?: number;
  readonly weightDecay?: number;
  /** Which parameters get weight decay; default `defaultDecay` (no norms, biases or 1-D params). */
  readonly decay?: (name: string, shape: readonly number[]) => boolean;
}

/** Matrices decay; norm weights, biases and other 1-D params (and the pooling query) do not. */
export function defaultDecay(name: string, shape: readonly number[]): boolean {
  return shape.length >= 2 && !/norm|bias/i.test(name);
}

export interface AdamWState {
  /** Updates applied so far (t in the bias correction). */
  readonly step: number;
  readonly m: ReadonlyMap<string, tf.Tensor>;
  readonly v: ReadonlyMap<string, tf.Tensor>;
}

export class AdamW {
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  private readonly decays = new Map<string, boolean>();
  private readonly m = new Map<string, tf.Tensor>();
  private readonly v = new Map<string, tf.Tensor>();
  private t = 0;

  constructor(
    readonly params: ReadonlyMap<string, tf.Variable>,
    o: AdamWOptions = {},
  ) {
    this.beta1 = o.beta1 ?? 0.9;
    this.beta2 = o.beta2 ?? 0.999;
    this.eps = o.eps ?? 1e-8;
    this.weightDecay = o.weightDecay ?? 0.01;
    const decay = o.decay ?? defaultDecay;
    for (const [name, p] of params) {
      this.decays.set(name, decay(name, p.shape));
      this.m.set(name, tf.keep(tf.zerosLike(p)));
      this.v.set(name, tf.keep(tf.zerosLike(p)));
    }
  }

  get step(): number {
    return this.t;
  }

  /** Whether `name` receives weight decay (for logs and tests). */
  decaysParam(name: string): boolean {
    return this.decays.get(name) ?? false;
  }

  /** One update with learning rate `lr`; `grads` must hold a gradient for every parameter. */
  apply(grads: ReadonlyMap<string, tf.Tensor>, lr: number): void {
    this.t += 1;
    // Bias corrections in float64 and PyTorch's order: denom = sqrt(v)/sqrt(bc2) + eps; p -= (lr/bc1) m/denom.
    const stepSize = lr / (1 - this.beta1 ** this.t);
    const sqrtBc2 = Math.sqrt(1 - this.beta2 ** this.t);
    if (nativeAdamWAvailable() && this.applyNative(grads, lr, stepSize, sqrtBc2)) return;
    for (const [name, p] of this.params) {
      const g = grads.get(name);
      if (!g) throw new TrainingError(`AdamW: no gradient for parameter '${name}'`);
      const m0 = this.m.get(name) as tf.Tensor;
      const v0 = this.v.get(name) as tf.Tensor;
      const [m1, v1, p1] = tf.tidy(() => {
        const decayed = this.decays.get(name) && this.weightDecay !== 0 ? p.mul(1 - lr * this.weightDecay) : p.clone();
        const m = m0.mul(this.beta1).add(g.mul(1 - this.beta1));
        const v = v0.mul(this.beta2).add(g.square().mul(1 - this.beta2));
        const denom = v.sqrt().div(sqrtBc2).add(this.eps);
        const upd = m.div(denom).mul(stepSize);
        return [m, v, decayed.sub(upd)];
      });
      p.assign(p1);
      p1.dispose();
      m0.dispose();
      v0.dispose();
      this.m.set(name, m1);
      this.v.set(name, v1);
    }
  }

  /**
   * The whole update as two native in-place calls (decayed and undecayed group). Tensors that share
   * their data (a variable made from a live tensor, moments restored by `load`) get a private copy
   * first, once. Returns false (nothing changed) when a tensor is not float32.
   */
  private applyNative(grads: ReadonlyMap<string, tf.Tensor>, lr: number, stepSize: number, sqrtBc2: number): boolean {
    const groups = new Map<boolean, { params: tf.Tensor[]; grads: tf.Tensor[]; m: tf.Tensor[]; v: tf.Tensor[] }>();
    for (const [name, p] of this.params) {
      const g = grads.get(name);
      if (!g) throw new TrainingError(`AdamW: no gradient for parameter '${name}'`);
      if (p.dtype !== 'float32' || g.dtype !== 'float32') return false;
    }
    const own = (t: tf.Tensor): tf.Tensor => (ownsData(t) ? t : tf.keep(tf.add(t, 0)));
    for (const [name, p] of this.params) {
      if (!ownsData(p)) {
        const copy = tf.add(p, 0);
        p.assign(copy);
        copy.dispose();
      }
      for (const map of [this.m, this.v]) {
        const x = map.get(name) as tf.Tensor;
        const mine = own(x);
        if (mine !== x) {
          x.dispose();
          map.set(name, mine);
        }
      }
      const decays = (this.decays.get(name) ?? false) && this.weightDecay !== 0;
      const group = groups.get(decays) ?? { params: [], grads: [], m: [], v: [] };
      group.params.push(p);
      group.grads.push(grads.get(name) as tf.Tensor);
      group.m.push(this.m.get(name) as tf.Tensor);
      group.v.push(this.v.get(name) as tf.Tensor);
      groups.set(decays, group);
    }
    const list: AdamWGroup[] = [...groups].map(([decays, g]) => ({ ...g, decay: decays ? 1 - lr * this.weightDecay : 1 }));
    nativeAdamW(list, { beta1: this.beta1, beta2: this.beta2, eps: this.eps, stepSize, sqrtBc2 });
    return true;
  }

  state(): AdamWState {
    return { step: this.t, m: this.m, v: this.v };
  }

  /** Restore moments and step (copies the given tensors; shapes must match the parameters). */
  load(s: { step: number; m: ReadonlyMap<string, tf.Tensor>; v: ReadonlyMap<string, tf.Tensor> }): void {
    for (const [name, p] of this.params) {
      for (const [which, src, dst] of [['m', s.m, this.m], ['v', s.v, this.v]] as const) {
        const x = src.get(name);
        if (!x) throw new TrainingError(`optimizer state: missing ${which} for '${name}'`);
        if (x.shape.join(',') !== p.shape.join(',')) {
          throw new TrainingError(`optimizer state: ${which} for '${name}' has shape [${x.shape}], parameter has [${p.shape}]`);
        }
        dst.get(name)?.dispose();
        dst.set(name, tf.keep(x.clone()));
      }
    }
    this.t = s.step;
  }

  dispose(): void {
    for (const x of [...this.m.values(), ...this.v.values()]) x.dispose();
    this.m.clear();
    this.v.clear();
  }
}
