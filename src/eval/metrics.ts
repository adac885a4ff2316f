/**
 * Classification and correlation metrics with scikit-learn / scipy semantics (the ones the GLUE and
 * SuperGLUE metric scripts call). Labels are numbers; for multiclass metrics the class set is the
 * sorted union of labels seen in `yTrue` and `yPred`, as sklearn does when `labels` is not given.
 * Reference cases: docs/benchmarks.md §5.
 * Class ids must be integers (sklearn's `type_of_target` refuses NaN, infinities and fractional labels);
 * scoring them as plain mismatches would hide a broken prediction pipeline.
 */
import { MetricInputError } from '../errors.js';

function checkLengths(a: ArrayLike<unknown>, b: ArrayLike<unknown>, what: string, w?: ArrayLike<number>): void {
  if (a.length !== b.length) throw new RangeError(`${what}: yTrue has ${a.length} items, yPred ${b.length}`);
  if (a.length === 0) throw new RangeError(`${what}: empty input`);
  if (w && w.length !== a.length) throw new RangeError(`${what}: sampleWeight has ${w.length} items, expected ${a.length}`);
}

/** Refuses non-integer class ids in either array and non-finite or negative sample weights. */
function checkClassIds(yTrue: ArrayLike<number>, yPred: ArrayLike<number>, what: string, w?: ArrayLike<number>): void {
  for (const [name, ys] of [['yTrue', yTrue], ['yPred', yPred]] as const) {
    for (let i = 0; i < ys.length; i++) {
      const y = ys[i];
      if (!Number.isInteger(y)) throw new MetricInputError(`${what}: ${name}[${i}] = ${String(y)} is not an integer class id`);
    }
  }
  if (w) {
    for (let i = 0; i < w.length; i++) {
      const x = w[i] as number;
      if (!Number.isFinite(x) || x < 0) throw new MetricInputError(`${what}: sampleWeight[${i}] = ${String(x)} must be finite and >= 0`);
    }
  }
}

/** Length checks, then class-id checks (for classification metrics). */
function checkLabels(yTrue: ArrayLike<number>, yPred: ArrayLike<number>, what: string, w?: ArrayLike<number>): void {
  checkLengths(yTrue, yPred, what, w);
  checkClassIds(yTrue, yPred, what, w);
}

const weightAt = (w: ArrayLike<number> | undefined, i: number): number => (w ? (w[i] as number) : 1);

/** Share of exact matches (sklearn `accuracy_score`). */
export function accuracy(yTrue: ArrayLike<number>, yPred: ArrayLike<number>, sampleWeight?: ArrayLike<number>): number {
  checkLabels(yTrue, yPred, 'accuracy', sampleWeight);
  let hit = 0;
  let total = 0;
  for (let i = 0; i < yTrue.length; i++) {
    const w = weightAt(sampleWeight, i);
    if (yTrue[i] === yPred[i]) hit += w;
    total += w;
  }
  return hit / total;
}

/** Sorted union of the classes in both label arrays. */
function classSet(yTrue: ArrayLike<number>, yPred: ArrayLike<number>): number[] {
  const s = new Set<number>();
  for (let i = 0; i < yTrue.length; i++) s.add(yTrue[i] as number);
  for (let i = 0; i < yPred.length; i++) s.add(yPred[i] as number);
  return [...s].sort((a, b) => a - b);
}

/** Weighted confusion matrix C[true][pred] (K x K) over `classes`. */
function confusion(yTrue: ArrayLike<number>, yPred: ArrayLike<number>, classes: readonly number[], sampleWeight?: ArrayLike<number>): number[][] {
  const index = new Map(classes.map((c, i) => [c, i]));
  const C = classes.map(() => classes.map(() => 0));
  for (let i = 0; i < yTrue.length; i++) {
    const t = index.get(yTrue[i] as number);
    const p = index.get(yPred[i] as number);
    if (t === undefined || p === undefined) continue; // outside an explicit `labels` list
    (C[t] as number[])[p] = ((C[t] as number[])[p] as number) + weightAt(sampleWeight, i);
  }
  return C;
}

