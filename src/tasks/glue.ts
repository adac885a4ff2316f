/**
 * GLUE task specs and loaders for the official TSV files (as written by GLUE's
 * `download_glue_data.py`) and the Hugging Face Hub parquet exports. Layouts, label maps and split
 * sizes: docs/benchmarks.md §1.1.
 *
 * Label ids are the HF `glue` ClassLabel ids (see `labelNames`):
 *   CoLA [unacceptable, acceptable]      raw '0'/'1'
 *   SST-2 [negative, positive]           raw '0'/'1'
 *   MRPC [not_equivalent, equivalent]    raw Quality '0'/'1'
 *   QQP [not_duplicate, duplicate]       raw is_duplicate '0'/'1'
 *   MNLI, AX [entailment, neutral, contradiction]   raw gold_label strings
 *   QNLI, RTE [entailment, not_entailment]          raw strings (entailment = 0)
 *   WNLI [not_entailment, entailment]    raw '0'/'1' (entailment = 1)
 *   STS-B: float score 0..5.
 *
 * Example ids: train/dev rows get HF's `idx` (0-based data row number, counting dropped rows, so
 * skips leave gaps); test rows get the file's `index`/`id` column, which the leaderboard expects back.
 */
import { existsSync } from 'node:fs';
import { extname } from 'node:path';
import { DataFileError } from '../errors.js';
import { sharedDataPath } from '../io/paths.js';
import { readParquet } from './parquet.js';
import { readTsv, type TsvRow } from './tsv.js';
import type { Example, LoadedSplit, LoadOptions, SkippedRow, TaskSpec, Texts } from './types.js';

export type GlueTaskId = 'cola' | 'sst2' | 'mrpc' | 'stsb' | 'qqp' | 'mnli_m' | 'mnli_mm' | 'qnli' | 'rte' | 'wnli' | 'ax';

export const GLUE_TASK_IDS: readonly GlueTaskId[] = ['cola', 'sst2', 'mrpc', 'stsb', 'qqp', 'mnli_m', 'mnli_mm', 'qnli', 'rte', 'wnli', 'ax'];

export interface GlueTaskSpec extends TaskSpec {
  readonly id: GlueTaskId;
  /** Leaderboard submission file name. */
  readonly submissionFile: string;
}

const NLI3 = ['entailment', 'neutral', 'contradiction'] as const;

export const GLUE_TASKS: Readonly<Record<GlueTaskId, GlueTaskSpec>> = {
  cola: { id: 'cola', name: 'CoLA', benchmark: 'glue', kind: 'classification', labelNames: ['unacceptable', 'acceptable'], textFields: ['sentence'], metrics: ['mcc'], submissionFile: 'CoLA.tsv' },
  sst2: { id: 'sst2', name: 'SST-2', benchmark: 'glue', kind: 'classification', labelNames: ['negative', 'positive'], textFields: ['sentence'], metrics: ['accuracy'], submissionFile: 'SST-2.tsv' },
  mrpc: { id: 'mrpc', name: 'MRPC', benchmark: 'glue', kind: 'classification', labelNames: ['not_equivalent', 'equivalent'], textFields: ['sentence1', 'sentence2'], metrics: ['f1', 'accuracy'], submissionFile: 'MRPC.tsv' },
  stsb: { id: 'stsb', name: 'STS-B', benchmark: 'glue', kind: 'regression', textFields: ['sentence1', 'sentence2'], metrics: ['pearson', 'spearman'], submissionFile: 'STS-B.tsv' },
  qqp: { id: 'qqp', name: 'QQP', benchmark: 'glue', kind: 'classification', labelNames: ['not_duplicate', 'duplicate'], textFields: ['question1', 'question2'], metrics: ['f1', 'accuracy'], submissionFile: 'QQP.tsv' },
  mnli_m: { id: 'mnli_m', name: 'MNLI-m', benchmark: 'glue', kind: 'classification', labelNames: NLI3, textFields: ['premise', 'hypothesis'], metrics: ['accuracy'], submissionFile: 'MNLI-m.tsv' },
  mnli_mm: { id: 'mnli_mm', name: 'MNLI-mm', benchmark: 'glue', kind: 'classification', labelNames: NLI3, textFields: ['premise', 'hypothesis'], metrics: ['accuracy'], submissionFile: 'MNLI-mm.tsv' },
  qnli: { id: 'qnli', name: 'QNLI', benchmark: 'glue', kind: 'classification', labelNames: ['entailment', 'not_entailment'], textFields: ['question', 'sentence'], metrics: ['accuracy'], submissionFile: 'QNLI.tsv' },
  rte: { id: 'rte', name: 'RTE', benchmark: 'glue', kind: 'classification', labelNames: ['entailment', 'not_entailment'], textFields: ['sentence1', 'sentence2'], metrics: ['accuracy'], submissionFile: 'RTE.tsv' },
  wnli: { id: 'wnli', name: 'WNLI', benchmark: 'glue', kind: 'classification', labelNames: ['not_entailment', 'entailment'], textFields: ['sentence1', 'sentence2'], metrics: ['accuracy'], submissionFile: 'WNLI.tsv' },
  // AX is scored with the MNLI model: R3 = 3-class Matthews correlation (leaderboard only, no labels here).
  ax: { id: 'ax', name: 'AX', benchmark: 'glue', kind: 'classification', labelNames: NLI3, textFields: ['premise', 'hypothesis'], metrics: ['mcc'], submissionFile: 'AX.tsv', diagnostic: true },
};

