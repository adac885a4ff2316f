/** Which backend to run, from the request and what is installed. Pure, so it is unit-tested. */
import { ConfigError } from '../errors.js';

export const BACKEND_CHOICES = ['auto', 'native', 'wasm', 'cpu', 'tensorflow'] as const;
export type BackendChoice = (typeof BACKEND_CHOICES)[number];

export interface Availability {
  /** Name of the tfjs-node package that loaded, if any. */
  readonly tensorflow?: string | undefined;
  /** Why the native addon did not load; undefined when it loaded. */
  readonly nativeError?: string | undefined;
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
    case 'auto':
      if (avail.tensorflow) return { backend: 'tensorflow', native: false, warnings: [] };
      if (avail.nativeError !== undefined) return { backend: 'wasm', native: false, warnings: [`gemma-lab: ${nativeMissing()}`] };
      return { backend: 'wasm', native: true, warnings: [] };
  }
}
