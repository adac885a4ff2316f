/**
 * Frozen lookup tables kept on the host in their stored dtype, read by row gather only.
 *
 * Why: Gemma 4's per-layer-embedding (PLE) table `embed_tokens_per_layer.weight` is
 * [vocab_per_layer, L*P] = [262144, 8960] in E2B: 2.35 G values, 9.4 GB in float32 and 4.7 GB as
 * published (BF16). One JS typed array holds at most 4 GiB (Node 20), so it cannot be one tfjs tensor,
 * and widening it would take half of this machine's memory. HF only ever indexes it by token id (an
 * embedding lookup, never a matmul), so it stays as stored, split into row chunks each well under
 * 4 GiB, and a forward gathers the batch's rows into a small float32 tensor [B, T, L*P]. The table is
 * not a tf.Variable: nothing trains it and no optimizer or gradient sees it (frozen); its bytes are the
 * checkpoint's, so a save writes them back unchanged. One path for every size: a tiny test model's table
 * goes through the same gather (one chunk), so the parity tests cover it.
 */
import * as tf from '@tensorflow/tfjs-core';
import { f32ToBf16Bits, f32ToF16Bits, toFloat32, type Checkpoint, type ChunkedHostTensor } from '../checkpoint/index.js';
import { CheckpointError } from '../errors.js';

/** Dtypes a host table keeps as stored (the float formats a checkpoint's embedding table comes in). */
export type TableDtype = 'F32' | 'BF16' | 'F16';

const BYTES: Readonly<Record<TableDtype, number>> = { F32: 4, BF16: 2, F16: 2 };

/** Default chunk: 1 GiB, a quarter of the typed-array limit, so no single allocation is huge. */
export const DEFAULT_TABLE_CHUNK_BYTES = 2 ** 30;

export function isTableDtype(d: string): d is TableDtype {
  return d === 'F32' || d === 'BF16' || d === 'F16';
}

/** Rows per chunk for rows of `rowBytes` under `maxChunkBytes` (at least one row, even if a row is larger). */
export function rowsPerChunk(rows: number, rowBytes: number, maxChunkBytes: number): number {
  return Math.max(1, Math.min(rows, Math.floor(maxChunkBytes / rowBytes)));
}

/** A [rows, cols] table in `dtype`, rows split into chunks of `rowsPerChunk` rows (the last may be shorter). */
export class HostTable {
  /** Typed views of the chunks (F32: Float32Array; BF16/F16: Uint16Array). */
  private readonly views: readonly (Float32Array | Uint16Array)[];

  constructor(
    /** HF tensor name (errors name it). */
    readonly name: string,
    readonly dtype: TableDtype,
    readonly shape: readonly [number, number],
    readonly chunks: readonly Uint8Array[],
    readonly rowsPerChunk: number,
  ) {
    const [rows, cols] = shape;
    if (!Number.isSafeInteger(rowsPerChunk) || rowsPerChunk < 1) throw new CheckpointError(`bad rows per chunk ${rowsPerChunk}`, undefined, name);
    const want = Math.ceil(rows / rowsPerChunk);
    if (chunks.length !== want) throw new CheckpointError(`${chunks.length} chunks for ${rows} rows of ${rowsPerChunk}, expected ${want}`, undefined, name);
    const rowBytes = cols * BYTES[dtype];
    this.views = chunks.map((c, i) => {
      const n = Math.min(rowsPerChunk, rows - i * rowsPerChunk);
      if (c.length !== n * rowBytes) throw new CheckpointError(`chunk ${i} has ${c.length} bytes, expected ${n * rowBytes} (${n} rows)`, undefined, name);
      // Views need element alignment; a chunk that is a misaligned slice is copied once.
      const a = c.byteOffset % BYTES[dtype] === 0 ? c : c.slice();
      return dtype === 'F32' ? new Float32Array(a.buffer, a.byteOffset, n * cols) : new Uint16Array(a.buffer, a.byteOffset, n * cols);
    });
  }

  get size(): number {
    return this.shape[0] * this.shape[1];
  }

  /** Bytes held (as stored). */
  get byteLength(): number {
    return this.chunks.reduce((a, c) => a + c.length, 0);
  }

