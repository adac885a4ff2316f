/** The no-leak check every model family's load test runs: load, copy from host data, random init, a rejected map. */
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { CheckpointError } from '../../src/errors.js';

type Host = Map<string, { shape: number[]; data: Float32Array }>;
interface Model {
  readonly params: Map<string, tf.Variable>;
  dispose(): void;
}

/** `copy(m, host)` / `random(m)` build a model of `m`'s family and config; `missing` is a tensor the copy requires. */
export async function assertNoTensorLeaks<M extends Model>(load: () => Promise<M>, copy: (m: M, host: Host) => M, random: (m: M) => M, missing: string): Promise<void> {
  const before = tf.memory().numTensors;
  const loaded = await load();
  assert.equal(tf.memory().numTensors, before + loaded.params.size); // exactly one tensor per variable
  const host: Host = new Map([...loaded.params].map(([n, v]) => [n, { shape: v.shape, data: v.dataSync() as Float32Array }]));
  const models = [loaded, copy(loaded, host), random(loaded)];
  assert.equal(tf.memory().numTensors, before + 3 * loaded.params.size);
  host.delete(missing);
  assert.throws(() => copy(loaded, host), (e: unknown) => e instanceof CheckpointError && e.tensor === missing);
  for (const m of models) m.dispose();
  assert.equal(tf.memory().numTensors, before);
}
