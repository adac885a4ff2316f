// Child process for the training-checkpoint fault tests.
//   prune-kill DIR         writes steps 1-2, then makes every later `rm` of a ckpt folder delete half of it and
//                          SIGKILL the process (a kill in the middle of pruning), and writes step 3
//   once DIR STEP BYTES    writes one checkpoint with a BYTES-long payload; prints the error as JSON, if any
import fs from 'node:fs';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { join } from 'node:path';
import { FileWriteError } from '../../../src/errors.js';

const [mode, dir, a, b] = process.argv.slice(2) as [string, string, string?, string?];
const files = (step: number, bytes = 4096) =>
  new Map<string, Uint8Array | string>([
    ['model.safetensors', new Uint8Array(bytes).fill(step % 251)],
    ['optimizer.safetensors', new Uint8Array(bytes).fill((step + 1) % 251)],
    ['trainer_state.json', JSON.stringify({ step })],
  ]);

if (mode === 'prune-kill') {
  const { writeCheckpointDir } = await import('../../../src/train/checkpoint.js');
  await writeCheckpointDir(dir, 1, { files: files(1) }, 2);
  await writeCheckpointDir(dir, 2, { files: files(2) }, 2);
  const realRm = fs.promises.rm;
  fs.promises.rm = (async (path: fs.PathLike, opts?: fs.RmOptions) => {
    const p = String(path);
    if (p.includes('ckpt-') && existsSync(p) && fs.statSync(p).isDirectory()) {
      const entries = readdirSync(p).sort();
      for (const e of entries.slice(0, Math.ceil(entries.length / 2))) rmSync(join(p, e), { recursive: true, force: true });
      process.kill(process.pid, 'SIGKILL');
      await new Promise(() => {});
    }
    return realRm(path, opts);
  }) as typeof fs.promises.rm;
  syncBuiltinESMExports();
  await writeCheckpointDir(dir, 3, { files: files(3) }, 2);
  process.stdout.write('pruned without being killed\n');
} else {
  const { writeCheckpointDir } = await import('../../../src/train/checkpoint.js');
  try {
    await writeCheckpointDir(dir, Number(a), { files: files(Number(a), Number(b)) }, 2);
    process.stdout.write(JSON.stringify({ ok: true }) + '\n');
  } catch (err) {
    const e = err as Error & { code?: string; file?: string };
    process.stdout.write(JSON.stringify({ name: e.name, typed: err instanceof FileWriteError, file: e.file, code: e.code, message: e.message }) + '\n');
  }
}
