/**
 * Sentence embeddings as the sentence-transformers pipeline computes them: the Gemma backbone in the
 * attention its config declares (EmbeddingGemma: HF's bidirectional window), then the folder's modules
 * (Pooling modes concatenated in ST's order, Dense = activation(x W^T + b), Normalize = x / max(|x|, 1e-12)),
 * then Matryoshka truncation to `dim` (and re-normalisation only when asked, as ST's normalize_embeddings).
 * A plain Gemma checkpoint (no modules.json) embeds with bidirectional attention and mean pooling.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { resolveModelSource, type ResolveOptions } from '../checkpoint/hub.js';
import { ConfigError } from '../errors.js';
import { GemmaModel } from '../models/gemma.js';
import { loadGemmaModel } from '../models/load.js';
import type { AttentionMode } from '../nn/masks.js';
import { isSentenceTransformersDir, pipelineWidth, readStPipeline, type StActivation, type StDense, type StPipeline, type StPooling } from './st.js';

export interface EmbedInputIds {
  readonly inputIds: readonly (readonly number[])[];
  /** Default: all ones. */
  readonly attentionMask?: readonly (readonly number[])[];
}

export interface EmbedOptions {
  /** A prompt of the checkpoint by name (config_sentence_transformers.json `prompts`); texts only. */
  readonly promptName?: string;
  /** A literal prompt prepended to every text; texts only. */
  readonly prompt?: string;
  /** Matryoshka: keep the first `dim` components. */
  readonly dim?: number;
  /** L2-normalise after truncation (sentence-transformers `normalize_embeddings`). Default false. */
  readonly normalize?: boolean;
  /** Rows per forward pass (default 16). */
  readonly batchSize?: number;
}

export interface LoadEmbedderOptions {
  /** Attention of the backbone; default: the config's (ST folders) or bidirectional (plain checkpoints). */
  readonly mode?: AttentionMode;
  readonly hub?: ResolveOptions;
  readonly onInfo?: (line: string) => void;
}

/** A checkpoint's own tokenizer.json run with its post-processor, as `tokenizer(texts)` in transformers. */
export class CheckpointTokenizer {
  private readonly tok: HfTokenizer;
  /** Special ids the post-processor puts around one sequence. */
  private readonly prefix: number[];
  private readonly suffix: number[];
  readonly padId: number;

  constructor(readonly dir: string) {
    const file = join(dir, 'tokenizer.json');
    const cfgFile = join(dir, 'tokenizer_config.json');
    const read = (f: string): Record<string, unknown> => {
      try {
        return JSON.parse(readFileSync(f, 'utf8')) as Record<string, unknown>;
      } catch (err) {
        throw new ConfigError(`cannot read tokenizer file: ${(err as Error).message}`, f, undefined, { cause: err });
      }
    };
    this.tok = new HfTokenizer(read(file), existsSync(cfgFile) ? read(cfgFile) : {});
    const body = this.tok.encode('x', { add_special_tokens: false }).ids;
    const full = this.tok.encode('x', { add_special_tokens: true }).ids;
    const at = full.indexOf(body[0] as number);
    this.prefix = full.slice(0, at);
    this.suffix = full.slice(at + body.length);
    this.padId = this.tok.token_to_id('<pad>') ?? 0;
  }

  /** ids with the post-processor's specials, the body cut so the whole fits `maxLength`. */
  encode(text: string, maxLength: number | null): number[] {
    let body = this.tok.encode(text, { add_special_tokens: false }).ids;
    if (maxLength !== null) body = body.slice(0, Math.max(0, maxLength - this.prefix.length - this.suffix.length));
    return [...this.prefix, ...body, ...this.suffix];
  }

  /** Tokens of a prompt alone, specials included, a trailing special excluded (ST's prompt_length). */
  promptLength(prompt: string): number {
    return this.prefix.length + this.tok.encode(prompt, { add_special_tokens: false }).ids.length;
  }
}

