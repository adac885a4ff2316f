/**
 * Fine-tuned encoders as Hugging Face checkpoints (float32, so a reload here is bit for bit):
 * - `config.json`: the backbone's config plus `id2label`, `label2id`, `num_labels`, `problem_type`
 *   ('single_label_classification' | 'regression'; rankers and embedders 'regression' with one output)
 *   and a `gemma_lab` block (task, attention, pooling, bias, head file) that HF ignores.
 * - When the head means what `Gemma*ForSequenceClassification` means (pooling 'last', no bias): the head
 *   is `score.weight` [n, D] inside `model.safetensors` and `architectures` names that class, so
 *   transformers loads it as is (Gemma 3 text: `use_bidirectional_attention` and the window written so HF
 *   attends as the encoder did, models/hf-save.ts; other families: causal in HF, the mode is recorded in `gemma_lab`).
 * - Otherwise (mean/first/attention pooling, or a bias): `model.safetensors` holds only the backbone
 *   (architectures: the CausalLM class, whose tied lm_head needs no extra tensor) and the head goes to
 *   `gemma_lab_head.safetensors` (`score.weight`, `score.bias`, `pooler.*`), documented in docs/workflow.md.
 * A bi-encoder is also written in the sentence-transformers layout (`saveSentenceTransformerLayout`).
 */
import { copyFile, mkdir } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { fromFloat32, openCheckpoint, saveCheckpoint, type HostTensor } from '../checkpoint/index.js';
import { gemmaConfigToJson, parseGemmaConfig } from '../config/gemma.js';
import { GemmaEncoder, toEncoder } from '../encoder/encoder.js';
import type { HeadSpec } from '../encoder/head.js';
import { ConfigError } from '../errors.js';
import { writeJsonAtomic, writeFileAtomic } from '../io/atomic.js';
import { GemmaModel, GEMMA_TIED_WEIGHTS, gemmaParameterShapes } from '../models/gemma.js';
import { configJsonForMode } from '../models/hf-save.js';
import { loadStrictParams } from '../models/strict.js';
import type { AttentionMode } from '../nn/masks.js';
import type { Pooling } from '../nn/pooling.js';

export const HEAD_FILE = 'gemma_lab_head.safetensors';
const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'tokenizer.model'];
/** transformers classes per model_type: the sequence classifier (text-only Gemma 3 has its own) and the causal LM. */
const HF_CLASSES: Readonly<Record<string, { readonly classifier: string; readonly causal: string }>> = {
  gemma: { classifier: 'GemmaForSequenceClassification', causal: 'GemmaForCausalLM' },
  gemma2: { classifier: 'Gemma2ForSequenceClassification', causal: 'Gemma2ForCausalLM' },
  gemma3_text: { classifier: 'Gemma3TextForSequenceClassification', causal: 'Gemma3ForCausalLM' },
};

export interface ExportMeta {
  /** Task id the head was trained on (recorded only). */
  readonly task: string;
  readonly attention: AttentionMode;
  /** Class names in id order (classification); default LABEL_i. */
  readonly labels?: readonly string[];
  /** Folder whose tokenizer files are copied beside the weights. */
  readonly tokenizerDir?: string;
}

/** Does this head mean exactly what HF `Gemma*ForSequenceClassification`'s `score` means? */
export const hfScoreCompatible = (e: GemmaEncoder): boolean => e.options.pooling === 'last' && !e.head.params.has('score.bias');

const host = (v: tf.Variable): HostTensor => fromFloat32(v.dataSync() as Float32Array, v.shape, 'F32');

