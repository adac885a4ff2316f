/** HF-style random initialisation shared by every model family (HF `_init_weights`). */
import { Rng } from '../rng/index.js';

/**
 * Float32 host tensors for `shapes` (HF name -> shape): linear and embedding weights ~
 * N(0, initializerRange), the padding row of every embedding table zero, RMSNorm offsets zero (so the
 * norm scale is 1). Each tensor draws from its own stream `fork(name)`, so a tensor's values do not
 * depend on which other tensors are initialised (a subset gives the same numbers).
 */
export interface InitConfig {
  readonly initializerRange: number;
  readonly padTokenId: number;
}

export function randomHostParams(
  shapes: ReadonlyMap<string, readonly number[]>,
  init: InitConfig,
  seed: number,
): Map<string, { shape: number[]; data: Float32Array }> {
  const rng = new Rng(seed);
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [name, shape] of shapes) {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    if (!name.endsWith('norm.weight')) {
      const r = rng.fork(name);
      for (let i = 0; i < data.length; i++) data[i] = r.normal() * init.initializerRange;
    }
    if (name.endsWith('embed_tokens.weight')) {
      const D = shape[1] as number;
      data.fill(0, init.padTokenId * D, (init.padTokenId + 1) * D);
    }
    out.set(name, { shape: [...shape], data });
  }
  return out;
}
