/**
 * Frozen host tables (src/models/host-table.ts): row gather vs tf.gather on the float32 widening of the same
 * table (F32, BF16, F16; exact), chunk boundaries with tiny chunks, streaming from a safetensors file in
 * byte ranges, chunked safetensors writing, and Gemma 4's PLE table through load -> save -> reload
 * byte for byte (BF16 stays BF16), plus `hostEmbeddings` giving the same outputs as the variable path.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { fromFloat32, openCheckpoint, readSafetensorsHeader, serializeSafetensors, toFloat32, writeSafetensors, type HostTensor, type StoredTensor } from '../../src/checkpoint/index.js';
import { initEngine } from '../../src/engine/index.js';
import { REPO_ROOT } from '../../src/io/paths.js';
import type { ForwardOutput } from '../../src/models/gemma.js';
import { Gemma4Model } from '../../src/models/gemma4.js';
import { HostTable, hostTableFromFloat32, loadHostTable, rowsPerChunk, type TableDtype } from '../../src/models/host-table.js';
import { loadModel } from '../../src/models/load.js';
import { loadStrictParamsAndTables } from '../../src/models/strict.js';
import { Rng } from '../../src/rng/index.js';

const ROWS = 11;
const COLS = 5;

/** A [ROWS, COLS] table of random float32 values stored in `dtype` (rounded to it). */
function storedTable(dtype: TableDtype, seed: number): HostTensor {
  const rng = new Rng(seed);
  const data = Float32Array.from({ length: ROWS * COLS }, () => (rng.next() - 0.5) * 6);
  return fromFloat32(data, [ROWS, COLS], dtype);
}

/** The stored tensor split into chunks of `per` rows (copies, so each chunk is its own buffer). */
function chunked(t: HostTensor, per: number): Uint8Array[] {
  const rowBytes = t.data.length / ROWS;
  const out: Uint8Array[] = [];
  for (let r = 0; r < ROWS; r += per) out.push(t.data.slice(r * rowBytes, Math.min(ROWS, r + per) * rowBytes));
  return out;
}

test('rowsPerChunk: as many whole rows as fit, at least one', () => {
  assert.equal(rowsPerChunk(262144, 8960 * 2, 2 ** 30), 59918);
  assert.equal(rowsPerChunk(10, 100, 250), 2);
  assert.equal(rowsPerChunk(10, 100, 50), 1);
  assert.equal(rowsPerChunk(3, 100, 1e9), 3);
});

test('HostTable.gather equals tf.gather on the float32 widening, every dtype and chunk size (exact)', async () => {
  await initEngine();
  // Every row, chunk-boundary rows (for 1, 3 and 4 rows per chunk), repeats and the last row.
  const ids = [0, 1, 2, 3, 4, 7, 8, 9, 10, 10, 3, 0, 5, 6];
  for (const dtype of ['F32', 'BF16', 'F16'] as const) {
    const t = storedTable(dtype, dtype.length);
    const widened = tf.tensor2d(toFloat32(t), [ROWS, COLS]);
    const want = tf.gather(widened, tf.tensor1d(ids, 'int32')).dataSync();
    for (const per of [1, 3, 4, ROWS]) {
      const table = new HostTable('w', dtype, [ROWS, COLS], chunked(t, per), per);
      assert.deepEqual(Array.from(table.gather(ids)), Array.from(want), `${dtype}, ${per} rows per chunk`);
      const g = table.gatherTensor([ids.slice(0, 7), ids.slice(7)]);
      assert.deepEqual(g.shape, [2, 7, COLS]);
      assert.deepEqual(Array.from(g.dataSync()), Array.from(want));
      assert.deepEqual(Array.from(table.toTensor().dataSync()), Array.from(widened.dataSync()));
      g.dispose();
    }
    widened.dispose();
  }
});

