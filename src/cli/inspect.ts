/**
 * `gemma-lab inspect DIR|hf://org/repo[@rev] [--json]`: family, sizes, dtypes and parameter count, read
 * from config.json and the safetensors headers only (no tensor data is loaded).
 */
import { resolveModelSource } from '../checkpoint/hub.js';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CONFIG_NAME, SAFE_WEIGHTS_INDEX_NAME, openCheckpoint, numElements } from '../checkpoint/index.js';
import { GEMMA_MODEL_TYPES, parseGemmaConfig, type GemmaConfig } from '../config/gemma.js';
import { GEMMA4_MODEL_TYPES, parseGemma4Config, type Gemma4Config } from '../config/gemma4.js';
import { gemma4ParameterShapes } from '../models/gemma4.js';
import { defineCommand } from './args.js';

export interface InspectReport {
  readonly dir: string;
  readonly modelType: string;
  /** Declared compute/storage dtype from config.json (`dtype` / `torch_dtype`). */
  readonly configDtype: string | null;
  /** Stored tensor dtypes -> number of tensors. */
  readonly tensorDtypes: Readonly<Record<string, number>>;
  readonly tensors: number;
  /** Sum of the stored tensors' element counts. */
  readonly parameters: number;
  /** Gemma decoders: the validated sizes. */
  readonly sizes?: Readonly<Record<string, unknown>>;
}

function gemmaSizes(c: GemmaConfig): Record<string, unknown> {
  const count = (t: string) => c.layerTypes.filter((x) => x === t).length;
  return {
    vocab: c.vocabSize,
    hidden: c.hiddenSize,
    intermediate: c.intermediateSize,
    layers: c.numHiddenLayers,
    layer_types: `${count('sliding_attention')} sliding + ${count('full_attention')} full`,
    heads: c.numAttentionHeads,
    kv_heads: c.numKeyValueHeads,
    head_dim: c.headDim,
    query_pre_attn_scalar: c.queryPreAttnScalar,
    sliding_window: c.slidingWindow,
    rope: `full theta ${c.rope.full_attention.theta} x1/${c.rope.full_attention.linearFactor}, sliding theta ${c.rope.sliding_attention.theta} x1/${c.rope.sliding_attention.linearFactor}`,
    attn_softcap: c.attnLogitSoftcapping,
    final_softcap: c.finalLogitSoftcapping,
    qk_norm: c.qkNorm,
    tied_embeddings: c.tieWordEmbeddings,
  };
}

/** Gemma 4: the derived per-layer facts a reader needs to size the model, and its text parameter count. */
export function gemma4Sizes(c: Gemma4Config): Record<string, unknown> {
  const count = (t: string) => c.layerTypes.filter((x) => x === t).length;
  const full = c.layers.find((l) => l.type === 'full_attention');
  const sliding = c.layers.find((l) => l.type === 'sliding_attention');
  const shared = c.layers.filter((l) => l.kvShared);
  const src = (t: string) => shared.find((l) => l.type === t)?.kvSource;
  const rope = (t: 'full_attention' | 'sliding_attention') => {
    const r = c.rope[t];
    const K = (t === 'full_attention' ? full : sliding)?.headDim ?? 0;
    return `${r.ropeType} theta ${r.theta}, ${r.rotatedPairs} of ${K / 2} frequency pairs rotate`;
  };
  let textParams = 0;
  for (const s of gemma4ParameterShapes(c).values()) textParams += s.reduce((a, b) => a * b, 1);
  return {
    vocab: c.vocabSize,
    hidden: c.hiddenSize,
    layers: c.numHiddenLayers,
    layer_types: `${count('sliding_attention')} sliding + ${count('full_attention')} full (full: ${c.layers.flatMap((l, i) => (l.type === 'full_attention' ? [i] : [])).join(',')})`,
    heads: c.numAttentionHeads,
    'kv_heads sliding/full': `${sliding?.numKvHeads ?? '-'} / ${full?.numKvHeads ?? '-'}`,
    'head_dim sliding/full': `${sliding?.headDim ?? '-'} / ${full?.headDim ?? '-'}`,
    attention_k_eq_v: c.attentionKEqV,
    intermediate: [...new Set(c.layers.map((l) => l.intermediateSize))].join(' / '),
    moe: c.enableMoeBlock ? `${c.numExperts} experts, top ${c.topKExperts}, width ${c.moeIntermediateSize}` : 'no',
    per_layer_input: c.hiddenSizePerLayerInput > 0 ? `${c.hiddenSizePerLayerInput} x ${c.numHiddenLayers} layers, vocab ${c.vocabSizePerLayerInput}` : 'none',
    kv_shared_layers: shared.length > 0 ? `${shared.length} (from layer ${c.numHiddenLayers - c.numKvSharedLayers}: sliding <- ${src('sliding_attention') ?? '-'}, full <- ${src('full_attention') ?? '-'})` : 0,
    sliding_window: c.slidingWindow,
    bidirectional: c.useBidirectionalAttention === 'all' ? `all (HF window ${c.bidirectionalWindow}, inclusive)` : (c.useBidirectionalAttention ?? 'no'),
    'rope sliding': rope('sliding_attention'),
    'rope full': rope('full_attention'),
    final_softcap: c.finalLogitSoftcapping,
    tied_embeddings: c.tieWordEmbeddings,
    text_parameters: textParams,
  };
}