  /** Rows `ids` as float32, row after row: [ids.length * cols]. Exact (BF16/F16 widen exactly). */
  gather(ids: ArrayLike<number>): Float32Array {
    const [rows, cols] = this.shape;
    const out = new Float32Array(ids.length * cols);
    const outBits = new Uint32Array(out.buffer);
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i] as number;
      if (!Number.isInteger(id) || id < 0 || id >= rows) throw new RangeError(`${this.name}: row ${id} is not in [0, ${rows})`);
      const chunk = Math.floor(id / this.rowsPerChunk);
      const start = (id - chunk * this.rowsPerChunk) * cols;
      const view = this.views[chunk] as Float32Array | Uint16Array;
      const o = i * cols;
      if (view instanceof Float32Array) out.set(view.subarray(start, start + cols), o);
      else if (this.dtype === 'BF16') for (let j = 0; j < cols; j++) outBits[o + j] = (view[start + j] as number) << 16;
      else {
        const row = new Uint8Array(view.buffer, view.byteOffset + start * 2, cols * 2);
        out.set(toFloat32({ dtype: 'F16', shape: [cols], data: row }, this.name), o);
      }
    }
    return out;
  }

  /** Rows `ids` [B][T] as a float32 tensor [B, T, cols] (a constant: no gradient reaches the table). */
  gatherTensor(ids: readonly (readonly number[])[]): tf.Tensor3D {
    const B = ids.length;
    const T = B > 0 ? (ids[0] as readonly number[]).length : 0;
    return tf.tensor3d(this.gather(ids.flat()), [B, T, this.shape[1]], 'float32');
  }

  /** The whole table as a float32 tensor [rows, cols] (e.g. a tied output projection); needs rows*cols*4 bytes. */
  toTensor(): tf.Tensor2D {
    const [rows] = this.shape;
    return tf.tensor2d(this.gather(Array.from({ length: rows }, (_, i) => i)), [...this.shape], 'float32');
  }

  /**
   * The table as a safetensors tensor in parts. Its own dtype is written byte for byte (the table is
   * frozen, so a save writes back exactly what was loaded); a float32 table saved as BF16/F16 is narrowed
   * chunk by chunk (round to nearest even). A narrow table is never widened on save: that would double it.
   */
  toStored(requested: TableDtype = this.dtype): ChunkedHostTensor {
    if (this.dtype !== 'F32' || requested === 'F32') return { dtype: this.dtype, shape: [...this.shape], parts: this.chunks };
    const conv = requested === 'BF16' ? f32ToBf16Bits : f32ToF16Bits;
    const parts = this.views.map((v) => {
      const bits = new Uint32Array(v.buffer, v.byteOffset, v.length);
      const out = new Uint16Array(v.length);
      for (let i = 0; i < v.length; i++) out[i] = conv(bits[i] as number);
      return new Uint8Array(out.buffer);
    });
    return { dtype: requested, shape: [...this.shape], parts };
  }
}

/** A float32 host array [rows, cols] -> an F32 table in chunks of at most `maxChunkBytes` (copies). */
export function hostTableFromFloat32(name: string, data: Float32Array, shape: readonly [number, number], maxChunkBytes = DEFAULT_TABLE_CHUNK_BYTES): HostTable {
  const [rows, cols] = shape;
  if (data.length !== rows * cols) throw new CheckpointError(`shape [${rows}, ${cols}] has ${rows * cols} elements, data has ${data.length}`, undefined, name);
  const per = rowsPerChunk(rows, cols * 4, maxChunkBytes);
  const chunks: Uint8Array[] = [];
  for (let r = 0; r < rows; r += per) chunks.push(new Uint8Array(data.slice(r * cols, Math.min(rows, r + per) * cols).buffer));
  return new HostTable(name, 'F32', shape, chunks, per);
}

/**
 * Streams a stored [rows, cols] tensor into a host table without widening: each chunk's raw bytes are
 * read straight from the safetensors file (so the load's transient memory is nothing beyond the table
 * itself). The shape is checked by the caller (strict loading); the dtype here.
 */
export async function loadHostTable(ckpt: Checkpoint, name: string, maxChunkBytes = DEFAULT_TABLE_CHUNK_BYTES): Promise<HostTable> {
  const info = ckpt.info(name);
  if (!isTableDtype(info.dtype)) throw new CheckpointError(`dtype ${info.dtype} cannot be kept as a host table (F32, BF16 or F16)`, info.file, name);
  if (info.shape.length !== 2) throw new CheckpointError(`expected a 2-D table, got shape [${info.shape.join(', ')}]`, info.file, name);
  const [rows, cols] = info.shape as [number, number];
  const rowBytes = cols * BYTES[info.dtype];
  const per = rowsPerChunk(rows, rowBytes, maxChunkBytes);
  const chunks: Uint8Array[] = [];
  for (let r = 0; r < rows; r += per) chunks.push(await ckpt.loadTensorBytes(name, r * rowBytes, (Math.min(rows, r + per) - r) * rowBytes));
  return new HostTable(name, info.dtype, [rows, cols], chunks, per);
}
