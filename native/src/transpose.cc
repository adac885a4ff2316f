// Layout kernels. N-d transpose: walks the output in order (contiguous writes) with an odometer over the input
// strides; the outermost output dim is split over threads.
#include <omp.h>

#include <algorithm>

#include "kernels.h"

namespace gl {

void transpose(const float* x, float* y, const int64_t* shape, const int64_t* perm, int rank) {
  int64_t inStride[8], outShape[8], stride[8];
  int64_t s = 1;
  for (int d = rank - 1; d >= 0; d--) {
    inStride[d] = s;
    s *= shape[d];
  }
  const int64_t total = s;
  if (total == 0) return;
  for (int d = 0; d < rank; d++) {
    outShape[d] = shape[perm[d]];
    stride[d] = inStride[perm[d]];  // input step per output step along dim d
  }
  const int64_t inner = outShape[rank - 1], innerStride = stride[rank - 1];
  const int64_t rows = total / inner;
#pragma omp parallel for schedule(static) if (total >= (1 << 16))
  for (int64_t r = 0; r < rows; r++) {
    // Input offset of output row r: decode r over the leading output dims.
    int64_t rem = r, off = 0;
    for (int d = rank - 2; d >= 0; d--) {
      off += (rem % outShape[d]) * stride[d];
      rem /= outShape[d];
    }
    float* dst = y + r * inner;
    const float* src = x + off;
    if (innerStride == 1) {
      for (int64_t j = 0; j < inner; j++) dst[j] = src[j];
    } else {
      for (int64_t j = 0; j < inner; j++) dst[j] = src[j * innerStride];
    }
  }
}

void sum_middle(const float* x, float* y, int64_t P, int64_t Q, int64_t R) {
  const bool par = P * Q * R >= (1 << 16);
  if (R == 1) {
#pragma omp parallel for if (par)
    for (int64_t p = 0; p < P; p++) {
      double s = 0;
#pragma omp simd reduction(+ : s)
      for (int64_t q = 0; q < Q; q++) s += x[p * Q + q];
      y[p] = static_cast<float>(s);
    }
    return;
  }
  // Columns are independent: split [P, R] into (p, column block) tasks so P == 1 still parallelises.
  constexpr int64_t RB = 256;
  const int64_t blocks = (R + RB - 1) / RB;
#pragma omp parallel for if (par)
  for (int64_t t = 0; t < P * blocks; t++) {
    const int64_t p = t / blocks, r0 = (t % blocks) * RB, r1 = std::min(R, r0 + RB);
    double acc[RB] = {0};
    for (int64_t q = 0; q < Q; q++) {
      const float* row = x + (p * Q + q) * R;
#pragma omp simd
      for (int64_t r = r0; r < r1; r++) acc[r - r0] += row[r];
    }
    for (int64_t r = r0; r < r1; r++) y[p * R + r] = static_cast<float>(acc[r - r0]);
  }
}

}  // namespace gl
