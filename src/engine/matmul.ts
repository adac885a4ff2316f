/**
 * Native `BatchMatMul` and `_FusedMatMul` kernels: every transpose combination, any rank >= 2,
 * numpy-style broadcasting of the batch dims on either side. One addon call per kernel: the batch
 * is passed as per-item float offsets into A and B, so broadcasting costs no copies.
 */
import type * as tf from '@tensorflow/tfjs-core';
import { BF16_KERNELS, getBf16Kernel, getComputeDtype } from './compute.js';
import type { NativeLib } from './native.js';
import type { Storage } from './storage.js';

export interface MatMulPlan {
  /** op(A) is M x K, op(B) is K x N. */
  readonly M: number;
  readonly N: number;
  readonly K: number;
  /** [...broadcast batch dims, M, N] */
  readonly outShape: number[];
  /** Float offsets of each output batch item's A and B matrices (same length = GEMM batch). */
  readonly aOffsets: Float64Array;
  readonly bOffsets: Float64Array;
  /** GEMM rows per batch item after folding (M, or batch*M when a shared B lets the batch fold into M). */
  readonly gemmM: number;
}

/** Numpy broadcast of two batch shapes; throws on a mismatch like tfjs does. */
export function broadcastShapes(a: readonly number[], b: readonly number[]): number[] {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new Error(`matMul: batch dims [${a.join(',')}] and [${b.join(',')}] do not broadcast`);
    }
    out.push(da === 1 ? db : da);
  }
  return out;
}

/** Linear batch index into `dims` for each item of `outDims` (right-aligned, size-1 dims broadcast). */
function batchIndices(dims: readonly number[], outDims: readonly number[]): Float64Array {
  const total = outDims.reduce((x, y) => x * y, 1);
  const idx = new Float64Array(total);
  const lead = outDims.length - dims.length;
  for (let o = 0; o < total; o++) {
    let rem = o;
    let lin = 0;
    let stride = 1;
    for (let d = outDims.length - 1; d >= 0; d--) {
      const coord = rem % (outDims[d] as number);
      rem = Math.floor(rem / (outDims[d] as number));
      if (d >= lead) {
        const size = dims[d - lead] as number;
        lin += (size === 1 ? 0 : coord) * stride;
        stride *= size;
      }
    }
    idx[o] = lin;
  }
  return idx;
}

export function planMatMul(
  aShape: readonly number[],
  bShape: readonly number[],
  transposeA: boolean,
  transposeB: boolean,
): MatMulPlan {
  if (aShape.length < 2 || bShape.length < 2) throw new Error(`matMul: rank < 2 ([${aShape}] x [${bShape}])`);
  const ar = aShape.length;
  const br = bShape.length;
  const M = aShape[transposeA ? ar - 1 : ar - 2] as number;
  const Ka = aShape[transposeA ? ar - 2 : ar - 1] as number;
  const Kb = bShape[transposeB ? br - 1 : br - 2] as number;
  const N = bShape[transposeB ? br - 2 : br - 1] as number;
  if (Ka !== Kb) {
    throw new Error(
      `matMul: inner dims ${Ka} and ${Kb} of [${aShape}] and [${bShape}] (transposeA=${transposeA}, transposeB=${transposeB}) differ`,
    );
  }
  const K = Ka;
  const aBatch = aShape.slice(0, -2);
  const bBatch = bShape.slice(0, -2);
  const outBatch = broadcastShapes(aBatch, bBatch);
  const ai = batchIndices(aBatch, outBatch);
  const bi = batchIndices(bBatch, outBatch);
  const batch = ai.length;
  const aOffsets = ai.map((i) => i * M * K);
  const bOffsets = bi.map((i) => i * K * N);
  const outShape = [...outBatch, M, N];
  // A shared B with untransposed, unbroadcast A: the batch is just more rows of one big GEMM.
  const bShared = bi.every((i) => i === 0);
  const aContiguous = ai.every((i, k) => i === k);
  if (batch > 1 && bShared && aContiguous && !transposeA) {
    return { M, N, K, outShape, aOffsets: new Float64Array(1), bOffsets: new Float64Array(1), gemmM: batch * M };
  }
  return { M, N, K, outShape, aOffsets, bOffsets, gemmM: M };
}

type Activation = 'linear' | 'relu' | 'relu6' | 'elu' | 'sigmoid' | 'leakyrelu' | 'prelu';

/**
 * For each row of an [..., N] output, the offset of the matching row of a tensor broadcast to it,
 * plus the column stride (0 when its last dim is 1). Bias and prelu weights use this.
 */
function broadcastRows(shape: readonly number[], outShape: readonly number[]): { rowOffset: Float64Array; colStride: number } {
  const full = broadcastShapes(shape, outShape);
  if (full.length !== outShape.length || full.some((d, i) => d !== outShape[i])) {
    throw new Error(`_FusedMatMul: [${shape.join(',')}] does not broadcast to the output [${outShape.join(',')}]`);
  }
  const rows = outShape.slice(0, -1);
  const own = shape.slice(0, -1);
  const lastDim = shape.length === 0 ? 1 : (shape[shape.length - 1] as number);
  const idx = batchIndices(own, rows);
  return { rowOffset: idx.map((i) => i * lastDim), colStride: lastDim === 1 ? 0 : 1 };
}