export async function exportHf(encoder: GemmaEncoder, model: GemmaModel, dir: string, meta: ExportMeta): Promise<void> {
  if (encoder.backbone.params !== model.params) throw new ConfigError('the encoder was not built on this model', undefined, 'model');
  const head = encoder.options.head;
  const n = encoder.head.outputs;
  const labels = head.kind === 'classification' ? (meta.labels ?? Array.from({ length: n }, (_, i) => `LABEL_${i}`)) : [head.kind === 'ranking' ? 'relevance' : 'score'];
  if (labels.length !== n) throw new ConfigError(`${labels.length} labels for a head with ${n} outputs`, undefined, 'labels');
  const compatible = hfScoreCompatible(encoder);
  const classes = HF_CLASSES[model.config.modelType];
  if (!classes) throw new ConfigError(`no transformers classes known for model_type '${model.config.modelType}'`, undefined, 'model_type');
  // Gemma 3 text has transformers' bidirectional switch: the config then makes HF attend as the encoder did
  // (configJsonForMode); other families load causal in HF, the mode is recorded in `gemma_lab`.
  const backboneJson = model.config.modelType === 'gemma3_text' ? configJsonForMode(model.config, meta.attention, 'float32') : gemmaConfigToJson(model.config, 'float32');
  const config: Record<string, unknown> = {
    ...backboneJson,
    architectures: [compatible ? classes.classifier : classes.causal],
    id2label: Object.fromEntries(labels.map((l, i) => [String(i), l])),
    label2id: Object.fromEntries(labels.map((l, i) => [l, i])),
    num_labels: n,
    problem_type: head.kind === 'classification' ? 'single_label_classification' : 'regression',
    gemma_lab: {
      task: meta.task,
      attention: meta.attention,
      pooling: encoder.options.pooling,
      attention_pooling_heads: encoder.options.pooling === 'attention' ? (encoder.options.attentionPoolingHeads ?? 4) : null,
      head,
      bias: encoder.head.params.has('score.bias'),
      head_file: compatible ? null : HEAD_FILE,
    },
  };
  const tensors = model.toHostTensors('F32');
  const headTensors = new Map([...encoder.head.params].map(([k, v]) => [k, host(v)]));
  if (compatible) for (const [k, t] of headTensors) tensors.set(k, t);
  await mkdir(dir, { recursive: true });
  if (!compatible) await saveCheckpoint(join(dir, '.head'), { config: {}, tensors: headTensors }).then(() => copyFile(join(dir, '.head', 'model.safetensors'), join(dir, HEAD_FILE)));
  await saveCheckpoint(dir, { config, tensors });
  if (meta.tokenizerDir) for (const f of TOKENIZER_FILES) if (existsSync(join(meta.tokenizerDir, f))) await copyFile(join(meta.tokenizerDir, f), join(dir, f));
}

interface GemmaLabBlock {
  readonly task: string;
  readonly attention: AttentionMode;
  readonly pooling: Pooling;
  readonly attention_pooling_heads: number | null;
  readonly head: HeadSpec;
  readonly bias: boolean;
  readonly head_file: string | null;
}

export interface LoadedFinetuned {
  readonly model: GemmaModel;
  readonly encoder: GemmaEncoder;
  readonly task: string;
  readonly labels: readonly string[];
}

