/**
 * A SentenceEmbedder as a sentence-transformers folder: the backbone at the root in Gemma3TextModel key
 * layout (no `model.` prefix) with a config under which transformers attends as the embedder does,
 * `modules.json`, one folder per module (Dense weights as `linear.weight` / `linear.bias`, float32),
 * `config_sentence_transformers.json` (prompts), `sentence_bert_config.json`, tokenizer files.
 * `loadEmbedder` reads it back to the same bits.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { saveCheckpoint, fromFloat32, writeSafetensors, type HostTensor, type StoredTensor } from '../checkpoint/index.js';
import { writeJsonAtomic } from '../io/atomic.js';
import type { StoredDtype } from '../models/base.js';
import { configJsonForMode, copyTokenizerFiles, HF_DTYPE } from '../models/hf-save.js';
import type { SentenceEmbedder } from './embed.js';
import { ACTIVATION_CLASS, MODULES_FILE, ST_POOLING_KEYS, type StPipeline } from './st.js';

export interface SaveStOptions {
  /** Backbone storage dtype (default F32; Dense weights are always F32). */
  readonly dtype?: StoredDtype;
  /** Tokenizer folder to copy (default: the embedder's own tokenizer, when it has one). */
  readonly tokenizerDir?: string;
}

export async function saveSentenceTransformer(e: SentenceEmbedder, dir: string, opts: SaveStOptions = {}): Promise<void> {
  const dtype = opts.dtype ?? 'F32';
  await mkdir(dir, { recursive: true });
  const config = configJsonForMode(e.model.config, e.mode, HF_DTYPE[dtype]);
  if (e.model.config.modelType === 'gemma3_text') config.architectures = ['Gemma3TextModel'];
  const tensors = new Map<string, StoredTensor>();
  for (const [name, t] of e.model.toHostTensors(dtype)) tensors.set(name.startsWith('model.') ? name.slice('model.'.length) : name, t);
  await saveCheckpoint(dir, { config, tensors });

  const tokDir = opts.tokenizerDir ?? e.tokenizer?.dir;
  if (tokDir !== undefined) await copyTokenizerFiles(tokDir, dir);
  await writeStModules(dir, e.pipeline, e.pipeline.maxSeqLength ?? e.model.config.maxPositionEmbeddings);
}

/**
 * The sentence-transformers files around a backbone already saved at `dir`'s root: one folder per module
 * after the Transformer, `config_sentence_transformers.json`, `sentence_bert_config.json`, and
 * `modules.json` last (a folder without it is not taken for a finished ST folder). `readStPipeline` reads them.
 */
export async function writeStModules(dir: string, pipeline: StPipeline, maxSeqLength: number): Promise<void> {
  const modules: Record<string, unknown>[] = [{ idx: 0, name: '0', path: '', type: 'sentence_transformers.models.Transformer' }];
  let idx = 1;
  for (const m of pipeline.modules) {
    const name = `${idx}_${m.kind === 'pooling' ? 'Pooling' : m.kind === 'dense' ? 'Dense' : 'Normalize'}`;
    const mdir = join(dir, name);
    await mkdir(mdir, { recursive: true });
    if (m.kind === 'pooling') {
      const c: Record<string, unknown> = { word_embedding_dimension: m.wordEmbeddingDimension };
      for (const [mode, key] of Object.entries(ST_POOLING_KEYS)) c[key] = (m.modes as readonly string[]).includes(mode);
      c.include_prompt = m.includePrompt;
      await writeJsonAtomic(join(mdir, 'config.json'), c);
    } else if (m.kind === 'dense') {
      await writeJsonAtomic(join(mdir, 'config.json'), { in_features: m.inFeatures, out_features: m.outFeatures, bias: m.bias !== null, activation_function: ACTIVATION_CLASS[m.activation] });
      const w = new Map<string, HostTensor>([['linear.weight', fromFloat32(m.weight, [m.outFeatures, m.inFeatures], 'F32')]]);
      if (m.bias) w.set('linear.bias', fromFloat32(m.bias, [m.outFeatures], 'F32'));
      await writeSafetensors(join(mdir, 'model.safetensors'), w, { format: 'pt' });
    }
    modules.push({ idx, name: String(idx), path: name, type: `sentence_transformers.models.${name.slice(name.indexOf('_') + 1)}` });
    idx++;
  }
  await writeJsonAtomic(join(dir, 'config_sentence_transformers.json'), {
    model_type: 'SentenceTransformer',
    prompts: pipeline.prompts,
    default_prompt_name: pipeline.defaultPromptName,
    similarity_fn_name: pipeline.similarityFnName ?? 'cosine',
  });
  await writeJsonAtomic(join(dir, 'sentence_bert_config.json'), { max_seq_length: maxSeqLength, do_lower_case: false });
  // modules.json last: a folder without it is not taken for a finished ST folder.
  await writeJsonAtomic(join(dir, MODULES_FILE), modules);
}
