// Same-shape elementwise kernels. __FAST_MATH__ is defined before <math.h> only so that glibc
// declares its libmvec SIMD variants (e.g. _ZGVeN16v_expf); the code itself is compiled without
// -ffast-math, so IEEE semantics of everything else are kept.
#define __FAST_MATH__ 1
#include <math.h>
#undef __FAST_MATH__

// Full 512-bit vectors (and libmvec's 16-lane expf) where -march=native would pick 256 bits.
#if defined(__x86_64__)
#pragma GCC target("prefer-vector-width=512")
#endif

#include <cmath>

#include "kernels.h"

namespace gl {
namespace {
constexpr int64_t kParallelMin = 1 << 16;  // below this, a single thread is faster

// One same-shape loop per op; f is inlined, so each loop still vectorises (libmvec for expf/tanhf/logf).
template <typename F>
void map1(F f, const float* __restrict x, float* __restrict y, int64_t n) {
#pragma omp parallel for simd if (n >= kParallelMin)
  for (int64_t i = 0; i < n; i++) y[i] = f(x[i]);
}

// a, b and c may alias (in-place ops on the heap), so no __restrict here.
template <typename F>
void map2(F f, const float* a, const float* b, float* c, int64_t n) {
#pragma omp parallel for simd if (n >= kParallelMin)
  for (int64_t i = 0; i < n; i++) c[i] = f(a[i], b[i]);
}
}  // namespace

void unary(Unary op, const float* __restrict x, float* __restrict y, int64_t n) {
  switch (op) {
    case Unary::Exp: return map1([](float v) { return expf(v); }, x, y, n);
    case Unary::Tanh: return map1([](float v) { return tanhf(v); }, x, y, n);
    case Unary::Log: return map1([](float v) { return logf(v); }, x, y, n);
    case Unary::Neg: return map1([](float v) { return -v; }, x, y, n);
    case Unary::Square: return map1([](float v) { return v * v; }, x, y, n);
    case Unary::Rsqrt: return map1([](float v) { return 1.f / sqrtf(v); }, x, y, n);
  }
}

void binary(Binary op, const float* a, const float* b, float* c, int64_t n) {
  switch (op) {
    case Binary::Add: return map2([](float u, float v) { return u + v; }, a, b, c, n);
    case Binary::Mul: return map2([](float u, float v) { return u * v; }, a, b, c, n);
    case Binary::Sub: return map2([](float u, float v) { return u - v; }, a, b, c, n);
    case Binary::Div: return map2([](float u, float v) { return u / v; }, a, b, c, n);
  }
}

namespace {

template <typename F>
void strided(F f, const float* a, int64_t aRow, int64_t aCol, const float* b, int64_t bRow, int64_t bCol, float* c,
             int64_t rows, int64_t inner) {
  // Column strides are 0 or 1: four loop bodies, so each inner loop is a plain vectorisable one.
#pragma omp parallel for if (rows * inner >= kParallelMin)
  for (int64_t r = 0; r < rows; r++) {
    const float* pa = a + r * aRow;
    const float* pb = b + r * bRow;
    float* pc = c + r * inner;
    if (aCol && bCol) {
#pragma omp simd
      for (int64_t j = 0; j < inner; j++) pc[j] = f(pa[j], pb[j]);
    } else if (aCol) {
      const float y = pb[0];
#pragma omp simd
      for (int64_t j = 0; j < inner; j++) pc[j] = f(pa[j], y);
    } else if (bCol) {
      const float x = pa[0];
#pragma omp simd
      for (int64_t j = 0; j < inner; j++) pc[j] = f(x, pb[j]);
    } else {
      const float v = f(pa[0], pb[0]);
      for (int64_t j = 0; j < inner; j++) pc[j] = v;
    }
  }
}

}  // namespace

void softmax_rows(const float* __restrict x, float* __restrict y, int64_t rows, int64_t n) {
#pragma omp parallel for if (rows * n >= kParallelMin)
  for (int64_t r = 0; r < rows; r++) {
    const float* xr = x + r * n;
    float* yr = y + r * n;
    float m = -INFINITY;
    for (int64_t j = 0; j < n; j++) m = xr[j] > m ? xr[j] : m;
    // Subtract only a finite max: an all -inf row then gives 0/0 = nan, as stock tfjs does.
    const float shift = std::isfinite(m) ? m : 0.f;
    float sum = 0.f;
#pragma omp simd reduction(+ : sum)
    for (int64_t j = 0; j < n; j++) {
      yr[j] = expf(xr[j] - shift);
      sum += yr[j];
    }
    const float inv = 1.f / sum;
#pragma omp simd
    for (int64_t j = 0; j < n; j++) yr[j] *= inv;
  }
}

void binary_strided(Binary op, const float* a, int64_t aRow, int64_t aCol, const float* b, int64_t bRow, int64_t bCol,
                    float* c, int64_t rows, int64_t inner) {
  switch (op) {
    case Binary::Add:
      strided([](float x, float y) { return x + y; }, a, aRow, aCol, b, bRow, bCol, c, rows, inner);
      break;
    case Binary::Mul:
      strided([](float x, float y) { return x * y; }, a, aRow, aCol, b, bRow, bCol, c, rows, inner);
      break;
    case Binary::Sub:
      strided([](float x, float y) { return x - y; }, a, aRow, aCol, b, bRow, bCol, c, rows, inner);
      break;
    case Binary::Div:
      strided([](float x, float y) { return x / y; }, a, aRow, aCol, b, bRow, bCol, c, rows, inner);
      break;
  }
}

}  // namespace gl
