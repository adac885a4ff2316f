import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, test } from 'node:test';

import * as tf from '@tensorflow/tfjs-core';

import { parseGemmaConfig } from '../../src/config/gemma.js';
import { initEngine } from '../../src/engine/index.js';
import { AbortedError, ConfigError } from '../../src/errors.js';
import { sharedDir } from '../../src/io/paths.js';
import { GemmaModel } from '../../src/models/gemma.js';
import { loadModel } from '../../src/models/load.js';
import type { T5GemmaModel } from '../../src/models/t5gemma.js';
import { Rng } from '../../src/rng/index.js';
import { crossAttentionParams, toEncoderDecoder } from '../../src/t5gemma/build.js';
import { IGNORE, collateSeq2Seq } from '../../src/t5gemma/objectives/seq2seq.js';
import { pretrain, pretrainData, seq2seqCrossEntropy, seq2seqTrainable } from '../../src/t5gemma/pretrain.js';
import { TOL, assertAllClose } from '../helpers/close.js';
import { type Case, fixtureDir, goldenCases } from './golden.js';
import { batchFromRows, batchRows, unflatten } from '../../src/tokenize/batch.js';

before(async () => {
  await initEngine();
});

/** float64 mean CE over non-ignored labels, from logits given as nested arrays. */
function referenceCe(logits: number[][][], labels: number[][]): number {
  let sum = 0;
  let n = 0;
  logits.forEach((row, b) =>
    row.forEach((l, t) => {
      const y = (labels[b] as number[])[t] as number;
      if (y === IGNORE) return;
      const m = Math.max(...l);
      const lse = m + Math.log(l.reduce((s, x) => s + Math.exp(x - m), 0));
      sum += lse - (l[y] as number);
      n++;
    }),
  );
  return sum / n;
}

test('seq2seq loss = mean CE over non-IGNORE labels, on the golden logits of the reference', async () => {
  const model = (await loadModel(fixtureDir('t5gemma-tiny'))) as T5GemmaModel;
  const c = goldenCases('t5gemma-tiny')[1] as Case;
  // Labels: the decoder inputs shifted left, last position of row 1 and first of row 0 ignored.
  const labels = c.decoder_input_ids.map((r) => r.map((_, t) => (t + 1 < r.length ? (r[t + 1] as number) : 9)));
  (labels[0] as number[])[0] = IGNORE;
  (labels[1] as number[])[6] = IGNORE;
  const want = referenceCe(c.outputs.logits, labels);
  const batch = { ...batchFromRows(c.input_ids, c.attention_mask), decoder: batchFromRows(c.decoder_input_ids, c.decoder_input_ids.map((r) => r.map(() => 1))), labels: Int32Array.from(labels.flat()) };
  const got = seq2seqTrainable(model).loss(batch, { seed: 0 });
  assertAllClose([got.dataSync()[0] as number], [want], TOL.parityF32, 'loss');
  got.dispose();
  // Direct check of the masking on a tiny hand case: ignoring a position removes exactly its term.
  const logits = tf.tensor3d([[[0, 1, 2], [2, 0, 0]]]);
  const one = seq2seqCrossEntropy(logits, [[2, IGNORE]]);
  assertAllClose([one.dataSync()[0] as number], [referenceCe([[[0, 1, 2]]], [[2]])], 1e-6, 'single term');
  tf.dispose([logits, one]);
  model.dispose();
});

const GEMMA2_TINY = join(sharedDir(), 'fixtures', 'gemma2-tiny');

function corpus(n: number, len: number, seed: number): number[][] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => Array.from({ length: len }, () => 3 + rng.int(40)));
}

test('unbalanced warm-up trains only cross-attention, then full training moves everything', async () => {
  const json = JSON.parse(readFileSync(join(GEMMA2_TINY, 'config.json'), 'utf8')) as Record<string, unknown>;
  const small = GemmaModel.random(parseGemmaConfig({ ...json, hidden_size: 32, intermediate_size: 64, num_attention_heads: 2, num_key_value_heads: 1 }, 's/config.json'), 3);
  const model = await toEncoderDecoder(GEMMA2_TINY, small, { seed: 4 });
  small.dispose();
  const snap = () => new Map([...model.params].map(([n, v]) => [n, (v.dataSync() as Float32Array).slice()]));
  const start = snap();
  const cross = new Set(crossAttentionParams(model).keys());
  const data = corpus(8, 12, 1);
  const r1 = await pretrain(model, data, {
    objective: { kind: 'prefixlm' },
    batchSize: 4,
    seed: 1,
    maxSteps: 0,
    crossAttentionWarmupSteps: 4,
    schedule: { lr: 5e-3, decay: 'constant' },
  });
  assert.equal(r1.warmup?.steps, 4);
  const afterWarmup = snap();
  for (const [n, v] of afterWarmup) {
    const moved = v.some((x, i) => x !== (start.get(n) as Float32Array)[i]);
    assert.equal(moved, cross.has(n), `${n} ${cross.has(n) ? 'should' : 'should not'} move during the warm-up`);
  }
  await pretrain(model, data, { objective: { kind: 'ul2' }, batchSize: 4, seed: 2, maxSteps: 1, schedule: { lr: 5e-3, decay: 'constant' } });
  const afterMain = snap();
  for (const [n, v] of afterMain) {
    assert.ok(v.some((x, i) => x !== (afterWarmup.get(n) as Float32Array)[i]), `${n} moves in full training`);
  }
  model.dispose();
});

