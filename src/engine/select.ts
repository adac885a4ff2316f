/** Which backend to run, from the request and what is installed. Pure, so it is unit-tested. */
import { ConfigError } from '../errors.js';

export const BACKEND_CHOICES = ['auto', 'native', 'wasm', 'cpu', 'tensorflow'] as const;
export type BackendChoice = (typeof BACKEND_CHOICES)[number];

export interface Availability {
  /** Name of the tfjs-node package that loaded, if any. */
  readonly tensorflow?: string | undefined;
  /** Why the native addon did not load; undefined when it loaded. */
  readonly nativeError?: string | undefined;
  /** Bytes the caller expects to keep in tensors (estimateModelBytes); 'auto' leaves wasm above WASM_BUDGET_BYTES. */
  readonly expectedBytes?: number | undefined;
}

/**
 * What 'auto' lets the wasm backend hold in weights, gradients and optimizer state. tfjs' wasm
 * backend is wasm32: every tensor lives in one linear memory that cannot pass 4 GiB (the build's
 * maximum), and a run that crosses it dies with "RuntimeError: Aborted()". Half of that is kept
 * for activations, which estimateModelBytes does not count. Past it, 'auto' takes the cpu backend
 * with the native kernels: tensors there are separate JS ArrayBuffers (malloc/mmap outside the
 * V8 heap), bounded only by RAM, and freed when the tensor is disposed and collected.
 */
export const WASM_BUDGET_BYTES = 2 * 2 ** 30;

/**
 * Bytes a model of `parameterCount` float32 values keeps in tensors: the weights, plus (training)
 * a gradient and AdamW's two moments per value. Activations are not counted: a lower bound.
 */
export function estimateModelBytes(parameterCount: number, opts: { readonly training?: boolean } = {}): number {
  return parameterCount * 4 * (opts.training ? 4 : 1);
}

export interface EnginePlan {
  readonly backend: 'tensorflow' | 'wasm' | 'cpu';
  /** Register the addon's kernels on `backend`. */
  readonly native: boolean;
  readonly warnings: readonly string[];
}

export const TFJS_NODE_PACKAGES = ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'] as const;

/** `GEMMA_LAB_BACKEND` (or an explicit choice) validated; empty/unset means auto. */
export function parseBackendChoice(value: string | undefined): BackendChoice {
  if (value === undefined || value === '') return 'auto';
  if ((BACKEND_CHOICES as readonly string[]).includes(value)) return value as BackendChoice;
  throw new ConfigError(`'${value}' is not one of ${BACKEND_CHOICES.join(', ')}`, undefined, 'GEMMA_LAB_BACKEND');
}

export function planEngine(requested: BackendChoice, avail: Availability): EnginePlan {
  const nativeMissing = () =>
    `native addon unavailable (${avail.nativeError}); using stock wasm kernels, about 30x slower training. Rebuild with \`npm rebuild gemma-lab\` or \`node native/build.mjs\` (needs g++, make, python3)`;
  switch (requested) {
    case 'tensorflow':
      if (!avail.tensorflow) {
        throw new ConfigError(
          `tensorflow requested but neither ${TFJS_NODE_PACKAGES.join(' nor ')} is installed (see environment.md)`,
          undefined,
          'GEMMA_LAB_BACKEND',
        );
      }
      return { backend: 'tensorflow', native: false, warnings: [] };
    case 'native':
      if (avail.nativeError !== undefined) {
        throw new ConfigError(`native requested but ${nativeMissing()}`, undefined, 'GEMMA_LAB_BACKEND');
      }
      return { backend: 'wasm', native: true, warnings: [] };
    case 'wasm':
      return { backend: 'wasm', native: false, warnings: [] };
    case 'cpu':
      if (avail.nativeError !== undefined) return { backend: 'cpu', native: false, warnings: [`gemma-lab: ${nativeMissing()}`] };
      return { backend: 'cpu', native: true, warnings: [] };
    case 'auto': {
      if (avail.tensorflow) return { backend: 'tensorflow', native: false, warnings: [] };
      // Too big for the wasm32 heap: the cpu backend (JS ArrayBuffers) with the same native kernels.
      const big = (avail.expectedBytes ?? 0) > WASM_BUDGET_BYTES;
      if (avail.nativeError !== undefined) {
        const warnings = [`gemma-lab: ${nativeMissing()}`];
        return big ? { backend: 'cpu', native: false, warnings } : { backend: 'wasm', native: false, warnings };
      }
      return { backend: big ? 'cpu' : 'wasm', native: true, warnings: [] };
    }
  }
}
