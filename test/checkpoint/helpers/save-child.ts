// Child process for the kill -9 and disk-full tests of saveCheckpoint.
//   loop DIR        saves a sharded checkpoint over and over (save k: every element = k) until killed
//   once DIR VALUE  one save with every element = VALUE; prints the error (name, file, code) as JSON, if any
import { fromFloat32, saveCheckpoint, type HostTensor } from '../../../src/checkpoint/index.js';
import { FileWriteError } from '../../../src/errors.js';

export const NAMES = ['a.weight', 'b.weight', 'c.weight', 'd.weight', 'e.weight', 'f.weight'];
export const ELEMENTS = 1 << 16; // 256 KiB per tensor in F32, one shard each

export function tensors(value: number): Map<string, HostTensor> {
  return new Map(NAMES.map((n) => [n, fromFloat32(new Float32Array(ELEMENTS).fill(value), [ELEMENTS], 'F32')]));
}

export const save = (dir: string, value: number) =>
  saveCheckpoint(dir, { config: { model_type: 'test', value }, tensors: tensors(value), maxShardBytes: ELEMENTS * 4 });

if (import.meta.url === `file://${process.argv[1]}`) {
  const [mode, dir, v] = process.argv.slice(2) as [string, string, string?];
  if (mode === 'loop') {
    for (let k = 1; ; k++) {
      await save(dir, k);
      if (k === 1) process.stdout.write('ready\n');
    }
  } else {
    try {
      await save(dir, Number(v));
      process.stdout.write(JSON.stringify({ ok: true }) + '\n');
    } catch (err) {
      const e = err as Error & { code?: string; file?: string };
      process.stdout.write(JSON.stringify({ name: e.name, typed: err instanceof FileWriteError, file: e.file, code: e.code, message: e.message }) + '\n');
    }
  }
}
