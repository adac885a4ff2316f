/**
 * Tensor-name layouts of published Gemma checkpoints, mapped onto the canonical `*ForCausalLM` names
 * (`model.*`, `lm_head.weight`) that the model files mirror:
 * - causal_lm:      `model.*` (+ `lm_head.weight`) as stored.
 * - base_model:     `Gemma3TextModel` / sentence-transformers exports: `embed_tokens.weight`, `layers.*`,
 *                   `norm.weight` without the `model.` prefix (EmbeddingGemma).
 * - gemma3_mm_v4:   Gemma3ForConditionalGeneration saved by transformers < 5 (the published 4B-27B files):
 *                   `language_model.model.*`, `language_model.lm_head.weight`; vision under `vision_tower.*`
 *                   and `multi_modal_projector.*`.
 * - gemma3_mm_v5:   the same saved by transformers >= 5: `model.language_model.*`, `lm_head.weight`; vision
 *                   under `model.vision_tower.*` and `model.multi_modal_projector.*`.
 * A view renames lazily; skipped (vision) tensors are never read, only their header entries are seen.
 */
import type { Checkpoint, TensorInfo } from '../checkpoint/index.js';
import { CheckpointError } from '../errors.js';

export type KeyLayout = 'causal_lm' | 'base_model' | 'gemma3_mm_v4' | 'gemma3_mm_v5';

interface LayoutRule {
  /** stored prefix -> canonical prefix, tried in order. */
  readonly rename: readonly (readonly [string, string])[];
  /** Stored prefixes of tensors the text model does not use. */
  readonly skip: readonly string[];
}

const RULES: Readonly<Record<KeyLayout, LayoutRule>> = {
  causal_lm: { rename: [], skip: [] },
  base_model: {
    rename: [
      ['lm_head.', 'lm_head.'],
      ['', 'model.'],
    ],
    skip: [],
  },
  gemma3_mm_v4: {
    rename: [
      ['language_model.model.', 'model.'],
      ['language_model.lm_head.', 'lm_head.'],
    ],
    skip: ['vision_tower.', 'multi_modal_projector.'],
  },
  gemma3_mm_v5: {
    rename: [
      ['model.language_model.', 'model.'],
      ['lm_head.', 'lm_head.'],
    ],
    skip: ['model.vision_tower.', 'model.multi_modal_projector.'],
  },
};

/** Which layout the stored names follow; `multimodal` for model_type gemma3. */
export function detectLayout(ckpt: Checkpoint, multimodal: boolean): KeyLayout {
  const names = ckpt.tensorNames;
  const any = (prefix: string) => names.some((n) => n.startsWith(prefix));
  if (multimodal) {
    if (any('language_model.model.')) return 'gemma3_mm_v4';
    if (any('model.language_model.')) return 'gemma3_mm_v5';
    const vision = names.find((n) => /^(model\.)?(vision_tower|multi_modal_projector)\./.test(n));
    const first = names[0];
    throw new CheckpointError(
      vision !== undefined
        ? 'vision tower only: no text tower tensors (expected language_model.model.* or model.language_model.*)'
        : 'no text tower tensors (expected language_model.model.* or model.language_model.*)',
      first !== undefined ? ckpt.info(first).file : ckpt.dir,
      vision ?? first,
    );
  }
  if (ckpt.has('model.embed_tokens.weight') || !ckpt.has('embed_tokens.weight')) return 'causal_lm';
  return 'base_model';
}

export interface LayoutView {
  readonly layout: KeyLayout;
  /** The checkpoint under canonical names, without skipped tensors. */
  readonly checkpoint: Checkpoint;
  /** Stored names that were skipped (never read), and their total stored bytes. */
  readonly skipped: readonly string[];
  readonly skippedBytes: number;
}

/** A renaming view of `ckpt` under canonical names; a stored name no rule covers keeps its name (and
 * then fails the strict load as an unexpected tensor, naming the stored file). */
export function layoutView(ckpt: Checkpoint, layout: KeyLayout): LayoutView {
  const rule = RULES[layout];
  if (rule.rename.length === 0 && rule.skip.length === 0) return { layout, checkpoint: ckpt, skipped: [], skippedBytes: 0 };
  const toStored = new Map<string, string>();
  const skipped: string[] = [];
  let skippedBytes = 0;
  for (const stored of ckpt.tensorNames) {
    if (rule.skip.some((p) => stored.startsWith(p))) {
      skipped.push(stored);
      const info = ckpt.info(stored);
      skippedBytes += info.shape.reduce((a, b) => a * b, 1) * bytesPer(info.dtype);
      continue;
    }
    const hit = rule.rename.find(([from]) => stored.startsWith(from));
    const canonical = hit ? hit[1] + stored.slice(hit[0].length) : stored;
    const clash = toStored.get(canonical);
    if (clash !== undefined) throw new CheckpointError(`stored under two names ('${clash}' and '${stored}')`, ckpt.info(stored).file, canonical);
    toStored.set(canonical, stored);
  }
  const storedName = (name: string): string => {
    const s = toStored.get(name);
    if (s === undefined) throw new CheckpointError('tensor not in checkpoint', ckpt.dir, name);
    return s;
  };
  const view: Checkpoint = {
    dir: ckpt.dir,
    configPath: ckpt.configPath,
    config: ckpt.config,
    tensorNames: [...toStored.keys()].sort(),
    has: (name) => toStored.has(name),
    info: (name): TensorInfo => ckpt.info(storedName(name)),
    loadTensor: (name) => ckpt.loadTensor(storedName(name)),
    loadFloat32: (name) => ckpt.loadFloat32(storedName(name)),
    loadTensorBytes: (name, start, length) => ckpt.loadTensorBytes(storedName(name), start, length),
  };
  return { layout, checkpoint: view, skipped, skippedBytes };
}

function bytesPer(dtype: string): number {
  const bits = /(\d+)/.exec(dtype)?.[1];
  return bits === undefined ? 1 : Number(bits) / 8;
}
