/**
 * SuperGLUE end to end from a decoder-only Gemma checkpoint, in one call (`superglueEndToEnd`,
 * CLI `gemma-lab superglue`):
 *
 * 1. build an encoder-decoder (`toEncoderDecoder`, recipe t5gemma2 by default: tied table, merged
 *    attention; or t5gemma);
 * 2. adapt it with PrefixLM or UL2 on the pretraining corpus (`../shared/data/corpus`, train split):
 *    `adaptSteps` steps of `adaptBatch` sequences of `adaptSeqLen` tokens;
 * 3. for every requested task with data: restore the adapted weights, fine-tune and score two ways:
 *    - classification: a linear head on the encoder's last real token (T5Gemma paper §4.4), grouped
 *      tasks as binary heads (COPA choice, MultiRC answer); `steps` steps;
 *    - text-to-text: fine-tune the whole model on T5-style inputs and verbalized targets (`textSteps`
 *      steps), generate (KV cache, greedy) and parse; an unparseable generation is a wrong answer.
 *    AX-b / AX-g (diagnostics, no training data) are scored with the RTE model.
 *    BoolQ ships only its validation split here: a seeded `trainLimit`-row part of it trains and the
 *    disjoint rest (capped at `devLimit`) scores.
 * 4. write results.jsonl (one row per task x scoring), results.md (table), chart.vl.json (Vega-Lite v5).
 *
 * The budget is an experiments `Budget` (flat record of numbers), parsed and defaulted by
 * `superglueE2EBudget`, so sweeps can key runs by it.
 */
import * as tf from '@tensorflow/tfjs-core';
import { join, relative } from 'node:path';
import { ConfigError } from '../errors.js';
import { scoreAxG, scoreMultiRC, scoreSuperGlueTask, type MultiRCPrediction } from '../eval/superglue.js';
import { writeFileAtomic, writeJsonAtomic } from '../io/atomic.js';
import { REPO_ROOT, sharedDataPath } from '../io/paths.js';
import { loadGemmaModel } from '../models/load.js';
import { corpusDocuments } from '../pretrain/corpus.js';
import { encodeDocument } from '../pretrain/tokens.js';
import { type RunControl, throwIfAborted } from '../progress/index.js';
import { barChart, type ChartSpec } from '../report/plots.js';
import { Rng } from '../rng/index.js';
import { type EncoderDecoderRecipe, toEncoderDecoder } from '../t5gemma/build.js';
import type { EncoderDecoderModel } from '../t5gemma/generate.js';
import { type Seq2SeqExample, collateSeq2Seq, teacherForce } from '../t5gemma/objectives/seq2seq.js';
import { pretrain, seq2seqTrainable } from '../t5gemma/pretrain.js';
import type { GemmaEncoder } from '../encoder/encoder.js';
import { type SuperGluePredictions, classificationData, classifySuperGlue, generateSuperGlue, superglueClassifier, superglueExamples } from '../t5gemma/superglue.js';
import { type SuperGlueRecords, type SuperGlueTaskId, SUPERGLUE_TASKS, loadSuperGlue, superglueSharedFile, toTextToText } from '../tasks/superglue.js';
import { rowIds } from '../tokenize/batch.js';
import { type Tokenizer, encodeBatch, loadTokenizer } from '../tokenize/index.js';
import { type TrainData, train } from '../train/trainer.js';
import type { Budget } from './grid.js';

/** The tasks with data under ../shared/data/superglue (ReCoRD has none). */
export const E2E_TASKS = ['boolq', 'cb', 'copa', 'multirc', 'rte', 'wic', 'wsc', 'axb', 'axg'] as const;
export type E2ETask = (typeof E2E_TASKS)[number];
export type AdaptObjective = 'prefixlm' | 'ul2';

