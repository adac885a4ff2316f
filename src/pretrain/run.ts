/**
 * `pretrain()`: causal-LM pretraining of a tiny Gemma on the corpus, resumable.
 *
 * Layout of `outDir`:
 *   run.json            settings that determine the result (a resume must match them)
 *   tokenizer/          the trimmed tokenizer (tokenizer.json, tokenizer_config.json, id_map.json)
 *   tokens/*.bin        cached token streams (Int32, `bos d eos ...`), keyed by tokenizer + corpus
 *   checkpoints/ckpt-N  training checkpoints (weights, AdamW moments, trainer + RNG state), atomic
 *   model/              the final HF-layout model: config.json, model.safetensors, tokenizer files
 *   metrics.json        tokens/s, loss curve, held-out perplexity per eval (+ unigram baseline)
 * Everything random flows from `seed` (init, data order), so interrupt + resume = one straight run.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { initEngine } from '../engine/index.js';
import { ConfigError, TrainingError } from '../errors.js';
import { writeFileAtomic, writeJsonAtomic } from '../io/atomic.js';
import { GemmaModel } from '../models/gemma.js';
import { loadGemmaModel } from '../models/load.js';
import type { ProgressEvent, RunControl } from '../progress/index.js';
import type { Rng } from '../rng/index.js';
import { tokenizerFromJson } from '../tokenize/index.js';
import { readTokenizerFiles, saveTrimmedTokenizer, type TokenizerFiles } from '../tokenize/trim.js';
import { latestCheckpoint } from '../train/checkpoint.js';
import { train, type StepLog } from '../train/trainer.js';
import { CORPUS_SOURCES, corpusDocuments, type CorpusSource } from './corpus.js';
import { batchRows, evaluateNll, modelLoss, perplexity, unigramNll, type NllTotal } from './loss.js';
import { PackedSequences, type SpecialIds } from './pack.js';
import { presetConfig } from './presets.js';
import { assertNewlineSafe, buildCorpusTokenizer, cachedStream, sha256Hex, STREAM_FORMAT } from './tokens.js';

export interface PretrainSettings {
  readonly preset: string;
  readonly seqLen: number;
  readonly batchSize: number;
  readonly steps: number;
  readonly lr: number;
  readonly warmupSteps: number;
  /** Cosine decay floor as a fraction of lr. */
  readonly minLrRatio: number;
  readonly weightDecay: number;
  readonly dropout: number;
  readonly seed: number;
  /** Vocabulary: the N most frequent training tokens (+ specials, bytes, BPE intermediates). */
  readonly topTokens: number;
}

export interface PretrainOptions extends RunControl {
  readonly outDir: string;
  readonly corpusDir: string;
  readonly settings: PretrainSettings;
  readonly resume?: boolean;
  /** Evaluate every N steps (and after the last) on `evalSequences` sequences per held-out piece. */
  readonly evalEvery: number;
  readonly evalSequences: number;
  /** Sequences per held-out piece for the final evaluation; default all. */
  readonly finalEvalSequences?: number;
  readonly checkpointEvery: number;
  /** Use this tokenizer folder instead of building one (its files are copied into outDir/tokenizer). */
  readonly tokenizerDir?: string;
  /** The base tokenizer to trim (default the Gemma 3 tokenizer); injectable so tests parse it once. */
  readonly baseTokenizer?: TokenizerFiles;
  readonly verify?: 'none' | 'size' | 'sha256';
  /** Also write the final model (+ tokenizer files) here in a smaller dtype, and score that copy too. */
  readonly exportTo?: { readonly dir: string; readonly dtype: 'F32' | 'F16' | 'BF16' };
  readonly onLog?: (rec: StepLog) => void;
  /** Status lines (tokenizer built, caches, evals). */
  readonly log?: (line: string) => void;
}

export interface PieceEval {
  readonly piece: CorpusSource | 'pooled';
  readonly tokens: number;
  readonly nll: number;
  readonly perplexity: number;
}

