import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  accuracy,
  averageRanks,
  f1Binary,
  f1PerClass,
  macroF1,
  mcc,
  microF1,
  pearson,
  spearman,
  weightedF1,
} from '../../src/eval/metrics.js';
import { close } from './helpers.js';


// Cases 1-8 are quoted from docs/benchmarks.md §5 (scikit-learn 1.2.1 / scipy 1.10.1, re-run here
// with Debian /usr/bin/python3: identical values).

test('MCC reference cases (benchmarks.md §5 cases 1-3)', () => {
  close(mcc([1, 1, 1, -1], [1, -1, 1, 1]), -0.3333333333333333, 'binary with -1 labels');
  const y = [1, 3, 2, 0, 3, 2];
  const p = [1, 2, 2, 0, 3, 3];
  close(mcc(y, p), 0.5384615384615384, 'multiclass');
  close(mcc(y, p, [0.5, 3, 1, 1, 1, 2]), 0.09782608695652174, 'multiclass weighted');
  close(mcc(y, p, [0.5, 1, 0, 0, 0, 1]), -0.25, 'multiclass weighted with zeros');
  assert.equal(mcc([0, 1, 1, 0], [1, 1, 1, 1]), 0, 'constant predictor -> 0, not NaN');
  assert.equal(mcc([1, 1, 1], [1, 1, 1]), 0, 'single class everywhere -> 0 (sklearn)');
});

test('F1 reference cases (benchmarks.md §5 cases 4-6)', () => {
  const y = [0, 1, 0, 1, 0];
  const p = [0, 0, 1, 1, 0];
  close(f1Binary(y, p), 0.5, 'binary');
  close(f1Binary(y, p, { posLabel: 0 }), 0.6666666666666666, 'pos_label=0');
  close(f1Binary(y, p, { sampleWeight: [0.9, 0.5, 3.9, 1.2, 0.3] }), 0.35294117647058826, 'weighted');
  const y3 = [0, 1, 2, 0, 1, 2];
  const p3 = [0, 2, 1, 0, 0, 1];
  close(macroF1(y3, p3), 0.26666666666666666, 'macro');
  close(microF1(y3, p3), 0.3333333333333333, 'micro');
  close(weightedF1(y3, p3), 0.26666666666666666, 'weighted');
  assert.deepEqual(f1PerClass(y3, p3), { labels: [0, 1, 2], f1: [0.8, 0, 0] });
  assert.equal(f1Binary([0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0]), 0, 'no positives anywhere -> 0 (zero_division=0)');
});

test('Pearson / Spearman reference cases (benchmarks.md §5 cases 7-8)', () => {
  close(pearson([1, 2, 3, 4, 5], [10, 9, 2.5, 6, 4]), -0.7426106572325059, 'pearson');
  close(pearson([10, 9, 2.5, 6, 4], [1, 2, 3, 4, 5]), -0.7426106572325057, 'pearson is symmetric');
  close(spearman([1, 2, 3, 4, 5], [10, 9, 2.5, 6, 4]), -0.7, 'spearman');
  close(spearman([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]), 0.8207826816681233, 'spearman with ties');
  assert.deepEqual(averageRanks([5, 6, 7, 8, 7]), [1, 2, 3.5, 5, 3.5]);
  assert.deepEqual(averageRanks([2, 2, 2]), [2, 2, 2]);
  assert.ok(Number.isNaN(pearson([1, 2, 3], [4, 4, 4])), 'constant input -> NaN like scipy');
});

test('perfect predictions give 1.0 everywhere (benchmarks.md §5 case 9)', () => {
  const y = [0, 1, 1, 0, 1];
  assert.equal(accuracy(y, y), 1);
  assert.equal(f1Binary(y, y), 1);
  assert.equal(mcc(y, y), 1);
  const s = [0.1, 2.5, 3.3, 4.9, 1.0];
  close(pearson(s, s), 1, 'pearson');
  close(spearman(s, s), 1, 'spearman');
});