export interface SuperGlueE2EBudget {
  readonly adaptSteps: number;
  readonly adaptBatch: number;
  readonly adaptSeqLen: number;
  readonly adaptLr: number;
  /** Classification fine-tuning steps per task. */
  readonly steps: number;
  /** Text-to-text fine-tuning steps per task (0: skip text-to-text scoring). */
  readonly textSteps: number;
  readonly batch: number;
  readonly lr: number;
  /** Training rows per task (a seeded subset; 0 = all). */
  readonly trainLimit: number;
  /** Dev rows per task (0 = all). */
  readonly devLimit: number;
  /** Dev rows scored by generation per task (0 = devLimit). */
  readonly generateLimit: number;
  readonly maxLength: number;
  readonly maxNewTokens: number;
}

export const DEFAULT_E2E_BUDGET: SuperGlueE2EBudget = Object.freeze({
  adaptSteps: 60,
  adaptBatch: 8,
  adaptSeqLen: 128,
  adaptLr: 1e-3,
  steps: 80,
  textSteps: 80,
  batch: 16,
  lr: 5e-4,
  trainLimit: 800,
  devLimit: 300,
  generateLimit: 150,
  maxLength: 160,
  maxNewTokens: 4,
});

/** A `Budget` (flat record) -> the typed budget, every missing key taking its default; unknown keys are errors. */
export function superglueE2EBudget(b: Budget = {}): SuperGlueE2EBudget {
  const out: Record<string, number> = { ...DEFAULT_E2E_BUDGET };
  for (const [k, v] of Object.entries(b)) {
    if (!(k in DEFAULT_E2E_BUDGET)) throw new ConfigError(`unknown budget key (known: ${Object.keys(DEFAULT_E2E_BUDGET).join(', ')})`, undefined, k);
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new ConfigError(`must be a non-negative number, got ${JSON.stringify(v)}`, undefined, k);
    out[k] = v;
  }
  for (const k of ['adaptBatch', 'adaptSeqLen', 'batch', 'maxLength', 'maxNewTokens'] as const) {
    if (!(Number.isInteger(out[k]) && (out[k] as number) >= 1)) throw new ConfigError(`must be a positive integer, got ${out[k]}`, undefined, k);
  }
  return Object.freeze(out) as unknown as SuperGlueE2EBudget;
}

export interface SuperGlueE2EOptions extends RunControl {
  /** Decoder-only Gemma checkpoint (default: the shipped data/models/tiny-gemma-pretrained). */
  readonly model?: string;
  readonly tasks?: readonly E2ETask[] | 'all';
  readonly objective: AdaptObjective;
  /** Output folder (created): results.jsonl, results.md, chart.vl.json. */
  readonly out: string;
  readonly budget?: Budget;
  readonly recipe?: EncoderDecoderRecipe;
  readonly seed?: number;
  /** Progress lines. */
  readonly log?: (line: string) => void;
}

export interface E2EResultRow {
  readonly task: string;
  readonly scoring: 'classification' | 'text-to-text';
  /** Task score (mean of its metrics, SuperGLUE convention). */
  readonly score: number;
  readonly metrics: Readonly<Record<string, number>>;
  readonly trainExamples: number;
  readonly devExamples: number;
  /** Last training loss of the fine-tuning run (NaN for diagnostics). */
  readonly trainLoss: number;
  /** Generations that matched no verbalizer (text-to-text only). */
  readonly unparsed?: number;
}

export interface E2EReport {
  readonly rows: readonly E2EResultRow[];
  readonly adaptLoss: { readonly first: number; readonly last: number };
  /** Mean over the SuperGLUE average tasks that ran (ReCoRD never does here), per scoring. */
  readonly average: Readonly<Record<string, number>>;
  readonly budget: SuperGlueE2EBudget;
  readonly files: { readonly jsonl: string; readonly table: string; readonly chart: string };
}