export class SentenceEmbedder {
  constructor(
    readonly model: GemmaModel,
    readonly pipeline: StPipeline,
    /** Attention the backbone runs with. */
    readonly mode: AttentionMode,
    readonly tokenizer: CheckpointTokenizer | null = null,
  ) {
    if (pipelineWidth(pipeline, model.config.hiddenSize) < 1) throw new ConfigError('empty embedding', model.config.sourcePath);
    const first = pipeline.modules.find((m) => m.kind === 'pooling');
    if (!first || first.wordEmbeddingDimension !== model.config.hiddenSize)
      throw new ConfigError(`Pooling word_embedding_dimension must be the hidden size ${model.config.hiddenSize}`, model.config.sourcePath, 'word_embedding_dimension');
  }

  /** Width of the embeddings before truncation. */
  get dimension(): number {
    return pipelineWidth(this.pipeline, this.model.config.hiddenSize);
  }

  /** Texts (needs the checkpoint's tokenizer) or token ids -> embeddings [B, D'] (D' = dim ?? dimension). */
  embed(input: readonly string[] | EmbedInputIds, opts: EmbedOptions = {}): number[][] {
    const dim = opts.dim ?? this.dimension;
    if (!Number.isInteger(dim) || dim < 1 || dim > this.dimension) throw new ConfigError(`must be an integer in [1, ${this.dimension}], got ${dim}`, undefined, 'dim');
    const { ids, mask, promptLength } = this.prepare(input, opts);
    const bs = opts.batchSize ?? 16;
    const out: number[][] = [];
    for (let s = 0; s < ids.length; s += bs) {
      const rowsIds = ids.slice(s, s + bs);
      const rowsMask = mask.slice(s, s + bs);
      // Pad each batch to its own longest row (results do not depend on padding: pads are masked keys).
      const T = Math.max(...rowsIds.map((r) => r.length));
      const padIds = rowsIds.map((r) => [...r, ...new Array<number>(T - r.length).fill(this.model.config.padTokenId)]);
      const padMask = rowsMask.map((r) => [...r, ...new Array<number>(T - r.length).fill(0)]);
      const e = tf.tidy(() => {
        const { hiddenStates } = this.model.forward(padIds, { attentionMask: padMask, attention: this.mode, logits: false });
        let x: tf.Tensor2D = this.modulesForward(hiddenStates, padMask, promptLength);
        if (dim < x.shape[1]) x = tf.slice(x, [0, 0], [-1, dim]);
        if (opts.normalize) x = l2normalize(x);
        return x;
      });
      out.push(...(e.arraySync() as number[][]));
      e.dispose();
    }
    return out;
  }

  private prepare(input: readonly string[] | EmbedInputIds, opts: EmbedOptions): { ids: number[][]; mask: number[][]; promptLength: number } {
    if (Array.isArray(input)) {
      const texts = input as readonly string[];
      if (!this.tokenizer) throw new ConfigError('texts need the checkpoint tokenizer (tokenizer.json); give token ids instead', this.model.config.sourcePath);
      if (texts.length === 0) throw new ConfigError('no texts to embed', undefined, 'texts');
      const prompt = this.resolvePrompt(opts);
      const maxLen = this.pipeline.maxSeqLength ?? this.model.config.maxPositionEmbeddings;
      const ids = texts.map((t, i) => {
        if (typeof t !== 'string') throw new ConfigError(`texts[${i}] is not a string`, undefined, 'texts');
        return this.tokenizer!.encode(prompt + t, maxLen);
      });
      return { ids, mask: ids.map((r) => r.map(() => 1)), promptLength: prompt.length > 0 ? this.tokenizer.promptLength(prompt) : 0 };
    }
    const x = input as EmbedInputIds;
    if (opts.promptName !== undefined || opts.prompt !== undefined)
      throw new ConfigError('a prompt is text: give texts (not token ids) to use one', undefined, 'prompt');
    const ids = x.inputIds.map((r) => [...r]);
    if (ids.length === 0) throw new ConfigError('no rows to embed', undefined, 'input_ids');
    const mask = (x.attentionMask ?? ids.map((r) => r.map(() => 1))).map((r) => [...r]);
    if (mask.length !== ids.length || mask.some((r, b) => r.length !== (ids[b] as number[]).length))
      throw new ConfigError('attention_mask must have the shape of input_ids', undefined, 'attention_mask');
    return { ids, mask, promptLength: 0 };
  }