test('HostTable: bad ids and bad chunk layouts are typed errors naming the table', () => {
  const t = storedTable('BF16', 1);
  const table = new HostTable('model.ple', 'BF16', [ROWS, COLS], chunked(t, 4), 4);
  assert.throws(() => table.gather([ROWS]), /model\.ple: row 11 is not in \[0, 11\)/);
  assert.throws(() => table.gather([-1]), RangeError);
  assert.throws(() => new HostTable('model.ple', 'BF16', [ROWS, COLS], chunked(t, 4), 3), (e: Error) => e.name === 'CheckpointError' && /model\.ple/.test(e.message) && /expected 4/.test(e.message));
  assert.throws(() => new HostTable('model.ple', 'BF16', [ROWS, COLS], [t.data.slice(0, 10)], ROWS), /chunk 0 has 10 bytes/);
});

test('hostTableFromFloat32: chunks of the float32 rows; toStored narrows an F32 table to BF16 chunk by chunk', () => {
  const t = storedTable('F32', 5);
  const data = toFloat32(t);
  const table = hostTableFromFloat32('w', data, [ROWS, COLS], 3 * COLS * 4);
  assert.equal(table.rowsPerChunk, 3);
  assert.equal(table.chunks.length, 4);
  assert.deepEqual(Array.from(table.gather(Array.from({ length: ROWS }, (_, i) => i))), Array.from(data));
  const bf = table.toStored('BF16');
  assert.equal(bf.dtype, 'BF16');
  assert.ok(Buffer.concat(bf.parts).equals(Buffer.from(fromFloat32(data, [ROWS, COLS], 'BF16').data)));
  // A BF16 table is written as stored whatever is asked: never widened.
  const b = new HostTable('w', 'BF16', [ROWS, COLS], chunked(storedTable('BF16', 6), 2), 2);
  assert.equal(b.toStored('F32').dtype, 'BF16');
  assert.equal(b.toStored('F32').parts, b.chunks);
});