export interface EvalEntry {
  readonly step: number;
  readonly sequencesPerPiece: number | 'all';
  readonly pieces: readonly PieceEval[];
}

export interface PretrainMetrics {
  readonly settings: PretrainSettings;
  readonly engine: { readonly backend: string; readonly native: boolean; readonly threads: number | undefined };
  readonly model: { readonly parameters: number; readonly embeddingParameters: number; readonly vocabSize: number; readonly config: string };
  readonly data: { readonly trainTokens: number; readonly trainDocs: number; readonly trainSequences: number; readonly heldoutTokens: Readonly<Record<string, number>> };
  readonly steps: number;
  readonly tokensSeen: number;
  /** Tokens through forward+backward+update per second of step time (evaluation excluded). */
  readonly trainTokensPerSecond: number;
  readonly trainSeconds: number;
  readonly lossCurve: readonly { readonly step: number; readonly loss: number; readonly lr: number; readonly gradNorm: number }[];
  readonly evals: readonly EvalEntry[];
  readonly final: EvalEntry;
  /** Unigram model of the training tokens (add-one), on the same targets as `final`. */
  readonly unigram: readonly PieceEval[];
  readonly modelDir: string;
  /** The exported copy: where, its dtype, and its held-out perplexity on the same targets as `final`. */
  readonly exported?: { readonly dir: string; readonly dtype: string; readonly pieces: readonly PieceEval[] };
}

const pieceResult = (piece: PieceEval['piece'], t: NllTotal): PieceEval => ({ piece, tokens: t.tokens, nll: t.nll, perplexity: perplexity(t) });

function pooled(parts: readonly PieceEval[]): PieceEval {
  return pieceResult('pooled', { nll: parts.reduce((s, p) => s + p.nll, 0), tokens: parts.reduce((s, p) => s + p.tokens, 0) });
}

/** `k` evenly spaced sequence indices of `count` (all when k >= count). */
export function spreadIndices(count: number, k: number): number[] {
  if (k >= count) return Array.from({ length: count }, (_, i) => i);
  return Array.from({ length: k }, (_, j) => Math.floor((j * count) / k));
}

/** Random order of the full sequences each epoch, batches of `batchSize`, last partial batch dropped. */
export function epochBatches(count: number, batchSize: number, rng: Rng): number[][] {
  const order = rng.shuffle(Array.from({ length: count }, (_, i) => i));
  const out: number[][] = [];
  for (let s = 0; s + batchSize <= order.length; s += batchSize) out.push(order.slice(s, s + batchSize));
  return out;
}

function checkSettings(s: PretrainSettings): void {
  const int = (k: keyof PretrainSettings, min: number) => {
    const v = s[k] as number;
    if (!Number.isInteger(v) || v < min) throw new ConfigError(`must be an integer >= ${min}, got ${v}`, undefined, k);
  };
  int('seqLen', 2);
  int('batchSize', 1);
  int('steps', 1);
  int('warmupSteps', 0);
  int('seed', 0);
  int('topTokens', 1);
  if (!(s.lr > 0)) throw new ConfigError(`must be > 0, got ${s.lr}`, undefined, 'lr');
  if (!(s.dropout >= 0 && s.dropout < 1)) throw new ConfigError(`must be in [0, 1), got ${s.dropout}`, undefined, 'dropout');
  if (s.warmupSteps >= s.steps) throw new ConfigError(`must be < steps (${s.steps}), got ${s.warmupSteps}`, undefined, 'warmupSteps');
}

