/**
 * Float64 references for the engine kernel tests, written independently of src/engine: plain
 * loops over multi-indices, no shared planning code.
 */
import { Rng } from '../../src/rng/index.js';

export interface F64Tensor {
  readonly shape: number[];
  readonly data: Float64Array;
}

export const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

export function randomTensor(rng: Rng, shape: number[], scale = 1): F64Tensor {
  const data = new Float64Array(size(shape));
  // Round through float32 so the reference sees exactly what the kernel sees.
  for (let i = 0; i < data.length; i++) data[i] = Math.fround(rng.normal() * scale);
  return { shape, data };
}

/** Coordinates of flat index `i` in `shape` (row-major). */
export function unravel(i: number, shape: readonly number[]): number[] {
  const c = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    c[d] = i % (shape[d] as number);
    i = Math.floor(i / (shape[d] as number));
  }
  return c;
}

/** Flat index in `shape` of the output coordinate `coord` under numpy broadcasting (right-aligned). */
export function broadcastIndex(coord: readonly number[], shape: readonly number[]): number {
  let idx = 0;
  const lead = coord.length - shape.length;
  for (let d = 0; d < shape.length; d++) {
    const n = shape[d] as number;
    idx = idx * n + (n === 1 ? 0 : (coord[lead + d] as number));
  }
  return idx;
}

export function broadcastShape(a: readonly number[], b: readonly number[]): number[] {
  const r = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < r; i++) {
    const x = a[a.length - r + i] ?? 1;
    const y = b[b.length - r + i] ?? 1;
    out.push(Math.max(x, y));
  }
  return out;
}

export interface MatMulRef {
  readonly out: F64Tensor;
  /** Per output element, sum_k |a_ik * b_kj|: the scale float32 rounding error is relative to. */
  readonly absScale: number;
}

/** out[..., i, j] = sum_k op(A)[..., i, k] op(B)[..., k, j] with broadcast batch dims. */
export function matMulRef(a: F64Tensor, b: F64Tensor, tA: boolean, tB: boolean): MatMulRef {
  const ar = a.shape.length;
  const br = b.shape.length;
  const M = a.shape[tA ? ar - 1 : ar - 2] as number;
  const K = a.shape[tA ? ar - 2 : ar - 1] as number;
  const N = b.shape[tB ? br - 2 : br - 1] as number;
  const aBatch = a.shape.slice(0, -2);
  const bBatch = b.shape.slice(0, -2);
  const outBatch = broadcastShape(aBatch, bBatch);
  const out = new Float64Array(size(outBatch) * M * N);
  let absScale = 0;
  for (let o = 0; o < size(outBatch); o++) {
    const coord = unravel(o, outBatch);
    const ab = broadcastIndex(coord, aBatch) * M * K;
    const bb = broadcastIndex(coord, bBatch) * K * N;
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        let s = 0;
        let abs = 0;
        for (let k = 0; k < K; k++) {
          const x = (a.data[ab + (tA ? k * M + i : i * K + k)] as number) * (b.data[bb + (tB ? j * K + k : k * N + j)] as number);
          s += x;
          abs += Math.abs(x);
        }
        out[(o * M + i) * N + j] = s;
        if (abs > absScale) absScale = abs;
      }
    }
  }
  return { out: { shape: [...outBatch, M, N], data: out }, absScale };
}

/** Sums a broadcast-shaped gradient back onto `shape` (what d(broadcast)/dx does). */
export function reduceToShape(g: F64Tensor, shape: readonly number[]): F64Tensor {
  const out = new Float64Array(size(shape));
  for (let i = 0; i < g.data.length; i++) out[broadcastIndex(unravel(i, g.shape), shape)]! += g.data[i] as number;
  return { shape: [...shape], data: out };
}

/** Swaps the last two axes. */
export function transposeLast(t: F64Tensor): F64Tensor {
  const r = t.shape.length;
  const R = t.shape[r - 2] as number;
  const C = t.shape[r - 1] as number;
  const out = new Float64Array(t.data.length);
  for (let b = 0; b < t.data.length / (R * C); b++)
    for (let i = 0; i < R; i++) for (let j = 0; j < C; j++) out[b * R * C + j * R + i] = t.data[b * R * C + i * C + j] as number;
  return { shape: [...t.shape.slice(0, -2), C, R], data: out };
}
