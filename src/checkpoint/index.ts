/**
 * A checkpoint directory in Hugging Face layout: `config.json` plus `model.safetensors`, or shards listed in
 * `model.safetensors.index.json`. Headers are read and validated when the checkpoint is opened; tensor data
 * is read lazily, one tensor at a time, so large checkpoints need not fit in memory twice.
 * Only safetensors and JSON are ever read: pickle-based weights (`.bin`, `.pt`, ...) are refused.
 */
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { checkConfigSizes } from '../config/bounds.js';
import { CheckpointError } from '../errors.js';
import {
  asWriteError,
  commitStagedDir,
  linkTree,
  recoverStagedDir,
  relocateWriteError,
  removeStagingLeftovers,
  stagingDirFor,
  writeJsonAtomic,
} from '../io/atomic.js';
import { parseStrictJson, StrictJsonError } from './json.js';
import { safeJoin } from './paths.js';
import {
  byteLength,
  readSafetensorsHeader,
  readTensorBytesFromHeader,
  readTensorFromHeader,
  toFloat32,
  writeSafetensors,
  type DType,
  type HostTensor,
  type SafetensorsHeader,
  type StoredTensor,
} from './safetensors.js';

export * from './safetensors.js';

export const SAFE_WEIGHTS_NAME = 'model.safetensors';
export const SAFE_WEIGHTS_INDEX_NAME = 'model.safetensors.index.json';
export const CONFIG_NAME = 'config.json';
/** Weight formats that need pickle (or other code-executing loaders): never read. */
const PICKLE_WEIGHTS = /\.(bin|pt|pth|ckpt|pkl|pickle|h5|msgpack|npz|gguf)$/i;

export interface TensorInfo {
  readonly dtype: DType;
  readonly shape: readonly number[];
  /** Absolute path of the safetensors file holding the tensor. */
  readonly file: string;
}

export interface Checkpoint {
  readonly dir: string;
  readonly configPath: string;
  /** The raw parsed config.json; the model validates it into its typed config. */
  readonly config: Readonly<Record<string, unknown>>;
  /** Sorted tensor names. */
  readonly tensorNames: readonly string[];
  /** True when the tensor is stored; use it for optional tensors such as a tied `lm_head.weight`. */
  has(name: string): boolean;
  info(name: string): TensorInfo;
  /** The tensor's raw bytes in its stored dtype. */
  loadTensor(name: string): Promise<HostTensor>;
  /** `length` raw bytes of the tensor from byte `start` of its data: tensors read in parts (over 4 GiB). */
  loadTensorBytes(name: string, start: number, length: number): Promise<Uint8Array>;
  loadFloat32(name: string): Promise<{ shape: number[]; data: Float32Array }>;
}

async function listDir(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    throw new CheckpointError(`cannot read checkpoint directory: ${(err as Error).message}`, dir, undefined, { cause: err });
  }
}

async function readConfig(configPath: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(configPath, 'utf8');
  } catch (err) {
    throw new CheckpointError(`missing or unreadable config.json: ${(err as Error).message}`, configPath, undefined, { cause: err });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new CheckpointError(`config.json is not valid JSON: ${(err as Error).message}`, configPath, undefined, { cause: err });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new CheckpointError('config.json must hold a JSON object', configPath);
  }
  // Whatever family parses it later, absurd sizes are refused here, before anything is sized from them.
  checkConfigSizes(parsed, configPath);
  return parsed as Record<string, unknown>;
}

interface ShardIndex {
  readonly weightMap: Map<string, string>;
  readonly totalSize?: number;
}

async function readShardIndex(indexPath: string): Promise<ShardIndex> {
  let text: string;
  try {
    text = await readFile(indexPath, 'utf8');
  } catch (err) {
    throw new CheckpointError(`unreadable shard index: ${(err as Error).message}`, indexPath, undefined, { cause: err });
  }
  let root;
  try {
    root = parseStrictJson(text);
  } catch (err) {
    const dup = err instanceof StrictJsonError ? err.duplicateKey : undefined;
    throw new CheckpointError(
      dup !== undefined ? `tensor listed twice in weight_map (${(err as Error).message})` : `shard index is not valid JSON: ${(err as Error).message}`,
      indexPath,
      dup,
      { cause: err },
    );
  }
  const wm = root.kind === 'object' ? root.entries.get('weight_map') : undefined;
  if (!wm || wm.kind !== 'object') throw new CheckpointError("shard index needs a 'weight_map' object", indexPath);
  const weightMap = new Map<string, string>();
  for (const [tensor, v] of wm.entries) {
    if (v.kind !== 'string') throw new CheckpointError('weight_map value must be a shard file name', indexPath, tensor);
    weightMap.set(tensor, v.value);
  }
  const meta = root.kind === 'object' ? root.entries.get('metadata') : undefined;
  const ts = meta?.kind === 'object' ? meta.entries.get('total_size') : undefined;
  const totalSize = ts?.kind === 'number' ? Number(ts.raw) : undefined;
  return totalSize === undefined ? { weightMap } : { weightMap, totalSize };
}

