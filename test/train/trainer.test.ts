import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initEngine } from '../../src/engine/index.js';
import { Rng } from '../../src/rng/index.js';
import { NonFiniteError, train, TrainingInterrupted, type Trainable, type TrainData } from '../../src/train/trainer.js';
import { latestCheckpoint } from '../../src/train/checkpoint.js';
import { TrainingError } from '../../src/errors.js';
import { assertAllClose } from '../helpers/close.js';

await initEngine();

// A tiny 2-layer regression net with input dropout (so the dropout seed stream matters for resume).
const N = 40;
const D = 6;
const dataRng = new Rng(7);
const X = Array.from({ length: N }, () => Array.from({ length: D }, () => dataRng.normal()));
const Y = X.map((x) => x[0]! - 2 * x[1]! + 0.5 * x[2]! * x[3]!);

interface Batch {
  readonly idx: readonly number[];
}

function makeModel(seed: number, dropout = 0.1): Trainable<Batch> & { dispose(): void; snapshot(): number[] } {
  const r = new Rng(seed);
  const init = (shape: number[]) => tf.variable(tf.tensor(Array.from({ length: shape.reduce((a, b) => a * b) }, () => 0.3 * r.normal()), shape));
  const params = new Map([
    ['fc1.weight', init([D, 8])],
    ['fc1.bias', tf.variable(tf.zeros([8]))],
    ['fc2.weight', init([8, 1])],
  ]);
  return {
    params,
    loss(b, { seed }) {
      return tf.tidy(() => {
        let x: tf.Tensor = tf.tensor2d(b.idx.map((i) => X[i]!));
        if (dropout > 0) x = tf.dropout(x, dropout, undefined, seed);
        const h = x.matMul(params.get('fc1.weight')!).add(params.get('fc1.bias')!).tanh();
        const yhat = h.matMul(params.get('fc2.weight')!).reshape([-1]);
        return yhat.sub(tf.tensor1d(b.idx.map((i) => Y[i]!))).square().mean() as tf.Scalar;
      });
    },
    dispose() {
      for (const v of params.values()) v.dispose();
    },
    snapshot() {
      return [...params.values()].flatMap((v) => Array.from(v.dataSync()));
    },
  };
}

const shuffled = (batchSize: number): TrainData<Batch> => ({
  epoch(_e, rng) {
    const order = rng.shuffle(Array.from({ length: N }, (_, i) => i));
    const out: Batch[] = [];
    for (let i = 0; i < N; i += batchSize) out.push({ idx: order.slice(i, i + batchSize) });
    return out;
  },
  size: (b) => b.idx.length,
});

const base = { seed: 3, schedule: { lr: 0.05, warmupSteps: 2, decay: 'cosine' as const }, optimizer: { weightDecay: 0.01 } };

test('training decreases the loss', async () => {
  const m = makeModel(1, 0);
  const before = tf.memory().numTensors;
  const r = await train(m, shuffled(8), { ...base, maxSteps: 30, gradAccumSteps: 2, evaluate: { every: 10, run: () => 0.5 } });
  assert.equal(tf.memory().numTensors, before, 'no tensors leaked by the loop, optimizer or best-weights copy');
  const first = r.logs.slice(0, 5).reduce((a, l) => a + l.loss, 0) / 5;
  const last = r.logs.slice(-5).reduce((a, l) => a + l.loss, 0) / 5;
  assert.ok(last < 0.5 * first, `loss ${first} -> ${last}`);
  assert.equal(r.steps, 30);
  assert.equal(r.logs[0]!.lr, 0, 'HF warmup: first update at lr 0');
  m.dispose();
});

test('gradient accumulation 2x4 == one batch of 8 (float tolerance)', async () => {
  // Same example order: micro-batches are consecutive halves of the big batches.
  const fixed = (bs: number): TrainData<Batch> => ({
    epoch: () => Array.from({ length: N / bs }, (_, k) => ({ idx: Array.from({ length: bs }, (_, j) => k * bs + j) })),
    size: (b) => b.idx.length,
  });
  const a = makeModel(2, 0);
  const b = makeModel(2, 0);
  const ra = await train(a, fixed(8), { ...base, maxSteps: 4, clipNorm: 0.5 });
  const rb = await train(b, fixed(4), { ...base, maxSteps: 4, clipNorm: 0.5, gradAccumSteps: 2 });
  assertAllClose(rb.logs.map((l) => l.loss), ra.logs.map((l) => l.loss), 1e-5, 'losses');
  assertAllClose(rb.logs.map((l) => l.gradNorm), ra.logs.map((l) => l.gradNorm), 1e-5, 'grad norms');
  assertAllClose(b.snapshot(), a.snapshot(), 1e-5, 'weights');
  a.dispose();
  b.dispose();
});