/** Token sequences of `len` from the corpus train split (bos + document + eos, concatenated, cut). */
/** The first `count` sequences of `len` tokens of the corpus's train split (`bos doc eos` packed). */
export async function corpusSequences(tok: Tokenizer, count: number, len: number, ctl: RunControl): Promise<number[][]> {
  const out: number[][] = [];
  let stream: number[] = [];
  for await (const doc of corpusDocuments(sharedDataPath('corpus'), 'train', ctl.signal ? { signal: ctl.signal } : {})) {
    stream.push(tok.bosId, ...encodeDocument(tok, doc.text), tok.eosId);
    while (stream.length >= len && out.length < count) {
      out.push(stream.slice(0, len));
      stream = stream.slice(len);
    }
    if (out.length >= count) return out;
  }
  throw new ConfigError(`the corpus gave ${out.length} sequences of ${len} tokens, ${count} needed`, sharedDataPath('corpus'), 'adaptSteps');
}

type Records<T extends SuperGlueTaskId> = readonly SuperGlueRecords[T][];

/** train / dev records of a task (BoolQ: disjoint parts of its validation split). */
export async function splits<T extends E2ETask>(task: T, b: Pick<SuperGlueE2EBudget, 'trainLimit' | 'devLimit'>, seed: number): Promise<{ train: Records<T>; dev: Records<T> }> {
  // Limits count scored examples: MultiRC's rows are paragraphs of many answer options, so whole
  // paragraphs are taken until their answers reach the limit.
  const size = (r: unknown): number => (task === 'multirc' ? (r as SuperGlueRecords['multirc']).questions.reduce((n, q) => n + q.answers.length, 0) : 1);
  const cap = <R>(rows: readonly R[], n: number, label: string): R[] => {
    if (n <= 0) return [...rows];
    const out: R[] = [];
    let count = 0;
    for (const r of new Rng(`${seed}/${task}/${label}`).shuffle([...rows])) {
      if (count >= n) break;
      out.push(r);
      count += size(r);
    }
    return out;
  };
  if (task === 'axb' || task === 'axg') return { train: [], dev: (await loadSuperGlue(task, superglueSharedFile(task, 'test'))).records };
  const val = (await loadSuperGlue(task, superglueSharedFile(task, 'val'))).records;
  if (task === 'boolq') {
    const shuffled = new Rng(`${seed}/boolq/split`).shuffle([...val]);
    const n = b.trainLimit > 0 ? Math.min(b.trainLimit, Math.floor(shuffled.length / 2)) : Math.floor(shuffled.length / 2);
    return { train: shuffled.slice(0, n), dev: cap(shuffled.slice(n), b.devLimit, 'dev') };
  }
  const trainAll = (await loadSuperGlue(task, superglueSharedFile(task, 'train'))).records;
  return { train: cap(trainAll, b.trainLimit, 'train'), dev: cap(val, b.devLimit, 'dev') };
}

/** Gold class per idx (single-label tasks). */
function goldLabels(dev: readonly { readonly idx: number; readonly label: number | null }[]): Map<number, number> {
  return new Map(dev.filter((r) => r.label !== null).map((r) => [r.idx, r.label as number]));
}

/** Scores predictions in the shapes classifySuperGlue / generateSuperGlue return. */
export function score(task: E2ETask, p: SuperGluePredictions, dev: readonly unknown[]): { score: number; metrics: Record<string, number> } {
  const numeric = (m: Partial<Record<string, number>>) => Object.fromEntries(Object.entries(m).filter((e): e is [string, number] => typeof e[1] === 'number'));
  if (p.task === 'multirc') {
    const r = scoreMultiRC(p.predictions.map((x) => ({ ...x, label: x.label as number })) as MultiRCPrediction[]);
    return { score: r.score, metrics: numeric(r.metrics) };
  }
  if (p.task === 'record') throw new ConfigError('ReCoRD has no data here', undefined, 'task');
  if (p.task === 'axg') {
    const r = scoreAxG(dev as Records<'axg'>, new Map(p.predictions.map((x) => [x.idx, x.prediction])));
    return { score: r.score, metrics: numeric(r.metrics) };
  }
  const gold = task === 'copa' ? new Map((dev as Records<'copa'>).map((r) => [r.idx, r.label as number])) : goldLabels(dev as { idx: number; label: number | null }[]);
  const rows = p.predictions.filter((x) => gold.has(x.idx));
  const r = scoreSuperGlueTask(p.task, rows.map((x) => x.prediction), rows.map((x) => gold.get(x.idx) as number));
  return { score: r.score, metrics: numeric(r.metrics) };
}