/** Official split sizes (HF glue dataset card). MNLI dev/test are per matched/mismatched file. */
export const GLUE_SPLIT_SIZES: Readonly<Record<GlueTaskId, { train?: number; dev?: number; test: number }>> = {
  cola: { train: 8551, dev: 1043, test: 1063 },
  sst2: { train: 67349, dev: 872, test: 1821 },
  mrpc: { train: 3668, dev: 408, test: 1725 },
  stsb: { train: 5749, dev: 1500, test: 1379 },
  qqp: { train: 363846, dev: 40430, test: 390965 },
  mnli_m: { train: 392702, dev: 9815, test: 9796 },
  mnli_mm: { train: 392702, dev: 9832, test: 9847 },
  qnli: { train: 104743, dev: 5463, test: 5463 },
  rte: { train: 2490, dev: 277, test: 3000 },
  wnli: { train: 635, dev: 71, test: 146 },
  ax: { test: 1104 },
};

/** How one task's TSV columns are found (by header name; CoLA train/dev have no header). */
interface TsvLayout {
  readonly text: readonly [string] | readonly [string, string];
  /** Label column name in labelled files; absent from test files (that is how a test file is recognised). */
  readonly label?: string;
  /** Raw label strings in label-id order (classification). */
  readonly rawLabels?: readonly string[];
  /** Column holding the leaderboard index in test files. */
  readonly index: string;
}

const BIN = ['0', '1'] as const;

const TSV_LAYOUTS: Readonly<Record<GlueTaskId, TsvLayout>> = {
  cola: { text: ['sentence'], label: 'label', rawLabels: BIN, index: 'index' },
  sst2: { text: ['sentence'], label: 'label', rawLabels: BIN, index: 'index' },
  mrpc: { text: ['#1 String', '#2 String'], label: 'Quality', rawLabels: BIN, index: 'index' },
  stsb: { text: ['sentence1', 'sentence2'], label: 'score', index: 'index' },
  qqp: { text: ['question1', 'question2'], label: 'is_duplicate', rawLabels: BIN, index: 'id' },
  mnli_m: { text: ['sentence1', 'sentence2'], label: 'gold_label', rawLabels: NLI3, index: 'index' },
  mnli_mm: { text: ['sentence1', 'sentence2'], label: 'gold_label', rawLabels: NLI3, index: 'index' },
  qnli: { text: ['question', 'sentence'], label: 'label', rawLabels: ['entailment', 'not_entailment'], index: 'index' },
  rte: { text: ['sentence1', 'sentence2'], label: 'label', rawLabels: ['entailment', 'not_entailment'], index: 'index' },
  wnli: { text: ['sentence1', 'sentence2'], label: 'label', rawLabels: BIN, index: 'index' },
  ax: { text: ['sentence1', 'sentence2'], index: 'index' },
};

/** CoLA train/dev: `source, label, original_mark, sentence`, no header. */
const COLA_RAW_COLUMNS = ['source', 'label', 'original_mark', 'sentence'];

/** Raw label string as written in the official files for a class id (used by submissions). */
export function glueRawLabel(task: GlueTaskId, id: number): string {
  const raw = TSV_LAYOUTS[task].rawLabels ?? GLUE_TASKS[task].labelNames;
  const s = raw?.[id];
  if (s === undefined) throw new RangeError(`${GLUE_TASKS[task].name}: no class id ${id}`);
  return s;
}

