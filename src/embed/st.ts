/**
 * A sentence-transformers folder (`modules.json` + one folder per module) read into a typed pipeline:
 * Transformer (the Gemma checkpoint at the folder root) -> Pooling -> Dense* -> Normalize?, plus the
 * named prompts of `config_sentence_transformers.json`. Shapes are checked to chain before any use:
 * a Dense whose in_features is not the previous output width is an error naming its config file.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { readSafetensors, toFloat32 } from '../checkpoint/index.js';
import { ConfigError } from '../errors.js';

export const MODULES_FILE = 'modules.json';

/** sentence-transformers Pooling modes; several may be on (outputs concatenated in this order). */
export type StPoolingMode = 'cls' | 'max' | 'mean' | 'mean_sqrt_len_tokens' | 'weightedmean' | 'lasttoken';
export const ST_POOLING_MODES: readonly StPoolingMode[] = ['cls', 'max', 'mean', 'mean_sqrt_len_tokens', 'weightedmean', 'lasttoken'];
const POOLING_KEYS: Readonly<Record<StPoolingMode, string>> = {
  cls: 'pooling_mode_cls_token',
  max: 'pooling_mode_max_tokens',
  mean: 'pooling_mode_mean_tokens',
  mean_sqrt_len_tokens: 'pooling_mode_mean_sqrt_len_tokens',
  weightedmean: 'pooling_mode_weightedmean_tokens',
  lasttoken: 'pooling_mode_lasttoken',
};

/** Dense activations by their PyTorch class path (what Dense's config.json stores). */
export type StActivation = 'identity' | 'tanh' | 'relu' | 'gelu' | 'sigmoid' | 'silu';
export const ST_ACTIVATIONS: Readonly<Record<string, StActivation>> = Object.freeze({
  'torch.nn.modules.linear.Identity': 'identity',
  'torch.nn.modules.activation.Tanh': 'tanh',
  'torch.nn.modules.activation.ReLU': 'relu',
  'torch.nn.modules.activation.GELU': 'gelu',
  'torch.nn.modules.activation.Sigmoid': 'sigmoid',
  'torch.nn.modules.activation.SiLU': 'silu',
});
export const ACTIVATION_CLASS: Readonly<Record<StActivation, string>> = Object.freeze(
  Object.fromEntries(Object.entries(ST_ACTIVATIONS).map(([k, v]) => [v, k])) as Record<StActivation, string>,
);

export interface StPooling {
  readonly kind: 'pooling';
  readonly modes: readonly StPoolingMode[];
  readonly wordEmbeddingDimension: number;
  /** false: prompt tokens are left out of the pooling (INSTRUCTOR style). */
  readonly includePrompt: boolean;
}

export interface StDense {
  readonly kind: 'dense';
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly activation: StActivation;
  /** [out, in] row-major (PyTorch Linear layout). */
  readonly weight: Float32Array;
  /** [out], or null without bias. */
  readonly bias: Float32Array | null;
}

export interface StNormalize {
  readonly kind: 'normalize';
}

export type StModule = StPooling | StDense | StNormalize;

export interface StPipeline {
  /** The modules after the Transformer, in order. */
  readonly modules: readonly StModule[];
  readonly prompts: Readonly<Record<string, string>>;
  readonly defaultPromptName: string | null;
  readonly similarityFnName: string | null;
  /** Tokens kept per text (sentence_bert_config.json max_seq_length); null: the model's limit. */
  readonly maxSeqLength: number | null;
}

