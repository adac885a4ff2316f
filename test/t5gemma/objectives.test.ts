import assert from 'node:assert/strict';
import { test } from 'node:test';

import { ConfigError } from '../../src/errors.js';
import { Rng } from '../../src/rng/index.js';
import { prefixLmExample, prefixSplitPoint } from '../../src/t5gemma/objectives/prefixlm.js';
import { IGNORE, collateSeq2Seq } from '../../src/t5gemma/objectives/seq2seq.js';
import { batchRows, unflatten } from '../../src/tokenize/batch.js';
import {
  GEMMA_UL2_TOKENS,
  T5GEMMA2_MIXTURE,
  type Denoiser,
  spanNoiseMask,
  ul2Example,
  ul2MixtureExample,
} from '../../src/t5gemma/objectives/ul2.js';

const BOS = 2;
const EOS = 1;
const toks = (n: number, from = 50): number[] => Array.from({ length: n }, (_, i) => from + i);

test('PrefixLM half split: encoder = first half, decoder = bos + shifted suffix, labels = suffix + eos', () => {
  const ex = prefixLmExample([50, 51, 52, 53, 54, 55, 56]);
  assert.deepEqual(ex.inputIds, [50, 51, 52]);
  assert.deepEqual(ex.labels, [53, 54, 55, 56, EOS]);
  assert.deepEqual(ex.decoderInputIds, [BOS, 53, 54, 55, 56]);
});

test('PrefixLM fixed split without eos, and a random split is seeded and in range', () => {
  const ex = prefixLmExample([50, 51, 52, 53, 54], { split: 1, appendEos: false });
  assert.deepEqual(ex, { inputIds: [50], decoderInputIds: [BOS, 51, 52, 53], labels: [51, 52, 53, 54] });
  const a = Array.from({ length: 200 }, (_, i) => prefixSplitPoint(10, { split: 'random', minPrefix: 2, minTarget: 3 }, new Rng(i)));
  assert.ok(a.every((s) => s >= 2 && s <= 7));
  assert.deepEqual(new Set(a), new Set([2, 3, 4, 5, 6, 7]), 'every admissible split occurs');
  const again = Array.from({ length: 200 }, (_, i) => prefixSplitPoint(10, { split: 'random', minPrefix: 2, minTarget: 3 }, new Rng(i)));
  assert.deepEqual(a, again);
  assert.throws(() => prefixLmExample([50], {}), ConfigError);
  assert.throws(() => prefixLmExample(toks(5), { split: 5 }), ConfigError);
});

test('collate pads right: encoder with pad 0 + mask, decoder with pad, labels with IGNORE', () => {
  const batch = collateSeq2Seq([prefixLmExample(toks(4)), prefixLmExample(toks(7, 80))], 0);
  const enc = batchRows(batch);
  const dec = batchRows(batch.decoder);
  assert.deepEqual(enc.inputIds, [
    [50, 51, 0],
    [80, 81, 82],
  ]);
  assert.deepEqual(enc.attentionMask, [
    [1, 1, 0],
    [1, 1, 1],
  ]);
  assert.deepEqual(dec.inputIds, [
    [BOS, 52, 53, 0, 0],
    [BOS, 83, 84, 85, 86],
  ]);
  assert.deepEqual(dec.attentionMask, [
    [1, 1, 1, 0, 0],
    [1, 1, 1, 1, 1],
  ]);
  assert.deepEqual(unflatten(batch.labels, batch.decoder.length), [
    [52, 53, EOS, IGNORE, IGNORE],
    [83, 84, 85, 86, EOS],
  ]);
});

const X = GEMMA_UL2_TOKENS.mode.X;
const R = GEMMA_UL2_TOKENS.mode.R;
const S0 = GEMMA_UL2_TOKENS.firstSentinel;

