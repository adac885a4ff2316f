/**
 * Checks a model against a fixture's golden.json (format: docs/conventions.md):
 * every case, every recorded mode, hidden states at non-pad positions, causal logits at non-pad
 * positions, and every pooling in full. Returns the max abs error per quantity for reporting.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { assertAllClose, TOL } from '../helpers/close.js';
import type { GemmaModel } from '../../src/models/gemma.js';
import { ATTENTION_MODES, type AttentionMode } from '../../src/nn/masks.js';
import { TOKEN_POOLINGS } from '../../src/nn/pooling.js';

export interface GoldenOutputs {
  /** Optional (our fixtures, one case): residual stream after the embedding and after each layer. */
  layer_states?: number[][][][];
  hidden_states: number[][][];
  logits?: number[][][];
  pooled: Record<string, number[][]>;
}
export interface GoldenCase {
  name: string;
  input_ids: number[][];
  attention_mask: number[][];
  lengths: number[];
  outputs: Record<string, GoldenOutputs>;
}
export interface Golden {
  fixture: string;
  model_type: string;
  cases: GoldenCase[];
}

export function readGolden(dir: string): Golden {
  return JSON.parse(readFileSync(join(dir, 'golden.json'), 'utf8')) as Golden;
}

/** Keeps positions t < lengths[b] of a [B][T][X] array. */
export function nonPad(x: number[][][], lengths: number[]): number[][][] {
  return x.map((row, b) => row.slice(0, lengths[b]));
}

/** Max abs error per (mode, quantity) over all cases; asserts each against TOL.parityF32. */
export function checkGolden(model: Pick<GemmaModel, 'forward' | 'pool'>, golden: Golden): Map<string, number> {
  const maxErr = new Map<string, number>();
  const note = (key: string, err: number) => maxErr.set(key, Math.max(maxErr.get(key) ?? 0, err));
  for (const c of golden.cases) {
    for (const [modeKey, want] of Object.entries(c.outputs)) {
      if (!(ATTENTION_MODES as readonly string[]).includes(modeKey)) throw new Error(`golden mode ${modeKey} unknown`);
      const mode = modeKey as AttentionMode;
      const before = tf.memory().numTensors;
      // Logits are computed by default in causal mode only; goldens that record them elsewhere ask for them.
      const askLogits = want.logits !== undefined && mode !== 'causal' ? { logits: true } : {};
      const out = model.forward(c.input_ids, { attentionMask: c.attention_mask, attention: mode, layerStates: want.layer_states !== undefined, ...askLogits });
      const what = `${golden.fixture}/${c.name}/${mode}`;
      // Stages in order, so the first failing assertion names the first divergent layer.
      want.layer_states?.forEach((stage, i) => {
        const name = i === 0 ? 'embedding' : `layer ${i - 1}`;
        const got = (out.layerStates as tf.Tensor3D[])[i] as tf.Tensor3D;
        note(`${mode}.layer_states`, assertAllClose(nonPad(got.arraySync(), c.lengths), nonPad(stage, c.lengths), TOL.parityF32, `${what} ${name} output`));
      });
      if (want.layer_states) assert.equal(out.layerStates?.length, want.layer_states.length, `${what}: number of layer states`);
      note(`${mode}.hidden_states`, assertAllClose(nonPad(out.hiddenStates.arraySync(), c.lengths), nonPad(want.hidden_states, c.lengths), TOL.parityF32, `${what} hidden_states`));
      if (want.logits) {
        if (!out.logits) throw new Error(`${what}: no logits computed`);
        note(`${mode}.logits`, assertAllClose(nonPad(out.logits.arraySync(), c.lengths), nonPad(want.logits, c.lengths), TOL.parityF32, `${what} logits`));
      } else if (out.logits) throw new Error(`${what}: logits computed in a non-causal mode by default`);
      for (const kind of TOKEN_POOLINGS) {
        const pooled = model.pool(out.hiddenStates, c.attention_mask, kind);
        note(`${mode}.pooled.${kind}`, assertAllClose(pooled.arraySync(), want.pooled[fixturePoolingKey(kind)] as number[][], TOL.parityF32, `${what} pooled.${kind}`));
        pooled.dispose();
      }
      tf.dispose(out);
      if (tf.memory().numTensors !== before) throw new Error(`${what}: leaked ${tf.memory().numTensors - before} tensors`);
    }
  }
  return maxErr;
}

/** The reference script names last-real-token pooling 'last_non_pad'. */
export const fixturePoolingKey = (kind: string): string => (kind === 'last' ? 'last_non_pad' : kind);

export function report(label: string, errs: Map<string, number>): void {
  const worst = Math.max(...errs.values());
  console.log(`${label}: max |err| = ${worst.toExponential(2)} (${[...errs].map(([k, v]) => `${k} ${v.toExponential(1)}`).join(', ')})`);
}