test('PrefixLM pretraining lowers the loss of a tiny balanced model (reproducible by seed)', async () => {
  const run = async () => {
    const model = await toEncoderDecoder(GEMMA2_TINY);
    const res = await pretrain(model, corpus(8, 16, 5), { objective: { kind: 'prefixlm' }, batchSize: 8, seed: 3, maxSteps: 25, schedule: { lr: 3e-3, decay: 'constant' }, clipNorm: 1 });
    model.dispose();
    return res.main.logs.map((l) => l.loss);
  };
  const losses = await run();
  const first = losses[0] as number;
  const last = losses[losses.length - 1] as number;
  console.log(`PrefixLM losses: first ${first.toFixed(3)}, last ${last.toFixed(3)}`);
  assert.ok(last < 0.7 * first, `loss ${first} -> ${last}`);
  assert.deepEqual(await run(), losses, 'same seed, same losses');
});

test('pretrainData draws a new split per epoch, reproducibly', () => {
  const seqs = corpus(4, 10, 9);
  const data = pretrainData(seqs, { kind: 'prefixlm', options: { split: 'random' } }, 2, 0);
  const e0 = data.epoch(0, new Rng('e0'));
  assert.deepEqual(data.epoch(0, new Rng('e0')), e0);
  assert.equal(e0.length, 2);
  // The split points (prefix lengths, order-free) of the same sequences are redrawn between epochs.
  const splits = (e: typeof e0) => e.flatMap((b) => batchRows(b).attentionMask.map((r) => r.reduce((a, x) => a + x, 0))).sort();
  assert.notDeepEqual(splits(data.epoch(1, new Rng('e1'))), splits(e0));
  // Default PrefixLM is the paper's equal halves: 5 prefix tokens, 5 + eos targets.
  const half = pretrainData(seqs, { kind: 'prefixlm' }, 4, 0).epoch(0, new Rng('h'))[0]!;
  assert.ok(batchRows(half).attentionMask.every((r) => r.reduce((a, b) => a + b, 0) === 5));
  assert.ok(unflatten(half.labels, half.decoder.length).every((r) => r.length === 6));
  assert.throws(() => collateSeq2Seq([], 0), ConfigError);
});

test('warm-up + main with checkpoints: abort during the main phase and resume = the straight run, bit for bit', async () => {
  const json = JSON.parse(readFileSync(join(GEMMA2_TINY, 'config.json'), 'utf8')) as Record<string, unknown>;
  const build = async () => {
    const small = GemmaModel.random(parseGemmaConfig({ ...json, hidden_size: 32, intermediate_size: 64, num_attention_heads: 2, num_key_value_heads: 1 }, 's/config.json'), 3);
    const m = await toEncoderDecoder(GEMMA2_TINY, small, { seed: 4 });
    small.dispose();
    return m;
  };
  const dir = mkdtempSync(join(tmpdir(), 't5gemma-pretrain-'));
  const base = { objective: { kind: 'ul2' } as const, batchSize: 4, seed: 9, maxSteps: 3, crossAttentionWarmupSteps: 2, schedule: { lr: 5e-3, decay: 'constant' } as const };
  try {
    const straight = await build();
    await pretrain(straight, corpus(8, 12, 2), { ...base, checkpoint: { dir: join(dir, 'a'), every: 1 } });
    const want = [...straight.params].map(([n, v]) => [n, [...(v.dataSync() as Float32Array)]]);
    straight.dispose();

    const interrupted = await build();
    const ctl = new AbortController();
    let logs = 0;
    const run = pretrain(interrupted, corpus(8, 12, 2), {
      ...base,
      checkpoint: { dir: join(dir, 'b'), every: 1 },
      signal: ctl.signal,
      onLog: () => {
        if (++logs === 3) ctl.abort(); // 2 warm-up steps + 1 main step done
      },
    });
    await assert.rejects(run, AbortedError);
    interrupted.dispose();
    const resumed = await build(); // a fresh process: same build, then resume
    await pretrain(resumed, corpus(8, 12, 2), { ...base, checkpoint: { dir: join(dir, 'b'), every: 1 }, resume: true });
    assert.deepEqual([...resumed.params].map(([n, v]) => [n, [...(v.dataSync() as Float32Array)]]), want);
    resumed.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