export async function pretrain(o: PretrainOptions): Promise<PretrainMetrics> {
  const s = o.settings;
  checkSettings(s);
  const log = o.log ?? (() => {});
  const engine = await initEngine();
  const out = o.outDir;
  const ckptDir = join(out, 'checkpoints');
  const runFile = join(out, 'run.json');
  const manifestSha = sha256Hex(await readFile(join(o.corpusDir, 'MANIFEST.tsv')));
  const run = { format: STREAM_FORMAT, corpusManifestSha256: manifestSha, tokenizerDir: o.tokenizerDir ?? null, settings: s };

  // A resume must continue the same run; a fresh run must not silently overwrite one.
  const previous = await readFile(runFile, 'utf8').then((x) => JSON.parse(x) as typeof run).catch(() => null);
  let resumeStep = 0;
  if (o.resume) {
    if (!previous) throw new TrainingError(`${runFile}: nothing to resume (no run.json)`);
    if (JSON.stringify(previous) !== JSON.stringify(run)) throw new TrainingError(`${runFile}: settings differ from this invocation's (stored ${JSON.stringify(previous)}; given ${JSON.stringify(run)})`);
    resumeStep = (await latestCheckpoint(ckptDir)).step;
  } else {
    if (existsSync(ckptDir) && (await latestCheckpoint(ckptDir).then(() => true, () => false))) {
      throw new TrainingError(`${out} already holds training checkpoints: pass resume (--resume) or use another output folder`);
    }
    await writeJsonAtomic(runFile, run);
  }

  // Tokenizer: built from the training split once, then reused from outDir/tokenizer.
  const tokDir = join(out, 'tokenizer');
  const tokKey = sha256Hex(JSON.stringify({ manifestSha, topTokens: s.topTokens, from: o.tokenizerDir ?? 'gemma3' }));
  const idMap = await readFile(join(tokDir, 'id_map.json'), 'utf8').then((x) => JSON.parse(x) as { key?: string }).catch(() => null);
  if (idMap?.key !== tokKey) {
    if (o.tokenizerDir) {
      for (const f of ['tokenizer.json', 'tokenizer_config.json']) await writeFileAtomic(join(tokDir, f), await readFile(join(o.tokenizerDir, f)));
      await writeJsonAtomic(join(tokDir, 'id_map.json'), { key: tokKey, copied_from: o.tokenizerDir });
    } else {
      const t0 = performance.now();
      const texts = (async function* () {
        for await (const d of corpusDocuments(o.corpusDir, 'train', { verify: o.verify ?? 'size', ...(o.signal ? { signal: o.signal } : {}) })) yield d.text;
      })();
      const built = await buildCorpusTokenizer(o.baseTokenizer ?? readTokenizerFiles(), texts, { topTokens: s.topTokens, ...(o.signal ? { signal: o.signal } : {}) });
      await saveTrimmedTokenizer(tokDir, built.trim, {
        key: tokKey,
        base: 'Gemma 3 tokenizer.json (data/tokenizers/gemma3)',
        trimmed_to: `the ${s.topTokens} most frequent tokens of the corpus training split (+ specials, bytes, BPE intermediates)`,
        counted: built.counted,
      });
      log(`tokenizer: ${built.counted.tokens} base tokens, ${built.counted.distinct} distinct; kept ${built.trim.stats.kept} (top ${built.counted.keptByFrequency}) in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    }
  }
  // Read directly (not through loadTokenizer's per-folder cache: this folder may have just been rewritten).
  const tokFiles = readTokenizerFiles(tokDir);
  assertNewlineSafe(tokFiles, join(tokDir, 'tokenizer.json'));
  const tok = tokenizerFromJson(tokFiles.tokenizerJson, tokFiles.config, undefined, join(tokDir, 'tokenizer.json'));
  const specials: SpecialIds = { bosId: tok.bosId, eosId: tok.eosId, padId: tok.padId };
  const tokSha = sha256Hex(await readFile(join(tokDir, 'tokenizer.json')));

  // Token streams (cached): train, and each held-out piece separately (SOURCES.md: report per piece).
  const stream = async (name: string, split: 'train' | 'heldout', sources?: readonly CorpusSource[]) => {
    const t0 = performance.now();
    const r = await cachedStream(
      join(out, 'tokens', `${name}.bin`),
      sha256Hex(JSON.stringify({ tokSha, manifestSha, format: STREAM_FORMAT, split, sources: sources ?? null })),
      () =>
        (async function* () {
          for await (const d of corpusDocuments(o.corpusDir, split, { verify: o.verify ?? 'size', ...(sources ? { sources } : {}), ...(o.signal ? { signal: o.signal } : {}) })) yield d.text;
        })(),
      tok,
      { phase: `tokenize:${name}`, ...(o.signal ? { signal: o.signal } : {}) },
    );
    log(`tokens ${name}: ${r.stream.length} tokens, ${r.docs} docs${r.cached ? ' (cached)' : `, ${((performance.now() - t0) / 1000).toFixed(0)} s`}`);
    return r;
  };
  const trainStream = await stream('train', 'train');
  const train_ = new PackedSequences(trainStream.stream, s.seqLen, 'drop', tok.padId);
  if (train_.count < s.batchSize) throw new TrainingError(`training split gives ${train_.count} sequences of ${s.seqLen} tokens, fewer than one batch of ${s.batchSize}`);
  const heldout = new Map<CorpusSource, PackedSequences>();
  for (const src of CORPUS_SOURCES) {
    const h = await stream(`heldout-${src}`, 'heldout', [src]);
    if (h.stream.length > 0) heldout.set(src, new PackedSequences(h.stream, s.seqLen, 'pad', tok.padId));
  }
  if (heldout.size === 0) throw new TrainingError(`${o.corpusDir}: the heldout split has no text`);

  // Signal and progress for a sub-task, its events relabelled.
  const control = (phase: string): RunControl => ({
    ...(o.signal ? { signal: o.signal } : {}),
    ...(o.onProgress ? { onProgress: (e: ProgressEvent) => o.onProgress?.({ ...e, phase }) } : {}),
  });

  const config = presetConfig(s.preset, tok, Math.max(512, s.seqLen));
  const model = GemmaModel.random(config, s.seed);
  try {
    const evalAt = async (step: number, perPiece: number | undefined): Promise<EvalEntry> => {
      const pieces: PieceEval[] = [];
      for (const [src, packed] of heldout) {
        const indices = perPiece === undefined ? undefined : spreadIndices(packed.count, perPiece);
        pieces.push(pieceResult(src, await evaluateNll(model, packed, specials, { ...(indices ? { indices } : {}), ...control(`eval:${src}`) })));
      }
      return { step, sequencesPerPiece: perPiece ?? 'all', pieces: [...pieces, pooled(pieces)] };
    };

    // Per-piece evals of an interrupted session are in metrics.json; keep those up to the checkpoint.
    const metricsFile = join(out, 'metrics.json');
    const before = o.resume ? await readFile(metricsFile, 'utf8').then((x) => (JSON.parse(x) as { evals?: EvalEntry[] }).evals ?? []).catch(() => []) : [];
    const evals: EvalEntry[] = before.filter((e) => e.step <= resumeStep);
    const partial = (extra: Record<string, unknown>) => writeJsonAtomic(metricsFile, { settings: s, evals, ...extra });
    // The trainer evaluates right after logging a step; remember which.
    let lastStep = resumeStep;

    const result = await train(
      {
        params: model.params,
        loss: (batch: number[], ctx) => modelLoss(model, batchRows(train_, batch, specials), { training: true, dropout: s.dropout, seed: ctx.seed }),
      },
      { epoch: (_e, rng) => epochBatches(train_.count, s.batchSize, rng), size: (b) => b.length },
      {
        seed: s.seed,
        maxSteps: s.steps,
        schedule: { lr: s.lr, warmupSteps: s.warmupSteps, decay: 'cosine', minLrRatio: s.minLrRatio },
        optimizer: { weightDecay: s.weightDecay, beta1: 0.9, beta2: 0.95 },
        clipNorm: 1.0,
        evaluate: {
          every: o.evalEvery,
          name: 'heldout_ppl',
          mode: 'min',
          restoreBest: false,
          run: async () => {
            const e = await evalAt(lastStep, o.evalSequences);
            evals.push(e);
            await partial({ status: 'running' });
            const p = e.pieces.map((x) => `${x.piece} ${x.perplexity.toFixed(1)}`).join(', ');
            log(`eval @ ${e.step}: perplexity ${p}`);
            return (e.pieces.at(-1) as PieceEval).perplexity;
          },
        },
        checkpoint: { dir: ckptDir, every: o.checkpointEvery, keep: 2, onAbort: true },
        resume: o.resume ?? false,
        onLog: (rec) => {
          lastStep = rec.step;
          o.onLog?.(rec);
        },
        ...(o.signal ? { signal: o.signal } : {}),
        ...(o.onProgress ? { onProgress: o.onProgress } : {}),
      },
    );

    const finalPer = o.finalEvalSequences;
    const final = await evalAt(result.steps, finalPer);
    const unigramParts = [...heldout].map(([src, packed]) =>
      pieceResult(src, unigramNll(trainStream.stream, tok.vocabSize, packed, specials, finalPer === undefined ? undefined : spreadIndices(packed.count, finalPer))),
    );
    const modelDir = join(out, 'model');
    await model.save(modelDir);
    for (const f of ['tokenizer.json', 'tokenizer_config.json']) await writeFileAtomic(join(modelDir, f), await readFile(join(tokDir, f)));

    let exported: PretrainMetrics['exported'];
    if (o.exportTo) {
      await model.save(o.exportTo.dir, o.exportTo.dtype);
      for (const f of ['tokenizer.json', 'tokenizer_config.json']) await writeFileAtomic(join(o.exportTo.dir, f), await readFile(join(tokDir, f)));
      const copy = await loadGemmaModel(o.exportTo.dir);
      try {
        const pieces: PieceEval[] = [];
        for (const [src, packed] of heldout) {
          const indices = finalPer === undefined ? undefined : spreadIndices(packed.count, finalPer);
          pieces.push(pieceResult(src, await evaluateNll(copy, packed, specials, { ...(indices ? { indices } : {}), ...control(`eval:${o.exportTo?.dtype}:${src}`) })));
        }
        exported = { dir: o.exportTo.dir, dtype: o.exportTo.dtype, pieces: [...pieces, pooled(pieces)] };
      } finally {
        copy.dispose();
      }
      log(`exported ${o.exportTo.dtype} copy to ${o.exportTo.dir}: pooled perplexity ${(exported.pieces.at(-1) as PieceEval).perplexity.toFixed(3)}`);
    }

    const trainMs = result.logs.reduce((a, l) => a + l.ms, 0);
    const tokensSeen = result.logs.reduce((a, l) => a + l.examples * s.seqLen, 0);
    const metrics: PretrainMetrics = {
      settings: s,
      engine: { backend: engine.backend, native: engine.native, threads: engine.threads },
      model: { parameters: model.parameterCount, embeddingParameters: config.vocabSize * config.hiddenSize, vocabSize: config.vocabSize, config: s.preset },
      data: {
        trainTokens: trainStream.stream.length,
        trainDocs: trainStream.docs,
        trainSequences: train_.count,
        heldoutTokens: Object.fromEntries([...heldout].map(([k, p]) => [k, p.stream.length])),
      },
      steps: result.steps,
      tokensSeen,
      trainTokensPerSecond: tokensSeen / (trainMs / 1000),
      trainSeconds: trainMs / 1000,
      lossCurve: result.logs.map((l) => ({ step: l.step, loss: l.loss, lr: l.lr, gradNorm: l.gradNorm })),
      evals,
      final,
      unigram: [...unigramParts, pooled(unigramParts)],
      modelDir,
      ...(exported ? { exported } : {}),
    };
    await writeJsonAtomic(metricsFile, { status: 'done', ...metrics });
    return metrics;
  } finally {
    model.dispose();
  }
}