test('safetensors: a tensor written in parts is the same file as one buffer; loadHostTable streams byte ranges back', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'host-table-'));
  try {
    const t = storedTable('BF16', 7);
    const other: HostTensor = { dtype: 'F32', shape: [2], data: new Uint8Array(new Float32Array([1, 2]).buffer) };
    const one = Buffer.concat(serializeSafetensors(new Map([['a', other], ['w', t]])));
    const parts = Buffer.concat(serializeSafetensors(new Map<string, StoredTensor>([['a', other], ['w', { dtype: t.dtype, shape: t.shape, parts: chunked(t, 3) }]])));
    assert.ok(parts.equals(one));
    assert.throws(() => serializeSafetensors(new Map([['w', { dtype: t.dtype, shape: t.shape, parts: chunked(t, 3).slice(1) }]])), /needs 110 bytes, data has 80/);

    await writeSafetensors(join(dir, 'model.safetensors'), new Map([['a', other], ['w', t]]));
    const { writeFile } = await import('node:fs/promises');
    await writeFile(join(dir, 'config.json'), '{}');
    const ckpt = await openCheckpoint(dir);
    for (const maxChunk of [1, 2 * COLS * 2, 4 * COLS * 2 + 3, 1e9]) {
      const table = await loadHostTable(ckpt, 'w', maxChunk);
      assert.equal(table.dtype, 'BF16');
      assert.ok(Buffer.concat(table.chunks).equals(Buffer.from(t.data)), `chunk bytes ${maxChunk}`);
    }
    assert.ok(Buffer.from(await ckpt.loadTensorBytes('w', 20, 30)).equals(Buffer.from(t.data.subarray(20, 50))));
    await assert.rejects(ckpt.loadTensorBytes('w', 100, 20), /outside the tensor's 110 bytes/);
    await assert.rejects(loadHostTable(ckpt, 'a'), /expected a 2-D table/);
    // Strict loading refuses a table dtype it cannot keep before reading any tensor.
    await writeSafetensors(join(dir, 'model.safetensors'), new Map([['a', other], ['w', { dtype: 'I16', shape: [ROWS, COLS], data: t.data }]]));
    const bad = await openCheckpoint(dir);
    const expected = new Map([['a', [2]], ['w', [ROWS, COLS]]]);
    await assert.rejects(loadStrictParamsAndTables(bad, expected, {}, new Set(['w'])), (e: Error) => e.name === 'CheckpointError' && /dtype I16 cannot be kept as a host table/.test(e.message) && /'?w'?/.test(e.message));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

const E2B = join(REPO_ROOT, 'test', 'fixtures', 'gemma4-e2b-tiny');

/** Raw bytes of one tensor in a checkpoint folder's single safetensors file. */
async function storedBytes(dir: string, name: string): Promise<{ dtype: string; bytes: Buffer }> {
  const file = join(dir, 'model.safetensors');
  const h = await readSafetensorsHeader(file);
  const e = h.entries.get(name)!;
  const buf = await readFile(file);
  return { dtype: e.dtype, bytes: buf.subarray(h.dataStart + e.begin, h.dataStart + e.end) };
}

test('Gemma 4 PLE: a BF16 table loads as stored, saves back byte for byte (default F32 save), reloads to the same outputs', async () => {
  await initEngine();
  const dir = await mkdtemp(join(tmpdir(), 'gemma4-ple-'));
  try {
    const src = await loadModel(E2B);
    assert.ok(src instanceof Gemma4Model);
    const ple = `${src.config.prefix}embed_tokens_per_layer.weight`;
    assert.equal(src.tables.get(ple)?.dtype, 'F32');
    await src.save(join(dir, 'bf16'), 'BF16');
    src.dispose();

    const a = await loadModel(join(dir, 'bf16'));
    assert.ok(a instanceof Gemma4Model);
    assert.equal(a.tables.get(ple)?.dtype, 'BF16');
    assert.equal(a.params.has(ple), false);
    await a.save(join(dir, 'again')); // F32 save: variables widened, the frozen table written as stored
    const first = await storedBytes(join(dir, 'bf16'), ple);
    const second = await storedBytes(join(dir, 'again'), ple);
    assert.equal(second.dtype, 'BF16');
    assert.ok(second.bytes.equals(first.bytes), 'PLE bytes identical after load -> save');

    const b = await loadModel(join(dir, 'again'));
    assert.ok(b instanceof Gemma4Model);
    assert.equal(b.parameterCount, a.parameterCount);
    const ids = [[2, 5, 9, 200, 17, 3], [2, 255, 0, 1, 128, 64]];
    const oa = a.forward(ids, { attention: 'bidirectional_sliding_gemma4_hf', logits: true });
    const ob = b.forward(ids, { attention: 'bidirectional_sliding_gemma4_hf', logits: true });
    assert.deepEqual(Array.from(ob.logits!.dataSync()), Array.from(oa.logits!.dataSync()));
    assert.deepEqual(Array.from(ob.hiddenStates.dataSync()), Array.from(oa.hiddenStates.dataSync()));
    tf.dispose([oa, ob]);
    a.dispose();
    b.dispose();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('Gemma 4 hostEmbeddings: embed_tokens as a frozen host table gives the same hidden states and tied logits', async () => {
  await initEngine();
  const dense = await loadModel(E2B);
  const host = await loadModel(E2B, { hostEmbeddings: true });
  assert.ok(dense instanceof Gemma4Model && host instanceof Gemma4Model);
  const emb = `${dense.config.prefix}embed_tokens.weight`;
  assert.ok(dense.params.has(emb) && !dense.tables.has(emb));
  assert.ok(host.tables.has(emb) && !host.params.has(emb));
  assert.equal(host.parameterCount, dense.parameterCount);
  const ids = [[2, 5, 9, 200, 17, 3]];
  for (const attention of ['causal', 'bidirectional_sliding_gemma4_hf'] as const) {
    const a: ForwardOutput = dense.forward(ids, { attention, logits: true });
    const b: ForwardOutput = host.forward(ids, { attention, logits: true });
    assert.deepEqual(Array.from(b.hiddenStates.dataSync()), Array.from(a.hiddenStates.dataSync()), attention);
    assert.deepEqual(Array.from(b.logits!.dataSync()), Array.from(a.logits!.dataSync()), attention);
    tf.dispose([a, b]);
  }
  dense.dispose();
  host.dispose();
});
