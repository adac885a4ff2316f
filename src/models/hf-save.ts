/**
 * Saving what was built here so Hugging Face transformers runs it with the same semantics.
 * transformers has one bidirectional switch for Gemma 3 text, `use_bidirectional_attention`, whose
 * sliding layers see |i-j| < sliding_window//2 + 1. Our other bidirectional modes are written through
 * that rule exactly: |i-j| < W becomes sliding_window 2W-2, "every key" becomes a window wider than
 * max_position_embeddings. Families without the switch (Gemma 1/2, VaultGemma) only save causal.
 */
import { copyFile, mkdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { saveCheckpoint, type HostTensor } from '../checkpoint/index.js';
import { gemmaConfigToJson, type GemmaConfig } from '../config/gemma.js';
import type { GemmaEncoder } from '../encoder/encoder.js';
import { ConfigError } from '../errors.js';
import { writeJsonAtomic } from '../io/atomic.js';
import type { AttentionMode } from '../nn/masks.js';
import type { StoredDtype } from './base.js';
import { GemmaModel } from './gemma.js';

const HF_DTYPE: Readonly<Record<StoredDtype, string>> = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' };

/** Files a tokenizer folder may hold; the ones present are copied next to a saved checkpoint. */
export const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'tokenizer.model', 'added_tokens.json', 'chat_template.jinja'];

export async function copyTokenizerFiles(fromDir: string, toDir: string): Promise<string[]> {
  const copied: string[] = [];
  for (const f of TOKENIZER_FILES) {
    if (!existsSync(join(fromDir, f))) continue;
    await copyFile(join(fromDir, f), join(toDir, f));
    copied.push(f);
  }
  if (!copied.includes('tokenizer.json')) throw new ConfigError('no tokenizer.json to copy', fromDir);
  return copied;
}

/** config.json (transformers 4.57 keys) under which HF attends exactly as `mode` does here. */
export function configJsonForMode(c: GemmaConfig, mode: AttentionMode, dtype: string | null = c.dtype): Record<string, unknown> {
  const json = gemmaConfigToJson(c, dtype);
  if (mode === 'causal') {
    if (c.modelType === 'gemma3_text') json.use_bidirectional_attention = false;
    return json;
  }
  if (c.modelType !== 'gemma3_text')
    throw new ConfigError(`transformers has no bidirectional attention for model_type '${c.modelType}'; a saved config would run causal`, c.sourcePath, 'use_bidirectional_attention');
  json.use_bidirectional_attention = true;
  if (c.slidingWindow === null) return json;
  const W = c.slidingWindow;
  if (mode === 'bidirectional_sliding') {
    if (W < 2) throw new ConfigError(`a window of ${W} cannot be written as HF's W//2+1`, c.sourcePath, 'sliding_window');
    json.sliding_window = 2 * W - 2; // (2W-2)//2 + 1 = W
  } else if (mode === 'bidirectional_global') {
    json.sliding_window = 2 * c.maxPositionEmbeddings; // window wider than any position: every key visible
  }
  return json;
}

export interface SaveEncoderOptions {
  /** Class names in id order (id2label/label2id); default LABEL_i for classification heads. */
  readonly labels?: readonly string[];
  /** Folder whose tokenizer files are copied (tokenizer.json required). */
  readonly tokenizerDir?: string;
  readonly dtype?: StoredDtype;
}

/**
 * An encoder as an HF checkpoint: backbone weights under `model.*` with a config that makes transformers
 * attend as the encoder does, id2label/label2id, the tokenizer files; pooling + head weights (which have no
 * HF class) beside it in `gemma_lab_head.safetensors` described by `gemma_lab_encoder.json`.
 */
export async function saveHfEncoder(encoder: GemmaEncoder, dir: string, opts: SaveEncoderOptions = {}): Promise<void> {
  const model = encoder.backbone;
  if (!(model instanceof GemmaModel)) throw new ConfigError('only Gemma decoder backbones can be saved as HF checkpoints', undefined, 'backbone');
  const dtype = opts.dtype ?? 'F32';
  const json = configJsonForMode(model.config, encoder.options.attention, HF_DTYPE[dtype]);
  const head = encoder.options.head;
  const n = head.kind === 'classification' ? head.numClasses : 1;
  const labels = opts.labels ?? Array.from({ length: n }, (_, i) => `LABEL_${i}`);
  if (labels.length !== n) throw new ConfigError(`${labels.length} labels for a head with ${n} outputs`, undefined, 'labels');
  if (new Set(labels).size !== labels.length) throw new ConfigError('labels must be distinct', undefined, 'labels');
  json.id2label = Object.fromEntries(labels.map((l, i) => [String(i), l]));
  json.label2id = Object.fromEntries(labels.map((l, i) => [l, i]));
  await mkdir(dir, { recursive: true });
  await saveCheckpoint(dir, { config: json, tensors: model.toHostTensors(dtype) as Map<string, HostTensor> });
  await encoder.saveHead(join(dir, 'gemma_lab_head.safetensors'));
  await writeJsonAtomic(join(dir, 'gemma_lab_encoder.json'), {
    attention: encoder.options.attention,
    pooling: encoder.options.pooling,
    attention_pooling_heads: encoder.options.pooling === 'attention' ? (encoder.options.attentionPoolingHeads ?? 4) : null,
    head,
    head_file: 'gemma_lab_head.safetensors',
  });
  if (opts.tokenizerDir !== undefined) await copyTokenizerFiles(opts.tokenizerDir, dir);
}
