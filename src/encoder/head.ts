/**
 * The one head module of every encoder task (GLUE, SuperGLUE, ranking, embeddings): pooling of the
 * backbone's token states, dropout on the pooled vector, a linear head and its loss.
 *
 * Weight names (what `saveHead` writes, `loadHead` reads):
 * - `score.weight` [n, D] (+ `score.bias` [n] unless `bias: false`): with 'last' pooling and no bias this
 *   is exactly HF `Gemma*ForSequenceClassification` (a bias-free `score` Linear on the last non-pad
 *   token), so such a checkpoint's head loads as is.
 * - `pooler.query` [D], `pooler.k_proj.weight` / `pooler.v_proj.weight` [D, D]: attention pooling.
 * Other layouts, mapped on load: HF `T5GemmaForSequenceClassification` names its Linear
 * `score.out_proj.{weight,bias}` (dropout, then the Linear, on the encoder's last non-pad token).
 * sentence-transformers (EmbeddingGemma) keeps pooling and its Dense layers in separate modules
 * (`2_Dense/...`); they are not a classification head.
 *
 * Heads and losses (means over the batch):
 * - classification: `score` Linear(D, n) + softmax cross-entropy on class ids.
 * - regression (STS-B): Linear(D, 1), MSE against the float label.
 * - ranking: Linear(D, 1) relevance score; pointwise = BCE-with-logits on 0/1 labels,
 *   pairwise = RankNet softplus(-(s_pos - s_neg)) over consecutive rows (2i positive, 2i+1 negative).
 */
import * as tf from '@tensorflow/tfjs-core';
import { ConfigError } from '../errors.js';
import { variableFrom } from '../models/stream-load.js';
import { linear } from '../nn/linear.js';
import { attentionPool, pool, POOLINGS, type Pooling } from '../nn/pooling.js';
import { Rng } from '../rng/index.js';
import { loadTensorsFile, saveTensors } from '../train/checkpoint.js';

export type HeadSpec =
  | { readonly kind: 'classification'; readonly numClasses: number }
  | { readonly kind: 'regression' }
  | { readonly kind: 'ranking'; readonly loss: 'pointwise' | 'pairwise' };

/** Output width of the head's linear layer. */
export function headOutputs(h: HeadSpec): number {
  if (h.kind !== 'classification') return 1;
  if (!(Number.isInteger(h.numClasses) && h.numClasses >= 2)) {
    throw new ConfigError(`must be an integer >= 2, got ${h.numClasses}`, undefined, 'head.numClasses');
  }
  return h.numClasses;
}

/** logits: [B, n] (n = headOutputs), labels: class ids or floats, one per row -> scalar mean loss. */
export function headLoss(h: HeadSpec, logits: tf.Tensor2D, labels: readonly number[]): tf.Scalar {
  return tf.tidy(() => {
    const B = logits.shape[0];
    if (labels.length !== B) throw new ConfigError(`${labels.length} labels for ${B} rows`, undefined, 'labels');
    switch (h.kind) {
      case 'classification': {
        const n = logits.shape[1];
        for (const y of labels) {
          if (!(Number.isInteger(y) && y >= 0 && y < n)) throw new ConfigError(`class id ${y} outside [0, ${n})`, undefined, 'labels');
        }
        const logp = tf.logSoftmax(logits, -1);
        const onehot = tf.oneHot(tf.tensor1d([...labels], 'int32'), n).cast('float32');
        return tf.neg(tf.sum(logp.mul(onehot))).div(B) as tf.Scalar;
      }
      case 'regression': {
        const d = tf.reshape(logits, [B]).sub(tf.tensor1d([...labels], 'float32'));
        return tf.mean(d.square()) as tf.Scalar;
      }
      case 'ranking': {
        const s = tf.reshape(logits, [B]);
        if (h.loss === 'pointwise') {
          // Stable BCE with logits: max(s,0) - s*y + log(1 + exp(-|s|)).
          const y = tf.tensor1d([...labels], 'float32');
          return tf.mean(tf.relu(s).sub(s.mul(y)).add(tf.log1p(tf.exp(tf.neg(tf.abs(s)))))) as tf.Scalar;
        }
        if (B % 2 !== 0) throw new ConfigError(`pairwise ranking needs (positive, negative) row pairs; got ${B} rows`, undefined, 'batch');
        const pairs = tf.reshape(s, [B / 2, 2]);
        const margin = tf.sub(tf.slice(pairs, [0, 0], [-1, 1]), tf.slice(pairs, [0, 1], [-1, 1]));
        return tf.mean(tf.softplus(tf.neg(margin))) as tf.Scalar;
      }
      default: {
        const never: never = h;
        throw new ConfigError(`unknown head ${JSON.stringify(never)}`, undefined, 'head.kind');
      }
    }
  });
}