  private resolvePrompt(opts: EmbedOptions): string {
    if (opts.prompt !== undefined && opts.promptName !== undefined) throw new ConfigError('give a prompt or a prompt name, not both', undefined, 'prompt');
    if (opts.prompt !== undefined) return opts.prompt;
    const name = opts.promptName ?? this.pipeline.defaultPromptName;
    if (name === null || name === undefined) return '';
    const p = this.pipeline.prompts[name];
    if (p === undefined)
      throw new ConfigError(`unknown prompt '${name}' (this checkpoint has: ${Object.keys(this.pipeline.prompts).join(', ') || 'none'})`, this.model.config.sourcePath, 'prompt');
    return p;
  }

  /** hiddenStates [B, T, D], mask [B][T] -> [B, D'] through Pooling / Dense / Normalize. */
  private modulesForward(h: tf.Tensor3D, mask: number[][], promptLength: number): tf.Tensor2D {
    let x: tf.Tensor2D | null = null;
    for (const m of this.pipeline.modules) {
      if (m.kind === 'pooling') {
        // include_prompt false: the prompt's tokens are left out of the pooling only (ST masks after the forward).
        const pm = m.includePrompt || promptLength === 0 ? mask : mask.map((r) => r.map((v, t) => (t < promptLength ? 0 : v)));
        x = stPool(h, tf.tensor2d(pm, [pm.length, (pm[0] as number[]).length], 'float32'), m);
      } else if (m.kind === 'dense') x = dense(x as tf.Tensor2D, m);
      else x = l2normalize(x as tf.Tensor2D);
    }
    return x as tf.Tensor2D;
  }

  dispose(): void {
    this.model.dispose();
  }
}

/** h [B, T, D], mask [B, T] (1 real) -> [B, D * modes] (sentence-transformers Pooling). */
export function stPool(h: tf.Tensor3D, mask: tf.Tensor2D, p: StPooling): tf.Tensor2D {
  return tf.tidy(() => {
    const [B, T] = h.shape;
    const m3 = tf.expandDims(mask, 2); // [B, T, 1]
    const parts: tf.Tensor2D[] = [];
    for (const mode of p.modes) {
      switch (mode) {
        case 'cls':
          parts.push(tf.squeeze(tf.slice(h, [0, 0, 0], [-1, 1, -1]), [1]) as tf.Tensor2D);
          break;
        case 'max':
          parts.push(tf.max(tf.where(tf.greater(tf.broadcastTo(m3, h.shape), 0), h, tf.fill(h.shape, -1e9)), 1) as tf.Tensor2D);
          break;
        case 'mean':
        case 'mean_sqrt_len_tokens': {
          const sum = tf.sum(tf.mul(h, m3), 1);
          const n = tf.maximum(tf.sum(m3, 1), 1e-9); // [B, 1]
          parts.push(tf.div(sum, mode === 'mean' ? n : tf.sqrt(n)) as tf.Tensor2D);
          break;
        }
        case 'weightedmean': {
          const w = tf.mul(m3, tf.reshape(tf.range(1, T + 1, 1, 'float32'), [1, T, 1])); // position weights 1..T
          parts.push(tf.div(tf.sum(tf.mul(h, w), 1), tf.maximum(tf.sum(w, 1), 1e-9)) as tf.Tensor2D);
          break;
        }
        case 'lasttoken': {
          // rightmost real token (position T-1 for a row without one), read from the masked states
          const score = tf.mul(mask, tf.range(1, T + 1, 1, 'float32')); // [B, T]
          const any = tf.greater(tf.max(mask, 1), 0);
          const idx = tf.where(any, tf.argMax(score, 1), tf.fill([B], T - 1, 'int32'));
          const pick = tf.expandDims(tf.oneHot(tf.cast(idx, 'int32'), T), 2); // [B, T, 1]
          parts.push(tf.sum(tf.mul(tf.mul(h, m3), pick), 1) as tf.Tensor2D);
          break;
        }
      }
    }
    return (parts.length === 1 ? parts[0] : tf.concat(parts, 1)) as tf.Tensor2D;
  });
}