/**
 * Path of a task's split under ../shared/data/glue: the official TSV when present, else the Hub
 * parquet stand-in (WNLI train exists only as parquet). MNLI dev is `dev_matched`/`dev_mismatched`.
 * Throws DataFileError when neither is there (QQP, MNLI, QNLI, AX are not in ../shared).
 */
export function glueSharedFile(task: GlueTaskId, split: 'train' | 'dev' | 'test'): string {
  const folder = task === 'mnli_m' || task === 'mnli_mm' ? 'mnli' : task;
  const base = task === 'mnli_m' && split !== 'train' ? `${split}_matched` : task === 'mnli_mm' && split !== 'train' ? `${split}_mismatched` : task === 'ax' ? 'AX' : split;
  const candidates = [sharedDataPath('glue', folder, `${base}.tsv`), sharedDataPath('glue', folder, `${base}.parquet`)];
  if (split === 'dev') candidates.push(sharedDataPath('glue', folder, 'validation.parquet'));
  const found = candidates.find((c) => existsSync(c));
  if (!found) throw new DataFileError(`no ${GLUE_TASKS[task].name} ${split} file in the shared data`, candidates[0]!);
  return found;
}

/** Load a split from ../shared/data/glue, checking its size against the official one. */
export async function loadGlueShared(task: GlueTaskId, split: 'train' | 'dev' | 'test', opts: Omit<LoadOptions, 'expectedRows'> = {}): Promise<LoadedSplit> {
  return loadGlue(task, glueSharedFile(task, split), { ...opts, expectedRows: GLUE_SPLIT_SIZES[task][split] });
}

/** Load any GLUE file: `.parquet` goes to the Hub-parquet reader, anything else to the TSV reader. */
export async function loadGlue(task: GlueTaskId, file: string, opts: LoadOptions = {}): Promise<LoadedSplit> {
  const split = extname(file) === '.parquet' ? await loadGlueParquet(task, file) : await loadGlueTsv(task, file, opts);
  if (opts.expectedRows !== undefined && split.examples.length !== opts.expectedRows) {
    throw new DataFileError(`expected ${opts.expectedRows} rows, loaded ${split.examples.length} (${split.skipped.length} skipped)`, file);
  }
  return split;
}

export async function loadGlueTsv(task: GlueTaskId, file: string, opts: LoadOptions = {}): Promise<LoadedSplit> {
  const spec = GLUE_TASKS[task];
  const layout = TSV_LAYOUTS[task];
  const rows = await readTsv(file);
  if (rows.length === 0) throw new DataFileError('empty file', file);
  const first = rows[0]!.fields;

  // CoLA train/dev are the only GLUE files without a header; its test file has `index, sentence`.
  const headerless = task === 'cola' && first[0] !== 'index';
  const header = headerless ? COLA_RAW_COLUMNS : first;
  const body = headerless ? rows : rows.slice(1);
  const col = (name: string): number => header.indexOf(name);

  const labelCol = layout.label !== undefined ? col(layout.label) : -1;
  const isTest = labelCol < 0;
  const textCols = layout.text.map((name) => {
    const i = col(name);
    if (i < 0) throw new DataFileError(`header has no '${name}' column for ${spec.name} (header: ${header.join(', ')})`, file, 1);
    return i;
  });
  const indexCol = isTest ? col(layout.index) : -1;
  if (isTest && indexCol < 0) throw new DataFileError(`test file header has no '${layout.index}' column`, file, 1);

  const examples: Example[] = [];
  const skipped: SkippedRow[] = [];
  const bad = (r: TsvRow, reason: string): void => {
    if (opts.onBadRow !== 'skip') throw new DataFileError(reason, file, r.line);
    skipped.push({ line: r.line, reason });
  };

  body.forEach((r, n) => {
    // HF drops rows with a missing field ("Filter out corrupted rows"); BERT's QQP processor and
    // jiant's pandas reader drop rows with extra fields. Both are skips, never silent merges.
    if (r.fields.length !== header.length) {
      bad(r, `expected ${header.length} tab-separated fields, got ${r.fields.length}`);
      return;
    }
    const texts = textCols.map((i) => r.fields[i]!) as unknown as Texts;
    let label: number | null = null;
    if (!isTest) {
      const raw = r.fields[labelCol]!;
      if (raw === '') {
        bad(r, `empty ${layout.label}`); // HF: `int(label) if label else None` -> row dropped
        return;
      }
      label = parseLabel(task, raw, file, r.line);
    }
    const idx = isTest ? parseIndex(r.fields[indexCol]!, file, r.line) : n;
    examples.push({ idx, texts, label });
  });
  return { task: spec, file, examples, skipped };
}

