// Child process of the checkpoint soak: trains a tiny model, saving (and pruning) after every step, resuming
// from the newest valid checkpoint in DIR when there is one. Killed at random moments by the parent.
//   soak-child.ts DIR MAX_STEPS KEEP [OUT]   (OUT: final weights + losses as JSON when it finishes)
import { writeFile } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs-core';
import { initEngine } from '../../../src/engine/index.js';
import { Rng } from '../../../src/rng/index.js';
import { latestCheckpoint } from '../../../src/train/checkpoint.js';
import { train, type Trainable, type TrainData } from '../../../src/train/trainer.js';

const [dir, maxStepsArg, keepArg, out] = process.argv.slice(2) as [string, string, string, string?];
await initEngine();

const N = 48;
const D = 16;
const H = 256; // fc1 is 16 KiB: each save writes ~100 KiB over 4 files
const dataRng = new Rng(7);
const X = Array.from({ length: N }, () => Array.from({ length: D }, () => dataRng.normal()));
const Y = X.map((x) => x[0]! - 2 * x[1]! + 0.5 * x[2]! * x[3]!);

const r = new Rng(4);
const init = (shape: number[]) => tf.variable(tf.tensor(Array.from({ length: shape.reduce((a, b) => a * b) }, () => 0.1 * r.normal()), shape));
const params = new Map([
  ['fc1.weight', init([D, H])],
  ['fc1.bias', tf.variable(tf.zeros([H]))],
  ['fc2.weight', init([H, 1])],
]);
const model: Trainable<{ idx: number[] }> = {
  params,
  loss(b, { seed }) {
    return tf.tidy(() => {
      const x = tf.dropout(tf.tensor2d(b.idx.map((i) => X[i]!)), 0.1, undefined, seed);
      const h = x.matMul(params.get('fc1.weight')!).add(params.get('fc1.bias')!).tanh();
      const yhat = h.matMul(params.get('fc2.weight')!).reshape([-1]);
      return yhat.sub(tf.tensor1d(b.idx.map((i) => Y[i]!))).square().mean() as tf.Scalar;
    });
  },
};
const data: TrainData<{ idx: number[] }> = {
  epoch(_e, rng) {
    const order = rng.shuffle(Array.from({ length: N }, (_, i) => i));
    const batches = [];
    for (let i = 0; i < N; i += 8) batches.push({ idx: order.slice(i, i + 8) });
    return batches;
  },
  size: (b) => b.idx.length,
};

const resume = await latestCheckpoint(dir).then(() => true, () => false);
process.stdout.write(`started resume=${resume}\n`);
const res = await train(model, data, {
  seed: 3,
  maxSteps: Number(maxStepsArg),
  schedule: { lr: 0.02, warmupSteps: 2, decay: 'cosine' },
  optimizer: { weightDecay: 0.01 },
  checkpoint: { dir, every: 1, keep: Number(keepArg) },
  resume,
  onLog: (l) => process.stdout.write(`step ${l.step}\n`),
});
if (out) {
  const weights = [...params].map(([n, v]) => [n, Buffer.from((v.dataSync() as Float32Array).buffer).toString('hex')]);
  await writeFile(out, JSON.stringify({ steps: res.steps, resumedFrom: res.resumedFrom, losses: res.logs.map((l) => l.loss), weights }));
}
