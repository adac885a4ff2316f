import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sharedDir } from '../../src/io/paths.js';
import { CheckpointError } from '../../src/errors.js';
import {
  fromFloat32,
  openCheckpoint,
  readSafetensors,
  saveCheckpoint,
  toFloat32,
  writeSafetensors,
  type HostTensor,
} from '../../src/checkpoint/index.js';

const FIXTURE = join(sharedDir(), 'fixtures', 'gemma2-tiny');

async function withTmp(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'ckpt-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

test('opens the real fixture: config, names, info, lazy loads; tied lm_head absent', async () => {
  const ck = await openCheckpoint(FIXTURE);
  assert.equal(ck.config['model_type'], 'gemma2');
  assert.equal(ck.tensorNames.length, 24);
  assert.ok(ck.has('model.embed_tokens.weight'));
  assert.equal(ck.has('lm_head.weight'), false);
  assert.equal(ck.has('constructor'), false);
  assert.deepEqual(ck.info('model.layers.0.self_attn.q_proj.weight'), {
    dtype: 'BF16',
    shape: [64, 64],
    file: join(FIXTURE, 'model.safetensors'),
  });
  const { tensors } = await readSafetensors(join(FIXTURE, 'model.safetensors'));
  for (const name of ck.tensorNames) {
    const got = await ck.loadFloat32(name);
    const want = toFloat32(tensors.get(name) as HostTensor);
    assert.deepEqual(got.data, want, name);
  }
  await assert.rejects(ck.loadFloat32('lm_head.weight'), (e: unknown) => e instanceof CheckpointError && e.tensor === 'lm_head.weight');
});

test('sharded copy of the fixture (maxShardBytes) reads back equal, with a valid index', async () => {
  await withTmp(async (dir) => {
    const { tensors } = await readSafetensors(join(FIXTURE, 'model.safetensors'));
    const config = JSON.parse(await readFile(join(FIXTURE, 'config.json'), 'utf8')) as Record<string, unknown>;
    await saveCheckpoint(dir, { config, tensors, maxShardBytes: 20_000 });
    const files = (await readdir(dir)).sort();
    const shards = files.filter((f) => /^model-\d{5}-of-\d{5}\.safetensors$/.test(f));
    assert.ok(shards.length >= 3, files.join(' '));
    assert.ok(!files.includes('model.safetensors'));
    const index = JSON.parse(await readFile(join(dir, 'model.safetensors.index.json'), 'utf8')) as {
      metadata: { total_size: number };
      weight_map: Record<string, string>;
    };
    let total = 0;
    for (const t of tensors.values()) total += t.data.length;
    assert.equal(index.metadata.total_size, total);
    assert.deepEqual(Object.keys(index.weight_map).sort(), [...tensors.keys()].sort());
    const ck = await openCheckpoint(dir);
    assert.deepEqual(ck.tensorNames, [...tensors.keys()].sort());
    for (const [name, t] of tensors) {
      assert.equal(ck.info(name).file, join(dir, index.weight_map[name] as string));
      assert.equal(hex((await ck.loadTensor(name)).data), hex(t.data), name);
    }
    // Saving again unsharded removes the stale shards and index.
    await saveCheckpoint(dir, { config, tensors });
    assert.deepEqual((await readdir(dir)).sort(), ['config.json', 'model.safetensors']);
    assert.equal((await openCheckpoint(dir)).tensorNames.length, 24);
  });
});

/** A 2-shard checkpoint with tensors a, b (shard 1) and c (shard 2). */
async function twoShards(dir: string): Promise<void> {
  const t = (v: number): HostTensor => fromFloat32(new Float32Array([v, v]), [2], 'F32');
  await writeFile(join(dir, 'config.json'), '{"model_type":"gemma"}');
  await writeSafetensors(join(dir, 'model-00001-of-00002.safetensors'), new Map([['a', t(1)], ['b', t(2)]]));
  await writeSafetensors(join(dir, 'model-00002-of-00002.safetensors'), new Map([['c', t(3)]]));
  await writeIndex(dir, { a: 'model-00001-of-00002.safetensors', b: 'model-00001-of-00002.safetensors', c: 'model-00002-of-00002.safetensors' });
}

async function writeIndex(dir: string, weightMap: Record<string, string>, raw?: string): Promise<void> {
  await writeFile(join(dir, 'model.safetensors.index.json'), raw ?? JSON.stringify({ metadata: { total_size: 24 }, weight_map: weightMap }));
}

function rejectsWith(dir: string, pattern: RegExp, tensor?: string, fileEnds?: string) {
  return assert.rejects(openCheckpoint(dir), (e: unknown) => {
    assert.ok(e instanceof CheckpointError, String(e));
    assert.match(e.message, pattern);
    if (tensor !== undefined) assert.equal(e.tensor, tensor, e.message);
    if (fileEnds !== undefined) assert.ok(e.file?.endsWith(fileEnds), e.message);
    return true;
  });
}

test('sharded index validation: each fault names shard and tensor', async () => {
  await withTmp(async (dir) => {
    await twoShards(dir);
    assert.deepEqual((await openCheckpoint(dir)).tensorNames, ['a', 'b', 'c']);
    assert.deepEqual(Array.from((await (await openCheckpoint(dir)).loadFloat32('c')).data), [3, 3]);

    await rm(join(dir, 'model-00002-of-00002.safetensors'));
    await rejectsWith(dir, /missing/, 'c', 'model-00002-of-00002.safetensors');
    await twoShards(dir);

    await writeIndex(dir, { a: 'model-00001-of-00002.safetensors', b: 'model-00001-of-00002.safetensors', c: 'model-00002-of-00002.safetensors', d: 'model-00002-of-00002.safetensors' });
    await rejectsWith(dir, /absent/, 'd', 'model-00002-of-00002.safetensors');

    await writeIndex(dir, { a: 'model-00001-of-00002.safetensors', c: 'model-00002-of-00002.safetensors' });
    await rejectsWith(dir, /not listed in the index/, 'b');

    // b also stored in shard 2: present in two shards.
    const t = fromFloat32(new Float32Array([9, 9]), [2], 'F32');
    await writeSafetensors(join(dir, 'model-00002-of-00002.safetensors'), new Map([['b', t], ['c', t]]));
    await writeIndex(dir, { a: 'model-00001-of-00002.safetensors', b: 'model-00001-of-00002.safetensors', c: 'model-00002-of-00002.safetensors' });
    await rejectsWith(dir, /two shards/, 'b');
    await twoShards(dir);

    await writeIndex(dir, {}, '{"weight_map":{"a":"model-00001-of-00002.safetensors","a":"model-00002-of-00002.safetensors"}}');
    await rejectsWith(dir, /listed twice/, 'a');

    for (const bad of ['../model-00001-of-00002.safetensors', '/etc/model.safetensors', 'C:/x.safetensors', 'sub\\..\\x.safetensors']) {
      await writeIndex(dir, { a: bad });
      await rejectsWith(dir, /unsafe shard name/, 'a');
    }
    await writeIndex(dir, { a: 'pytorch_model-00001-of-00002.bin' });
    await rejectsWith(dir, /not a \.safetensors file/, 'a');
  });
});

test('pickle-only directory is refused without reading the pickle; missing config is named', async () => {
  await withTmp(async (dir) => {
    await writeFile(join(dir, 'config.json'), '{}');
    await writeFile(join(dir, 'pytorch_model.bin'), 'not read');
    await rejectsWith(dir, /pickle.*pytorch_model\.bin.*refusing/);
    await rm(join(dir, 'pytorch_model.bin'));
    await rejectsWith(dir, /no model\.safetensors/);
    await rm(join(dir, 'config.json'));
    await cp(join(FIXTURE, 'model.safetensors'), join(dir, 'model.safetensors'));
    await rejectsWith(dir, /config\.json/, undefined, 'config.json');
  });
});

test('a corrupt weight file in a checkpoint is reported with its path', async () => {
  await withTmp(async (dir) => {
    await cp(join(FIXTURE, 'config.json'), join(dir, 'config.json'));
    const bytes = await readFile(join(FIXTURE, 'model.safetensors'));
    await writeFile(join(dir, 'model.safetensors'), bytes.subarray(0, bytes.length - 1));
    await rejectsWith(dir, /MetadataIncompleteBuffer/, undefined, 'model.safetensors');
  });
});