async function readJsonFile(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read: ${(err as Error).message}`, file, undefined, { cause: err });
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`not valid JSON: ${(err as Error).message}`, file, undefined, { cause: err });
  }
}

function asObject(v: unknown, file: string, field?: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ConfigError('must be a JSON object', file, field);
  return v as Record<string, unknown>;
}

function posInt(o: Record<string, unknown>, key: string, file: string): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new ConfigError(`must be a positive integer, got ${JSON.stringify(v)}`, file, key);
  return v;
}

function bool(o: Record<string, unknown>, key: string, dflt: boolean, file: string): boolean {
  const v = o[key];
  if (v === undefined || v === null) return dflt;
  if (typeof v !== 'boolean') throw new ConfigError(`must be true or false, got ${JSON.stringify(v)}`, file, key);
  return v;
}

export function isSentenceTransformersDir(dir: string): boolean {
  return existsSync(join(dir, MODULES_FILE));
}

/** Reads the pipeline; `hiddenSize` is the Transformer's output width (the first module's input). */
export async function readStPipeline(dir: string, hiddenSize: number): Promise<StPipeline> {
  const root = resolve(dir);
  const modulesFile = join(root, MODULES_FILE);
  const list = await readJsonFile(modulesFile);
  if (!Array.isArray(list) || list.length === 0) throw new ConfigError('must be a non-empty list of modules', modulesFile);
  const entries = list.map((e, i) => {
    const o = asObject(e, modulesFile, `[${i}]`);
    if (typeof o.type !== 'string') throw new ConfigError('needs a string "type"', modulesFile, `[${i}].type`);
    if (typeof o.path !== 'string') throw new ConfigError('needs a string "path"', modulesFile, `[${i}].path`);
    if (o.path.includes('..')) throw new ConfigError(`unsafe module path '${o.path}'`, modulesFile, `[${i}].path`);
    return { type: o.type.replace(/^sentence_transformers\.models\./, '').replace(/^sentence_transformers\.base\.modules\./, ''), path: o.path, field: `[${i}]` };
  });
  const first = entries[0] as (typeof entries)[number];
  if (first.type !== 'Transformer' || first.path !== '')
    throw new ConfigError(`the first module must be the Transformer at the folder root, got ${first.type} at '${first.path}'`, modulesFile, '[0]');

  const modules: StModule[] = [];
  let width = hiddenSize;
  for (const e of entries.slice(1)) {
    const mdir = join(root, e.path);
    switch (e.type) {
      case 'Pooling': {
        const file = join(mdir, 'config.json');
        const c = asObject(await readJsonFile(file), file);
        const wed = posInt(c, 'word_embedding_dimension', file);
        if (wed !== width) throw new ConfigError(`is ${wed} but the previous module outputs ${width}`, file, 'word_embedding_dimension');
        let modes: StPoolingMode[];
        if (typeof c.pooling_mode === 'string') {
          const m = c.pooling_mode.toLowerCase() as StPoolingMode;
          if (!ST_POOLING_MODES.includes(m)) throw new ConfigError(`unknown pooling mode '${c.pooling_mode}' (one of ${ST_POOLING_MODES.join(', ')})`, file, 'pooling_mode');
          modes = [m];
        } else {
          modes = ST_POOLING_MODES.filter((m) => bool(c, POOLING_KEYS[m], m === 'mean', file));
        }
        for (const k of Object.keys(c)) {
          if (!['word_embedding_dimension', 'pooling_mode', 'include_prompt', ...Object.values(POOLING_KEYS)].includes(k))
            throw new ConfigError('unknown Pooling option (it might change the embedding)', file, k);
        }
        if (modes.length === 0) throw new ConfigError('no pooling mode is on', file, 'pooling_mode_mean_tokens');
        modules.push({ kind: 'pooling', modes, wordEmbeddingDimension: wed, includePrompt: bool(c, 'include_prompt', true, file) });
        width = wed * modes.length;
        break;
      }
      case 'Dense': {
        if (!modules.some((m) => m.kind === 'pooling')) throw new ConfigError('a Dense module before any Pooling is not supported', modulesFile, `${e.field}.type`);
        const file = join(mdir, 'config.json');
        const c = asObject(await readJsonFile(file), file);
        const inF = posInt(c, 'in_features', file);
        const outF = posInt(c, 'out_features', file);
        if (inF !== width) throw new ConfigError(`is ${inF} but the previous module outputs ${width}: Dense shapes do not chain`, file, 'in_features');
        const hasBias = bool(c, 'bias', true, file);
        const actName = c.activation_function ?? 'torch.nn.modules.activation.Tanh';
        if (typeof actName !== 'string' || !Object.hasOwn(ST_ACTIVATIONS, actName))
          throw new ConfigError(`unsupported activation ${JSON.stringify(actName)} (supported: ${Object.keys(ST_ACTIVATIONS).join(', ')})`, file, 'activation_function');
        const wfile = join(mdir, 'model.safetensors');
        if (!existsSync(wfile)) {
          const pickled = existsSync(join(mdir, 'pytorch_model.bin'));
          throw new ConfigError(pickled ? 'only pytorch_model.bin (pickle) found; refusing it, convert to safetensors' : 'missing model.safetensors', wfile);
        }
        const { tensors } = await readSafetensors(wfile);
        const expect = new Map<string, number[]>([['linear.weight', [outF, inF]], ...(hasBias ? [['linear.bias', [outF]] as [string, number[]]] : [])]);
        for (const name of tensors.keys()) if (!expect.has(name)) throw new ConfigError(`unexpected tensor '${name}'`, wfile, name);
        const data = new Map<string, Float32Array>();
        for (const [name, shape] of expect) {
          const t = tensors.get(name);
          if (!t) throw new ConfigError(`missing tensor '${name}'`, wfile, name);
          if (t.shape.join(',') !== shape.join(','))
            throw new ConfigError(`tensor '${name}' has shape [${t.shape.join(', ')}], config.json says [${shape.join(', ')}]`, wfile, name);
          data.set(name, toFloat32(t, name));
        }
        modules.push({
          kind: 'dense',
          inFeatures: inF,
          outFeatures: outF,
          activation: ST_ACTIVATIONS[actName] as StActivation,
          weight: data.get('linear.weight') as Float32Array,
          bias: hasBias ? (data.get('linear.bias') as Float32Array) : null,
        });
        width = outF;
        break;
      }
      case 'Normalize':
        modules.push({ kind: 'normalize' });
        break;
      default:
        throw new ConfigError(`module type '${e.type}' is not supported (Transformer, Pooling, Dense, Normalize are)`, modulesFile, `${e.field}.type`);
    }
  }
  if (!modules.some((m) => m.kind === 'pooling')) throw new ConfigError('no Pooling module: token states cannot become one vector', modulesFile);

  const stFile = join(root, 'config_sentence_transformers.json');
  const st = existsSync(stFile) ? asObject(await readJsonFile(stFile), stFile) : {};
  const prompts: Record<string, string> = {};
  if (st.prompts !== undefined && st.prompts !== null) {
    for (const [k, v] of Object.entries(asObject(st.prompts, stFile, 'prompts'))) {
      if (typeof v !== 'string') throw new ConfigError('must be a string', stFile, `prompts.${k}`);
      prompts[k] = v;
    }
  }
  const dflt = st.default_prompt_name ?? null;
  if (dflt !== null && (typeof dflt !== 'string' || !Object.hasOwn(prompts, dflt)))
    throw new ConfigError(`names no prompt (prompts: ${Object.keys(prompts).join(', ') || 'none'})`, stFile, 'default_prompt_name');
  const sim = st.similarity_fn_name ?? null;
  const sbFile = join(root, 'sentence_bert_config.json');
  const sb = existsSync(sbFile) ? asObject(await readJsonFile(sbFile), sbFile) : {};
  if (sb.do_lower_case === true) throw new ConfigError('do_lower_case true is not supported', sbFile, 'do_lower_case');
  const maxSeq = sb.max_seq_length === undefined || sb.max_seq_length === null ? null : posInt(sb, 'max_seq_length', sbFile);
  return { modules, prompts, defaultPromptName: dflt as string | null, similarityFnName: typeof sim === 'string' ? sim : null, maxSeqLength: maxSeq };
}

/** Output width of the pipeline for a Transformer of width `hiddenSize`. */
export function pipelineWidth(p: StPipeline, hiddenSize: number): number {
  let w = hiddenSize;
  for (const m of p.modules) {
    if (m.kind === 'pooling') w = m.wordEmbeddingDimension * m.modes.length;
    else if (m.kind === 'dense') w = m.outFeatures;
  }
  return w;
}