/**
 * Matthews correlation coefficient, binary or multiclass (sklearn `matthews_corrcoef`, the R_K
 * statistic). Returns 0 when the denominator is 0 (e.g. a constant predictor), as sklearn does.
 */
export function mcc(yTrue: ArrayLike<number>, yPred: ArrayLike<number>, sampleWeight?: ArrayLike<number>): number {
  checkLabels(yTrue, yPred, 'mcc', sampleWeight);
  const C = confusion(yTrue, yPred, classSet(yTrue, yPred), sampleWeight);
  const K = C.length;
  const tSum = C.map((row) => row.reduce((a, b) => a + b, 0));
  const pSum = C[0]!.map((_, j) => C.reduce((a, row) => a + (row[j] as number), 0));
  let nCorrect = 0;
  for (let k = 0; k < K; k++) nCorrect += C[k]![k] as number;
  const n = tSum.reduce((a, b) => a + b, 0);
  const dot = (a: number[], b: number[]) => a.reduce((s, x, i) => s + x * (b[i] as number), 0);
  const covYtYp = nCorrect * n - dot(tSum, pSum);
  const covYpYp = n * n - dot(pSum, pSum);
  const covYtYt = n * n - dot(tSum, tSum);
  if (covYpYp * covYtYt === 0) return 0;
  return covYtYp / Math.sqrt(covYtYt * covYpYp);
}

interface ClassCounts {
  readonly classes: number[];
  readonly tp: number[];
  readonly fp: number[];
  readonly fn: number[];
  readonly support: number[];
}

function perClassCounts(yTrue: ArrayLike<number>, yPred: ArrayLike<number>, classes: number[], sampleWeight?: ArrayLike<number>): ClassCounts {
  const C = confusion(yTrue, yPred, classes, sampleWeight);
  const tp = classes.map((_, k) => C[k]![k] as number);
  const support = C.map((row) => row.reduce((a, b) => a + b, 0));
  const predicted = classes.map((_, k) => C.reduce((a, row) => a + (row[k] as number), 0));
  return {
    classes,
    tp,
    fp: predicted.map((p, k) => p - (tp[k] as number)),
    fn: support.map((s, k) => s - (tp[k] as number)),
    support,
  };
}

/** F1 = 2tp / (2tp + fp + fn); 0 when there is nothing to score (sklearn zero_division=0). */
const f1FromCounts = (tp: number, fp: number, fn: number): number => {
  const d = 2 * tp + fp + fn;
  return d === 0 ? 0 : (2 * tp) / d;
};

/** Binary F1 of the positive class (sklearn `f1_score(average='binary')`, pos_label default 1). */
export function f1Binary(
  yTrue: ArrayLike<number>,
  yPred: ArrayLike<number>,
  opts: { posLabel?: number; sampleWeight?: ArrayLike<number> } = {},
): number {
  checkLabels(yTrue, yPred, 'f1', opts.sampleWeight);
  const pos = opts.posLabel ?? 1;
  let tp = 0;
  let fp = 0;
  let fn = 0;
  for (let i = 0; i < yTrue.length; i++) {
    const w = weightAt(opts.sampleWeight, i);
    const t = yTrue[i] === pos;
    const p = yPred[i] === pos;
    if (t && p) tp += w;
    else if (p) fp += w;
    else if (t) fn += w;
  }
  return f1FromCounts(tp, fp, fn);
}

/** F1 per class, in the order of `labels` (default: sorted union of seen labels). */
export function f1PerClass(yTrue: ArrayLike<number>, yPred: ArrayLike<number>, labels?: readonly number[]): { labels: number[]; f1: number[] } {
  checkLabels(yTrue, yPred, 'f1');
  const c = perClassCounts(yTrue, yPred, labels ? [...labels] : classSet(yTrue, yPred));
  return { labels: c.classes, f1: c.classes.map((_, k) => f1FromCounts(c.tp[k]!, c.fp[k]!, c.fn[k]!)) };
}

