import assert from 'node:assert/strict';
import { test } from 'node:test';

import { ConfigError } from '../../src/errors.js';
import { Rng } from '../../src/rng/index.js';
import { type StepFn, beamSearch, greedyDecode } from '../../src/t5gemma/decode.js';

const START = 2;
const EOS = 1;
const A = 3;
const B = 4;
const V = 5;

/**
 * A step function from a table prefix-string -> next-token probabilities (unlisted tokens get ~0;
 * unlisted prefixes, reachable only through ~0 tokens, end with eos).
 */
function tableStep(tables: readonly Record<string, Record<number, number>>[], seen: string[][] = []): StepFn {
  return async (rows, prefixes) =>
    prefixes.map((p, i) => {
      const row = rows[i] as number;
      (seen[row] ??= []).push(p.join(','));
      const probs = (tables[row] as Record<string, Record<number, number>>)[p.join(',')] ?? { [EOS]: 1 };
      return Array.from({ length: V }, (_, t) => Math.log(probs[t] ?? 1e-12));
    });
}

// Greedy takes A (0.6) then eos (0.4): p = 0.24. The best sequence is B eos: 0.4 * 0.95 = 0.38.
const TRAP: Record<string, Record<number, number>> = {
  '2': { [A]: 0.6, [B]: 0.4 },
  '2,3': { [EOS]: 0.4, [A]: 0.3, [B]: 0.3 },
  '2,4': { [EOS]: 0.95, [A]: 0.025, [B]: 0.025 },
  '2,3,3': { [EOS]: 1 },
  '2,3,4': { [EOS]: 1 },
  '2,4,3': { [EOS]: 1 },
  '2,4,4': { [EOS]: 1 },
};
// A second row in the same batch whose best path is long: A A eos.
const LONG: Record<string, Record<number, number>> = {
  '2': { [A]: 0.9, [EOS]: 0.1 },
  '2,3': { [A]: 0.9, [EOS]: 0.1 },
  '2,3,3': { [EOS]: 0.9, [A]: 0.1 },
  '2,3,3,3': { [EOS]: 1 },
};

test('greedy: local argmax, stops at eos per row, rows batched independently', async () => {
  const seen: string[][] = [];
  const out = await greedyDecode(tableStep([TRAP, LONG], seen), 2, { start: START, eos: EOS, maxNewTokens: 5 });
  assert.deepEqual(out[0]?.tokens, [A, EOS]);
  assert.ok(Math.abs((out[0]?.logProb as number) - Math.log(0.24)) < 1e-9);
  assert.deepEqual(out[1]?.tokens, [A, A, EOS]);
  assert.deepEqual(seen[0], ['2', '2,3'], 'row 0 is not stepped after its eos');
  const capped = await greedyDecode(tableStep([LONG]), 1, { start: START, eos: EOS, maxNewTokens: 2 });
  assert.deepEqual(capped[0]?.tokens, [A, A], 'maxNewTokens cuts without eos');
});

test('beam (2 beams, α=0) escapes the greedy trap; 1 beam equals greedy', async () => {
  const [row0, row1] = await beamSearch(tableStep([TRAP, LONG]), 2, { start: START, eos: EOS, maxNewTokens: 5, numBeams: 2, lengthPenalty: 0 });
  assert.deepEqual(row0?.[0]?.tokens, [B, EOS]);
  assert.ok(Math.abs((row0?.[0]?.logProb as number) - Math.log(0.38)) < 1e-9);
  assert.deepEqual(row0?.[1]?.tokens, [A, EOS], 'second best finished hypothesis');
  assert.deepEqual(row1?.[0]?.tokens, [A, A, EOS]);
  const one = await beamSearch(tableStep([TRAP]), 1, { start: START, eos: EOS, maxNewTokens: 5, numBeams: 1, lengthPenalty: 0 });
  assert.deepEqual(one[0]?.[0]?.tokens, [A, EOS]);
});

/** Random but fixed next-token distributions for every prefix. */
function randomStep(seed: number): StepFn {
  return async (_rows, prefixes) =>
    prefixes.map((p) => {
      const rng = new Rng(`${seed}:${p.join(',')}`);
      const logits = Array.from({ length: V }, () => 2 * rng.normal());
      const m = Math.max(...logits);
      const z = Math.log(logits.reduce((s, x) => s + Math.exp(x - m), 0)) + m;
      return logits.map((x) => x - z);
    });
}

/** Exhaustive best by score over all sequences that end in eos or reach maxLen. */
async function bruteForce(step: StepFn, maxLen: number, alpha: number): Promise<{ tokens: number[]; score: number }> {
  let best = { tokens: [] as number[], score: -Infinity };
  const visit = async (tokens: number[], logProb: number): Promise<void> => {
    const [lp] = await step([0], [[START, ...tokens]]);
    for (let t = 0; t < V; t++) {
      const next = [...tokens, t];
      const l = logProb + ((lp as ArrayLike<number>)[t] as number);
      if (t === EOS || next.length === maxLen) {
        const score = l / Math.pow(next.length, alpha);
        if (score > best.score) best = { tokens: next, score };
      } else await visit(next, l);
    }
  };
  await visit([], 0);
  return best;
}

test('beam with enough beams finds the exhaustive optimum, for several length penalties', async () => {
  for (const seed of [1, 2, 3, 4]) {
    for (const alpha of [0, 0.6, 1, 2]) {
      const step = randomStep(seed);
      const want = await bruteForce(step, 4, alpha);
      const [hyps] = await beamSearch(step, 1, { start: START, eos: EOS, maxNewTokens: 4, numBeams: V ** 3, lengthPenalty: alpha });
      const got = hyps?.[0];
      assert.deepEqual(got?.tokens, want.tokens, `seed ${seed} α=${alpha}`);
      assert.ok(Math.abs((got?.score as number) - want.score) < 1e-9);
      for (const h of hyps ?? []) {
        assert.ok(h.tokens.indexOf(EOS) === -1 || h.tokens.indexOf(EOS) === h.tokens.length - 1, 'nothing after eos');
      }
    }
  }
});

test('length penalty changes the winner as stated: logP / |y|^α', async () => {
  // Short: eos now (p=0.5). Long: A A A eos with p = 0.5 * 0.9^3 = 0.3645.
  const table: Record<string, Record<number, number>> = {
    '2': { [EOS]: 0.5, [A]: 0.5 },
    '2,3': { [A]: 0.9, [EOS]: 0.1 },
    '2,3,3': { [A]: 0.9, [EOS]: 0.1 },
    '2,3,3,3': { [EOS]: 0.9, [A]: 0.1 },
    '2,3,3,3,3': { [EOS]: 1 },
  };
  const run = (alpha: number) => beamSearch(tableStep([table]), 1, { start: START, eos: EOS, maxNewTokens: 5, numBeams: 3, lengthPenalty: alpha });
  assert.deepEqual((await run(0))[0]?.[0]?.tokens, [EOS]); // log 0.5 > log 0.3645
  assert.deepEqual((await run(1))[0]?.[0]?.tokens, [A, A, A, EOS]); // log(.3645)/4 > log(.5)/1
  await assert.rejects(run(-1), ConfigError);
});
