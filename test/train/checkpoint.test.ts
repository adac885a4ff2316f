/**
 * Training checkpoints under faults (issue 14 cases 6 and 8): a kill in the middle of pruning leaves no
 * half-deleted `ckpt-N` visible (pruning renames before deleting); a full disk is a typed error naming the
 * file, with the previous checkpoint intact and no staging folder left.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { latestCheckpoint, readCheckpointDir, writeCheckpointDir } from '../../src/train/checkpoint.js';

const CHILD = join(import.meta.dirname, 'helpers', 'ckpt-child.ts');
const child = (args: string[], prefix: string[] = []) => {
  const all = [...prefix, process.execPath, '--import', 'tsx', CHILD, ...args];
  return spawnSync(all[0]!, all.slice(1), { encoding: 'utf8', timeout: 60_000 });
};

test('kill -9 in the middle of pruning: every visible ckpt-N is complete; the leftover is hidden and cleaned later', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'gl-prune-'));
  try {
    const r = child(['prune-kill', dir]);
    assert.equal(r.signal, 'SIGKILL', `the child was killed while pruning: ${r.stdout}${r.stderr}`);
    const visible = (await readdir(dir)).filter((n) => /^ckpt-\d+$/.test(n)).sort();
    assert.deepEqual(visible, ['ckpt-00000002', 'ckpt-00000003']);
    for (const n of visible) assert.equal((await readCheckpointDir(join(dir, n))).step, Number(n.slice(5)), `${n} verifies`);
    assert.equal((await latestCheckpoint(dir)).step, 3);
    // The next save (and prune) removes the hidden half-deleted folder.
    await writeCheckpointDir(dir, 4, { files: new Map([['trainer_state.json', '{"step":4}']]) }, 2);
    assert.deepEqual((await readdir(dir)).sort(), ['ckpt-00000003', 'ckpt-00000004']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('file-size limit hit while saving a training checkpoint: DiskFullError naming the file; previous one intact', { skip: spawnSync('prlimit', ['--version']).status !== 0 && 'no prlimit' }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'gl-ckfull-'));
  try {
    assert.deepEqual(JSON.parse(child(['once', dir, '1', '4096']).stdout), { ok: true });
    const before = await readCheckpointDir(join(dir, 'ckpt-00000001'));
    const r = child(['once', dir, '2', String(1 << 20)], ['prlimit', `--fsize=${256 * 1024}`]);
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { name: string; typed: boolean; file: string; code: string; message: string };
    assert.equal(out.name, 'DiskFullError', r.stdout);
    assert.equal(out.code, 'EFBIG');
    assert.equal(out.file, join(dir, 'ckpt-00000002', 'model.safetensors'));
    assert.match(out.message, /ckpt-00000002\/model\.safetensors: file too large/);
    assert.deepEqual(await readdir(dir), ['ckpt-00000001'], 'no staging folder left, nothing new visible');
    const after = await readCheckpointDir(join(dir, 'ckpt-00000001'));
    assert.deepEqual(after, before);
    assert.equal((await latestCheckpoint(dir)).step, 1);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('re-saving the same step replaces it by rename; the previous copy is never deleted first', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'gl-same-'));
  try {
    await writeCheckpointDir(dir, 5, { files: new Map([['trainer_state.json', '{"v":1}']]) }, 2);
    await writeCheckpointDir(dir, 5, { files: new Map([['trainer_state.json', '{"v":2}']]) }, 2);
    const ck = await latestCheckpoint(dir);
    assert.equal(Buffer.from(ck.files.get('trainer_state.json')!).toString(), '{"v":2}');
    assert.deepEqual(await readdir(dir), ['ckpt-00000005']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
