/**
 * Engine selection. Everything imports `tf` from '@tensorflow/tfjs-core' and calls `await initEngine()`
 * once before computing; importing this module registers tfjs' gradients and chained tensor methods
 * (tfjs-ops.js, bundled at build time). Default: tfjs' wasm backend with the project's native kernels
 * (packed SGEMM for BatchMatMul/_FusedMatMul, same-shape elementwise ops) and a JS UnsortedSegmentSum;
 * tfjs-node(-gpu) when installed. `GEMMA_LAB_BACKEND` = auto | native | wasm | cpu | tensorflow picks one explicitly.
 * `GEMMA_LAB_COMPUTE=bf16` (or the `computeDtype` option) runs the native matmuls in bf16 (compute.ts).
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import './tfjs-ops.js';
import { registerAttentionGradient } from './attention.js';
import { registerFusedGradients } from './fused.js';
import { registerBroadcastMatMulGradient } from './gradients.js';
import { type ComputeDtype, getBf16Kernel, getComputeDtype, setComputeDtype } from './compute.js';
import { loadNativeAddon, type NativeLib } from './native.js';
import { ensureSegmentSum, installNativeKernels, nativeKernelNames, removeNativeKernels } from './register.js';
import { type BackendChoice, parseBackendChoice, planEngine, TFJS_NODE_PACKAGES } from './select.js';

export { BACKEND_CHOICES, parseBackendChoice, planEngine } from './select.js';
export type { Availability, BackendChoice, EnginePlan } from './select.js';
export type { NativeLib } from './native.js';
export {
  BF16_KERNELS,
  COMPUTE_DTYPES,
  getBf16Kernel,
  getComputeDtype,
  parseComputeDtype,
  setBf16Kernel,
  setComputeDtype,
  type Bf16Kernel,
  type ComputeDtype,
} from './compute.js';
export { fusedAttention, fusedAttentionAvailable, type FusedAttentionAttrs } from './attention.js';

export interface EngineInfo {
  /** tf.getBackend() after init. */
  readonly backend: string;
  /** Whether the project's native kernels are registered on that backend. */
  readonly native: boolean;
  readonly requested: BackendChoice;
  /** Lines already printed once (e.g. the fallback to stock wasm). */
  readonly warnings: readonly string[];
  /** tfjs kernel names served by the addon on this backend. */
  readonly nativeKernels: readonly string[];
  /** OpenMP threads of the native kernels (undefined without them). */
  readonly threads: number | undefined;
  /** The tfjs-node package providing the `tensorflow` backend, when that is used. */
  readonly tensorflowPackage: string | undefined;
  /** Matmul precision of the native kernels ('float32' without them: bf16 needs the addon). */
  readonly computeDtype: ComputeDtype;
  /** The bf16 kernel that runs when computeDtype is 'bf16': 'avx512' (vdpbf16ps) or 'exact' (portable). */
  readonly bf16Kernel: 'avx512' | 'exact' | undefined;
}

export interface EngineOptions {
  /**
   * Loads tfjs-node(-gpu) (which registers the `tensorflow` backend) and returns its package name,
   * or undefined when none is installed. Injectable for tests; default tries TFJS_NODE_PACKAGES.
   */
  readonly resolveTensorflow?: () => Promise<string | undefined>;
  /** Loads the addon, throwing when unavailable. Injectable for tests; default `loadNativeAddon()`. */
  readonly loadNative?: () => NativeLib;
  /** Where warning lines go (default: console.warn, each distinct line once per process). */
  readonly warn?: (line: string) => void;
  /** Native matmul precision from now on (process-wide); default: unchanged (GEMMA_LAB_COMPUTE, else float32). */
  readonly computeDtype?: ComputeDtype;
}

async function importTensorflow(): Promise<string | undefined> {
  for (const pkg of TFJS_NODE_PACKAGES) {
    try {
      await import(pkg);
      // A copy with its own tfjs-core registers the backend elsewhere: then it is of no use to us.
      if (tf.findBackendFactory('tensorflow')) return pkg;
    } catch {
      // not installed (or its libtensorflow download failed): try the next one
    }
  }
  return undefined;
}

