/** Shared helpers for the T5Gemma golden fixtures (test/reference/make_t5gemma_fixtures.py). */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import * as tf from '@tensorflow/tfjs-core';

import { REPO_ROOT } from '../../src/io/paths.js';
import { TOL, assertAllClose } from '../helpers/close.js';

/** Goldens from test/reference/make_t5gemma_fixtures.py (float64 torch reference). */
export interface Case {
  name: string;
  input_ids: number[][];
  attention_mask: number[][];
  decoder_input_ids: number[][];
  outputs: { encoder_hidden_states: number[][][]; decoder_hidden_states: number[][][]; logits: number[][][] };
}

export const fixtureDir = (name: string): string => join(REPO_ROOT, 'test', 'fixtures', name);
export const goldenCases = (name: string): Case[] =>
  (JSON.parse(readFileSync(join(fixtureDir(name), 'golden.json'), 'utf8')) as { cases: Case[] }).cases;

/** Per-token values where attention_mask = 1 (pad positions are outside the golden contract). */
export function realTokens(x: number[][][], mask: number[][]): number[][] {
  return x.flatMap((row, b) => row.filter((_, t) => (mask[b] as number[])[t] === 1));
}

/** Runs every golden case and returns the max errors; asserts TOL.parityF32. */
/** Anything with T5Gemma's teacher-forcing forward (T5GemmaModel, T5Gemma2Model). */
export interface Seq2SeqForward {
  forward(inputIds: number[][], decoderInputIds: number[][], o: { attentionMask?: number[][] }): { encoderHiddenStates: tf.Tensor3D; decoderHiddenStates: tf.Tensor3D; logits: tf.Tensor3D };
}

export function checkGolden(model: Seq2SeqForward, fixture: string, goldenName = fixture): { enc: number; dec: number; logits: number } {
  const err = { enc: 0, dec: 0, logits: 0 };
  for (const c of goldenCases(goldenName)) {
    const out = model.forward(c.input_ids, c.decoder_input_ids, { attentionMask: c.attention_mask });
    const enc = out.encoderHiddenStates.arraySync();
    const what = `${fixture}/${c.name}`;
    err.enc = Math.max(err.enc, assertAllClose(realTokens(enc, c.attention_mask), realTokens(c.outputs.encoder_hidden_states, c.attention_mask), TOL.parityF32, `${what} encoder`));
    err.dec = Math.max(err.dec, assertAllClose(out.decoderHiddenStates.arraySync(), c.outputs.decoder_hidden_states, TOL.parityF32, `${what} decoder`));
    err.logits = Math.max(err.logits, assertAllClose(out.logits.arraySync(), c.outputs.logits, TOL.parityF32, `${what} logits`));
    tf.dispose([out.encoderHiddenStates, out.decoderHiddenStates, out.logits]);
  }
  return err;
}

/** checkGolden that also asserts no tensor is left behind, and logs the max errors under `label`. */
export function checkGoldenNoLeaks(model: Seq2SeqForward, fixture: string, label = fixture): void {
  const before = tf.memory().numTensors;
  const err = checkGolden(model, fixture);
  assert.equal(tf.memory().numTensors, before, 'no tensor leaks');
  console.log(`${label}: max |err| encoder ${err.enc.toExponential(2)}, decoder ${err.dec.toExponential(2)}, logits ${err.logits.toExponential(2)}`);
}