test('exact resume: 12 steps straight == 5 steps, stop, resume, 7 steps (bit-identical)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'gl-resume-'));
  try {
    const straight = makeModel(4);
    const rs = await train(straight, shuffled(6), { ...base, maxSteps: 12 });
    const part = makeModel(4);
    const stop = new AbortController();
    const onLog = (l: { step: number }) => l.step === 5 && stop.abort(new Error('test stop'));
    await train(part, shuffled(6), { ...base, maxSteps: 12, checkpoint: { dir }, signal: stop.signal, onLog }).then(
      () => assert.fail('expected an interrupt'),
      (err: unknown) => {
        assert.ok(err instanceof TrainingInterrupted);
        assert.equal(err.step, 5);
      },
    );
    part.dispose();
    const resumed = makeModel(99); // different init: everything must come from the checkpoint
    const rr = await train(resumed, shuffled(6), { ...base, maxSteps: 12, checkpoint: { dir }, resume: true });
    assert.equal(rr.resumedFrom, 5);
    assert.deepEqual(rr.logs.map((l) => l.loss), rs.logs.map((l) => l.loss), 'losses bit-identical');
    assert.deepEqual(resumed.snapshot(), straight.snapshot(), 'weights bit-identical');
    await assert.rejects(
      train(resumed, shuffled(6), { ...base, seed: 4, maxSteps: 12, checkpoint: { dir }, resume: true }),
      (e: unknown) => e instanceof TrainingError && /trained with seed 3, resume asked for seed 4/.test((e as Error).message),
    );
    straight.dispose();
    resumed.dispose();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('abort: stops between steps, saves, and throws TrainingInterrupted with the checkpoint', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'gl-abort-'));
  try {
    const m = makeModel(5);
    const c = new AbortController();
    let seen = 0;
    await assert.rejects(
      train(m, shuffled(8), {
        ...base,
        maxSteps: 50,
        checkpoint: { dir },
        signal: c.signal,
        onLog: (l) => {
          seen = l.step;
          if (l.step === 3) c.abort(new Error('user'));
        },
      }),
      (err: unknown) => err instanceof TrainingInterrupted && err.step === 3 && err.checkpoint !== undefined,
    );
    assert.equal(seen, 3, 'no step ran after the abort');
    const ck = await latestCheckpoint(dir);
    assert.equal(ck.step, 3);
    m.dispose();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('NaN loss stops with NonFiniteError naming the step and the loss; NaN grad names the parameter', async () => {
  const m = makeModel(6, 0);
  let calls = 0;
  const poisoned: Trainable<Batch> = {
    params: m.params,
    loss: (b, ctx) => {
      calls++;
      const l = m.loss(b, ctx);
      return calls === 4 ? (tf.tidy(() => l.mul(NaN)) as tf.Scalar) : l;
    },
  };
  await assert.rejects(train(poisoned, shuffled(8), { ...base, maxSteps: 10 }), (err: unknown) => {
    assert.ok(err instanceof NonFiniteError);
    assert.equal(err.step, 4);
    assert.equal(err.tensor, 'loss');
    assert.match(err.message, /step 4: non-finite loss NaN/);
    return true;
  });
  // A finite loss whose gradient is infinite for fc1.bias only: sqrt at 0 has an infinite derivative.
  const gradBomb: Trainable<Batch> = {
    params: m.params,
    loss: (b, ctx) => tf.tidy(() => m.loss(b, ctx).add(m.params.get('fc1.bias')!.mul(0).sqrt().sum())) as tf.Scalar,
  };
  await assert.rejects(train(gradBomb, shuffled(8), { ...base, maxSteps: 3 }), (err: unknown) => {
    assert.ok(err instanceof NonFiniteError);
    assert.equal(err.step, 1);
    assert.equal(err.tensor, 'fc1.bias');
    return true;
  });
  m.dispose();
});

test('early stopping on a dev metric (mode min, patience 2) restores the best weights', async () => {
  const m = makeModel(8, 0);
  const metrics = [5, 4, 4.5, 4.2, 3.0];
  let k = 0;
  let bestWeights: number[] = [];
  const r = await train(m, shuffled(8), {
    ...base,
    maxSteps: 100,
    evaluate: {
      every: 2,
      mode: 'min',
      patience: 2,
      run: () => {
        const v = metrics[k++]!;
        if (v === 4) bestWeights = m.snapshot();
        return v;
      },
    },
  });
  assert.equal(r.stopReason, 'early_stopping');
  assert.equal(r.steps, 8);
  assert.deepEqual(r.best, { step: 4, metric: 4 });
  assert.deepEqual(m.snapshot(), bestWeights);
  m.dispose();
});

test('checkpoints: atomic dirs with manifests, pruned to keep; a corrupt newest is skipped; none -> typed error', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'gl-ckpt-'));
  try {
    const m = makeModel(9);
    await train(m, shuffled(8), { ...base, maxSteps: 6, checkpoint: { dir, every: 2, keep: 2 } });
    assert.deepEqual((await readdir(dir)).sort(), ['ckpt-00000004', 'ckpt-00000006']);
    await writeFile(join(dir, 'ckpt-00000006', 'model.safetensors'), 'garbage');
    const ck = await latestCheckpoint(dir);
    assert.equal(ck.step, 4);
    assert.match(ck.skipped[0]!, /model\.safetensors: sha256 does not match/);
    m.dispose();
    const empty = await mkdtemp(join(tmpdir(), 'gl-empty-'));
    await assert.rejects(latestCheckpoint(empty), (e: unknown) => e instanceof TrainingError && /no valid checkpoint/.test((e as Error).message));
    await rm(empty, { recursive: true });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('same seed twice: identical; different seed: different', async () => {
  const run = async (seed: number) => {
    const m = makeModel(10);
    const r = await train(m, shuffled(8), { ...base, seed, maxSteps: 5 });
    m.dispose();
    return r.logs.map((l) => l.loss);
  };
  assert.deepEqual(await run(1), await run(1));
  assert.notDeepEqual(await run(1), await run(2));
});

test('kill -9 during checkpoint saves (x6): the newest complete checkpoint verifies; temp dirs are ignored', async () => {
  const { spawn } = await import('node:child_process');
  const { readFile } = await import('node:fs/promises');
  const dir = await mkdtemp(join(tmpdir(), 'gl-kill-'));
  try {
    const r = new Rng('kill');
    for (let round = 0; round < 6; round++) {
      const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'helpers', 'save-loop.ts'), dir], { stdio: ['ignore', 'pipe', 'inherit'] });
      await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
      await new Promise((res) => setTimeout(res, 20 + r.int(300)));
      child.kill('SIGKILL');
      await new Promise((res) => child.once('exit', res));
      const ck = await latestCheckpoint(dir);
      const state = JSON.parse(Buffer.from(ck.files.get('trainer_state.json')!).toString()) as { step: number };
      assert.equal(state.step, ck.step);
      assert.ok(ck.files.get('model.safetensors')!.every((b) => b === ck.step % 251), 'payload intact');
      assert.match(await readFile(join(ck.path, 'manifest.json'), 'utf8'), /sha256/);
    }
    // Temps of earlier killed saves were cleaned by the next writer; at most the last one is left.
    const temps = (await readdir(dir)).filter((n) => n.startsWith('.'));
    assert.ok(temps.length <= 1, `leftover temps: ${temps.join(', ')}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a NaN dev metric is an error, not a silent value', async () => {
  const m = makeModel(11, 0);
  await assert.rejects(
    train(m, shuffled(8), { ...base, maxSteps: 4, evaluate: { every: 2, name: 'accuracy', run: () => NaN } }),
    (e: unknown) => e instanceof NonFiniteError && e.step === 2 && /eval metric accuracy = NaN/.test((e as Error).message),
  );
  await assert.rejects(latestCheckpoint(join(tmpdir(), 'gl-does-not-exist')), /no valid checkpoint/);
  m.dispose();
});
