/** A tiny random Gemma 2 checkpoint on disk with the repo's corpus tokenizer, for end-to-end workflow tests. */
import { copyFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tinyGemma2 } from './tiny.js';
import { initEngine } from '../../src/engine/index.js';
import { REPO_ROOT } from '../../src/io/paths.js';
import { GemmaModel } from '../../src/models/gemma.js';
import { loadTokenizer, type Tokenizer } from '../../src/tokenize/index.js';

export const CORPUS_TOKENIZER = join(REPO_ROOT, 'data', 'tokenizers', 'gemma3-corpus');

/** One layer, hidden 16, seed 0, saved with tokenizer.json / tokenizer_config.json into a fresh temp dir named `prefix*`. */
export async function saveTinyCheckpoint(prefix: string): Promise<{ dir: string; tok: Tokenizer }> {
  await initEngine();
  const tok = loadTokenizer(CORPUS_TOKENIZER);
  const config = tinyGemma2({ vocab_size: tok.vocabSize, hidden_size: 16, intermediate_size: 32, num_hidden_layers: 1, head_dim: 8, query_pre_attn_scalar: 8, sliding_window: 16, layer_types: ['full_attention'], pad_token_id: tok.padId, bos_token_id: tok.bosId, eos_token_id: tok.eosId, initializer_range: 0.02, max_position_embeddings: 128 }, 'test');
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const m = GemmaModel.random(config, 0);
  await m.save(dir);
  m.dispose();
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) copyFileSync(join(CORPUS_TOKENIZER, f), join(dir, f));
  return { dir, tok };
}