function parseLabel(task: GlueTaskId, raw: string, file: string, line: number): number {
  const layout = TSV_LAYOUTS[task];
  if (GLUE_TASKS[task].kind === 'regression') {
    const v = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(raw) ? Number(raw) : Number.NaN;
    if (!Number.isFinite(v) || v < 0 || v > 5) throw new DataFileError(`score must be a number in [0, 5], got ${JSON.stringify(raw)}`, file, line);
    return v;
  }
  const id = layout.rawLabels!.indexOf(raw);
  if (id < 0) throw new DataFileError(`unknown ${GLUE_TASKS[task].name} label ${JSON.stringify(raw)} (expected ${layout.rawLabels!.join(' | ')})`, file, line);
  return id;
}

function parseIndex(raw: string, file: string, line: number): number {
  if (!/^\d+$/.test(raw)) throw new DataFileError(`index must be a non-negative integer, got ${JSON.stringify(raw)}`, file, line);
  return Number(raw);
}

/** HF Hub feature names per task (`datasets` glue configs). */
const PARQUET_TEXT: Readonly<Record<GlueTaskId, readonly [string] | readonly [string, string]>> = {
  cola: ['sentence'],
  sst2: ['sentence'],
  mrpc: ['sentence1', 'sentence2'],
  stsb: ['sentence1', 'sentence2'],
  qqp: ['question1', 'question2'],
  mnli_m: ['premise', 'hypothesis'],
  mnli_mm: ['premise', 'hypothesis'],
  qnli: ['question', 'sentence'],
  rte: ['sentence1', 'sentence2'],
  wnli: ['sentence1', 'sentence2'],
  ax: ['premise', 'hypothesis'],
};

/**
 * Load a Hub parquet export (columns: text features, `label`, `idx`). Class ids are remapped through
 * the file's ClassLabel names when its `huggingface` metadata has them; label -1 (test) -> null.
 * STS-B labels are float32 in these files (3.8 reads back as 3.799999952316284).
 */
export async function loadGlueParquet(task: GlueTaskId, file: string): Promise<LoadedSplit> {
  const spec = GLUE_TASKS[task];
  const table = await readParquet(file);
  for (const c of [...PARQUET_TEXT[task], 'label', 'idx']) {
    if (!table.columns.includes(c)) throw new DataFileError(`parquet has no '${c}' column for ${spec.name} (columns: ${table.columns.join(', ')})`, file);
  }
  const fileNames = table.classNames.get('label');
  let remap: ((id: number) => number) | undefined;
  if (spec.kind === 'classification') {
    const ours = spec.labelNames!;
    if (fileNames) {
      const map = fileNames.map((name) => {
        const j = ours.indexOf(name);
        if (j < 0) throw new DataFileError(`ClassLabel name ${JSON.stringify(name)} is not a ${spec.name} class (${ours.join(', ')})`, file);
        return j;
      });
      remap = (id) => map[id] ?? -2;
    } else {
      remap = (id) => (id < ours.length ? id : -2);
    }
  }
  const examples: Example[] = table.rows.map((row, i) => {
    const where = `row ${i}`;
    const texts = PARQUET_TEXT[task].map((c) => {
      const v = row[c];
      if (typeof v !== 'string') throw new DataFileError(`${where}: '${c}' is not a string`, file);
      return v;
    }) as unknown as Texts;
    const idx = Number(row.idx);
    if (!Number.isInteger(idx)) throw new DataFileError(`${where}: 'idx' is not an integer`, file);
    const rawLabel = Number(row.label);
    let label: number | null;
    if (spec.kind === 'regression') {
      if (!Number.isFinite(rawLabel)) throw new DataFileError(`${where}: label ${String(row.label)} is not a number`, file);
      label = rawLabel === -1 ? null : rawLabel;
    } else if (rawLabel === -1) {
      label = null;
    } else {
      const id = Number.isInteger(rawLabel) && rawLabel >= 0 ? remap!(rawLabel) : -2;
      if (id < 0) throw new DataFileError(`${where}: label ${String(row.label)} is not a valid ${spec.name} class id`, file);
      label = id;
    }
    return { idx, texts, label };
  });
  return { task: spec, file, examples, skipped: [] };
}
