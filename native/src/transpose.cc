// N-d transpose: walks the output in order (contiguous writes) with an odometer over the input
// strides; the outermost output dim is split over threads.
#include <omp.h>

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

}  // namespace gl