/** Text-to-text fine-tuning data: input -> verbalized target + eos (teacher forcing). */
function textData<T extends E2ETask>(task: T, records: Records<T>, tok: Tokenizer, b: SuperGlueE2EBudget): TrainData<ReturnType<typeof collateSeq2Seq>> {
  const pairs = toTextToText(task, records).filter((p) => p.target !== null);
  const enc = encodeBatch(tok, pairs.map((p) => p.input), { maxLength: b.maxLength, addEos: true });
  const examples: Seq2SeqExample[] = pairs.map((p, i) => {
    const target = [...tok.encode(p.target as string, { addBos: false }), tok.eosId];
    return { inputIds: rowIds(enc, i), ...teacherForce(target, tok.bosId) };
  });
  return {
    epoch: (_e, rng) => {
      const order = rng.shuffle(examples.map((_, i) => i));
      return Array.from({ length: Math.ceil(order.length / b.batch) }, (_, k) => collateSeq2Seq(order.slice(k * b.batch, (k + 1) * b.batch).map((i) => examples[i] as Seq2SeqExample), tok.padId));
    },
    size: (x) => x.batch,
  };
}

/** Host copy of every parameter, to restore the adapted weights before each task. */
function snapshot(model: EncoderDecoderModel): () => void {
  const saved = new Map([...model.params].map(([n, v]) => [n, v.dataSync().slice() as Float32Array]));
  return () => {
    for (const [n, v] of model.params) v.assign(tf.tensor(saved.get(n) as Float32Array, v.shape, 'float32'));
  };
}

/** The chart: task score per task, one bar per scoring. */
export function e2eChart(rows: readonly E2EResultRow[], title: string): ChartSpec {
  return barChart(
    rows.map((r) => ({ task: r.task, score: Math.round(r.score * 10000) / 10000, scoring: r.scoring })),
    'task',
    'score',
    { color: 'scoring', title },
  );
}

/** Markdown table of the results. */
export function e2eTable(rows: readonly E2EResultRow[]): string {
  // train / dev count records: SuperGLUE rows, MultiRC paragraphs (each with many answer options).
  const lines = ['| task | scoring | score | metrics | train records | dev records | unparsed |', '|:--|:--|--:|:--|--:|--:|--:|'];
  for (const r of rows) {
    const m = Object.entries(r.metrics).map(([k, v]) => `${k} ${(100 * v).toFixed(1)}`).join(', ');
    lines.push(`| ${r.task} | ${r.scoring} | ${(100 * r.score).toFixed(1)} | ${m} | ${r.trainExamples} | ${r.devExamples} | ${r.unparsed ?? ''} |`);
  }
  return lines.join('\n');
}

