/**
 * Training checkpoints: one directory per save, written as `.ckpt-N.tmp-<pid>/`, manifest (sha256 per file)
 * written last, then renamed to `ckpt-N/` and older ones pruned (reliability.md §3.2). Resume takes the
 * newest directory whose manifest verifies; temps and damaged ones are skipped.
 *
 * Tensors are stored as float32 safetensors. (A minimal F32-only codec lives here until the project's
 * src/checkpoint safetensors writer lands; files it writes are standard safetensors.)
 */
import { createHash } from 'node:crypto';
import { mkdir, open, readFile, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { CheckpointError, TrainingError } from '../errors.js';
import { writeFileAtomic } from '../io/atomic.js';

/** safetensors bytes for float32 tensors (header: JSON with dtype/shape/data_offsets, 8-byte aligned). */
export function encodeF32Safetensors(tensors: ReadonlyMap<string, { shape: readonly number[]; data: Float32Array }>): Uint8Array {
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const [name, t] of tensors) {
    header[name] = { dtype: 'F32', shape: [...t.shape], data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
  const hdr = Buffer.from(json, 'utf8');
  const out = new Uint8Array(8 + hdr.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(hdr.length), true);
  out.set(hdr, 8);
  let at = 8 + hdr.length;
  for (const t of tensors.values()) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
    at += t.data.byteLength;
  }
  return out;
}

/** Reads what encodeF32Safetensors wrote (F32 only); errors name the file and tensor. */
export function decodeF32Safetensors(bytes: Uint8Array, file: string): Map<string, { shape: number[]; data: Float32Array }> {
  if (bytes.length < 8) throw new CheckpointError('file shorter than the 8-byte header length', file);
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  if (8 + n > bytes.length) throw new CheckpointError(`header length ${n} exceeds file size ${bytes.length}`, file);
  const header = JSON.parse(Buffer.from(bytes.subarray(8, 8 + n)).toString('utf8')) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  const base = 8 + n;
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    if (info.dtype !== 'F32') throw new CheckpointError(`dtype ${info.dtype} (training checkpoints are F32)`, file, name);
    const [a, b] = info.data_offsets;
    const count = info.shape.reduce((x, y) => x * y, 1);
    if (b - a !== count * 4 || base + b > bytes.length) throw new CheckpointError(`data_offsets [${a}, ${b}] do not fit shape [${info.shape}]`, file, name);
    // Copy (Buffer#slice is a view, and the offset may be unaligned for a Float32Array).
    const data = new Float32Array(Uint8Array.prototype.slice.call(bytes, base + a, base + b).buffer);
    out.set(name, { shape: info.shape, data });
  }
  return out;
}

export async function tensorsToSafetensors(tensors: ReadonlyMap<string, tf.Tensor>): Promise<Uint8Array> {
  const plain = new Map<string, { shape: readonly number[]; data: Float32Array }>();
  for (const [name, t] of tensors) plain.set(name, { shape: t.shape, data: (await t.data()) as Float32Array });
  return encodeF32Safetensors(plain);
}

export interface CheckpointContents {
  /** File name -> bytes (safetensors or JSON). */
  readonly files: ReadonlyMap<string, Uint8Array | string>;
}

interface Manifest {
  readonly step: number;
  readonly files: Record<string, { sha256: string; bytes: number }>;
}

const sha256 = (b: Uint8Array | string) => createHash('sha256').update(b).digest('hex');
const ckptName = (step: number) => `ckpt-${String(step).padStart(8, '0')}`;

/**
 * Writes `dir/ckpt-<step>/` atomically and keeps the newest `keep` checkpoints.
 * Returns the checkpoint directory.
 */
export async function writeCheckpointDir(dir: string, step: number, contents: CheckpointContents, keep = 2): Promise<string> {
  await mkdir(dir, { recursive: true });
  const final = join(dir, ckptName(step));
  const tmp = join(dir, `.${ckptName(step)}.tmp-${process.pid}`);
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp);
  const files: Manifest['files'] = {};
  for (const [name, data] of contents.files) {
    const fh = await open(join(tmp, name), 'w');
    await fh.writeFile(data);
    await fh.sync();
    await fh.close();
    files[name] = { sha256: sha256(data), bytes: typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength };
  }
  // The manifest goes last: a directory without one is by definition incomplete.
  await writeFileAtomic(join(tmp, 'manifest.json'), JSON.stringify({ step, files } satisfies Manifest, null, 2) + '\n');
  await rm(final, { recursive: true, force: true });
  await rename(tmp, final);
  await prune(dir, keep);
  return final;
}

async function listCheckpoints(dir: string): Promise<{ step: number; path: string }[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  return names
    .map((n) => /^ckpt-(\d+)$/.exec(n))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ step: Number(m[1]), path: join(dir, m[0]) }))
    .sort((a, b) => b.step - a.step);
}

async function prune(dir: string, keep: number): Promise<void> {
  const all = await listCheckpoints(dir);
  for (const c of all.slice(Math.max(1, keep))) await rm(c.path, { recursive: true, force: true });
}

/** Reads and verifies one checkpoint directory; throws CheckpointError naming the bad file. */
export async function readCheckpointDir(path: string): Promise<{ step: number; files: Map<string, Uint8Array> }> {
  const manifestPath = join(path, 'manifest.json');
  const raw = await readFile(manifestPath, 'utf8').catch(() => {
    throw new CheckpointError('missing manifest.json (incomplete checkpoint)', manifestPath);
  });
  let manifest: Manifest;
  try {
    manifest = JSON.parse(raw) as Manifest;
  } catch (err) {
    throw new CheckpointError('manifest.json is not valid JSON', manifestPath, undefined, { cause: err });
  }
  const files = new Map<string, Uint8Array>();
  for (const [name, want] of Object.entries(manifest.files)) {
    const file = join(path, name);
    const bytes = await readFile(file).catch(() => {
      throw new CheckpointError('listed in manifest.json but missing', file);
    });
    if (sha256(bytes) !== want.sha256) throw new CheckpointError('sha256 does not match manifest.json', file);
    files.set(name, bytes);
  }
  return { step: manifest.step, files };
}

/**
 * The newest checkpoint in `dir` that verifies. Damaged newer ones are skipped (listed in `skipped`).
 * Throws TrainingError "no valid checkpoint" when there is none.
 */
export async function latestCheckpoint(dir: string): Promise<{ path: string; step: number; files: Map<string, Uint8Array>; skipped: string[] }> {
  const skipped: string[] = [];
  for (const c of await listCheckpoints(dir)) {
    try {
      const got = await readCheckpointDir(c.path);
      return { path: c.path, ...got, skipped };
    } catch (err) {
      if (!(err instanceof CheckpointError)) throw err;
      skipped.push(err.message);
    }
  }
  throw new TrainingError(`no valid checkpoint in ${dir}${skipped.length ? ` (skipped: ${skipped.join('; ')})` : ''}`);
}

/** Write a single tensors file atomically (e.g. the encoder head), as safetensors. */
export async function saveTensors(path: string, tensors: ReadonlyMap<string, tf.Tensor>): Promise<void> {
  await writeFileAtomic(path, await tensorsToSafetensors(tensors));
}

export async function loadTensorsFile(path: string): Promise<Map<string, { shape: number[]; data: Float32Array }>> {
  return decodeF32Safetensors(await readFile(path).catch((err: unknown) => {
    throw new CheckpointError('cannot read file', path, undefined, { cause: err });
  }), path);
}