test('larger cases with ties match scipy / sklearn', () => {
  // /usr/bin/python3 (scikit-learn 1.2.1, scipy 1.10.1):
  //   import numpy as np; from scipy.stats import pearsonr, spearmanr
  //   from sklearn.metrics import matthews_corrcoef, f1_score, accuracy_score
  //   rng=np.random.RandomState(0); a=rng.randint(0,6,size=40)/2.0; b=(a+rng.randn(40)).round(1)
  //   pearsonr(b,a)[0], spearmanr(b,a)[0]            -> 0.6912827617097379, 0.663131662582931
  //   t=rng.randint(0,3,size=30); q=rng.randint(0,3,size=30)
  //   matthews_corrcoef(t,q), f1_score(t,q,average='macro'), accuracy_score(t,q)
  //                                                  -> -0.022965760608731265, 0.25044091710758376, 0.3
  const a = [2.0, 2.5, 0.0, 1.5, 1.5, 1.5, 0.5, 1.5, 2.5, 1.0, 2.0, 0.0, 0.0, 2.0, 1.0, 0.5, 0.0, 0.5, 2.5, 0.5, 2.5, 0.0, 0.5, 2.0, 1.5, 0.0, 1.5, 2.5, 0.0, 1.0, 1.5, 0.0, 0.5, 1.5, 2.5, 1.5, 1.5, 0.0, 0.5, 0.5];
  const b = [3.6, 2.7, -0.1, 0.5, 2.1, 0.7, 0.1, 1.2, 1.6, 0.6, 1.5, -1.3, -0.1, 2.9, 1.8, 0.7, -1.0, 1.0, 3.8, -0.2, 0.9, 1.0, 0.6, 1.6, 1.6, 0.3, -0.2, 4.2, 2.3, 0.5, 2.8, -1.2, 1.6, 0.8, 2.6, 1.9, 1.5, 1.1, 0.4, -0.2];
  close(pearson(b, a), 0.6912827617097379, 'pearson');
  close(spearman(b, a), 0.663131662582931, 'spearman');
  const t = [0, 2, 2, 2, 2, 1, 2, 2, 2, 2, 2, 0, 1, 2, 2, 1, 2, 1, 0, 2, 2, 0, 2, 0, 0, 2, 0, 2, 2, 2];
  const q = [0, 0, 0, 1, 2, 0, 1, 2, 2, 2, 1, 0, 0, 0, 0, 2, 2, 0, 0, 0, 1, 2, 0, 0, 1, 0, 2, 1, 1, 1];
  close(mcc(t, q), -0.022965760608731265, 'mcc 3-class');
  close(macroF1(t, q), 0.25044091710758376, 'macro F1');
  close(accuracy(t, q), 0.3, 'accuracy');
});

test('length mismatches and empty inputs throw', () => {
  assert.throws(() => accuracy([1, 0], [1]), RangeError);
  assert.throws(() => mcc([], []), RangeError);
  assert.throws(() => f1Binary([1], [1], { sampleWeight: [1, 2] }), RangeError);
});

test('NaN, infinite or non-integer class ids are refused with a typed error (sklearn raises), not scored as wrong', async () => {
  const { MetricInputError } = await import('../../src/errors.js');
  const bad: [string, number[], number[]][] = [
    ['NaN in yPred', [0, 1, 1, 0], [0, NaN, 1, 0]],
    ['NaN in yTrue', [NaN, 1, 1, 0], [0, 1, 1, 0]],
    ['non-integer id', [0, 1, 1, 0], [0, 0.5, 1, 0]],
    ['infinite id', [0, 1, 1, 0], [0, Infinity, 1, 0]],
  ];
  const fns: [string, (t: number[], p: number[]) => number][] = [
    ['accuracy', (t, p) => accuracy(t, p)],
    ['mcc', (t, p) => mcc(t, p)],
    ['f1', (t, p) => f1Binary(t, p)],
    ['f1', (t, p) => macroF1(t, p)],
    ['f1', (t, p) => microF1(t, p)],
    ['f1', (t, p) => weightedF1(t, p)],
  ];
  for (const [what, t, p] of bad) {
    const at = Math.max(t.findIndex((x) => !Number.isInteger(x)), p.findIndex((x) => !Number.isInteger(x)));
    for (const [name, fn] of fns) {
      assert.throws(() => fn(t, p), (e: unknown) => {
        assert.ok(e instanceof MetricInputError, `${name} ${what}: ${String(e)}`);
        assert.match(e.message, new RegExp(`^${name}: y(True|Pred)\\[${at}\\] = (NaN|0\\.5|Infinity) is not an integer class id`));
        return true;
      }, `${name} ${what}`);
    }
  }
  // Sample weights must be finite and non-negative.
  assert.throws(() => accuracy([0, 1], [0, 1], [1, NaN]), MetricInputError);
  assert.throws(() => mcc([0, 1], [0, 1], [1, -1]), MetricInputError);
  // Still fine: negative integer labels (sklearn allows them) and Float64Array inputs of integers.
  close(accuracy(new Float64Array([-1, 1, 1]), new Float64Array([-1, 1, -1])), 2 / 3, 'integers in a Float64Array');
});
