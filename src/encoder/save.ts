/**
 * An encoder built or fine-tuned here, saved so Hugging Face transformers runs its backbone with the same
 * attention (models/hf-save.ts configJsonForMode), with id2label/label2id and the tokenizer files.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { saveCheckpoint } from '../checkpoint/index.js';
import { ConfigError } from '../errors.js';
import { writeJsonAtomic } from '../io/atomic.js';
import type { StoredDtype } from '../models/base.js';
import { GemmaModel } from '../models/gemma.js';
import { configJsonForMode, copyTokenizerFiles, HF_DTYPE } from '../models/hf-save.js';
import type { GemmaEncoder } from './encoder.js';

export interface SaveEncoderOptions {
  /** Class names in id order (id2label/label2id); default LABEL_i for classification heads. */
  readonly labels?: readonly string[];
  /** Folder whose tokenizer files are copied (tokenizer.json required). */
  readonly tokenizerDir?: string;
  readonly dtype?: StoredDtype;
}

/**
 * An encoder on the Gemma decoder `model` (the one given to toEncoder) as an HF checkpoint: backbone weights under `model.*` with a config that makes transformers
 * attend as the encoder does, id2label/label2id, the tokenizer files; pooling + head weights (which have no
 * HF class) beside it in `gemma_lab_head.safetensors` described by `gemma_lab_encoder.json`.
 */
export async function saveHfEncoder(encoder: GemmaEncoder, model: GemmaModel, dir: string, opts: SaveEncoderOptions = {}): Promise<void> {
  if (!(model instanceof GemmaModel) || encoder.backbone.params !== model.params)
    throw new ConfigError('the model is not this encoder\'s Gemma decoder backbone', undefined, 'backbone');
  const attention = encoder.options.attention;
  if (attention === undefined) throw new ConfigError('the encoder has no attention mode', undefined, 'attention');
  const dtype = opts.dtype ?? 'F32';
  const json = configJsonForMode(model.config, attention, HF_DTYPE[dtype]);
  const head = encoder.options.head;
  const n = head.kind === 'classification' ? head.numClasses : 1;
  const labels = opts.labels ?? Array.from({ length: n }, (_, i) => `LABEL_${i}`);
  if (labels.length !== n) throw new ConfigError(`${labels.length} labels for a head with ${n} outputs`, undefined, 'labels');
  if (new Set(labels).size !== labels.length) throw new ConfigError('labels must be distinct', undefined, 'labels');
  json.id2label = Object.fromEntries(labels.map((l, i) => [String(i), l]));
  json.label2id = Object.fromEntries(labels.map((l, i) => [l, i]));
  await mkdir(dir, { recursive: true });
  await saveCheckpoint(dir, { config: json, tensors: model.toHostTensors(dtype) });
  await encoder.saveHead(join(dir, 'gemma_lab_head.safetensors'));
  await writeJsonAtomic(join(dir, 'gemma_lab_encoder.json'), {
    attention,
    pooling: encoder.options.pooling,
    attention_pooling_heads: encoder.options.pooling === 'attention' ? (encoder.options.attentionPoolingHeads ?? 4) : null,
    head,
    head_file: 'gemma_lab_head.safetensors',
  });
  if (opts.tokenizerDir !== undefined) await copyTokenizerFiles(opts.tokenizerDir, dir);
}
