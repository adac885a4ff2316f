/**
 * Training checkpoints: one directory per save, written as `.ckpt-N.staging-<id>/`, manifest (sha256 per file)
 * written last, then renamed to `ckpt-N/` and older ones pruned (docs/reliability.md). Pruning renames a
 * folder to a hidden trash name before deleting it, so a kill never leaves a half-deleted `ckpt-N` visible.
 * Resume takes the newest directory whose manifest verifies; hidden leftovers and damaged ones are skipped.
 * A full disk is a DiskFullError naming the file; the previous checkpoints are untouched.
 *
 * Tensors are stored as float32 safetensors through src/checkpoint's serializer and validating parser.
 */
import { createHash } from 'node:crypto';
import { mkdir, open, readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { CheckpointError, TrainingError } from '../errors.js';
import { parseSafetensors, serializeSafetensors, type HostTensor } from '../checkpoint/safetensors.js';
import {
  asWriteError,
  commitStagedDir,
  recoverStagedDir,
  relocateWriteError,
  removeDirByRename,
  removeStagingLeftovers,
  stagingDirFor,
  writeFileAtomic,
} from '../io/atomic.js';

/** float32 tensors -> safetensors bytes (src/checkpoint's serializer). */
export async function tensorsToSafetensors(tensors: ReadonlyMap<string, tf.Tensor>): Promise<Uint8Array> {
  const host = new Map<string, HostTensor>();
  for (const [name, t] of tensors) {
    const f = (await t.data()) as Float32Array;
    host.set(name, { dtype: 'F32', shape: t.shape, data: new Uint8Array(f.buffer, f.byteOffset, f.byteLength) });
  }
  return Buffer.concat(serializeSafetensors(host));
}

/** safetensors bytes -> float32 arrays (validated by src/checkpoint's parser; training checkpoints are F32). */
export function decodeF32Safetensors(bytes: Uint8Array, file: string): Map<string, { shape: number[]; data: Float32Array }> {
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [name, t] of parseSafetensors(bytes, file).tensors) {
    if (t.dtype !== 'F32') throw new CheckpointError(`dtype ${t.dtype} (training checkpoints are F32)`, file, name);
    // Copy: the parser may hand back a view at an offset a Float32Array cannot start at.
    out.set(name, { shape: [...t.shape], data: new Float32Array(Uint8Array.prototype.slice.call(t.data).buffer) });
  }
  return out;
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
  const final = join(dir, ckptName(step));
  try {
    await mkdir(dir, { recursive: true });
  } catch (err) {
    throw asWriteError(err, dir);
  }
  await removeStagingLeftovers(final);
  const tmp = stagingDirFor(final);
  try {
    await mkdir(tmp);
    const files: Manifest['files'] = {};
    for (const [name, data] of contents.files) {
      const fh = await open(join(tmp, name), 'wx');
      try {
        const bytes = typeof data === 'string' ? Buffer.from(data) : data;
        // A file-size limit or a full disk first shortens a write: loop until every byte is written.
        for (let off = 0; off < bytes.byteLength; ) {
          const { bytesWritten } = await fh.write(bytes, off, bytes.byteLength - off);
          if (bytesWritten <= 0) throw Object.assign(new Error('write made no progress'), { code: 'ENOSPC', path: join(tmp, name) });
          off += bytesWritten;
        }
        await fh.sync();
      } catch (err) {
        throw asWriteError(err, join(tmp, name));
      } finally {
        await fh.close();
      }
      files[name] = { sha256: sha256(data), bytes: typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength };
    }
    // The manifest goes last: a directory without one is by definition incomplete.
    await writeFileAtomic(join(tmp, 'manifest.json'), JSON.stringify({ step, files } satisfies Manifest, null, 2) + '\n');
    // Replaces an existing ckpt-N (same step saved again) by rename; the old copy is deleted only afterwards.
    await commitStagedDir(tmp, final);
  } catch (err) {
    await removeDirByRename(tmp).catch(() => {});
    throw relocateWriteError(asWriteError(err, final), tmp, final);
  }
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

/**
 * Keeps the newest `keep` checkpoints (each removed by rename-then-delete) and deletes hidden leftovers of
 * killed saves and prunes (one writer per dir).
 */
async function prune(dir: string, keep: number): Promise<void> {
  const all = await listCheckpoints(dir);
  for (const c of all.slice(Math.max(1, keep))) await removeDirByRename(c.path);
  for (const name of await readdir(dir)) {
    const m = /^\.(ckpt-\d+)\.(staging|old|trash)-/.exec(name);
    if (m) await removeStagingLeftovers(join(dir, m[1] as string));
  }
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
  // A save killed between its two renames (same step saved again) left ckpt-N missing: finish that swap.
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const m = /^\.(ckpt-\d+)\.old-/.exec(name);
    if (m) await recoverStagedDir(join(dir, m[1] as string));
  }
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
