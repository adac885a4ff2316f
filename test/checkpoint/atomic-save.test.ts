/**
 * saveCheckpoint writes a whole folder or nothing (issue 14 cases 5 and 7): the new version is built in a
 * staging folder beside the target and swapped in by rename; the previous version stays until the new one is
 * complete; a loader ignores staging leftovers and finishes a swap a kill interrupted; disk full is a typed
 * error naming the file, with the previous checkpoint intact.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cp, mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openCheckpoint } from '../../src/checkpoint/index.js';
import { Rng } from '../../src/rng/index.js';
import { NAMES, ELEMENTS, save } from './helpers/save-child.js';

const CHILD = join(import.meta.dirname, 'helpers', 'save-child.ts');

/** Opens `dir` and returns the single value all its tensors hold (fails on a mix of two saves). */
async function loadValue(dir: string): Promise<number> {
  const ck = await openCheckpoint(dir);
  assert.deepEqual(ck.tensorNames, NAMES);
  const values = new Set<number>();
  for (const n of NAMES) for (const x of (await ck.loadFloat32(n)).data) values.add(x);
  assert.equal(values.size, 1, `tensors from different saves: ${[...values].join(', ')}`);
  const v = [...values][0]!;
  assert.equal(ck.config.value, v, 'config.json from the same save as the weights');
  return v;
}

async function tree(dir: string): Promise<string> {
  const sums: string[] = [];
  for (const f of (await readdir(dir)).sort()) sums.push(`${f}:${createHash('sha256').update(await readFile(join(dir, f))).digest('hex')}`);
  return sums.join('\n');
}