export async function superglueEndToEnd(o: SuperGlueE2EOptions): Promise<E2EReport> {
  const b = superglueE2EBudget(o.budget);
  const seed = o.seed ?? 0;
  const log = o.log ?? (() => {});
  const tasks = o.tasks === undefined || o.tasks === 'all' ? [...E2E_TASKS] : [...o.tasks];
  for (const t of tasks) if (!(E2E_TASKS as readonly string[]).includes(t)) throw new ConfigError(`unknown or data-less task '${t}' (have: ${E2E_TASKS.join(', ')})`, undefined, 'tasks');
  if (o.objective !== 'prefixlm' && o.objective !== 'ul2') throw new ConfigError(`must be prefixlm or ul2, got '${String(o.objective)}'`, undefined, 'objective');
  const modelDir = o.model ?? join(REPO_ROOT, 'data', 'models', 'tiny-gemma-pretrained');
  const tok = loadTokenizer(modelDir);
  const ctl: RunControl = { ...(o.signal ? { signal: o.signal } : {}), ...(o.onProgress ? { onProgress: o.onProgress } : {}) };

  // A progress line every 20 steps of each training phase.
  const every = (what: string) => (rec: { step: number; loss: number; ms: number }) => {
    if (rec.step % 20 === 0) log(`${what}: step ${rec.step}, loss ${rec.loss.toFixed(3)}, ${rec.ms.toFixed(0)} ms/step`);
  };
  const gemma = await loadGemmaModel(modelDir);
  const model: EncoderDecoderModel = await toEncoderDecoder(gemma, undefined, { recipe: o.recipe ?? 't5gemma2' });
  gemma.dispose();
  const rows: E2EResultRow[] = [];
  try {
    log(`adapting (${o.objective}): ${b.adaptSteps} steps x ${b.adaptBatch} x ${b.adaptSeqLen} tokens`);
    let adaptLoss = { first: NaN, last: NaN };
    if (b.adaptSteps > 0) {
      const seqs = await corpusSequences(tok, b.adaptSteps * b.adaptBatch, b.adaptSeqLen, ctl);
      const r = await pretrain(model, seqs, {
        ...ctl,
        seed,
        maxSteps: b.adaptSteps,
        batchSize: b.adaptBatch,
        objective: { kind: o.objective },
        schedule: { lr: b.adaptLr, warmupSteps: Math.round(0.1 * b.adaptSteps), decay: 'linear' },
        onLog: every('adapt'),
      });
      adaptLoss = { first: r.main.logs[0]?.loss ?? NaN, last: r.main.logs.at(-1)?.loss ?? NaN };
      log(`adapted: loss ${adaptLoss.first.toFixed(3)} -> ${adaptLoss.last.toFixed(3)}`);
    }
    const restore = snapshot(model);
    const input = { tokenizer: tok, maxLength: b.maxLength };
    const trainOpts = (steps: number, s: number, what: string) => ({
      ...ctl,
      seed: s,
      maxSteps: steps,
      schedule: { lr: b.lr, warmupSteps: Math.round(0.06 * steps), decay: 'linear' as const },
      onLog: every(what),
    });
    // RTE first: the diagnostics reuse its classifier / text model.
    const ordered = [...tasks].sort((x, y) => (x === 'rte' ? -1 : y === 'rte' ? 1 : 0));
    const needRte = ordered.some((t) => t === 'axb' || t === 'axg');
    if (needRte && !ordered.includes('rte')) ordered.unshift('rte');
    let rteClassifier: GemmaEncoder | null = null;
    let rteWeights: Map<string, Float32Array> | null = null;
    let rteTextWeights: Map<string, Float32Array> | null = null;
    const copyWeights = () => new Map([...model.params].map(([n, v]) => [n, v.dataSync().slice() as Float32Array]));
    const setWeights = (w: Map<string, Float32Array> | null) => {
      for (const [n, v] of model.params) v.assign(tf.tensor(w?.get(n) as Float32Array, v.shape, 'float32'));
    };
    try {
      for (const task of ordered) {
        throwIfAborted(o.signal, rows.length);
        const { train: trainRec, dev } = await splits(task, b, seed);
        const diagnostic = task === 'axb' || task === 'axg';
        // ---- classification
        restore();
        let clf: GemmaEncoder;
        let trainLoss = NaN;
        if (diagnostic) {
          clf = rteClassifier as GemmaEncoder;
          setWeights(rteWeights);
        } else {
          clf = superglueClassifier(model, task === 'cb' ? 3 : 2, seed);
          const ex = superglueExamples(task, trainRec as never);
          const r = await train(clf, classificationData(ex, b.batch, input), trainOpts(b.steps, seed, `${task} classification`));
          trainLoss = r.logs.at(-1)?.loss ?? NaN;
        }
        const pc = await classifySuperGlue(clf, task, dev as never, { ...input, batchSize: 32 });
        const sc = score(task, pc, dev as readonly unknown[]);
        rows.push({ task: SUPERGLUE_TASKS[task].name, scoring: 'classification', ...sc, trainExamples: trainRec.length, devExamples: dev.length, trainLoss });
        log(`${task} classification: ${(100 * sc.score).toFixed(1)} ${JSON.stringify(sc.metrics)}`);
        if (task === 'rte' && needRte) {
          rteClassifier = clf;
          rteWeights = copyWeights();
        } else if (!diagnostic) clf.dispose();
        // ---- text-to-text
        if (b.textSteps > 0) {
          let tLoss = NaN;
          let trainText: readonly unknown[] = trainRec;
          if (diagnostic) {
            setWeights(rteTextWeights);
            trainText = (await splits('rte', b, seed)).train;
          } else {
            restore();
            const r = await train(seq2seqTrainable(model), textData(task, trainRec as never, tok, b), trainOpts(b.textSteps, seed + 1, `${task} text-to-text`));
            tLoss = r.logs.at(-1)?.loss ?? NaN;
            if (task === 'rte' && needRte) rteTextWeights = copyWeights();
          }
          // AX-g keeps every row (its parity metric needs whole pairs).
          const genDev = task === 'axg' ? dev : (await splits(task, { ...b, devLimit: b.generateLimit > 0 ? Math.min(b.generateLimit, b.devLimit || Infinity) : b.devLimit }, seed)).dev;
          const pg = await generateSuperGlue(model, task, genDev as never, { ...input, batchSize: 32, maxNewTokens: b.maxNewTokens });
          const unparsed = pg.task === 'record' ? 0 : (pg.predictions as readonly { prediction: number }[]).filter((x) => x.prediction < 0).length;
          const st = score(task, pg, genDev as readonly unknown[]);
          rows.push({ task: SUPERGLUE_TASKS[task].name, scoring: 'text-to-text', ...st, trainExamples: trainText.length, devExamples: genDev.length, trainLoss: diagnostic ? NaN : tLoss, unparsed });
          log(`${task} text-to-text: ${(100 * st.score).toFixed(1)} ${JSON.stringify(st.metrics)} (unparsed ${unparsed})`);
        }
      }
    } finally {
      rteClassifier?.dispose();
    }
    const average: Record<string, number> = {};
    for (const scoring of ['classification', 'text-to-text'] as const) {
      const scores = Object.fromEntries(rows.filter((r) => r.scoring === scoring).map((r) => [r.task, r.score]));
      const present = Object.keys(scores).filter((k) => !['AX-b', 'AX-g'].includes(k));
      if (present.length > 0) average[scoring] = present.reduce((s, k) => s + (scores[k] as number), 0) / present.length;
    }
    const files = { jsonl: join(o.out, 'results.jsonl'), table: join(o.out, 'results.md'), chart: join(o.out, 'chart.vl.json') };
    const header = `SuperGLUE from ${relative(REPO_ROOT, modelDir) || modelDir} (${o.recipe ?? 't5gemma2'}, ${o.objective} adaptation, budget ${JSON.stringify(b)})`;
    await writeFileAtomic(files.jsonl, rows.map((r) => JSON.stringify({ ...r, objective: o.objective, recipe: o.recipe ?? 't5gemma2', seed })).join('\n') + '\n');
    const avgLine = Object.entries(average).map(([k, v]) => `${k} ${(100 * v).toFixed(1)}`).join(', ');
    await writeFileAtomic(files.table, `# ${header}\n\nAdaptation loss ${adaptLoss.first.toFixed(3)} -> ${adaptLoss.last.toFixed(3)}. Mean over the tasks run (no ReCoRD data): ${avgLine}.\n\n${e2eTable(rows)}\n`);
    await writeJsonAtomic(files.chart, e2eChart(rows, `SuperGLUE dev, ${o.objective}`));
    return { rows, adaptLoss, average, budget: b, files };
  } finally {
    model.dispose();
  }
}