/** Opens and validates a checkpoint directory (every shard header is read and checked, no tensor data). */
export async function openCheckpoint(dir: string): Promise<Checkpoint> {
  const root = resolve(dir);
  // A save killed between its two renames leaves no folder under this name but both versions beside it.
  await recoverStagedDir(root);
  const files = await listDir(root);
  const configPath = join(root, CONFIG_NAME);
  const config = await readConfig(configPath);

  const headers = new Map<string, SafetensorsHeader>(); // tensor -> header of its file
  if (files.includes(SAFE_WEIGHTS_NAME)) {
    const header = await readSafetensorsHeader(join(root, SAFE_WEIGHTS_NAME));
    for (const name of header.entries.keys()) headers.set(name, header);
  } else if (files.includes(SAFE_WEIGHTS_INDEX_NAME)) {
    const indexPath = join(root, SAFE_WEIGHTS_INDEX_NAME);
    const { weightMap, totalSize } = await readShardIndex(indexPath);
    const shardNames = [...new Set(weightMap.values())].sort();
    const byShard = new Map<string, SafetensorsHeader>();
    for (const shard of shardNames) {
      const firstTensor = [...weightMap].find(([, s]) => s === shard)?.[0];
      if (!shard.endsWith('.safetensors')) {
        throw new CheckpointError(`shard '${shard}' is not a .safetensors file (refusing other formats)`, indexPath, firstTensor);
      }
      const path = safeJoin(root, shard);
      if (typeof path !== 'string') throw new CheckpointError(`unsafe shard name '${shard}': ${path.error}`, indexPath, firstTensor);
      try {
        byShard.set(shard, await readSafetensorsHeader(path));
      } catch (err) {
        const code = ((err as Error).cause as NodeJS.ErrnoException | undefined)?.code;
        if (code === 'ENOENT') throw new CheckpointError(`shard '${shard}' listed in the index is missing`, path, firstTensor, { cause: err });
        throw err;
      }
    }
    const owner = new Map<string, string>(); // tensor -> shard that actually holds it
    for (const [shard, header] of byShard) {
      for (const name of header.entries.keys()) {
        const other = owner.get(name);
        if (other !== undefined) throw new CheckpointError(`tensor is stored in two shards ('${other}' and '${shard}')`, header.file, name);
        owner.set(name, shard);
      }
    }
    let stored = 0;
    for (const [name, shard] of weightMap) {
      const header = byShard.get(shard) as SafetensorsHeader;
      const e = header.entries.get(name);
      if (!e) {
        const actual = owner.get(name);
        throw new CheckpointError(
          `listed in the index for shard '${shard}' but absent from it${actual ? ` (found in '${actual}')` : ''}`,
          header.file,
          name,
        );
      }
      stored += e.end - e.begin;
      headers.set(name, header);
    }
    for (const [name, shard] of owner) {
      if (!weightMap.has(name)) throw new CheckpointError(`tensor in shard '${shard}' is not listed in the index`, byShard.get(shard)?.file, name);
    }
    if (totalSize !== undefined && totalSize !== stored) {
      process.emitWarning(`${indexPath}: metadata.total_size ${totalSize} != ${stored} bytes of tensors (ignored)`, 'CheckpointWarning');
    }
  } else {
    const pickled = files.filter((f) => PICKLE_WEIGHTS.test(f));
    if (pickled.length) {
      throw new CheckpointError(
        `only pickle-based weights found (${pickled.join(', ')}); refusing to load them. Convert to safetensors first.`,
        root,
      );
    }
    throw new CheckpointError(`no ${SAFE_WEIGHTS_NAME} or ${SAFE_WEIGHTS_INDEX_NAME}`, root);
  }

  const tensorNames = [...headers.keys()].sort();
  const headerOf = (name: string): SafetensorsHeader => {
    const h = headers.get(name);
    if (!h) throw new CheckpointError('tensor not in checkpoint', root, name);
    return h;
  };
  const loadTensor = (name: string): Promise<HostTensor> => readTensorFromHeader(headerOf(name), name);
  return {
    dir: root,
    configPath,
    config,
    tensorNames,
    has: (name) => headers.has(name),
    info(name) {
      const h = headerOf(name);
      const e = h.entries.get(name) as { dtype: DType; shape: readonly number[] };
      return { dtype: e.dtype, shape: e.shape, file: h.file };
    },
    loadTensor,
    loadTensorBytes: (name, start, length) => readTensorBytesFromHeader(headerOf(name), name, start, length),
    async loadFloat32(name) {
      const t = await loadTensor(name);
      try {
        return { shape: [...t.shape], data: toFloat32(t, name) };
      } catch (err) {
        throw new CheckpointError((err as Error).message, headerOf(name).file, name, { cause: err });
      }
    },
  };
}

