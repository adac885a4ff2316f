// Small SIMD helpers shared by the kernels.
#pragma once

#include <cstdint>

namespace gl {
namespace simd {

typedef float F16 __attribute__((vector_size(64)));
typedef float F16u __attribute__((vector_size(64), aligned(4)));  // unaligned rows

// out[c * ldo + j] = in[j * ldi + c] for c, j < 16, in registers: 4 rounds of two-input shuffles
// (pairs, then 2 x 2, 4 x 4 and 8 x 8 blocks), about 4 shuffles per row where an element-wise loop
// spends ~2 cycles per float. Plain GCC vectors: no intrinsics, any target.
inline void transpose16(const float* in, int64_t ldi, float* out, int64_t ldo) {
  F16 r[16], t[16];
  for (int i = 0; i < 16; i++) r[i] = *reinterpret_cast<const F16u*>(in + i * ldi);
  for (int i = 0; i < 16; i += 2) {
    t[i] = __builtin_shufflevector(r[i], r[i + 1], 0, 16, 1, 17, 4, 20, 5, 21, 8, 24, 9, 25, 12, 28, 13, 29);
    t[i + 1] = __builtin_shufflevector(r[i], r[i + 1], 2, 18, 3, 19, 6, 22, 7, 23, 10, 26, 11, 27, 14, 30, 15, 31);
  }
  for (int i = 0; i < 16; i += 4)
    for (int k = 0; k < 2; k++) {
      r[i + 2 * k] = __builtin_shufflevector(t[i + k], t[i + k + 2], 0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29);
      r[i + 2 * k + 1] = __builtin_shufflevector(t[i + k], t[i + k + 2], 2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31);
    }
  for (int i = 0; i < 16; i += 8)
    for (int k = 0; k < 4; k++) {
      t[i + k] = __builtin_shufflevector(r[i + k], r[i + k + 4], 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27);
      t[i + k + 4] = __builtin_shufflevector(r[i + k], r[i + k + 4], 4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31);
    }
  for (int k = 0; k < 8; k++) {
    r[k] = __builtin_shufflevector(t[k], t[k + 8], 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27);
    r[k + 8] = __builtin_shufflevector(t[k], t[k + 8], 4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31);
  }
  for (int i = 0; i < 16; i++) *reinterpret_cast<F16u*>(out + i * ldo) = r[i];
}

}  // namespace simd
}  // namespace gl