function activate(x: tf.Tensor2D, a: StActivation): tf.Tensor2D {
  switch (a) {
    case 'identity':
      return x;
    case 'tanh':
      return tf.tanh(x);
    case 'relu':
      return tf.relu(x);
    case 'sigmoid':
      return tf.sigmoid(x);
    case 'silu':
      return tf.mul(x, tf.sigmoid(x));
    case 'gelu': // torch.nn.GELU default: exact erf form
      return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2))));
  }
}

/** x [B, in] -> activation(x W^T + b) [B, out]. */
export function dense(x: tf.Tensor2D, d: StDense): tf.Tensor2D {
  return tf.tidy(() => {
    const w = tf.tensor2d(d.weight, [d.outFeatures, d.inFeatures]);
    let y: tf.Tensor2D = tf.matMul(x, w, false, true);
    if (d.bias) y = tf.add(y, tf.tensor1d(d.bias)) as tf.Tensor2D;
    return activate(y, d.activation);
  });
}

/** x / max(||x||_2, 1e-12) per row. */
export function l2normalize(x: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => tf.div(x, tf.maximum(tf.norm(x, 2, 1, true), 1e-12)) as tf.Tensor2D);
}

/** The pipeline a plain checkpoint embeds with: mean pooling, nothing after. */
export function meanPoolingPipeline(hiddenSize: number): StPipeline {
  return { modules: [{ kind: 'pooling', modes: ['mean'], wordEmbeddingDimension: hiddenSize, includePrompt: true }], prompts: {}, defaultPromptName: null, similarityFnName: 'cosine', maxSeqLength: null };
}

/**
 * A sentence-transformers folder (modules.json) or any Gemma checkpoint. ST folders run the backbone as
 * transformers would (the config's attention); plain checkpoints run bidirectional (the config's HF window
 * when it declares use_bidirectional_attention, else every key visible) with mean pooling.
 */
export async function loadEmbedder(source: string, opts: LoadEmbedderOptions = {}): Promise<SentenceEmbedder> {
  const dir = resolve(await resolveModelSource(source, opts.hub));
  const model = await loadGemmaModel(dir, opts.onInfo ? { onInfo: opts.onInfo } : {});
  try {
    const tokenizer = existsSync(join(dir, 'tokenizer.json')) ? new CheckpointTokenizer(dir) : null;
    if (isSentenceTransformersDir(dir)) {
      const pipeline = await readStPipeline(dir, model.config.hiddenSize);
      return new SentenceEmbedder(model, pipeline, opts.mode ?? model.defaultMode, tokenizer);
    }
    const mode = opts.mode ?? (model.config.useBidirectionalAttention ? 'bidirectional_sliding_gemma3_hf' : 'bidirectional_global');
    return new SentenceEmbedder(model, meanPoolingPipeline(model.config.hiddenSize), mode, tokenizer);
  } catch (err) {
    model.dispose();
    throw err;
  }
}

/** One-shot `embed(texts | ids)`: loads `source`, embeds, frees the model. */
export async function embed(source: string, input: readonly string[] | EmbedInputIds, opts: EmbedOptions & LoadEmbedderOptions = {}): Promise<number[][]> {
  const e = await loadEmbedder(source, opts);
  try {
    return e.embed(input, opts);
  } finally {
    e.dispose();
  }
}