export interface HeadOptions {
  readonly pooling: Pooling;
  /** Heads of attention pooling (default 4, as in EmbeddingGemma). */
  readonly attentionPoolingHeads?: number;
  readonly head: HeadSpec;
  /** Learn `score.bias` (default true); false gives HF's bias-free `score` layout. */
  readonly bias?: boolean;
  /** Dropout on the pooled vector in training (default 0). */
  readonly dropout?: number;
  /** Seed of the new weights' init (default 0). */
  readonly seed?: number;
  /** Std of the normal init (default 0.02; encoders pass the backbone's initializer_range). */
  readonly initializerRange?: number;
}

/** HF T5Gemma classification layout -> ours. */
const ALIASES: Readonly<Record<string, string>> = { 'score.weight': 'score.out_proj.weight', 'score.bias': 'score.out_proj.bias' };

/** Pooling + dropout + linear head over [B, T, D] token states; owns its parameters (`params`). */
export class EncoderHead {
  readonly params = new Map<string, tf.Variable>();
  readonly outputs: number;

  constructor(
    readonly hiddenSize: number,
    readonly options: HeadOptions,
  ) {
    if (!POOLINGS.includes(options.pooling)) {
      throw new ConfigError(`'${options.pooling}' is not one of ${POOLINGS.join(', ')}`, undefined, 'pooling');
    }
    const rate = options.dropout ?? 0;
    if (!(rate >= 0 && rate < 1)) throw new ConfigError(`must be in [0, 1), got ${rate}`, undefined, 'dropout');
    const D = hiddenSize;
    const std = options.initializerRange ?? 0.02;
    const rng = new Rng(options.seed ?? 0);
    const normal = (shape: number[]) =>
      variableFrom(tf.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => std * rng.normal()), shape));
    if (options.pooling === 'attention') {
      const H = this.attentionHeads;
      if (!(Number.isInteger(H) && H >= 1 && D % H === 0)) {
        throw new ConfigError(`must divide the hidden size ${D}, got ${H}`, undefined, 'attentionPoolingHeads');
      }
      this.params.set('pooler.query', normal([D]));
      this.params.set('pooler.k_proj.weight', normal([D, D]));
      this.params.set('pooler.v_proj.weight', normal([D, D]));
    }
    this.outputs = headOutputs(options.head);
    this.params.set('score.weight', normal([this.outputs, D]));
    if (options.bias ?? true) this.params.set('score.bias', variableFrom(tf.zeros([this.outputs])));
  }

  private get attentionHeads(): number {
    return this.options.attentionPoolingHeads ?? 4;
  }

  private p<T extends tf.Tensor>(name: string): T {
    return this.params.get(name) as tf.Tensor as T;
  }

  /** states [B, T, D], mask [B, T] -> pooled [B, D]; dropout only when training (seeded). */
  pool(states: tf.Tensor3D, mask: tf.Tensor2D, run: { readonly training?: boolean; readonly seed?: number } = {}): tf.Tensor2D {
    return tf.tidy(() => {
      const kind = this.options.pooling;
      let pooled =
        kind === 'attention'
          ? attentionPool(
              states,
              mask,
              { 'pooler.query': this.p('pooler.query'), 'pooler.k_proj.weight': this.p('pooler.k_proj.weight'), 'pooler.v_proj.weight': this.p('pooler.v_proj.weight') },
              this.attentionHeads,
            )
          : pool(states, mask, kind);
      const rate = this.options.dropout ?? 0;
      if ((run.training ?? false) && rate > 0) pooled = tf.dropout(pooled, rate, undefined, run.seed) as tf.Tensor2D;
      return pooled;
    });
  }

  /** pooled [B, D] -> head outputs [B, n]. */
  project(pooled: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => {
      const out = linear(pooled, this.p<tf.Tensor2D>('score.weight')); // [B, n]
      const b = this.params.get('score.bias');
      return (b ? tf.add(out, b) : out) as tf.Tensor2D;
    });
  }

  /** Mean loss of head outputs [B, n] against one label per row. */
  loss(logits: tf.Tensor2D, labels: readonly number[]): tf.Scalar {
    return headLoss(this.options.head, logits, labels);
  }

  /** Writes the head's weights (safetensors, atomically). */
  async save(path: string): Promise<void> {
    await saveTensors(path, this.params);
  }

  /** Loads weights written by `save` (or HF's T5Gemma `score.out_proj.*` layout); names and shapes must match. */
  async load(path: string): Promise<void> {
    const got = await loadTensorsFile(path);
    for (const [name, v] of this.params) {
      const t = got.get(name) ?? (ALIASES[name] !== undefined ? got.get(ALIASES[name]) : undefined);
      if (!t) throw new ConfigError(`missing tensor '${name}'`, path);
      if (t.shape.join(',') !== v.shape.join(',')) throw new ConfigError(`'${name}' has shape [${t.shape}], the head has [${v.shape}]`, path);
      v.assign(tf.tensor(t.data, t.shape, 'float32'));
    }
  }

  dispose(): void {
    for (const v of this.params.values()) v.dispose();
    this.params.clear();
  }
}
