import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '../../src/errors.js';
import { batchRows } from '../../src/pretrain/loss.js';
import { documentStream, PackedSequences, targetWeights } from '../../src/pretrain/pack.js';
import { epochBatches, spreadIndices } from '../../src/pretrain/run.js';
import { Rng } from '../../src/rng/index.js';

const S = { padId: 0, eosId: 1, bosId: 2 };
const seqs = (p: PackedSequences) => Array.from({ length: p.count }, (_, i) => Array.from(p.sequence(i)));

test('documents become bos d eos, concatenated in order', () => {
  assert.deepEqual(Array.from(documentStream([[10, 11, 12], [20], []], S)), [2, 10, 11, 12, 1, 2, 20, 1, 2, 1]);
});

test('packing cuts the stream into length-L sequences; the partial last one is padded or dropped', () => {
  const stream = documentStream([[10, 11, 12], [20, 21, 22, 23]], S); // 2 10 11 12 1 2 20 21 22 23 1 (11 tokens)
  const padded = new PackedSequences(stream, 4, 'pad', S.padId);
  assert.deepEqual(seqs(padded), [
    [2, 10, 11, 12],
    [1, 2, 20, 21],
    [22, 23, 1, 0],
  ]);
  assert.deepEqual([padded.length(0), padded.length(1), padded.length(2)], [4, 4, 3]);
  const dropped = new PackedSequences(stream, 4, 'drop', S.padId);
  assert.deepEqual(seqs(dropped), [
    [2, 10, 11, 12],
    [1, 2, 20, 21],
  ]);
  // An exact multiple has no partial sequence either way.
  const exact = new PackedSequences(documentStream([[10, 11]], S), 2, 'pad', S.padId);
  assert.deepEqual(seqs(exact), [
    [2, 10],
    [11, 1],
  ]);
  assert.throws(() => padded.sequence(3), RangeError);
  assert.throws(() => new PackedSequences(stream, 1, 'pad', 0), ConfigError);
});

test('target weights: never position 0, never pad, never bos; eos counts', () => {
  assert.deepEqual(targetWeights([1, 2, 20, 21], 4, S), [0, 0, 1, 1]);
  assert.deepEqual(targetWeights([22, 23, 1, 0], 3, S), [0, 1, 1, 0]);
  const p = new PackedSequences(documentStream([[10, 11, 12], [20, 21, 22, 23]], S), 4, 'pad', S.padId);
  const rows = batchRows(p, [2, 0], S);
  assert.deepEqual(rows.ids, [
    [22, 23, 1, 0],
    [2, 10, 11, 12],
  ]);
  assert.deepEqual(rows.mask, [
    [1, 1, 1, 0],
    [1, 1, 1, 1],
  ]);
  assert.deepEqual(rows.weights, [
    [0, 1, 1, 0],
    [0, 1, 1, 1],
  ]);
});

test('epoch batches: a seeded permutation in full batches; eval subsets evenly spaced', () => {
  const a = epochBatches(10, 3, new Rng('x'));
  assert.equal(a.length, 3);
  assert.ok(a.every((b) => b.length === 3));
  const flat = a.flat();
  assert.equal(new Set(flat).size, 9);
  assert.deepEqual(epochBatches(10, 3, new Rng('x')), a);
  assert.notDeepEqual(epochBatches(10, 3, new Rng('y')), a);
  assert.deepEqual(spreadIndices(10, 4), [0, 2, 5, 7]);
  assert.deepEqual(spreadIndices(3, 5), [0, 1, 2]);
});
