/**
 * Matmul compute precision of the native kernels. 'float32' (default) is the exact fp32 SGEMM;
 * 'bf16' rounds both operands of every BatchMatMul/_FusedMatMul (forward and the backward's
 * matmuls) to bfloat16 as they are packed and accumulates in float32. Weights stay float32 master
 * copies, so AdamW updates are not lost to bf16 rounding; only the GEMM inputs are rounded.
 * Chosen with `initEngine(choice, { computeDtype })`, `setComputeDtype()` or GEMMA_LAB_COMPUTE.
 *
 * The bf16 kernel runs vdpbf16ps where the CPU has AVX512-BF16 (detected at run time) and an
 * exact portable kernel elsewhere (same bits). GEMMA_LAB_BF16_KERNEL = auto | avx512 | exact
 * forces one (tests compare the two).
 */
import { ConfigError } from '../errors.js';

export const COMPUTE_DTYPES = ['float32', 'bf16'] as const;
export type ComputeDtype = (typeof COMPUTE_DTYPES)[number];
/** Order matches gl::Bf16Path in native/src/kernels.h. */
export const BF16_KERNELS = ['auto', 'avx512', 'exact'] as const;
export type Bf16Kernel = (typeof BF16_KERNELS)[number];

function parseChoice<T extends string>(value: string | undefined, choices: readonly T[], fallback: T, variable: string): T {
  if (value === undefined || value === '') return fallback;
  if ((choices as readonly string[]).includes(value)) return value as T;
  throw new ConfigError(`'${value}' is not one of ${choices.join(', ')}`, undefined, variable);
}

/** GEMMA_LAB_COMPUTE validated; unset or empty means float32. */
export const parseComputeDtype = (value: string | undefined): ComputeDtype =>
  parseChoice(value, COMPUTE_DTYPES, 'float32', 'GEMMA_LAB_COMPUTE');
/** GEMMA_LAB_BF16_KERNEL validated; unset or empty means auto. */
export const parseBf16Kernel = (value: string | undefined): Bf16Kernel =>
  parseChoice(value, BF16_KERNELS, 'auto', 'GEMMA_LAB_BF16_KERNEL');

let computeDtype: ComputeDtype | undefined;
let bf16Kernel: Bf16Kernel | undefined;

/** The matmul precision in force (GEMMA_LAB_COMPUTE until set). */
export function getComputeDtype(): ComputeDtype {
  computeDtype ??= parseComputeDtype(process.env.GEMMA_LAB_COMPUTE);
  return computeDtype;
}

/** Sets the matmul precision of later native BatchMatMul/_FusedMatMul calls (process-wide). */
export function setComputeDtype(dtype: ComputeDtype): void {
  computeDtype = parseChoice(dtype, COMPUTE_DTYPES, 'float32', 'computeDtype');
}

/** Which bf16 kernel later calls ask for (GEMMA_LAB_BF16_KERNEL until set). */
export function getBf16Kernel(): Bf16Kernel {
  bf16Kernel ??= parseBf16Kernel(process.env.GEMMA_LAB_BF16_KERNEL);
  return bf16Kernel;
}

export function setBf16Kernel(kernel: Bf16Kernel): void {
  bf16Kernel = parseChoice(kernel, BF16_KERNELS, 'auto', 'bf16Kernel');
}
