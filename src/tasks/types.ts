/**
 * Shared task and example types for GLUE and SuperGLUE, shaped for an encoder fine-tuning loop:
 * one or two texts and a label that is either a class index (into `labelNames`) or a float score.
 *
 * Label ids follow the Hugging Face `glue` / `super_glue` ClassLabel order (docs/benchmarks.md §1.1,
 * §2.1), so predictions line up with Hub parquet files and the HF metric scripts. Raw file labels
 * (strings or 0/1) are mapped through `labelNames` per task; never assume two tasks share an order
 * (CB != MNLI, WNLI != RTE).
 */
import { DataFileError } from '../errors.js';

/** One retrieved document of a ranking run (run files, rerankers, trec_eval). */
export interface RunEntry {
  readonly docid: string;
  /** Rank as written in the file (1-based); only `msmarcoMrr` reads it. */
  readonly rank: number;
  /** Retrieval score; trec_eval orders by it. MS MARCO run files have none: loaders set -rank. */
  readonly score: number;
}

export type TaskKind = 'classification' | 'regression';

export type MetricName =
  | 'accuracy'
  | 'f1'
  | 'mcc'
  | 'pearson'
  | 'spearman'
  | 'macro_f1'
  | 'f1a'
  | 'em'
  | 'record_f1'
  | 'record_em'
  | 'gender_parity';

export interface TaskSpec {
  /** Leaderboard name, e.g. 'CoLA', 'MNLI-m', 'BoolQ'. */
  readonly name: string;
  readonly benchmark: 'glue' | 'superglue';
  readonly kind: TaskKind;
  /** Class names in label-id order (classification only). */
  readonly labelNames?: readonly string[];
  /** What `Example.texts` holds, in order (e.g. ['premise', 'hypothesis']). */
  readonly textFields: readonly string[];
  /** Official metrics, in the order the leaderboard reports them; the task score is their mean. */
  readonly metrics: readonly MetricName[];
  /** Test-only diagnostic sets (AX, AX-b, AX-g) are reported but excluded from the average. */
  readonly diagnostic?: boolean;
}

export type Texts = readonly [string] | readonly [string, string];

/** One encoder example. `label` is a class id, a float score (regression), or null when hidden (test). */
export interface Example {
  /** The example id the leaderboard wants back (GLUE `index`/row number, SuperGLUE `idx`). */
  readonly idx: number;
  readonly texts: Texts;
  readonly label: number | null;
}

/** A row the official loaders drop (HF "Filter out corrupted rows"); `line` is 1-based. */
export interface SkippedRow {
  readonly line: number;
  readonly reason: string;
}

/** What a loader returns: the examples plus every row it dropped, so callers can print the count. */
export interface LoadedSplit<E = Example> {
  readonly task: TaskSpec;
  readonly file: string;
  readonly examples: readonly E[];
  readonly skipped: readonly SkippedRow[];
}

export interface LoadOptions {
  /** 'error' (default): any malformed row throws DataFileError(file, line). 'skip': rows the
   * official loaders drop (missing or extra fields, empty label) are skipped and listed. */
  readonly onBadRow?: 'error' | 'skip';
  /** When set, a different number of loaded examples throws (HF `verify_splits`). */
  readonly expectedRows?: number;
}

/** Text-to-text view of an example (T5 style): the encoder input and the decoder target (null when hidden). */
export interface TextPair {
  readonly idx: number;
  readonly input: string;
  readonly target: string | null;
}

/** Labels of a labelled split, in order; throws if any label is hidden. */
export function labelsOf(split: { readonly file: string; readonly examples: readonly { readonly label: number | null }[] }): number[] {
  return split.examples.map((e, i) => {
    if (e.label === null) throw new DataFileError(`example ${i} has no label (test split?)`, split.file);
    return e.label;
  });
}
