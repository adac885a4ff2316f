import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/rng/index.js';
import { bucketedBatches, sequentialBatches } from '../../src/train/batching.js';
import { padRight } from '../../src/tokenize/batch.js';
import { ConfigError } from '../../src/errors.js';

const lengths = Array.from({ length: 1000 }, (_, i) => 1 + ((i * 7919) % 97));

test('bucketed batches: a permutation of all examples, seeded, low padding', () => {
  const a = bucketedBatches(lengths, new Rng(1), { batchSize: 16, poolBatches: 10 });
  assert.deepEqual(a.flat().sort((x, y) => x - y), lengths.map((_, i) => i), 'every example exactly once');
  assert.deepEqual(bucketedBatches(lengths, new Rng(1), { batchSize: 16, poolBatches: 10 }), a, 'same seed, same batches');
  assert.notDeepEqual(bucketedBatches(lengths, new Rng(2), { batchSize: 16, poolBatches: 10 }), a, 'other seed, other order');
  // Padding: sum over batches of (max - len). Sorting pools of 160 cuts it far below random batches.
  const waste = (bs: number[][]) => bs.reduce((s, b) => s + b.reduce((t, i) => t + Math.max(...b.map((j) => lengths[j]!)) - lengths[i]!, 0), 0);
  const random = new Rng(1).shuffle(lengths.map((_, i) => i));
  const randomBatches = Array.from({ length: Math.ceil(1000 / 16) }, (_, k) => random.slice(k * 16, k * 16 + 16));
  assert.ok(waste(a) < 0.2 * waste(randomBatches), `padding ${waste(a)} vs random ${waste(randomBatches)}`);
  // Batch order is shuffled, not sorted by length.
  const maxes = a.map((b) => Math.max(...b.map((j) => lengths[j]!)));
  assert.notDeepEqual(maxes, [...maxes].sort((x, y) => x - y));
});

test('dropLast drops the short batch; sequential batches keep all, sorted by length', () => {
  const d = bucketedBatches(lengths.slice(0, 50), new Rng(3), { batchSize: 16, dropLast: true });
  assert.equal(d.length, 3);
  assert.ok(d.every((b) => b.length === 16));
  const s = sequentialBatches([5, 1, 3, 2], 3);
  assert.deepEqual(s, [[1, 3, 2], [0]]);
  assert.throws(() => bucketedBatches([1], new Rng(0), { batchSize: 0 }), ConfigError);
});

test('padRight: right padding with the pad id, mask 1/0, truncation to maxLength', () => {
  const p = padRight([[5, 6, 7], [8]], 0);
  assert.equal(p.length, 3);
  assert.deepEqual([...p.ids], [5, 6, 7, 8, 0, 0]);
  assert.deepEqual([...p.mask], [1, 1, 1, 1, 0, 0]);
  const t = padRight([[5, 6, 7], [8]], 9, 2);
  assert.deepEqual([...t.ids], [5, 6, 8, 9]);
  assert.deepEqual([...t.mask], [1, 1, 1, 0]);
});