/** Unweighted mean of per-class F1 (sklearn `average='macro'`; the SuperGLUE CB metric). */
export function macroF1(yTrue: ArrayLike<number>, yPred: ArrayLike<number>, labels?: readonly number[]): number {
  const { f1 } = f1PerClass(yTrue, yPred, labels);
  return f1.reduce((a, b) => a + b, 0) / f1.length;
}

/** F1 of pooled counts over all classes (sklearn `average='micro'`). */
export function microF1(yTrue: ArrayLike<number>, yPred: ArrayLike<number>): number {
  checkLabels(yTrue, yPred, 'f1');
  const c = perClassCounts(yTrue, yPred, classSet(yTrue, yPred));
  const sum = (a: number[]) => a.reduce((x, y) => x + y, 0);
  return f1FromCounts(sum(c.tp), sum(c.fp), sum(c.fn));
}

/** Per-class F1 weighted by true support (sklearn `average='weighted'`). */
export function weightedF1(yTrue: ArrayLike<number>, yPred: ArrayLike<number>): number {
  checkLabels(yTrue, yPred, 'f1');
  const c = perClassCounts(yTrue, yPred, classSet(yTrue, yPred));
  const total = c.support.reduce((a, b) => a + b, 0);
  if (total === 0) return 0;
  return c.classes.reduce((acc, _, k) => acc + f1FromCounts(c.tp[k]!, c.fp[k]!, c.fn[k]!) * c.support[k]!, 0) / total;
}

/**
 * Pearson r as scipy computes it: centre, normalise each vector, dot product, clip to [-1, 1].
 * NaN when either input is constant (scipy warns and returns nan).
 */
export function pearson(x: ArrayLike<number>, y: ArrayLike<number>): number {
  checkLengths(x, y, 'pearson');
  const n = x.length;
  if (n < 2) throw new RangeError('pearson: needs at least 2 points');
  let mx = 0;
  let my = 0;
  for (let i = 0; i < n; i++) {
    mx += x[i] as number;
    my += y[i] as number;
  }
  mx /= n;
  my /= n;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    sxx += ((x[i] as number) - mx) ** 2;
    syy += ((y[i] as number) - my) ** 2;
  }
  const nx = Math.sqrt(sxx);
  const ny = Math.sqrt(syy);
  if (nx === 0 || ny === 0) return Number.NaN;
  let r = 0;
  for (let i = 0; i < n; i++) r += (((x[i] as number) - mx) / nx) * (((y[i] as number) - my) / ny);
  return Math.max(-1, Math.min(1, r));
}

/** 1-based ranks; tied values share the average of their ranks (scipy `rankdata(method='average')`). */
export function averageRanks(x: ArrayLike<number>): number[] {
  const n = x.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => (x[a] as number) - (x[b] as number));
  const ranks = new Array<number>(n);
  let i = 0;
  while (i < n) {
    let j = i;
    while (j + 1 < n && x[order[j + 1]!] === x[order[i]!]) j++;
    const r = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) ranks[order[k]!] = r;
    i = j + 1;
  }
  return ranks;
}

/** Spearman rho = Pearson r of the tie-averaged ranks (scipy `spearmanr`). */
export function spearman(x: ArrayLike<number>, y: ArrayLike<number>): number {
  checkLengths(x, y, 'spearman');
  for (let i = 0; i < x.length; i++) {
    if (Number.isNaN(x[i]) || Number.isNaN(y[i])) throw new RangeError(`spearman: NaN at ${i}`);
  }
  return pearson(averageRanks(x), averageRanks(y));
}

/** Mean of the values (the score of a task with several metrics). */
export function mean(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('mean of nothing');
  return values.reduce((a, b) => a + b, 0) / values.length;
}
