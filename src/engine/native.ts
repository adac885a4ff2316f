/**
 * Loader for the project's N-API addon (native/, built by `npm install` through node-gyp).
 * The addon works in place on Float32Array views: the JS heap (cpu backend) or the wasm heap.
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { REPO_ROOT } from '../io/paths.js';

/** Order matches `gl::Unary` in native/src/kernels.h. */
export const UNARY_OPS = ['Exp', 'Tanh', 'Neg', 'Square', 'Rsqrt', 'Log'] as const;
export type UnaryOp = (typeof UNARY_OPS)[number];
/** Order matches `gl::Binary` in native/src/kernels.h. */
export const BINARY_OPS = ['Add', 'Mul', 'Sub', 'Div'] as const;
export type BinaryOp = (typeof BINARY_OPS)[number];

export interface NativeLib {
  /**
   * C[b] (M x N, contiguous) = op(A at aOffsets[b]) * op(B at bOffsets[b]) for b < aOffsets.length;
   * op(A) is M x K, op(B) is K x N, offsets count floats. Throws RangeError on out-of-bounds extents.
   */
  sgemm(
    transposeA: boolean,
    transposeB: boolean,
    M: number,
    N: number,
    K: number,
    A: Float32Array,
    aOffsets: Float64Array,
    B: Float32Array,
    bOffsets: Float64Array,
    C: Float32Array,
  ): void;
  /**
   * As sgemm with A and B rounded to bfloat16 (nearest even, denormals to zero) and float32
   * accumulation. `path` indexes BF16_KERNELS (0 auto, 1 avx512 = vdpbf16ps, falls back to exact
   * without AVX512-BF16; 2 exact = portable, same bits). Returns the path that ran (1 or 2).
   */
  bgemm(
    transposeA: boolean,
    transposeB: boolean,
    M: number,
    N: number,
    K: number,
    A: Float32Array,
    aOffsets: Float64Array,
    B: Float32Array,
    bOffsets: Float64Array,
    C: Float32Array,
    path: number,
  ): number;
  /** Run-time CPU detection (cpuid and OS zmm support). */
  cpuFeatures(): { avx512bf16: boolean };
  /** y = f(x) elementwise; `op` indexes UNARY_OPS. */
  unary(op: number, x: Float32Array, y: Float32Array): void;
  /** c = a (op) b elementwise on equal lengths; `op` indexes BINARY_OPS. */
  binary(op: number, a: Float32Array, b: Float32Array, c: Float32Array): void;
  /**
   * c[r, j] = a[r*aRow + j*aCol] (op) b[r*bRow + j*bCol] for r < rows, j < inner (column strides 0 or 1):
   * binary ops where one side broadcasts as a scalar, a trailing block or a [..., 1] column.
   */
  binaryStrided(
    op: number,
    a: Float32Array,
    aRow: number,
    aCol: number,
    b: Float32Array,
    bRow: number,
    bCol: number,
    c: Float32Array,
    rows: number,
    inner: number,
  ): void;
  /** y = x permuted: y.shape[i] = shape[perm[i]] (rank 1..8). */
  transpose(x: Float32Array, y: Float32Array, shape: Float64Array, perm: Float64Array): void;
  /** Softmax over consecutive rows of length n. */
  softmaxRows(x: Float32Array, y: Float32Array, n: number): void;
  /** y[p, r] = sum_q x[p, q, r] (x viewed as [P, Q, R]), accumulated in double. */
  sumMiddle(x: Float32Array, y: Float32Array, P: number, Q: number, R: number): void;
  /**
   * Fused attention forward: q [B,H,T,d], k/v [B,G,S,d] -> o [B,H,T,d] and lse [B,H,T] (log-sum-exp
   * of each row's logits, +Infinity for a row that sees no key). dims = [B, H, G, T, S, d, causal 0/1,
   * window (0 = none), queryOffset]; keyMask: B*S 0/1 values or empty (every key); cap <= 0: no softcap.
   */
  attention(
    q: Float32Array,
    k: Float32Array,
    v: Float32Array,
    keyMask: Float32Array,
    o: Float32Array,
    lse: Float32Array,
    dims: Float64Array,
    scale: number,
    cap: number,
  ): void;
  /** Gradients of `attention` given its outputs and dO: writes dq [B,H,T,d], dk and dv [B,G,S,d]. */
  attentionBackward(
    q: Float32Array,
    k: Float32Array,
    v: Float32Array,
    keyMask: Float32Array,
    o: Float32Array,
    lse: Float32Array,
    dO: Float32Array,
    dq: Float32Array,
    dk: Float32Array,
    dv: Float32Array,
    dims: Float64Array,
    scale: number,
    cap: number,
  ): void;
  /** RMSNorm over rows of length D: y = x * rstd * (1 + w); writes rstd [rows]. */
  rmsNorm(x: Float32Array, w: Float32Array, y: Float32Array, rstd: Float32Array, D: number, eps: number): void;
  rmsNormBackward(x: Float32Array, w: Float32Array, rstd: Float32Array, dy: Float32Array, dx: Float32Array, dw: Float32Array, D: number): void;
  /** h = gelu_tanh(gate) * up */
  geglu(gate: Float32Array, up: Float32Array, h: Float32Array): void;
  gegluBackward(gate: Float32Array, up: Float32Array, dh: Float32Array, dgate: Float32Array, dup: Float32Array): void;
  /** y = x * cos + sign * rotate_half(x) * sin, x [rows, T, K], cos/sin [T, K]; sign -1 is the backward. */
  rope(x: Float32Array, cos: Float32Array, sin: Float32Array, y: Float32Array, T: number, K: number, sign: number): void;
  /** In-place AdamW over a parameter group; hyper = [beta1, beta2, eps, decay factor, stepSize, sqrt(bias correction 2), 1 - beta1, 1 - beta2]. */
  adamw(params: Float32Array[], grads: Float32Array[], m: Float32Array[], v: Float32Array[], hyper: Float64Array): void;
  /** Sets the OpenMP thread count of later kernel calls. */
  setThreads(n: number): void;
  /** OpenMP threads the kernels use. */
  threads(): number;
  /** Returns free malloc memory to the OS (glibc malloc_trim); true when some was released. */
  trim(): boolean;
}

export const NATIVE_ADDON_PATH = join(REPO_ROOT, 'native', 'build', 'Release', 'gemma_lab_native.node');

/** Loads the addon; throws (with the loader's reason) when it is missing or unloadable. */
export function loadNativeAddon(path: string = NATIVE_ADDON_PATH): NativeLib {
  // Idle OpenMP workers must sleep, not spin: a spinning worker steals the core that node's own
  // threads (and everyone else on a shared box) need, which made small GEMMs up to 20x slower.
  // libgomp reads this when the addon loads it, so it must be set first.
  process.env.OMP_WAIT_POLICY ??= 'passive';
  const lib = createRequire(import.meta.url)(path) as Partial<NativeLib>;
  for (const fn of ['sgemm', 'bgemm', 'cpuFeatures', 'unary', 'binary', 'binaryStrided', 'transpose', 'softmaxRows', 'sumMiddle', 'attention', 'attentionBackward', 'rmsNorm', 'rmsNormBackward', 'geglu', 'gegluBackward', 'rope', 'adamw', 'setThreads', 'threads', 'trim'] as const) {
    if (typeof lib[fn] !== 'function') throw new Error(`${path}: addon lacks '${fn}' (stale build? run npm install)`);
  }
  return lib as NativeLib;
}
