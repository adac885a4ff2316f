/**
 * Engine selection. Everything imports `tf` from '@tensorflow/tfjs-core' and calls `await initEngine()`
 * once before computing; importing this module registers tfjs' gradients and chained tensor methods
 * (tfjs-ops.js, bundled at build time). Default: tfjs' wasm backend with the project's native kernels
 * (packed SGEMM for BatchMatMul/_FusedMatMul, same-shape elementwise ops) and a JS UnsortedSegmentSum;
 * tfjs-node(-gpu) when installed. `GEMMA_LAB_BACKEND` = auto | native | wasm | cpu | tensorflow picks one explicitly.
 *
 * Big models: wasm keeps every tensor in one wasm32 linear memory (4 GiB at most, never returned to
 * the OS). 'auto' given `expectedBytes` above WASM_BUDGET_BYTES (loadModel passes the checkpoint's
 * training footprint) takes tfjs' cpu backend with the same native kernels instead: its tensors are
 * separate ArrayBuffers outside the V8 heap, so weights, activations, gradients and optimizer state
 * are bounded by RAM, and a disposed tensor's memory goes back to the OS once V8 collects the
 * buffer (large ones are mmapped by malloc). `fitEngineTo(bytes)` re-plans an 'auto' engine.
 * `GEMMA_LAB_COMPUTE=bf16` (or the `computeDtype` option) runs the native matmuls in bf16 (compute.ts).
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { WasmHeapError } from '../errors.js';
import './tfjs-ops.js';
import { registerAttentionGradient } from './attention.js';
import { registerFusedGradients } from './fused.js';
import { registerBroadcastMatMulGradient } from './gradients.js';
import { type ComputeDtype, getBf16Kernel, getComputeDtype, setComputeDtype } from './compute.js';
import { loadNativeAddon, type NativeLib } from './native.js';
import { ensureSegmentSum, installNativeKernels, nativeKernelNames, nativeLibFor, removeNativeKernels } from './register.js';
import { type BackendChoice, parseBackendChoice, planEngine, TFJS_NODE_PACKAGES, WASM_BUDGET_BYTES } from './select.js';

export { BACKEND_CHOICES, estimateModelBytes, parseBackendChoice, planEngine, WASM_BUDGET_BYTES } from './select.js';
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
  /**
   * Bytes the caller will keep in tensors (estimateModelBytes). With 'auto', more than
   * WASM_BUDGET_BYTES selects the cpu backend + native kernels. The largest value seen so far counts,
   * so a later smaller request does not move tensors back onto the wasm heap.
   */
  readonly expectedBytes?: number;
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
let largestExpected = 0;

/**
 * Selects and initialises the backend (idempotent for the same choice without options).
 * `choice` defaults to `GEMMA_LAB_BACKEND`, else 'auto'.
 */
export async function initEngine(choice?: BackendChoice, options: EngineOptions = {}): Promise<EngineInfo> {
  const requested = choice ?? parseBackendChoice(process.env.GEMMA_LAB_BACKEND);
  if (options.computeDtype) setComputeDtype(options.computeDtype);
  const injected = Object.keys(options).some((k) => k !== 'expectedBytes' && k !== 'computeDtype');
  const grew = (options.expectedBytes ?? 0) > largestExpected;
  largestExpected = Math.max(largestExpected, options.expectedBytes ?? 0);
  if (current && !injected && !grew && current.requested === requested && tf.getBackend() === current.backend) {
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
  const plan = planEngine(requested, { tensorflow, nativeError, expectedBytes: largestExpected });
  if (current && !injected && current.requested === requested && tf.getBackend() === plan.backend && current.backend === plan.backend) return current;

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

/**
 * Re-plans an 'auto' engine (explicit or from GEMMA_LAB_BACKEND) for a model keeping `bytes` in
 * tensors: past WASM_BUDGET_BYTES it moves to the cpu backend before the model is allocated.
 * An explicit choice is left alone. Called by loadModel.
 */
export async function fitEngineTo(bytes: number): Promise<EngineInfo | undefined> {
  const requested = current?.requested ?? parseBackendChoice(process.env.GEMMA_LAB_BACKEND);
  if (requested !== 'auto') return current;
  // Small models leave an uninitialised engine (or a backend set directly with tf.setBackend) alone.
  if (bytes <= WASM_BUDGET_BYTES && (!current || bytes <= largestExpected)) return current;
  if (current && bytes <= largestExpected) return current;
  return initEngine('auto', { expectedBytes: bytes });
}

/**
 * Gives freed tensor memory back to the OS where the backend allows: on cpu, the native addon's
 * malloc_trim (after V8 has collected the disposed buffers; call global.gc first when exposed).
 * The wasm heap cannot shrink. Returns whether anything was trimmed.
 */
export function releaseMemory(): boolean {
  const b = tf.getBackend();
  if (b !== 'cpu') return false;
  const lib = nativeLibFor('cpu');
  return lib?.trim() ?? false;
}

/**
 * Where a growing wasm heap stops being trusted. tfjs-wasm is built to address 4 GiB, but here a UL2 step that
 * grew the heap to 3.3 GiB left it corrupt: training went on, and disposing the model later failed with
 * "memory access out of bounds" (cause not found). Hours of pretraining at 2.03 GiB ran clean; the limit sits
 * between the two. Past it, stop with a typed error instead of computing on.
 */
export const WASM_HEAP_LIMIT_BYTES = 2.5 * 2 ** 30;

/** Bytes of the wasm backend's linear memory; undefined on other backends. */
export function wasmHeapBytes(): number | undefined {
  if (tf.getBackend() !== 'wasm') return undefined;
  const heap = (tf.backend() as unknown as { wasm?: { HEAPU8?: Uint8Array } }).wasm?.HEAPU8;
  return heap?.length;
}

/** Throws `what`'s typed error when the wasm heap has grown past `limit` (a no-op on other backends). */
export function assertWasmHeap(what: string, limit = WASM_HEAP_LIMIT_BYTES): void {
  const bytes = wasmHeapBytes();
  if (bytes === undefined || bytes <= limit) return;
  const gib = (n: number) => (n / 2 ** 30).toFixed(2);
  throw new WasmHeapError(
    `${what}: the wasm heap grew to ${gib(bytes)} GiB, past the ${gib(limit)} GiB trusted; ` +
      'use a smaller batch (or gradient accumulation), or GEMMA_LAB_BACKEND=cpu',
    bytes,
  );
}