function shardName(i: number, n: number): string {
  const pad = (k: number): string => String(k).padStart(5, '0');
  return `model-${pad(i)}-of-${pad(n)}.safetensors`;
}

const isWeightsFile = (f: string): boolean =>
  f === SAFE_WEIGHTS_NAME || f === SAFE_WEIGHTS_INDEX_NAME || /^model-\d{5}-of-\d{5}\.safetensors$/.test(f);

/**
 * Writes `config.json` and the weights (one file, or shards + index when they exceed `maxShardBytes`) as one
 * unit: everything goes to a staging folder beside `dir`, other files already in `dir` (tokenizer, heads) are
 * hard-linked over, and the staging folder replaces `dir` by rename. A reader sees the old or the new save,
 * never a mix; the old one is deleted only after the new one is in place. Disk full is a DiskFullError naming
 * the file, with `dir` untouched. One writer per folder.
 */
export async function saveCheckpoint(
  dir: string,
  opts: { config: Record<string, unknown>; tensors: ReadonlyMap<string, StoredTensor>; maxShardBytes?: number; metadata?: Record<string, string> },
): Promise<void> {
  const root = resolve(dir);
  const metadata = opts.metadata ?? { format: 'pt' };
  const names = [...opts.tensors.keys()].sort();
  // Greedy split in name order, as transformers' `split_torch_state_dict_into_shards` does by size.
  const shards: string[][] = [[]];
  let current = 0;
  let total = 0;
  for (const name of names) {
    const t = opts.tensors.get(name) as StoredTensor;
    const size = byteLength(t.dtype, t.shape, root, name);
    total += size;
    const last = shards[shards.length - 1] as string[];
    if (opts.maxShardBytes !== undefined && last.length > 0 && current + size > opts.maxShardBytes) {
      shards.push([name]);
      current = size;
    } else {
      last.push(name);
      current += size;
    }
  }
  try {
    await mkdir(dirname(root), { recursive: true });
  } catch (err) {
    throw asWriteError(err, root);
  }
  await recoverStagedDir(root);
  await removeStagingLeftovers(root);
  const staging = stagingDirFor(root);
  try {
    await mkdir(staging);
    if (shards.length === 1) {
      await writeSafetensors(join(staging, SAFE_WEIGHTS_NAME), opts.tensors, metadata);
    } else {
      const weightMap = Object.create(null) as Record<string, string>; // tensor names may be '__proto__'
      for (let i = 0; i < shards.length; i++) {
        const file = shardName(i + 1, shards.length);
        const part = new Map<string, StoredTensor>();
        for (const name of shards[i] as string[]) {
          part.set(name, opts.tensors.get(name) as StoredTensor);
          weightMap[name] = file;
        }
        await writeSafetensors(join(staging, file), part, metadata);
      }
      await writeJsonAtomic(join(staging, SAFE_WEIGHTS_INDEX_NAME), { metadata: { total_size: total }, weight_map: weightMap });
    }
    await writeJsonAtomic(join(staging, CONFIG_NAME), opts.config);
    // Files of the previous version that this save does not produce (weights of another layout excepted).
    const written = new Set(await readdir(staging));
    const existing = await readdir(root).then(() => true, () => false);
    if (existing) await linkTree(root, staging, (f) => written.has(f) || isWeightsFile(f));
    await commitStagedDir(staging, root);
  } catch (err) {
    await rm(staging, { recursive: true, force: true }).catch(() => {});
    throw relocateWriteError(asWriteError(err, root), staging, root);
  }
}
