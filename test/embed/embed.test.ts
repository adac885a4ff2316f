/**
 * Sentence embeddings: EmbeddingGemma as published (sentence-transformers folder) against the float64
 * pipeline goldens of test/reference/make_family_fixtures.py, every Pooling mode, a Dense activation,
 * Matryoshka truncation, prompts, plain checkpoints (bidirectional + mean), saving back (ST folder that
 * reloads bit for bit; HF encoder checkpoint with the same attention semantics), the CLI and bad folders.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { parseGemmaConfig } from '../../src/config/gemma.js';
import { CheckpointTokenizer, loadEmbedder, meanPoolingPipeline, SentenceEmbedder } from '../../src/embed/embed.js';
import { saveSentenceTransformer } from '../../src/embed/save.js';
import { ST_POOLING_MODES } from '../../src/embed/st.js';
import { toEncoder } from '../../src/encoder/encoder.js';
import { initEngine } from '../../src/engine/index.js';
import { ConfigError } from '../../src/errors.js';
import { REPO_ROOT } from '../../src/io/paths.js';
import { GemmaModel } from '../../src/models/gemma.js';
import { exportHf, loadFinetuned } from '../../src/workflow/export.js';
import { loadGemmaModel } from '../../src/models/load.js';
import { assertAllClose, TOL } from '../helpers/close.js';
import { withDisposed } from '../helpers/dispose.js';
import { nonPad, readGolden } from '../models/golden.js';

const EG = join(REPO_ROOT, 'test', 'fixtures', 'embeddinggemma-tiny');
const G3 = join(REPO_ROOT, 'test', 'fixtures', 'gemma3-tiny');
const TOKENIZER = join(REPO_ROOT, 'data', 'tokenizers', 'gemma3-corpus');
const BIN = join(REPO_ROOT, 'bin', 'gemma-lab.js');

interface EgCase {
  name: string;
  input_ids: number[][];
  attention_mask: number[][];
  lengths: number[];
  hidden_states: number[][][];
  embeddings: number[][];
  embeddings_by_pooling: Record<string, number[][]>;
  embeddings_tanh: number[][];
}
const golden = JSON.parse(readFileSync(join(EG, 'golden.json'), 'utf8')) as { cases: EgCase[] };

function tmpCopy(): string {
  const dir = mkdtempSync(join(tmpdir(), 'embed-'));
  cpSync(EG, dir, { recursive: true });
  return dir;
}

function editJson(file: string, edit: (o: Record<string, unknown>) => void): void {
  const o = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  edit(o);
  writeFileSync(file, JSON.stringify(o));
}

test('EmbeddingGemma as published (ST folder, Gemma3TextModel keys, HF bidirectional window): embeddings match the float64 pipeline', async () => {
  await initEngine();
  const e = await loadEmbedder(EG);
  try {
    assert.equal(e.mode, 'bidirectional_sliding_gemma3_hf');
    assert.deepEqual(e.pipeline.modules.map((m) => m.kind), ['pooling', 'dense', 'dense', 'normalize']);
    assert.equal(e.dimension, 64);
    assert.equal(e.pipeline.prompts.query, 'task: search result | query: ');
    let worst = 0;
    for (const c of golden.cases) {
      const out = e.model.forward(c.input_ids, { attentionMask: c.attention_mask, attention: e.mode });
      worst = Math.max(worst, assertAllClose(nonPad(out.hiddenStates.arraySync(), c.lengths), nonPad(c.hidden_states, c.lengths), TOL.parityF32, `${c.name} hidden`));
      tf.dispose(out);
      const got = e.embed({ inputIds: c.input_ids, attentionMask: c.attention_mask });
      worst = Math.max(worst, assertAllClose(got, c.embeddings, TOL.parityF32, `${c.name} embeddings`));
      for (const row of got) assert.ok(Math.abs(Math.hypot(...row) - 1) < 1e-5, 'Normalize gives unit rows');
      // Matryoshka: a prefix, not re-normalised unless asked
      const d16 = e.embed({ inputIds: c.input_ids, attentionMask: c.attention_mask }, { dim: 16 });
      assert.deepEqual(d16, got.map((r) => r.slice(0, 16)));
      const n16 = e.embed({ inputIds: c.input_ids, attentionMask: c.attention_mask }, { dim: 16, normalize: true });
      for (const row of n16) assert.ok(Math.abs(Math.hypot(...row) - 1) < 1e-5);
    }
    console.log(`embeddinggemma-tiny: max |err| = ${worst.toExponential(2)}`);
    assert.throws(() => e.embed({ inputIds: [[2, 5]] }, { dim: 65 }), (err: unknown) => err instanceof ConfigError && err.field === 'dim');
    assert.throws(() => e.embed({ inputIds: [[2, 5]] }, { promptName: 'query' }), (err: unknown) => err instanceof ConfigError && err.field === 'prompt');
  } finally {
    e.dispose();
  }
});

test('every sentence-transformers Pooling mode and a Tanh Dense match the float64 pipeline', async () => {
  await initEngine();
  const dir = tmpCopy();
  try {
    for (const mode of ST_POOLING_MODES) {
      editJson(join(dir, '1_Pooling', 'config.json'), (o) => {
        for (const k of Object.keys(o)) if (k.startsWith('pooling_mode')) delete o[k];
        o.pooling_mode = mode;
      });
      const e = await loadEmbedder(dir);
      try {
        for (const c of golden.cases)
          assertAllClose(e.embed({ inputIds: c.input_ids, attentionMask: c.attention_mask }), c.embeddings_by_pooling[mode] as number[][], TOL.parityF32, `${c.name} ${mode}`);
      } finally {
        e.dispose();
      }
    }
    editJson(join(dir, '1_Pooling', 'config.json'), (o) => {
      o.pooling_mode = 'mean';
    });
    editJson(join(dir, '3_Dense', 'config.json'), (o) => {
      o.activation_function = 'torch.nn.modules.activation.Tanh';
    });
    const e = await loadEmbedder(dir);
    try {
      for (const c of golden.cases) assertAllClose(e.embed({ inputIds: c.input_ids, attentionMask: c.attention_mask }), c.embeddings_tanh, TOL.parityF32, `${c.name} tanh`);
    } finally {
      e.dispose();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('ST folders whose Dense shapes do not chain, or with unknown modules, are one ConfigError naming file and field', async () => {
  await initEngine();
  const cases: [string, (dir: string) => void, RegExp, string][] = [
    ['in_features', (d) => editJson(join(d, '3_Dense', 'config.json'), (o) => void (o.in_features = 100)), /3_Dense\/config\.json/, 'in_features'],
    ['word_embedding_dimension', (d) => editJson(join(d, '1_Pooling', 'config.json'), (o) => void (o.word_embedding_dimension = 32)), /1_Pooling\/config\.json/, 'word_embedding_dimension'],
    ['out_features vs weights', (d) => editJson(join(d, '2_Dense', 'config.json'), (o) => void (o.out_features = 100)), /2_Dense\/model\.safetensors.*\[128, 64\], config\.json says \[100, 64\]/, 'linear.weight'],
    ['activation', (d) => editJson(join(d, '2_Dense', 'config.json'), (o) => void (o.activation_function = 'torch.nn.modules.activation.Softplus')), /2_Dense\/config\.json/, 'activation_function'],
  ];
  for (const [what, breakIt, file, field] of cases) {
    const dir = tmpCopy();
    try {
      breakIt(dir);
      await assert.rejects(loadEmbedder(dir), (err: unknown) => {
        assert.ok(err instanceof ConfigError, `${what}: ${String(err)}`);
        assert.match(err.message, file, what);
        assert.equal(err.field, field, what);
        return true;
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
});

test('saving as a sentence-transformers folder reloads bit for bit (F32), keys without model., bidirectional flag kept', async () => {
  await initEngine();
  const e = await loadEmbedder(EG);
  const dir = mkdtempSync(join(tmpdir(), 'embed-save-'));
  try {
    await saveSentenceTransformer(e, dir);
    const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(cfg.use_bidirectional_attention, true);
    assert.equal(cfg.sliding_window, 8, 'HF halves it again at load: the published value is kept');
    assert.deepEqual(cfg.architectures, ['Gemma3TextModel']);
    const header = readFileSync(join(dir, 'model.safetensors')).subarray(8, 400).toString('latin1');
    assert.ok(header.includes('"embed_tokens.weight"') && !header.includes('model.embed_tokens'));
    await withDisposed(loadEmbedder(dir), (back) => {
      for (const c of golden.cases) {
        const x = { inputIds: c.input_ids, attentionMask: c.attention_mask };
        assert.deepEqual(back.embed(x), e.embed(x), `${c.name}: bit for bit`);
      }
      assert.deepEqual(back.pipeline.prompts, e.pipeline.prompts);
    });
  } finally {
    e.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('texts and prompts by name: the prompt string is prepended before tokenizing (checkpoint tokenizer, post-processor specials)', async () => {
  await initEngine();
  const tokJson = JSON.parse(readFileSync(join(TOKENIZER, 'tokenizer.json'), 'utf8')) as Record<string, unknown>;
  const hf = new HfTokenizer(tokJson, JSON.parse(readFileSync(join(TOKENIZER, 'tokenizer_config.json'), 'utf8')) as Record<string, unknown>);
  const vocab = new CheckpointTokenizer(TOKENIZER);
  const cfg = parseGemmaConfig({ ...JSON.parse(readFileSync(join(G3, 'config.json'), 'utf8')), vocab_size: 87427, hidden_size: 32, intermediate_size: 48, num_hidden_layers: 1, layer_types: ['sliding_attention'], use_bidirectional_attention: true }, 'test');
  const model = GemmaModel.random(cfg, 7);
  const pipeline = { ...meanPoolingPipeline(32), prompts: { query: 'task: search result | query: ' }, maxSeqLength: 32 };
  const e = new SentenceEmbedder(model, pipeline, 'bidirectional_sliding_gemma3_hf', vocab);
  const dir = mkdtempSync(join(tmpdir(), 'embed-texts-'));
  try {
    const text = 'the cat sat on the mat';
    const want = e.embed({ inputIds: [hf.encode('task: search result | query: ' + text).ids] });
    assert.deepEqual(e.embed([text], { promptName: 'query' }), want);
    assert.notDeepEqual(e.embed([text]), want);
    assert.throws(() => e.embed([text], { promptName: 'nope' }), (err: unknown) => err instanceof ConfigError && /unknown prompt 'nope'/.test(err.message));
    // Truncation keeps the specials and max_seq_length tokens.
    assert.equal(vocab.encode('word '.repeat(100), 32).length, 32);
    await saveSentenceTransformer(e, dir);
    assert.ok(existsSync(join(dir, 'tokenizer.json')) && existsSync(join(dir, 'tokenizer_config.json')), 'tokenizer files copied');
    await withDisposed(loadEmbedder(dir), (back) => assert.deepEqual(back.embed([text], { promptName: 'query' }), want));
  } finally {
    e.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a plain Gemma checkpoint embeds bidirectionally with mean pooling (float64 golden of gemma3-tiny)', async () => {
  await initEngine();
  const e = await loadEmbedder(G3);
  try {
    assert.equal(e.mode, 'bidirectional_global');
    for (const c of readGolden(G3).cases)
      assertAllClose(e.embed({ inputIds: c.input_ids, attentionMask: c.attention_mask }), c.outputs.bidirectional_global?.pooled.mean as number[][], TOL.parityF32, c.name);
  } finally {
    e.dispose();
  }
});

test('a fine-tuned Gemma 3 encoder exports so HF attends as it did (use_bidirectional_attention, window rewritten), labels, tokenizer; reloads bit for bit', async () => {
  await initEngine();
  const model = await loadGemmaModel(G3);
  const enc = toEncoder(model, { attention: 'bidirectional_sliding', pooling: 'mean', head: { kind: 'classification', numClasses: 3 }, seed: 1 });
  const dir = mkdtempSync(join(tmpdir(), 'enc-save-'));
  try {
    await exportHf(enc, model, dir, { task: 'test', attention: 'bidirectional_sliding', labels: ['negative', 'neutral', 'positive'], tokenizerDir: TOKENIZER });
    const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(cfg.use_bidirectional_attention, true);
    assert.equal(cfg.sliding_window, 14, '|i-j| < 8 written as HF 14//2+1');
    assert.deepEqual(cfg.id2label, { 0: 'negative', 1: 'neutral', 2: 'positive' });
    assert.deepEqual(cfg.label2id, { negative: 0, neutral: 1, positive: 2 });
    assert.ok(existsSync(join(dir, 'tokenizer.json')));
    const back = await loadGemmaModel(dir, { ignoreKeys: ['gemma_lab', 'problem_type'] });
    try {
      assert.equal(back.defaultMode, 'bidirectional_sliding_gemma3_hf');
      // HF semantics of the saved file vs the float64 reference of the encoder's rule, and bit-equality.
      for (const c of readGolden(G3).cases) {
        const a = back.forward(c.input_ids, { attentionMask: c.attention_mask });
        const b = model.forward(c.input_ids, { attentionMask: c.attention_mask, attention: 'bidirectional_sliding' });
        assert.deepEqual(a.hiddenStates.arraySync(), b.hiddenStates.arraySync());
        assertAllClose(nonPad(a.hiddenStates.arraySync(), c.lengths), nonPad(c.outputs.bidirectional_sliding?.hidden_states as number[][][], c.lengths), TOL.parityF32, c.name);
        tf.dispose([a, b]);
      }
    } finally {
      back.dispose();
    }
    const re = await loadFinetuned(dir);
    try {
      const c = readGolden(G3).cases[1]!;
      const batch = { ids: Int32Array.from(c.input_ids.flat()), mask: Int32Array.from(c.attention_mask.flat()), batch: c.input_ids.length, length: c.input_ids[0]!.length };
      assert.deepEqual(re.encoder.predict(batch), enc.predict(batch));
    } finally {
      re.encoder.dispose();
      re.model.dispose();
    }
  } finally {
    enc.dispose();
    model.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('gemma-lab embed CLI: ids input, --dim, errors name the input file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'embed-cli-'));
  try {
    const c = golden.cases[1] as EgCase;
    const input = join(dir, 'in.json');
    writeFileSync(input, JSON.stringify({ input_ids: c.input_ids, attention_mask: c.attention_mask }));
    const out = join(dir, 'out.json');
    const r = spawnSync(process.execPath, [BIN, 'embed', '--model', EG, '--input', input, '--out', out, '--dim', '32'], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 120_000 });
    assert.equal(r.status, 0, r.stderr);
    const got = JSON.parse(readFileSync(out, 'utf8')) as { embeddings: number[][]; dim: number; pipeline: string[] };
    assert.equal(got.dim, 32);
    assert.deepEqual(got.pipeline, ['Pooling(mean)', 'Dense(64->128, identity)', 'Dense(128->64, identity, bias)', 'Normalize']);
    assertAllClose(got.embeddings, c.embeddings.map((row) => row.slice(0, 32)), TOL.parityF32, 'cli');
    writeFileSync(input, JSON.stringify({ texts: ['hello'] }));
    const bad = spawnSync(process.execPath, [BIN, 'embed', '--model', EG, '--input', input, '--out', out], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 120_000 });
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /tokenizer/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
