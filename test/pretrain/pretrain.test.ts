import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { initEngine } from '../../src/engine/index.js';
import { ConfigError, TrainingError } from '../../src/errors.js';
import { sharedDataPath } from '../../src/io/paths.js';
import { loadGemmaModel } from '../../src/models/load.js';
import { bbcDocument, decodeUtf8Lenient, readEntry, splitEntries } from '../../src/pretrain/corpus.js';
import { evaluateNll, perplexity } from '../../src/pretrain/loss.js';
import { PackedSequences } from '../../src/pretrain/pack.js';
import { pretrain, type PretrainOptions } from '../../src/pretrain/run.js';
import { assertNewlineSafe, buildCorpusTokenizer, cachedStream, encodeDocument } from '../../src/pretrain/tokens.js';
import { loadTokenizer, tokenizerFromJson } from '../../src/tokenize/index.js';
import { readTokenizerFiles } from '../../src/tokenize/trim.js';
import { TrainingInterrupted } from '../../src/train/trainer.js';
import { assertAllClose } from '../helpers/close.js';
import { makeCorpus } from './synthetic.js';

// Parsed once: the Gemma 3 tokenizer is large.
const base = readTokenizerFiles();
const gemma3 = tokenizerFromJson(base.tokenizerJson, base.config, { eos: ['<eos>'] });

test('per-line encoding gives exactly the ids of whole-text encoding (real corpus text)', async () => {
  const corpus = sharedDataPath('corpus');
  const entries = (await splitEntries(corpus, 'heldout', ['bbc'])).slice(0, 3);
  for (const e of entries) {
    const text = bbcDocument(decodeUtf8Lenient(await readEntry(corpus, e)));
    assert.ok(text.includes('\n'));
    assert.deepEqual(encodeDocument(gemma3, text), gemma3.encode(text, { addBos: false }), e.file);
  }
  const tricky = 'a\n\n\nb \n c\n';
  assert.deepEqual(encodeDocument(gemma3, tricky), gemma3.encode(tricky, { addBos: false }));
});

test('a tokenizer with a token mixing newline and text is refused (per-line encoding would not be exact)', () => {
  assert.doesNotThrow(() => assertNewlineSafe(base, 'gemma3'));
  const bad = { tokenizerJson: { model: { vocab: { a: 0, '.\n': 1 } } }, config: {} };
  assert.throws(() => assertNewlineSafe(bad, 'bad.json'), (e: unknown) => e instanceof ConfigError && /bad\.json/.test(e.message));
});

test('corpus tokenizer keeps the most frequent tokens (+ specials and bytes) and stays lossless', async () => {
  const texts = ['the the the cat', 'the cat sat'];
  const r = await buildCorpusTokenizer(base, texts, { topTokens: 2 });
  assert.equal(r.counted.distinct, new Set(texts.flatMap((t) => encodeDocument(gemma3, t))).size);
  const kept = new Set(r.trim.newToOld);
  const the = gemma3.tokenToId('the') as number;
  const tCat = gemma3.tokenToId('▁the') as number;
  assert.ok(kept.has(the) && kept.has(tCat), 'the two most frequent tokens are kept');
  assert.equal(r.tokenizer.tokenToId('▁sat'), undefined, 'a once-used token is dropped');
  assert.equal(r.tokenizer.decode(encodeDocument(r.tokenizer, 'the cat sat\non the mat')), 'the cat sat\non the mat');
  assert.deepEqual([r.tokenizer.padId, r.tokenizer.eosId, r.tokenizer.bosId], [0, 1, 2]);
});

test('token stream cache: rebuilt when the key changes or the bytes are damaged, reused otherwise', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'stream-'));
  const file = join(dir, 's.bin');
  let builds = 0;
  const docs = () =>
    (async function* () {
      builds++;
      yield 'the cat';
      yield 'a dog';
    })();
  const a = await cachedStream(file, 'k1', docs, gemma3);
  const want = [2, ...gemma3.encode('the cat', { addBos: false }), 1, 2, ...gemma3.encode('a dog', { addBos: false }), 1];
  assert.deepEqual(Array.from(a.stream), want);
  const b = await cachedStream(file, 'k1', docs, gemma3);
  assert.equal(b.cached, true);
  assert.deepEqual(Array.from(b.stream), want);
  assert.equal(builds, 1);
  await cachedStream(file, 'k2', docs, gemma3);
  assert.equal(builds, 2);
  writeFileSync(file, Buffer.alloc(want.length * 4));
  const c = await cachedStream(file, 'k2', docs, gemma3);
  assert.equal(c.cached, false);
  assert.deepEqual(Array.from(c.stream), want);
});