let defaultNative: { lib?: NativeLib; error?: string } | undefined;
function loadDefaultNative(): NativeLib {
  defaultNative ??= (() => {
    try {
      return { lib: loadNativeAddon() };
    } catch (e) {
      return { error: e instanceof Error ? e.message.split('\n')[0] : String(e) };
    }
  })();
  if (!defaultNative.lib) throw new Error(defaultNative.error);
  return defaultNative.lib;
}

let current: EngineInfo | undefined;

const computeDtypeOf = (native: boolean): ComputeDtype => (native ? getComputeDtype() : 'float32');

function bf16KernelOf(lib: NativeLib): 'avx512' | 'exact' {
  const wanted = getBf16Kernel();
  return wanted !== 'exact' && lib.cpuFeatures().avx512bf16 ? 'avx512' : 'exact';
}
const printed = new Set<string>();

/**
 * Selects and initialises the backend (idempotent for the same choice without options).
 * `choice` defaults to `GEMMA_LAB_BACKEND`, else 'auto'.
 */
export async function initEngine(choice?: BackendChoice, options: EngineOptions = {}): Promise<EngineInfo> {
  const requested = choice ?? parseBackendChoice(process.env.GEMMA_LAB_BACKEND);
  if (options.computeDtype) setComputeDtype(options.computeDtype);
  const injected = Object.keys(options).some((k) => k !== 'computeDtype');
  if (current && !injected && current.requested === requested && tf.getBackend() === current.backend) {
    if (current.computeDtype !== computeDtypeOf(current.native)) current = { ...current, computeDtype: computeDtypeOf(current.native) };
    return current;
  }

  const wantsTensorflow = requested === 'auto' || requested === 'tensorflow';
  const tensorflow = wantsTensorflow ? await (options.resolveTensorflow ?? importTensorflow)() : undefined;
  let lib: NativeLib | undefined;
  let nativeError: string | undefined;
  if (requested !== 'wasm' && requested !== 'tensorflow' && !(requested === 'auto' && tensorflow)) {
    try {
      lib = (options.loadNative ?? loadDefaultNative)();
    } catch (e) {
      nativeError = e instanceof Error ? e.message.split('\n')[0] : String(e);
    }
  }
  const plan = planEngine(requested, { tensorflow, nativeError });

  if (!(await tf.setBackend(plan.backend))) throw new Error(`tfjs backend '${plan.backend}' failed to initialise`);
  await tf.ready();
  registerBroadcastMatMulGradient();
  registerAttentionGradient();
  registerFusedGradients();
  // The cpu backend greets Node users with "install tfjs-node" on first use; here cpu is a deliberate choice.
  if (plan.backend === 'cpu') (tf.backend() as { firstUse?: boolean }).firstUse = false;
  if (plan.backend !== 'tensorflow') {
    // Overrides go on after the backend is initialised: stock kernels' setup (wasm cwrap) has run.
    ensureSegmentSum(plan.backend);
    removeNativeKernels(plan.backend);
    if (plan.native && lib) installNativeKernels(plan.backend, lib);
  }
  for (const line of plan.warnings) {
    if (options.warn) options.warn(line);
    else if (!printed.has(line)) {
      printed.add(line); // once per process, however often the engine is re-selected
      console.warn(line);
    }
  }
  current = {
    backend: tf.getBackend(),
    native: plan.native,
    requested,
    warnings: plan.warnings,
    nativeKernels: nativeKernelNames(plan.backend),
    threads: plan.native && lib ? lib.threads() : undefined,
    tensorflowPackage: plan.backend === 'tensorflow' ? tensorflow : undefined,
    computeDtype: computeDtypeOf(plan.native),
    bf16Kernel: plan.native && lib ? bf16KernelOf(lib) : undefined,
  };
  return current;
}
