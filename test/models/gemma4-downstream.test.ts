/**
 * Gemma 4 through everything downstream: the encoder (embeddings equal the golden pooled vectors), GLUE-style
 * fine-tuning (loss falls; KV-source and MoE weights get gradients, the frozen PLE host table is untouched), save -> reload (HF layout, same
 * numbers), and the `forward` CLI in the HF "all" mode.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { openCheckpoint } from '../../src/checkpoint/index.js';
import { toEncoder } from '../../src/encoder/encoder.js';
import { initEngine } from '../../src/engine/index.js';
import { REPO_ROOT } from '../../src/io/paths.js';
import { Gemma4Model } from '../../src/models/gemma4.js';
import { loadDecoderModel, loadModel, randomLike } from '../../src/models/load.js';
import { padRight, type Labelled } from '../../src/tokenize/batch.js';
import { assertAllClose, TOL } from '../helpers/close.js';
import { nonPad, readGolden } from './golden.js';

const E2B = join(REPO_ROOT, 'test', 'fixtures', 'gemma4-e2b-tiny');
const MOE = join(REPO_ROOT, 'test', 'fixtures', 'gemma4-moe-tiny');

async function load(dir: string): Promise<Gemma4Model> {
  const m = await loadDecoderModel(dir);
  assert.ok(m instanceof Gemma4Model);
  return m;
}

test('toEncoder: bidirectional mean / last embeddings equal the float64 golden pooled vectors', async () => {
  await initEngine();
  const model = await load(E2B);
  try {
    const c = readGolden(E2B).cases.find((x) => x.name === 'right_padded')!;
    const batch = padRight(c.input_ids.map((row, b) => row.slice(0, c.lengths[b])), 0);
    for (const [pooling, key] of [['mean', 'mean'], ['last', 'last_non_pad'], ['first', 'first']] as const) {
      const enc = toEncoder(model, { attention: 'bidirectional_global', pooling, head: { kind: 'regression' } });
      const e = enc.embed(batch);
      assertAllClose(e.arraySync(), c.outputs.bidirectional_global!.pooled[key]!, TOL.parityF32, `encoder ${pooling}`);
      e.dispose();
      enc.dispose();
    }
  } finally {
    model.dispose();
  }
});

test('fine-tuning classification (dense PLE + MoE) and ranking heads on Gemma 4: losses fall, backbone blocks get updated', async () => {
  await initEngine();
  const { train } = await import('../../src/train/trainer.js');
  for (const dir of [E2B, MOE]) {
    const model = await load(dir);
    try {
      const p = model.config.prefix;
      const watch = model.config.enableMoeBlock
        ? [`${p}layers.0.experts.gate_up_proj`, `${p}layers.0.router.proj.weight`, `${p}layers.2.self_attn.k_proj.weight`]
        : [`${p}layers.3.self_attn.k_proj.weight`, `${p}layers.2.self_attn.k_proj.weight`, `${p}layers.6.layer_scalar`];
      const before = watch.map((n) => Array.from(model.params.get(n)!.dataSync()));
      // The PLE table is a frozen host table (host-table.ts): not a variable, so training leaves its bytes alone.
      const ple = model.tables.get(`${p}embed_tokens_per_layer.weight`);
      assert.equal(model.params.has(`${p}embed_tokens_per_layer.weight`), false);
      const pleBefore = ple ? ple.chunks.map((c) => Buffer.from(c)) : [];
      const enc = toEncoder(model, { attention: 'bidirectional_sliding', pooling: 'mean', head: { kind: 'classification', numClasses: 2 }, seed: 1 });
      const seqs = [[2, 10, 11, 12, 13, 14], [2, 40, 41, 42], [2, 10, 12, 14, 16, 18, 20], [2, 41, 43, 45]];
      const b: Labelled = { ...padRight(seqs, 0), labels: [0, 1, 0, 1] };
      const r = await train(enc, { epoch: () => [b], size: (x) => x.batch }, { seed: 0, maxSteps: 12, schedule: { lr: 0.01, decay: 'constant' } });
      assert.ok(r.logs.at(-1)!.loss < 0.5 * r.logs[0]!.loss, `${dir}: loss ${r.logs[0]!.loss} -> ${r.logs.at(-1)!.loss}`);
      watch.forEach((n, i) => assert.notDeepEqual(Array.from(model.params.get(n)!.dataSync()), before[i], `${n} was updated`));
      if (ple) assert.ok(ple.chunks.every((c, i) => Buffer.from(c).equals(pleBefore[i]!)), 'PLE table unchanged by training');
      enc.dispose();
      if (!model.config.enableMoeBlock) {
        // The ranking path (MS MARCO style pairwise loss over [positive, negative] rows) on the same backbone.
        const rank = toEncoder(model, { attention: 'bidirectional_global', pooling: 'last', head: { kind: 'ranking', loss: 'pairwise' }, seed: 2 });
        const pairs: Labelled = { ...padRight([seqs[0]!, seqs[1]!, seqs[2]!, seqs[3]!], 0), labels: [1, 0, 1, 0] };
        const rr = await train(rank, { epoch: () => [pairs], size: (x) => x.batch }, { seed: 0, maxSteps: 8, schedule: { lr: 0.01, decay: 'constant' } });
        assert.ok(rr.logs.at(-1)!.loss < rr.logs[0]!.loss, `ranking loss ${rr.logs[0]!.loss} -> ${rr.logs.at(-1)!.loss}`);
        rank.dispose();
      }
    } finally {
      model.dispose();
    }
  }
});

test('save -> reload: HF tensor names (towers and shared-layer K/V dropped), same config, identical outputs', async () => {
  await initEngine();
  const dir = await mkdtemp(join(tmpdir(), 'gemma4-save-'));
  try {
    for (const src of [E2B, MOE]) {
      const model = await load(src);
      const out = join(dir, src.endsWith('moe-tiny') ? 'moe' : 'e2b');
      await model.save(out);
      const stored = (await openCheckpoint(src)).tensorNames.filter((n) => !n.includes('vision_tower') && n !== 'model.language_model.layers.5.self_attn.k_proj.weight');
      assert.deepEqual((await openCheckpoint(out)).tensorNames, stored);
      const cfg = JSON.parse(await readFile(join(out, 'config.json'), 'utf8')) as Record<string, unknown>;
      assert.equal(cfg.model_type, model.config.modelType);
      const back = await load(out);
      assert.deepEqual({ ...back.config, sourcePath: '' }, { ...model.config, sourcePath: '', dtype: 'float32' });
      const ids = [[2, 5, 9, 200, 17, 3]];
      const a = model.forward(ids, { attention: 'bidirectional_sliding_gemma4_hf', logits: true });
      const b = back.forward(ids, { attention: 'bidirectional_sliding_gemma4_hf', logits: true });
      assert.deepEqual(b.logits!.arraySync(), a.logits!.arraySync());
      tf.dispose([a, b]);
      // A random-init baseline of the same family and shapes (GLUE `init: random`).
      const rnd = randomLike(model, 3);
      assert.ok(rnd instanceof Gemma4Model);
      assert.equal(rnd.params.get(`${model.config.prefix}layers.0.layer_scalar`)!.dataSync()[0], 1);
      rnd.dispose();
      model.dispose();
      back.dispose();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('loadModel dispatches gemma4 and gemma4_text; forward CLI reproduces the golden in the HF "all" mode', async () => {
  const m = await loadModel(MOE);
  assert.ok(m instanceof Gemma4Model);
  m.dispose();
  const dir = await mkdtemp(join(tmpdir(), 'gemma4-cli-'));
  try {
    const c = readGolden(E2B).cases.find((x) => x.name === 'right_padded')!;
    const input = join(dir, 'in.json');
    const out = join(dir, 'out.json');
    await writeFile(input, JSON.stringify({ input_ids: c.input_ids, attention_mask: c.attention_mask }));
    const mode = 'bidirectional_sliding_gemma4_hf';
    const r = spawnSync(process.execPath, [join(REPO_ROOT, 'bin', 'gemma-lab.js'), 'forward', '--model', E2B, '--input', input, '--attention', mode, '--out', out], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 120_000 });
    assert.equal(r.status, 0, r.stderr);
    const got = JSON.parse(await readFile(out, 'utf8')) as { model_type: string; hidden_states: number[][][]; pooled: Record<string, number[][]> };
    assert.equal(got.model_type, 'gemma4');
    assertAllClose(nonPad(got.hidden_states, c.lengths), nonPad(c.outputs[mode]!.hidden_states, c.lengths), TOL.parityF32, 'cli hidden_states');
    assertAllClose(got.pooled.mean!, c.outputs[mode]!.pooled.mean!, TOL.parityF32, 'cli pooled.mean');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