/** out += bias (broadcast), then the activation, in place on the [..., N] output. */
export function applyEpilogue(
  out: Float32Array,
  outShape: readonly number[],
  bias: { values: Float32Array; shape: readonly number[] } | undefined,
  activation: Activation,
  leakyreluAlpha: number,
  prelu: { values: Float32Array; shape: readonly number[] } | undefined,
): void {
  const N = outShape[outShape.length - 1] as number;
  if (bias) {
    const { rowOffset, colStride } = broadcastRows(bias.shape, outShape);
    const v = bias.values;
    for (let r = 0; r < rowOffset.length; r++) {
      const base = r * N;
      const bo = rowOffset[r] as number;
      for (let j = 0; j < N; j++) out[base + j] = (out[base + j] as number) + (v[bo + j * colStride] as number);
    }
  }
  const n = out.length;
  switch (activation) {
    case 'linear':
      return;
    case 'relu':
      for (let i = 0; i < n; i++) if ((out[i] as number) < 0) out[i] = 0;
      return;
    case 'relu6':
      for (let i = 0; i < n; i++) out[i] = Math.min(Math.max(out[i] as number, 0), 6);
      return;
    case 'elu':
      for (let i = 0; i < n; i++) if ((out[i] as number) < 0) out[i] = Math.expm1(out[i] as number);
      return;
    case 'sigmoid':
      for (let i = 0; i < n; i++) out[i] = 1 / (1 + Math.exp(-(out[i] as number)));
      return;
    case 'leakyrelu':
      for (let i = 0; i < n; i++) if ((out[i] as number) < 0) out[i] = leakyreluAlpha * (out[i] as number);
      return;
    case 'prelu': {
      if (!prelu) throw new Error('_FusedMatMul: prelu activation without preluActivationWeights');
      const { rowOffset, colStride } = broadcastRows(prelu.shape, outShape);
      const w = prelu.values;
      for (let r = 0; r < rowOffset.length; r++) {
        const base = r * N;
        const wo = rowOffset[r] as number;
        for (let j = 0; j < N; j++) {
          const x = out[base + j] as number;
          if (x < 0) out[base + j] = x * (w[wo + j * colStride] as number);
        }
      }
      return;
    }
    default:
      throw new Error(`_FusedMatMul: unknown activation '${String(activation)}'`);
  }
}

type KernelArgs = Parameters<tf.KernelFunc>[0];

function runGemm(lib: NativeLib, storage: Storage, args: KernelArgs): { info: tf.TensorInfo; values: Float32Array; shape: number[] } | undefined {
  const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  const transposeA = Boolean(args.attrs?.transposeA);
  const transposeB = Boolean(args.attrs?.transposeB);
  if (a.dtype !== 'float32' || b.dtype !== 'float32') return undefined;
  const plan = planMatMul(a.shape, b.shape, transposeA, transposeB);
  const out = storage.output(args.backend, plan.outShape);
  if (out.values.length === 0) return { ...out, shape: plan.outShape };
  // Views after the output allocation: the wasm heap may have grown.
  const A = storage.read(args.backend, a);
  const B = storage.read(args.backend, b);
  if (!A || !B) throw new Error('native matMul: float32 input without float32 data');
  if (getComputeDtype() === 'bf16') {
    const path = BF16_KERNELS.indexOf(getBf16Kernel());
    lib.bgemm(transposeA, transposeB, plan.gemmM, plan.N, plan.K, A, plan.aOffsets, B, plan.bOffsets, out.values, path);
  } else {
    lib.sgemm(transposeA, transposeB, plan.gemmM, plan.N, plan.K, A, plan.aOffsets, B, plan.bOffsets, out.values);
  }
  return { ...out, shape: plan.outShape };
}

export function makeBatchMatMul(lib: NativeLib, storage: Storage, stock: tf.KernelFunc | undefined): tf.KernelFunc {
  return (args) => {
    const r = runGemm(lib, storage, args);
    if (r) return r.info;
    if (!stock) throw new Error('BatchMatMul: non-float32 inputs and no stock kernel');
    return stock(args);
  };
}

/** Matmul + bias + activation; correct for batched/transposed inputs, unlike stock wasm's. */
export function makeFusedMatMul(lib: NativeLib, storage: Storage, stock: tf.KernelFunc | undefined): tf.KernelFunc {
  return (args) => {
    const r = runGemm(lib, storage, args);
    if (!r) {
      if (!stock) throw new Error('_FusedMatMul: non-float32 inputs and no stock kernel');
      return stock(args);
    }
    const { bias, preluActivationWeights } = args.inputs as { bias?: tf.TensorInfo; preluActivationWeights?: tf.TensorInfo };
    const attrs = args.attrs ?? {};
    const activation = (attrs.activation as Activation | undefined) ?? 'linear';
    const read = (t: tf.TensorInfo | undefined, what: string) => {
      if (!t) return undefined;
      const values = storage.read(args.backend, t);
      if (!values) throw new Error(`_FusedMatMul: ${what} must be float32`);
      return { values, shape: t.shape };
    };
    // r.values is still valid: nothing was allocated since the output.
    applyEpilogue(
      r.values,
      r.shape,
      read(bias, 'bias'),
      activation,
      Number(attrs.leakyreluAlpha ?? 0.2),
      read(preluActivationWeights, 'preluActivationWeights'),
    );
    return r.info;
  };
}