test('kill -9 while rewriting a sharded checkpoint (x8): the folder always loads one complete save', async () => {
  const root = await mkdtemp(join(tmpdir(), 'gl-swap-'));
  const dir = join(root, 'model');
  const rng = new Rng('swap-kill');
  try {
    for (let round = 0; round < 8; round++) {
      const child = spawn(process.execPath, ['--import', 'tsx', CHILD, 'loop', dir], { stdio: ['ignore', 'pipe', 'inherit'] });
      await new Promise<void>((r) => child.stdout.once('data', () => r()));
      await new Promise((r) => setTimeout(r, 10 + rng.int(250)));
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
      const v = await loadValue(dir);
      assert.ok(v >= 1);
      // Only the checkpoint itself is visible under its name; leftovers are hidden staging/old folders.
      assert.ok((await readdir(root)).every((n) => n === 'model' || /^\.model\.(staging|old)-/.test(n)), (await readdir(root)).join(' '));
    }
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('staging leftovers are ignored by the loader and removed by the next save; an interrupted swap is finished', async () => {
  const root = await mkdtemp(join(tmpdir(), 'gl-swap-'));
  const dir = join(root, 'model');
  try {
    await save(dir, 1);
    await writeFile(join(dir, 'tokenizer.json'), '{"kept": true}');
    // A killed writer's half-written staging folder, with a different config: never read.
    await mkdir(join(root, '.model.staging-1-dead'));
    await writeFile(join(root, '.model.staging-1-dead', 'config.json'), '{"value": 99}');
    assert.equal(await loadValue(dir), 1);

    await save(dir, 2);
    assert.equal(await loadValue(dir), 2);
    assert.deepEqual(await readdir(root), ['model'], 'leftovers removed by the writer');
    assert.equal(await readFile(join(dir, 'tokenizer.json'), 'utf8'), '{"kept": true}', 'other files carried over');

    // Killed between the two renames: the target is missing, the previous version is .old-<id>, the new one
    // (complete) is .staging-<id>. The loader finishes the swap: it sees the new save.
    const previous = join(root, 'previous');
    await cp(dir, previous, { recursive: true });
    await save(dir, 3);
    await rename(previous, join(root, '.model.old-7-abcd'));
    await rename(dir, join(root, '.model.staging-7-abcd'));
    assert.equal(await loadValue(dir), 3);
    assert.deepEqual(await readdir(root), ['model']);

    // Killed after moving the old one aside but with no staging left (cannot happen in order; defensive):
    // the previous version is put back.
    await rename(dir, join(root, '.model.old-8-abcd'));
    assert.equal(await loadValue(dir), 3);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

/** Runs one save in a child process under `prefix` (e.g. prlimit) and returns what it printed. */
function saveInChild(dir: string, value: number, prefix: string[] = []): { name?: string; typed?: boolean; file?: string; code?: string; message?: string; ok?: boolean } {
  const args = [...prefix, process.execPath, '--import', 'tsx', CHILD, 'once', dir, String(value)];
  const r = spawnSync(args[0]!, args.slice(1), { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as ReturnType<typeof saveInChild>;
}

test('file-size limit hit mid-save (EFBIG, RLIMIT_FSIZE): DiskFullError naming the shard; previous checkpoint intact', { skip: spawnSync('prlimit', ['--version']).status !== 0 && 'no prlimit' }, async () => {
  const root = await mkdtemp(join(tmpdir(), 'gl-efbig-'));
  const dir = join(root, 'model');
  try {
    await save(dir, 1);
    const before = await tree(dir);
    // Each shard is 256 KiB + header: a 100 KiB per-file limit fails the first shard part-way.
    const out = saveInChild(dir, 2, ['prlimit', `--fsize=${100 * 1024}`]);
    assert.equal(out.name, 'DiskFullError', JSON.stringify(out));
    assert.equal(out.typed, true);
    assert.equal(out.code, 'EFBIG');
    assert.equal(out.file, join(dir, 'model-00001-of-00006.safetensors'));
    assert.match(out.message!, /model-00001-of-00006\.safetensors: file too large .*previous version.*unchanged/);
    assert.equal(await tree(dir), before, 'previous checkpoint byte-identical');
    assert.deepEqual(await readdir(root), ['model'], 'no staging left behind');
    assert.equal(await loadValue(dir), 1);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

const canMount = process.getuid?.() === 0 && spawnSync('mount', ['--version']).status === 0;

test('disk full on a small tmpfs (ENOSPC): DiskFullError naming the file; previous checkpoint intact', { skip: !canMount && 'needs root to mount a tmpfs' }, async (t) => {
  const mnt = await mkdtemp(join(tmpdir(), 'gl-enospc-'));
  // 2 MiB: room for one checkpoint (1.5 MiB) but not for a second one beside it.
  const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mnt]);
  if (m.status !== 0) {
    t.skip(`mount failed: ${m.stderr}`);
    await rm(mnt, { recursive: true, force: true });
    return;
  }
  try {
    const dir = join(mnt, 'model');
    await save(dir, 1);
    const before = await tree(dir);
    const out = saveInChild(dir, 2);
    assert.equal(out.name, 'DiskFullError', JSON.stringify(out));
    assert.equal(out.code, 'ENOSPC');
    assert.match(out.file!, new RegExp(`^${dir}/model-0000\\d-of-00006\\.safetensors$`));
    assert.match(out.message!, /disk full \(ENOSPC\)/);
    assert.equal(await tree(dir), before);
    assert.deepEqual(await readdir(mnt), ['model']);
    assert.equal(await loadValue(dir), 1);
  } finally {
    spawnSync('umount', [mnt]);
    await rm(mnt, { recursive: true, force: true });
  }
});

test('sanity: the save writes six shards of 256 KiB', async () => {
  const root = await mkdtemp(join(tmpdir(), 'gl-swap-'));
  try {
    await save(join(root, 'm'), 5);
    const files = (await readdir(join(root, 'm'))).sort();
    assert.equal(files.filter((f) => f.endsWith('.safetensors')).length, NAMES.length);
    assert.equal((await openCheckpoint(join(root, 'm'))).info('a.weight').shape[0], ELEMENTS);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