/** Reloads an `exportHf` folder: the same weights, head, pooling and attention. */
export async function loadFinetuned(dir: string): Promise<LoadedFinetuned> {
  const ckpt = await openCheckpoint(dir);
  const block = ckpt.config.gemma_lab as GemmaLabBlock | undefined;
  if (!block || typeof block !== 'object') throw new ConfigError("no 'gemma_lab' block: not a fine-tuned export of this tool", ckpt.configPath, 'gemma_lab');
  const config = parseGemmaConfig(ckpt.config, ckpt.configPath, { ignoreKeys: ['gemma_lab', 'problem_type'] });
  const shapes = new Map(gemmaParameterShapes(config));
  const n = block.head.kind === 'classification' ? block.head.numClasses : 1;
  const inModel = block.head_file === null;
  if (inModel) shapes.set('score.weight', [n, config.hiddenSize]);
  const params = await loadStrictParams(ckpt, shapes, config.tieWordEmbeddings ? GEMMA_TIED_WEIGHTS : {});
  const score = params.get('score.weight');
  params.delete('score.weight');
  const model = new GemmaModel(config, params);
  // A Gemma 3 export written through HF's bidirectional rule reproduces the mode with its rewritten window.
  const attention = config.useBidirectionalAttention && block.attention !== 'causal' ? model.defaultMode : block.attention;
  const encoder = toEncoder(model, {
    attention,
    pooling: block.pooling,
    ...(block.attention_pooling_heads !== null ? { attentionPoolingHeads: block.attention_pooling_heads } : {}),
    head: block.head,
    bias: block.bias,
  });
  if (score) {
    (encoder.head.params.get('score.weight') as tf.Variable).assign(score);
    score.dispose();
  } else await encoder.head.load(join(dir, block.head_file as string));
  const id2label = ckpt.config.id2label as Record<string, string>;
  return { model, encoder, task: block.task, labels: Array.from({ length: n }, (_, i) => id2label[String(i)] ?? `LABEL_${i}`) };
}

const ST_POOLING: Readonly<Partial<Record<Pooling, string>>> = { mean: 'pooling_mode_mean_tokens', first: 'pooling_mode_cls_token', last: 'pooling_mode_lasttoken' };

/**
 * The minimal sentence-transformers layout of a bi-encoder (the `family` branch's full ST saver had not
 * landed on main): the backbone as an HF checkpoint at the root (`exportHf`, no head), `modules.json`
 * (Transformer -> Pooling -> Normalize), `1_Pooling/config.json`, `config_sentence_transformers.json`
 * (cosine similarity), `sentence_bert_config.json`. Attention pooling has no ST module and is refused.
 */
export async function saveSentenceTransformerLayout(encoder: GemmaEncoder, model: GemmaModel, dir: string, meta: ExportMeta & { readonly maxLength: number }): Promise<void> {
  const key = ST_POOLING[encoder.options.pooling];
  if (!key) throw new ConfigError(`'${encoder.options.pooling}' pooling has no sentence-transformers Pooling mode`, undefined, 'pooling');
  await exportHf(encoder, model, dir, meta);
  await mkdir(join(dir, '1_Pooling'), { recursive: true });
  const pooling: Record<string, unknown> = { word_embedding_dimension: model.config.hiddenSize };
  for (const k of Object.values(ST_POOLING)) pooling[k] = k === key;
  pooling.include_prompt = true;
  await writeJsonAtomic(join(dir, '1_Pooling', 'config.json'), pooling);
  await writeJsonAtomic(join(dir, 'config_sentence_transformers.json'), { model_type: 'SentenceTransformer', prompts: {}, default_prompt_name: null, similarity_fn_name: 'cosine' });
  await writeJsonAtomic(join(dir, 'sentence_bert_config.json'), { max_seq_length: meta.maxLength, do_lower_case: false });
  await writeFileAtomic(
    join(dir, 'modules.json'),
    JSON.stringify(
      [
        { idx: 0, name: '0', path: '', type: 'sentence_transformers.models.Transformer' },
        { idx: 1, name: '1', path: '1_Pooling', type: 'sentence_transformers.models.Pooling' },
        { idx: 2, name: '2', path: '2_Normalize', type: 'sentence_transformers.models.Normalize' },
      ],
      null,
      2,
    ),
  );
}

/** Pooling named by an ST folder's `1_Pooling/config.json`. */
export function stPooling(dir: string): Pooling {
  const c = JSON.parse(readFileSync(join(dir, '1_Pooling', 'config.json'), 'utf8')) as Record<string, unknown>;
  const hit = (Object.entries(ST_POOLING) as [Pooling, string][]).find(([, k]) => c[k] === true);
  if (!hit) throw new ConfigError('no supported pooling mode set', join(dir, '1_Pooling', 'config.json'));
  return hit[0];
}
