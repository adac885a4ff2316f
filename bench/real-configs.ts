/**
 * The real-size configs of `npm run bench -- real` (config.json as published; docs/model-families.md
 * lists the values and where they come from) and the random-weight BF16 checkpoint writer.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeSafetensors, type HostTensor } from '../src/checkpoint/index.js';
import { parseGemmaConfig, type GemmaConfig } from '../src/config/gemma.js';
import { gemmaParameterShapes } from '../src/models/gemma.js';

const COMMON = {
  architectures: ['Gemma3ForCausalLM'],
  attention_bias: false,
  attention_dropout: 0.0,
  attn_logit_softcapping: null,
  bos_token_id: 2,
  eos_token_id: 1,
  final_logit_softcapping: null,
  head_dim: 256,
  hidden_activation: 'gelu_pytorch_tanh',
  initializer_range: 0.02,
  model_type: 'gemma3_text',
  pad_token_id: 0,
  query_pre_attn_scalar: 256,
  rms_norm_eps: 1e-6,
  rope_local_base_freq: 10000.0,
  rope_scaling: null,
  rope_theta: 1000000.0,
  sliding_window: 512,
  torch_dtype: 'bfloat16',
  vocab_size: 262144,
} as const;

const layerTypes = (n: number) => Array.from({ length: n }, (_, i) => ((i + 1) % 6 === 0 ? 'full_attention' : 'sliding_attention'));

export interface RealConfig {
  readonly name: string;
  readonly config: Record<string, unknown>;
  /** Written as a sentence-transformers folder (EmbeddingGemma): Gemma3TextModel keys + Pooling/Dense/Normalize. */
  readonly sentenceTransformers: boolean;
}

export const REAL_CONFIGS: readonly RealConfig[] = [
  {
    name: 'gemma-3-270m',
    sentenceTransformers: false,
    config: { ...COMMON, hidden_size: 640, intermediate_size: 2048, num_hidden_layers: 18, num_attention_heads: 4, num_key_value_heads: 1, max_position_embeddings: 32768, layer_types: layerTypes(18), use_bidirectional_attention: false },
  },
  {
    name: 'gemma-3-1b',
    sentenceTransformers: false,
    config: { ...COMMON, hidden_size: 1152, intermediate_size: 6912, num_hidden_layers: 26, num_attention_heads: 4, num_key_value_heads: 1, max_position_embeddings: 32768, layer_types: layerTypes(26), use_bidirectional_attention: false },
  },
  {
    name: 'embeddinggemma-300m',
    sentenceTransformers: true,
    config: { ...COMMON, architectures: ['Gemma3TextModel'], hidden_size: 768, intermediate_size: 1152, num_hidden_layers: 24, num_attention_heads: 3, num_key_value_heads: 1, max_position_embeddings: 2048, layer_types: layerTypes(24), use_bidirectional_attention: true },
  },
];

export function parsedConfig(c: RealConfig): GemmaConfig {
  return parseGemmaConfig(c.config, `bench:${c.name}`);
}

/** Uniform(-a, a) BF16 bits from a xorshift stream (std a/sqrt(3)); fast enough for 1B values. */
export function randomBf16(n: number, a: number, seed: number): Uint16Array {
  const out = new Uint16Array(n);
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    f[0] = ((s >>> 0) / 4294967296 - 0.5) * 2 * a;
    out[i] = (u[0] as number) >>> 16;
  }
  return out;
}

/** Writes config.json + BF16 shards (<= 1 GiB each) + index; `prefix` '' writes Gemma3TextModel keys. Returns bytes written. */
export async function writeRandomCheckpoint(dir: string, c: RealConfig): Promise<number> {
  await mkdir(dir, { recursive: true });
  const cfg = parsedConfig(c);
  const shapes = [...gemmaParameterShapes(cfg)].sort(([a], [b]) => (a < b ? -1 : 1));
  const stored = (name: string) => (c.sentenceTransformers ? name.replace(/^model\./, '') : name);
  const shards: [string, number[]][][] = [[]];
  let cur = 0;
  for (const entry of shapes) {
    const bytes = entry[1].reduce((a, b) => a * b, 1) * 2;
    if (cur + bytes > 2 ** 30 && (shards[shards.length - 1] as unknown[]).length > 0) {
      shards.push([]);
      cur = 0;
    }
    (shards[shards.length - 1] as [string, number[]][]).push(entry);
    cur += bytes;
  }
  const weightMap: Record<string, string> = {};
  let total = 0;
  let seed = 1;
  for (let i = 0; i < shards.length; i++) {
    const file = `model-${String(i + 1).padStart(5, '0')}-of-${String(shards.length).padStart(5, '0')}.safetensors`;
    const tensors = new Map<string, HostTensor>();
    for (const [name, shape] of shards[i] as [string, number[]][]) {
      const n = shape.reduce((a, b) => a * b, 1);
      const bits = name.endsWith('norm.weight') ? new Uint16Array(n) : randomBf16(n, 0.02 * Math.sqrt(3), seed++);
      tensors.set(stored(name), { dtype: 'BF16', shape, data: new Uint8Array(bits.buffer) });
      weightMap[stored(name)] = file;
      total += n * 2;
    }
    await writeSafetensors(join(dir, file), tensors, { format: 'pt' });
  }
  await writeFile(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }));
  await writeFile(join(dir, 'config.json'), JSON.stringify(c.config, null, 2));
  if (c.sentenceTransformers) {
    // EmbeddingGemma's modules: mean pooling, Dense 768->3072 and 3072->768 (no bias, identity), Normalize.
    const D = cfg.hiddenSize;
    const modules = [
      { idx: 0, name: '0', path: '', type: 'sentence_transformers.models.Transformer' },
      { idx: 1, name: '1', path: '1_Pooling', type: 'sentence_transformers.models.Pooling' },
      { idx: 2, name: '2', path: '2_Dense', type: 'sentence_transformers.models.Dense' },
      { idx: 3, name: '3', path: '3_Dense', type: 'sentence_transformers.models.Dense' },
      { idx: 4, name: '4', path: '4_Normalize', type: 'sentence_transformers.models.Normalize' },
    ];
    await writeFile(join(dir, 'modules.json'), JSON.stringify(modules));
    await mkdir(join(dir, '1_Pooling'), { recursive: true });
    await writeFile(join(dir, '1_Pooling', 'config.json'), JSON.stringify({ word_embedding_dimension: D, pooling_mode_mean_tokens: true, include_prompt: true }));
    for (const [sub, inF, outF] of [['2_Dense', D, 4 * D], ['3_Dense', 4 * D, D]] as const) {
      await mkdir(join(dir, sub), { recursive: true });
      await writeFile(join(dir, sub, 'config.json'), JSON.stringify({ in_features: inF, out_features: outF, bias: false, activation_function: 'torch.nn.modules.linear.Identity' }));
      const w = Float32Array.from(randomBf16(inF * outF, 0.02, seed++), (b) => new Float32Array(new Uint32Array([b << 16]).buffer)[0] as number);
      await writeSafetensors(join(dir, sub, 'model.safetensors'), new Map([['linear.weight', { dtype: 'F32', shape: [outF, inF], data: new Uint8Array(w.buffer) }]]), { format: 'pt' });
    }
    await mkdir(join(dir, '4_Normalize'), { recursive: true });
    await writeFile(join(dir, 'sentence_bert_config.json'), JSON.stringify({ max_seq_length: 2048, do_lower_case: false }));
  }
  return total;
}
