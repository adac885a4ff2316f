/** Shared helpers for the T5Gemma golden fixtures (test/reference/make_t5gemma_fixtures.py). */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import * as tf from '@tensorflow/tfjs-core';

import { REPO_ROOT } from '../../src/io/paths.js';
import type { T5GemmaModel } from '../../src/models/t5gemma.js';
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
export function checkGolden(model: T5GemmaModel, fixture: string, goldenName = fixture): { enc: number; dec: number; logits: number } {
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

