/**
 * Saving what was built here so Hugging Face transformers runs it with the same semantics.
 * transformers has one bidirectional switch for Gemma 3 text, `use_bidirectional_attention`, whose
 * sliding layers see |i-j| < sliding_window//2 + 1. Our other bidirectional modes are written through
 * that rule exactly: |i-j| < W becomes sliding_window 2W-2, "every key" becomes a window wider than
 * max_position_embeddings. Families without the switch (Gemma 1/2, VaultGemma) only save causal.
 * (workflow/export.ts writes fine-tuned Gemma 3 encoders with it; embed/save.ts sentence-transformers folders.)
 */
import { copyFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { gemmaConfigToJson, type GemmaConfig } from '../config/gemma.js';
import { ConfigError } from '../errors.js';
import type { AttentionMode } from '../nn/masks.js';
import type { StoredDtype } from './base.js';

export const HF_DTYPE: Readonly<Record<StoredDtype, string>> = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' };

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