test('UL2 span corruption: exact layouts where the mask is forced', () => {
  // n=3, r=2/3: 2 noise tokens, 1 span, segments kept[1] then noise[2].
  const x: Denoiser = { kind: 'span', mode: 'X', meanSpan: 3, rate: 0.67, weight: 1 };
  assert.deepEqual(ul2Example([50, 51, 52], x, new Rng(1)), {
    inputIds: [X, 50, S0],
    labels: [S0, 51, 52, EOS],
    decoderInputIds: [BOS, S0, 51, 52],
  });
  // n=4, r=0.5, μ=1: 2 spans of 1 -> kept, noise, kept, noise.
  const r: Denoiser = { kind: 'span', mode: 'R', meanSpan: 1, rate: 0.5, weight: 1 };
  assert.deepEqual(ul2Example([50, 51, 52, 53], r, new Rng(1)), {
    inputIds: [R, 50, S0, 52, S0 + 1],
    labels: [S0, 51, S0 + 1, 53, EOS],
    decoderInputIds: [BOS, S0, 51, S0 + 1, 53],
  });
  // The same with a single sentinel available: one longer span, noise count kept.
  const one = { ...GEMMA_UL2_TOKENS, maxSentinels: 1 };
  assert.deepEqual(ul2Example([50, 51, 52, 53], r, new Rng(1), { tokens: one }), {
    inputIds: [R, 50, 51, S0],
    labels: [S0, 52, 53, EOS],
    decoderInputIds: [BOS, S0, 52, 53],
  });
});

test('UL2 sequential [S] denoiser: target = last round(0.75 n) tokens', () => {
  const s = T5GEMMA2_MIXTURE[4] as Denoiser;
  assert.deepEqual(ul2Example(toks(8), s, new Rng(0)), {
    inputIds: [GEMMA_UL2_TOKENS.mode.S, 50, 51],
    labels: [52, 53, 54, 55, 56, 57, EOS],
    decoderInputIds: [BOS, 52, 53, 54, 55, 56, 57],
  });
});

/** Undo span corruption: replace each sentinel in the input by its span from the labels. */
function reconstruct(inputIds: readonly number[], labels: readonly number[]): number[] {
  const spans = new Map<number, number[]>();
  let cur: number[] | undefined;
  for (const t of labels.slice(0, -1)) {
    if (t >= S0 && t < S0 + GEMMA_UL2_TOKENS.maxSentinels) spans.set(t, (cur = []));
    else (cur as number[]).push(t);
  }
  return inputIds.slice(1).flatMap((t) => spans.get(t) ?? [t]);
}

test('UL2 span corruption on random cases: noise count, span count, sentinel order, lossless', () => {
  const rng = new Rng(7);
  for (const d of T5GEMMA2_MIXTURE.slice(0, 4) as Extract<Denoiser, { kind: 'span' }>[]) {
    for (const n of [20, 64, 257]) {
      const tokens = toks(n, 200);
      const before = Rng.fromState(rng.state());
      const mask = spanNoiseMask(n, d.meanSpan, d.rate, GEMMA_UL2_TOKENS.maxSentinels, before);
      const ex = ul2Example(tokens, d, rng);
      const noise = mask.filter(Boolean).length;
      assert.equal(mask.length, n);
      assert.equal(noise, Math.min(n - 1, Math.max(1, Math.round(n * d.rate))));
      const spans = mask.filter((m, i) => m && (i === 0 || !mask[i - 1])).length;
      assert.equal(spans, Math.max(1, Math.min(noise, n - noise, Math.round(noise / d.meanSpan))));
      assert.equal(mask[0], false, 'segments start with a kept one');
      const sentinels = ex.labels.filter((t) => t >= S0 && t < S0 + 96);
      assert.deepEqual(sentinels, Array.from({ length: spans }, (_, i) => S0 + i));
      assert.equal(ex.inputIds[0], GEMMA_UL2_TOKENS.mode[d.mode]);
      assert.equal(ex.inputIds.length, 1 + n - noise + spans);
      assert.equal(ex.labels.length, noise + spans + 1);
      assert.deepEqual(reconstruct(ex.inputIds, ex.labels), tokens);
      assert.deepEqual(ex.decoderInputIds, [BOS, ...ex.labels.slice(0, -1)]);
    }
  }
});

test('UL2 mixture: seeded, deterministic, and sampled 1:1:1:1:4', () => {
  const tokens = toks(40);
  const a = ul2MixtureExample(tokens, new Rng(42));
  const b = ul2MixtureExample(tokens, new Rng(42));
  assert.deepEqual(a, b);
  const rng = new Rng(3);
  const counts = new Map<Denoiser, number>();
  const N = 8000;
  for (let i = 0; i < N; i++) {
    const d = ul2MixtureExample(tokens, rng).denoiser;
    counts.set(d, (counts.get(d) ?? 0) + 1);
  }
  T5GEMMA2_MIXTURE.forEach((d) => {
    const p = (counts.get(d) ?? 0) / N;
    assert.ok(Math.abs(p - d.weight / 8) < 0.025, `${d.mode} μ=${'meanSpan' in d ? d.meanSpan : '-'} freq ${p}`);
  });
});
