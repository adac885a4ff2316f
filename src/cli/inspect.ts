/**
 * `gemma-lab inspect DIR|hf://org/repo[@rev] [--json]`: family, sizes, dtypes and parameter count, read
 * from config.json and the safetensors headers only (no tensor data is loaded).
 */
import { resolveModelSource } from '../checkpoint/hub.js';
import { openCheckpoint, numElements } from '../checkpoint/index.js';
import { GEMMA_MODEL_TYPES, parseGemmaConfig, type GemmaConfig } from '../config/gemma.js';
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

export async function inspectCheckpoint(source: string): Promise<InspectReport> {
  const ck = await openCheckpoint(await resolveModelSource(source));
  const tensorDtypes: Record<string, number> = {};
  let parameters = 0;
  for (const n of ck.tensorNames) {
    const i = ck.info(n);
    tensorDtypes[i.dtype] = (tensorDtypes[i.dtype] ?? 0) + 1;
    parameters += numElements(i.shape);
  }
  const modelType = String(ck.config.model_type);
  const dtypeOf = (j: Readonly<Record<string, unknown>>) => (typeof j.dtype === 'string' ? j.dtype : typeof j.torch_dtype === 'string' ? j.torch_dtype : null);
  const base = { dir: ck.dir, modelType, configDtype: dtypeOf(ck.config), tensorDtypes, tensors: ck.tensorNames.length, parameters };
  if (!(GEMMA_MODEL_TYPES as readonly string[]).includes(modelType)) return base;
  return { ...base, sizes: gemmaSizes(parseGemmaConfig(ck.config, ck.configPath)) };
}

export function formatInspect(r: InspectReport): string {
  const lines = [
    `${r.dir}`,
    `  family      ${r.modelType}`,
    `  dtype       ${r.configDtype ?? '(not declared)'} (stored: ${Object.entries(r.tensorDtypes).map(([d, n]) => `${n} ${d}`).join(', ')})`,
    `  parameters  ${r.parameters.toLocaleString('en-US')} in ${r.tensors} tensors`,
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
