// Fused elementwise blocks of a Gemma layer, forward and backward: RMSNorm with the (1 + w) scale,
// GeGLU (gelu_tanh(gate) * up), RoPE (half-split rotation), and the AdamW update in place.
// Determinism: row-parallel loops write disjoint outputs; the one reduction across rows (RMSNorm's
// dw) sums fixed-size row chunks into partials, then adds the partials in chunk order, so the result
// does not depend on the thread count.
#define __FAST_MATH__ 1  // only so glibc declares the libmvec SIMD expf (see elementwise.cc)
#include <math.h>
#undef __FAST_MATH__

// Full 512-bit vectors (and libmvec's 16-lane expf) where -march=native would pick 256 bits.
#if defined(__x86_64__)
#pragma GCC target("prefer-vector-width=512")
#endif

#include <omp.h>

#include <cmath>
#include <vector>

#include "kernels.h"

namespace gl {
namespace {
constexpr int64_t kParallelMin = 1 << 15;
constexpr int64_t kRowChunk = 64;  // rows per dw partial (fixed: part of the summation order)
}  // namespace

void rmsnorm_forward(const float* x, const float* w, float* y, float* rstd, int64_t N, int64_t D, float eps) {
#pragma omp parallel for schedule(static) if (N * D >= kParallelMin)
  for (int64_t r = 0; r < N; r++) {
    const float* xr = x + r * D;
    float* yr = y + r * D;
    float ss = 0.f;
#pragma omp simd reduction(+ : ss)
    for (int64_t c = 0; c < D; c++) ss += xr[c] * xr[c];
    const float rs = 1.f / sqrtf(ss / static_cast<float>(D) + eps);
    rstd[r] = rs;
#pragma omp simd
    for (int64_t c = 0; c < D; c++) yr[c] = xr[c] * rs * (1.f + w[c]);
  }
}

void rmsnorm_backward(const float* x, const float* w, const float* rstd, const float* dy, float* dx, float* dw, int64_t N,
                      int64_t D) {
  const int64_t chunks = (N + kRowChunk - 1) / kRowChunk;
  std::vector<float> partial(static_cast<size_t>(chunks * D), 0.f);
#pragma omp parallel for schedule(static) if (N * D >= kParallelMin)
  for (int64_t ch = 0; ch < chunks; ch++) {
    float* pw = partial.data() + ch * D;
    for (int64_t r = ch * kRowChunk; r < std::min(N, (ch + 1) * kRowChunk); r++) {
      const float* xr = x + r * D;
      const float* gr = dy + r * D;
      float* dr = dx + r * D;
      const float rs = rstd[r];
      // y = xhat * (1 + w), xhat = x * rs: dxhat = dy * (1 + w); dx = rs * (dxhat - xhat * mean(dxhat * xhat))
      float dot = 0.f;
#pragma omp simd reduction(+ : dot)
      for (int64_t c = 0; c < D; c++) dot += gr[c] * (1.f + w[c]) * xr[c] * rs;
      const float mean = dot / static_cast<float>(D);
#pragma omp simd
      for (int64_t c = 0; c < D; c++) {
        const float xh = xr[c] * rs;
        dr[c] = rs * (gr[c] * (1.f + w[c]) - xh * mean);
        pw[c] += gr[c] * xh;
      }
    }
  }
  for (int64_t c = 0; c < D; c++) dw[c] = 0.f;
  for (int64_t ch = 0; ch < chunks; ch++)
    for (int64_t c = 0; c < D; c++) dw[c] += partial[ch * D + c];
}

// gelu_tanh(g) = g * sigmoid(g * (a + b g^2)), a = 2 sqrt(2/pi), b = a * 0.044715.
namespace {
constexpr float kA = 1.5957691216057308f;
constexpr float kB = kA * 0.044715f;
}  // namespace

void geglu_forward(const float* gate, const float* up, float* h, int64_t n) {
#pragma omp parallel for simd if (n >= kParallelMin)
  for (int64_t i = 0; i < n; i++) {
    const float g = gate[i];
    const float s = 1.f / (1.f + expf(-g * (kA + kB * g * g)));
    h[i] = g * s * up[i];
  }
}

void geglu_backward(const float* gate, const float* up, const float* dh, float* dgate, float* dup, int64_t n) {
#pragma omp parallel for simd if (n >= kParallelMin)
  for (int64_t i = 0; i < n; i++) {
    const float g = gate[i];
    const float s = 1.f / (1.f + expf(-g * (kA + kB * g * g)));
    const float gelu = g * s;
    const float dgelu = s + g * s * (1.f - s) * (kA + 3.f * kB * g * g);
    dup[i] = dh[i] * gelu;
    dgate[i] = dh[i] * up[i] * dgelu;
  }
}

void rope_apply(const float* x, const float* cos, const float* sin, float* y, int64_t rows, int64_t T, int64_t K, float sign) {
  const int64_t half = K / 2;
#pragma omp parallel for schedule(static) if (rows * T * K >= kParallelMin)
  for (int64_t r = 0; r < rows * T; r++) {
    const int64_t t = r % T;
    const float* xr = x + r * K;
    float* yr = y + r * K;
    const float* c = cos + t * K;
    const float* s = sin + t * K;
#pragma omp simd
    for (int64_t k = 0; k < half; k++) {
      yr[k] = xr[k] * c[k] - sign * xr[k + half] * s[k];
      yr[k + half] = xr[k + half] * c[k + half] + sign * xr[k] * s[k + half];
    }
  }
}

void adamw_update(float* p, const float* g, float* m, float* v, int64_t n, const AdamWStep& h) {
#pragma omp parallel for simd if (n >= kParallelMin)
  for (int64_t i = 0; i < n; i++) {
    const float gi = g[i];
    const float mi = h.beta1 * m[i] + h.oneMinusBeta1 * gi;
    const float vi = h.beta2 * v[i] + h.oneMinusBeta2 * (gi * gi);
    m[i] = mi;
    v[i] = vi;
    const float denom = sqrtf(vi) / h.sqrtBc2 + h.eps;
    p[i] = p[i] * h.decay - h.stepSize * (mi / denom);
  }
}

}  // namespace gl