export async function inspectCheckpoint(source: string): Promise<InspectReport> {
  const dir = await resolveModelSource(source);
  // A directory with config.json but no weights yet (e.g. a config fetched before the download) is
  // inspected from its config alone: sizes and the parameter count the config implies.
  const files = await readdir(dir).catch(() => [] as string[]);
  const configOnly = files.includes(CONFIG_NAME) && !files.some((f) => f.endsWith('.safetensors') || f === SAFE_WEIGHTS_INDEX_NAME);
  const ck = configOnly ? null : await openCheckpoint(dir);
  const config = ck ? ck.config : (JSON.parse(await readFile(join(dir, CONFIG_NAME), 'utf8')) as Record<string, unknown>);
  const configPath = ck ? ck.configPath : join(dir, CONFIG_NAME);
  const tensorDtypes: Record<string, number> = {};
  let parameters = 0;
  for (const n of ck?.tensorNames ?? []) {
    const i = (ck as NonNullable<typeof ck>).info(n);
    tensorDtypes[i.dtype] = (tensorDtypes[i.dtype] ?? 0) + 1;
    parameters += numElements(i.shape);
  }
  const modelType = String(config.model_type);
  const dtypeOf = (j: Readonly<Record<string, unknown>>) => (typeof j.dtype === 'string' ? j.dtype : typeof j.torch_dtype === 'string' ? j.torch_dtype : null);
  const base = { dir: ck ? ck.dir : dir, modelType, configDtype: dtypeOf(config), tensorDtypes, tensors: ck ? ck.tensorNames.length : 0, parameters };
  if ((GEMMA4_MODEL_TYPES as readonly string[]).includes(modelType)) return { ...base, sizes: gemma4Sizes(parseGemma4Config(config, configPath)) };
  if (!(GEMMA_MODEL_TYPES as readonly string[]).includes(modelType)) return base;
  return { ...base, sizes: gemmaSizes(parseGemmaConfig(config, configPath)) };
}

export function formatInspect(r: InspectReport): string {
  const lines = [
    `${r.dir}`,
    `  family      ${r.modelType}`,
    `  dtype       ${r.configDtype ?? '(not declared)'} (stored: ${Object.entries(r.tensorDtypes).map(([d, n]) => `${n} ${d}`).join(', ')})`,
    r.tensors > 0 ? `  parameters  ${r.parameters.toLocaleString('en-US')} in ${r.tensors} tensors` : '  parameters  (no weights stored: config only)',
  ];
  for (const [k, v] of Object.entries(r.sizes ?? {})) lines.push(`  ${k.padEnd(22)}${String(v)}`);
  return lines.join('\n');
}

export default defineCommand(
  'print a checkpoint\'s family, sizes, dtype and parameter count',
  {
    name: 'inspect',
    positionals: ['DIR|hf://org/repo[@rev]'],
    flags: { json: { type: 'boolean', help: 'print the report as JSON' } },
  },
  async (values, positionals) => {
    const report = await inspectCheckpoint(positionals[0] as string);
    console.log(values.json ? JSON.stringify(report, null, 2) : formatInspect(report));
    return 0;
  },
);