test('pretrain: interrupted + resumed gives bit-identical weights to a straight run; the model dir loads', async () => {
  await initEngine();
  const corpusDir = makeCorpus();
  const root = mkdtempSync(join(tmpdir(), 'pretrain-run-'));
  const opts = (outDir: string, extra: Partial<PretrainOptions> = {}): PretrainOptions => ({
    outDir,
    corpusDir,
    settings: { preset: 'gemma3-tiny', seqLen: 16, batchSize: 2, steps: 6, lr: 3e-3, warmupSteps: 2, minLrRatio: 0.1, weightDecay: 0.1, dropout: 0.1, seed: 7, topTokens: 40 },
    evalEvery: 2,
    evalSequences: 2,
    checkpointEvery: 100,
    baseTokenizer: base,
    ...extra,
  });
  const straight = await pretrain(opts(join(root, 'a')));
  assert.equal(straight.steps, 6);
  assert.deepEqual(straight.evals.map((e) => e.step), [2, 4, 6]);

  // Interrupt after step 3 (the trainer saves a checkpoint on abort), then resume; reuse run a's tokenizer.
  const ac = new AbortController();
  const b = join(root, 'b');
  const tokenizerDir = join(root, 'a', 'tokenizer');
  await assert.rejects(
    pretrain(opts(b, { tokenizerDir, signal: ac.signal, onLog: (l) => l.step === 3 && ac.abort() })),
    (e: unknown) => e instanceof TrainingInterrupted && e.step === 3 && e.checkpoint !== undefined,
  );
  await assert.rejects(pretrain(opts(b, { tokenizerDir })), TrainingError, 'a fresh run must not overwrite checkpoints');
  await assert.rejects(pretrain(opts(b, { tokenizerDir, resume: true, settings: { ...opts(b).settings, lr: 1e-3 } })), TrainingError, 'settings must match');
  const resumed = await pretrain(opts(b, { tokenizerDir, resume: true }));

  const weights = (dir: string) => readFileSync(join(dir, 'model', 'model.safetensors'));
  assert.ok(weights(join(root, 'a')).equals(weights(b)), 'final weights differ');
  assert.deepEqual(resumed.lossCurve, straight.lossCurve);
  assert.deepEqual(resumed.evals.map((e) => e.pieces), straight.evals.map((e) => e.pieces));
  assert.ok(straight.lossCurve.every((l) => Number.isFinite(l.loss)));

  // The HF-layout dir: loadModel + its own tokenizer reproduce the reported held-out perplexity.
  const model = await loadGemmaModel(straight.modelDir);
  const tok = loadTokenizer(straight.modelDir);
  assert.equal(model.config.vocabSize, tok.vocabSize);
  const bytes = readFileSync(join(root, 'a', 'tokens', 'heldout-wikipedia.bin'));
  const stream = new Int32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  const r = await evaluateNll(model, new PackedSequences(stream, 16, 'pad', tok.padId), tok);
  model.dispose();
  const want = straight.final.pieces.find((p) => p.piece === 'wikipedia');
  assert.ok(want);
  assert.equal(r.tokens, want.tokens);
  assertAllClose(perplexity(r), want.perplexity, 1e-6 * want.perplexity, 'reloaded perplexity');
  const uni = straight.unigram.find((p) => p.piece === 'pooled');
  assert.ok(uni && uni.tokens === (straight.final.pieces.at(-1) as { tokens: number }).tokens);

  // --resume on a finished run: no training, same weights; the BF16 export loads and scores about the same.
  const before = weights(join(root, 'a'));
  const exportDir = join(root, 'export');
  const again = await pretrain(opts(join(root, 'a'), { resume: true, exportTo: { dir: exportDir, dtype: 'BF16' } }));
  assert.ok(weights(join(root, 'a')).equals(before));
  assert.deepEqual(again.final, straight.final);
  assert.equal((JSON.parse(readFileSync(join(exportDir, 'config.json'), 'utf8')) as { dtype: string }).dtype, 'bfloat16');
  assert.ok(readFileSync(join(exportDir, 'model.safetensors')).length < 0.6 * before.length);
  const pooledPpl = (xs: readonly { piece: string; perplexity: number }[]) => (xs.find((p) => p.piece === 'pooled') as { perplexity: number }).perplexity;
  const rel = Math.abs(pooledPpl(again.exported?.pieces ?? []) / pooledPpl(straight.final.pieces) - 1);
  assert.ok(rel < 0.01, `bf16 copy perplexity differs by ${rel}`);
});
