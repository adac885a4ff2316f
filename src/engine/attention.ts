/**
 * The fused attention op: tfjs kernels `GemmaLabAttention` (forward, outputs [o, lse]) and
 * `GemmaLabAttentionGrad` (outputs [dq, dk, dv]) served by the native addon, and the gradient that
 * connects them. Masks travel as a rule (attrs) plus an optional [B, S] key mask, never as a dense
 * [T, S] tensor; the addon computes the scores blockwise with an online softmax.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { NativeLib } from './native.js';
import type { Storage } from './storage.js';

export const ATTENTION_KERNEL = 'GemmaLabAttention';
export const ATTENTION_GRAD_KERNEL = 'GemmaLabAttentionGrad';

/** Kernel attrs. softcap 0 = none; window 0 = none. */
export interface FusedAttentionAttrs {
  readonly scale: number;
  readonly softcap: number;
  readonly causal: boolean;
  readonly window: number;
  readonly queryOffset: number;
}

type KernelArgs = Parameters<tf.KernelFunc>[0];

function attrsOf(args: KernelArgs): FusedAttentionAttrs {
  const a = (args.attrs ?? {}) as Partial<FusedAttentionAttrs>;
  return {
    scale: Number(a.scale ?? 1),
    softcap: Number(a.softcap ?? 0),
    causal: Boolean(a.causal),
    window: Number(a.window ?? 0),
    queryOffset: Number(a.queryOffset ?? 0),
  };
}

/** [B, H, G, T, S, d, causal, window, queryOffset] for the addon; checks the shapes. */
function dimsOf(q: tf.TensorInfo, k: tf.TensorInfo, v: tf.TensorInfo, keyMask: tf.TensorInfo, at: FusedAttentionAttrs): Float64Array {
  const [B, H, T, d] = q.shape as [number, number, number, number];
  const [Bk, G, S, dk] = k.shape as [number, number, number, number];
  const bad = (why: string) => new Error(`${ATTENTION_KERNEL}: ${why} (q [${q.shape}], k [${k.shape}], v [${v.shape}])`);
  if (q.shape.length !== 4 || k.shape.length !== 4) throw bad('q and k must be rank 4');
  if (Bk !== B || dk !== d) throw bad('q and k disagree on batch or head dim');
  if (v.shape.length !== 4 || v.shape.some((n, i) => n !== k.shape[i])) throw bad('v must have the shape of k');
  if (G === 0 || H % G !== 0) throw bad('query heads must be a multiple of kv heads');
  const km = keyMask.shape.reduce((x, y) => x * y, 1);
  if (km !== 0 && (keyMask.shape.length !== 2 || keyMask.shape[0] !== B || keyMask.shape[1] !== S)) throw bad(`keyMask must be [${B}, ${S}] or empty`);
  return Float64Array.from([B, H, G, T, S, d, at.causal ? 1 : 0, at.window, at.queryOffset]);
}

function floatView(storage: Storage, backend: unknown, t: tf.TensorInfo, what: string): Float32Array {
  if (t.shape.reduce((x, y) => x * y, 1) === 0) return new Float32Array(0);
  const v = storage.read(backend, t);
  if (!v) throw new Error(`${ATTENTION_KERNEL}: ${what} must be float32`);
  return v;
}

export function makeAttentionForward(lib: NativeLib, storage: Storage): tf.KernelFunc {
  return (args) => {
    const { q, k, v, keyMask } = args.inputs as Record<'q' | 'k' | 'v' | 'keyMask', tf.TensorInfo>;
    const at = attrsOf(args);
    const dims = dimsOf(q, k, v, keyMask, at);
    const o = storage.output(args.backend, q.shape.slice());
    const lse = storage.output(args.backend, q.shape.slice(0, 3));
    // Views after every allocation: the wasm heap may have grown.
    const view = (t: tf.TensorInfo, what: string) => floatView(storage, args.backend, t, what);
    lib.attention(view(q, 'q'), view(k, 'k'), view(v, 'v'), view(keyMask, 'keyMask'), view(o.info, 'o'), view(lse.info, 'lse'), dims, at.scale, at.softcap);
    return [o.info, lse.info];
  };
}

export function makeAttentionBackward(lib: NativeLib, storage: Storage): tf.KernelFunc {
  return (args) => {
    const { q, k, v, keyMask, o, lse, dy } = args.inputs as Record<'q' | 'k' | 'v' | 'keyMask' | 'o' | 'lse' | 'dy', tf.TensorInfo>;
    const at = attrsOf(args);
    const dims = dimsOf(q, k, v, keyMask, at);
    const dq = storage.output(args.backend, q.shape.slice());
    const dk = storage.output(args.backend, k.shape.slice());
    const dv = storage.output(args.backend, v.shape.slice());
    const view = (t: tf.TensorInfo, what: string) => floatView(storage, args.backend, t, what);
    lib.attentionBackward(
      view(q, 'q'),
      view(k, 'k'),
      view(v, 'v'),
      view(keyMask, 'keyMask'),
      view(o, 'o'),
      view(lse, 'lse'),
      view(dy, 'dy'),
      view(dq.info, 'dq'),
      view(dk.info, 'dk'),
      view(dv.info, 'dv'),
      dims,
      at.scale,
      at.softcap,
    );
    return [dq.info, dk.info, dv.info];
  };
}

/** Gradient of the forward kernel: one backward kernel call for dq, dk and dv (lse's gradient is ignored: nothing differentiates it). */
export function registerAttentionGradient(): void {
  tf.registerGradient({
    kernelName: ATTENTION_KERNEL,
    inputsToSave: ['q', 'k', 'v', 'keyMask'],
    outputsToSave: [true, true],
    gradFunc: (dy, saved, attrs) => {
      const [q, k, v, keyMask, o, lse] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
      const dO = Array.isArray(dy) ? (dy[0] as tf.Tensor) : dy;
      // Computed here, not inside the per-input closures: tfjs runs each closure in its own tidy,
      // which would dispose the other two results.
      const [dq, dk, dv] = tf.engine().runKernel(ATTENTION_GRAD_KERNEL, { q, k, v, keyMask, o, lse, dy: dO }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor[];
      return {
        q: () => dq as tf.Tensor,
        k: () => dk as tf.Tensor,
        v: () => dv as tf.Tensor,
        keyMask: () => tf.zerosLike(keyMask),
      };
    },
  });
}

/** Whether the fused kernels are registered on the current backend. */
export function fusedAttentionAvailable(): boolean {
  const b = tf.getBackend();
  return tf.getKernel(ATTENTION_KERNEL, b) !== undefined && tf.getKernel(ATTENTION_GRAD_KERNEL, b) !== undefined;
}

/**
 * q [B,H,T,d], k/v [B,G,S,d], keyMask [B,S] 0/1 (or null) -> o [B,H,T,d], through the fused kernel
 * (recorded on the tape, so tf.grad works). Check `fusedAttentionAvailable()` first.
 */
export function fusedAttention(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, keyMask: tf.Tensor2D | null, attrs: FusedAttentionAttrs): tf.Tensor4D {
  return tf.tidy(() => {
    const km = keyMask ?? tf.tensor1d([], 'float32');
    const [o] = tf.engine().runKernel(ATTENTION_KERNEL, { q, k, v, keyMask: km }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor[];
    return o as tf.Tensor4D;
  });
}
