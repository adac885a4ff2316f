/**
 * Text-only loading of multimodal checkpoints: the vision tower's tensors are listed by the
 * checkpoint but never read, and never reach the strict parameter check.
 * (Gemma 3 multimodal and T5Gemma 2 share this; each passes the prefixes its layout uses.)
 */
import type { Checkpoint } from '../checkpoint/index.js';
import { CheckpointError } from '../errors.js';

/** A view of `ckpt` without the tensors under `prefixes`; asking for one of them is an error. */
export function withoutVisionTower(ckpt: Checkpoint, prefixes: readonly string[]): Checkpoint {
  const skipped = (name: string): boolean => prefixes.some((p) => name.startsWith(p));
  if (!ckpt.tensorNames.some(skipped)) return ckpt;
  const guard = (name: string): string => {
    if (skipped(name)) throw new CheckpointError('vision weights are not loaded (text-only model)', ckpt.dir, name);
    return name;
  };
  return {
    ...ckpt,
    tensorNames: ckpt.tensorNames.filter((n) => !skipped(n)),
    has: (name) => !skipped(name) && ckpt.has(name),
    info: (name) => ckpt.info(guard(name)),
    loadTensor: (name) => ckpt.loadTensor(guard(name)),
    loadFloat32: (name) => ckpt.loadFloat32(guard(name)),
    loadTensorBytes: (name, start, length) => ckpt.loadTensorBytes(guard(name), start, length),
  };
}
