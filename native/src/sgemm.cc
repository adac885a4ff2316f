// Packed, blocked SGEMM (Goto/BLIS layout) with a 12x32 register micro-kernel written with GCC
// vector extensions: under -march=native on AVX-512 that is 24 zmm accumulators, no intrinsics.
// Work is split over (batch x row chunk x column chunk) tasks with OpenMP; every task packs its own
// panels into thread-local buffers, so tasks never share writable memory.
#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "gemm_split.h"
#include "kernels.h"
#include "simd.h"

namespace gl {
namespace {

constexpr int64_t MR = 12, NR = 32;           // micro-tile: 12 rows x 2 vectors of 16 floats
constexpr int64_t KC = 256, MC = 120, NC = 2048;  // cache blocks: A block in L2, B panel in L1
constexpr double kSerialFlops = 2e6;           // below this, threading costs more than it gains

typedef float v16 __attribute__((vector_size(64)));
typedef float v16u __attribute__((vector_size(64), aligned(4)));  // unaligned rows of C

// c[0:12, 0:32] (+)= a(12 x kc) * b_panel(kc x 32); b is packed k-major. a is either a packed
// panel (k-major, 12 per k) or, kDirectA, 12 rows of A itself, lda apart (A = [M, K] needs no
// packing: the kernel broadcasts one float per row and k, which costs the same from 12 rows as from
// a panel; packing it was 5% of a gemma-3-270m forward).
template <bool kDirectA>
inline void micro_12x32(int64_t kc, const float* __restrict a, int64_t lda, const float* __restrict b,
                        float* __restrict c, int64_t ldc, bool accumulate) {
  v16 c0[MR], c1[MR];
#pragma GCC unroll 12
  for (int i = 0; i < MR; i++) c0[i] = c1[i] = v16{};
  for (int64_t k = 0; k < kc; k++) {
    const v16 b0 = *reinterpret_cast<const v16*>(b + k * NR);
    const v16 b1 = *reinterpret_cast<const v16*>(b + k * NR + 16);
#pragma GCC unroll 12
    for (int i = 0; i < MR; i++) {
      const float ai = kDirectA ? a[i * lda + k] : a[k * MR + i];
      c0[i] += ai * b0;
      c1[i] += ai * b1;
    }
  }
#pragma GCC unroll 12
  for (int i = 0; i < MR; i++) {
    v16u* row = reinterpret_cast<v16u*>(c + i * ldc);
    if (accumulate) {
      row[0] += c0[i];
      row[1] += c1[i];
    } else {
      row[0] = c0[i];
      row[1] = c1[i];
    }
  }
}

// Edge tile (mr < 12 or nr < 32): compute the full padded tile aside, then copy the valid part.
// A direct a needs all 12 rows (a shorter row panel is packed, zero padded).
template <bool kDirectA>
inline void micro_edge(int64_t kc, const float* a, int64_t lda, const float* b, float* c, int64_t ldc, bool accumulate,
                       int64_t mr, int64_t nr) {
  alignas(64) float tmp[MR * NR];
  micro_12x32<kDirectA>(kc, a, lda, b, tmp, NR, false);
  for (int64_t i = 0; i < mr; i++)
    for (int64_t j = 0; j < nr; j++) c[i * ldc + j] = accumulate ? c[i * ldc + j] + tmp[i * NR + j] : tmp[i * NR + j];
}

// Ap <- op(A)[i0:i0+mc, p0:p0+kc] as ceil(mc/12) panels of (kc x 12), zero padded.
void pack_a(bool tA, const float* A, int64_t M, int64_t K, int64_t i0, int64_t mc, int64_t p0, int64_t kc,
            float* Ap) {
  for (int64_t ip = 0; ip < mc; ip += MR) {
    const int64_t mr = std::min(MR, mc - ip);
    float* dst = Ap + ip * kc;
    if (!tA) {  // A is [M, K]: rows contiguous in k
      // 16 x 16 register transposes of the 12 rows (+ 4 zero rows): each 16-float store spills 4
      // floats into the next k row, which the next store (or the tail loop) overwrites; the last
      // spill lands in the next panel, written later, or in the buffer's slack.
      int64_t k0 = 0;
      if (mr == MR) {
        alignas(64) float rows[16 * 16];
        std::fill(rows + MR * 16, rows + 16 * 16, 0.f);
        for (; k0 + 16 <= kc; k0 += 16) {
          for (int64_t r = 0; r < MR; r++) std::memcpy(rows + r * 16, A + (i0 + ip + r) * K + p0 + k0, sizeof(float) * 16);
          simd::transpose16(rows, 16, dst + k0 * MR, MR);
        }
      }
      for (int64_t r = 0; r < mr; r++) {
        const float* src = A + (i0 + ip + r) * K + p0;
        for (int64_t k = k0; k < kc; k++) dst[k * MR + r] = src[k];
      }
      for (int64_t r = mr; r < MR; r++)
        for (int64_t k = k0; k < kc; k++) dst[k * MR + r] = 0.f;
    } else {  // A is [K, M]: contiguous in i
      for (int64_t k = 0; k < kc; k++) {
        const float* src = A + (p0 + k) * M + i0 + ip;
        for (int64_t r = 0; r < mr; r++) dst[k * MR + r] = src[r];
        for (int64_t r = mr; r < MR; r++) dst[k * MR + r] = 0.f;
      }
    }
  }
}

// Bp <- op(B)[p0:p0+kc, j0:j0+nc] as ceil(nc/32) panels of (kc x 32), zero padded.
void pack_b(bool tB, const float* B, int64_t N, int64_t K, int64_t j0, int64_t nc, int64_t p0, int64_t kc,
            float* Bp) {
  for (int64_t jp = 0; jp < nc; jp += NR) {
    const int64_t nr = std::min(NR, nc - jp);
    float* dst = Bp + jp * kc;
    if (!tB) {  // B is [K, N]: contiguous in j
      for (int64_t k = 0; k < kc; k++) {
        const float* src = B + (p0 + k) * N + j0 + jp;
        for (int64_t j = 0; j < nr; j++) dst[k * NR + j] = src[j];
        for (int64_t j = nr; j < NR; j++) dst[k * NR + j] = 0.f;
      }
    } else {  // B is [N, K] (a linear layer's weight): rows contiguous in k, 16 x 16 blocks transposed in
              // registers (element by element this packing took a third of a gemma-3-270m projection)
      int64_t k0 = 0;
      if (nr == NR)
        for (; k0 + 16 <= kc; k0 += 16)
          for (int64_t j = 0; j < NR; j += 16) simd::transpose16(B + (j0 + jp + j) * K + p0 + k0, K, dst + k0 * NR + j, NR);
      for (int64_t j = 0; j < nr; j++) {
        const float* src = B + (j0 + jp + j) * K + p0;
        for (int64_t k = k0; k < kc; k++) dst[k * NR + j] = src[k];
      }
      for (int64_t j = nr; j < NR; j++)
        for (int64_t k = k0; k < kc; k++) dst[k * NR + j] = 0.f;
    }
  }
}

struct ThreadBuffers {
  float* a = nullptr;
  float* b = nullptr;
  ThreadBuffers() {
    a = static_cast<float*>(std::aligned_alloc(64, sizeof(float) * (MC * KC + 16)));  // + pack_a's last spill
    b = static_cast<float*>(std::aligned_alloc(64, sizeof(float) * NC * KC));
  }
  ~ThreadBuffers() {
    std::free(a);
    std::free(b);
  }
};

// One task: C[i0:i1, j0:j1] of one batch item.
void gemm_block(bool tA, bool tB, int64_t M, int64_t N, int64_t K, const float* A, const float* B, float* C,
                int64_t i0, int64_t i1, int64_t j0, int64_t j1) {
  thread_local ThreadBuffers buf;
  const bool directA = !tA;
  for (int64_t jc = j0; jc < j1; jc += NC) {
    const int64_t nc = std::min(NC, j1 - jc);
    for (int64_t pc = 0; pc < K; pc += KC) {
      const int64_t kc = std::min(KC, K - pc);
      const bool accumulate = pc > 0;
      pack_b(tB, B, N, K, jc, nc, pc, kc, buf.b);
      for (int64_t ic = i0; ic < i1; ic += MC) {
        const int64_t mc = std::min(MC, i1 - ic);
        // Rows [ic, ic + full) are read in place when A is direct; the rest is packed into buf.a.
        const int64_t full = directA ? mc / MR * MR : 0;
        if (full < mc) pack_a(tA, A, M, K, ic + full, mc - full, pc, kc, buf.a);
        for (int64_t jr = 0; jr < nc; jr += NR) {
          const int64_t nr = std::min(NR, nc - jr);
          const float* bp = buf.b + jr * kc;
          for (int64_t ir = 0; ir < mc; ir += MR) {
            const int64_t mr = std::min(MR, mc - ir);
            float* c = C + (ic + ir) * N + jc + jr;
            if (ir < full) {
              const float* a = A + (ic + ir) * K + pc;
              if (nr == NR)
                micro_12x32<true>(kc, a, K, bp, c, N, accumulate);
              else
                micro_edge<true>(kc, a, K, bp, c, N, accumulate, mr, nr);
            } else {
              const float* a = buf.a + (ir - full) * kc;
              if (mr == MR && nr == NR)
                micro_12x32<false>(kc, a, 0, bp, c, N, accumulate);
              else
                micro_edge<false>(kc, a, 0, bp, c, N, accumulate, mr, nr);
            }
          }
        }
      }
    }
  }
}

}  // namespace

int max_threads() { return omp_get_max_threads(); }

void sgemm_batched(bool tA, bool tB, int64_t batch, int64_t M, int64_t N, int64_t K, const float* A,
                   const int64_t* aOff, const float* B, const int64_t* bOff, float* C) {
  if (batch <= 0 || M <= 0 || N <= 0) return;
  if (K == 0) {
    std::memset(C, 0, sizeof(float) * batch * M * N);
    return;
  }
  const double flops = 2.0 * batch * M * N * K;
  const int threads = flops < kSerialFlops ? 1 : omp_get_max_threads();
  const GemmSplit split = gemm_split(batch, M, N, threads, MR, NR, MC, NC);
  const int64_t mw = split.mw, nw = split.nw;
  const int64_t mChunks = ceil_div(M, mw), nChunks = ceil_div(N, nw), total = batch * mChunks * nChunks;
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads) if (threads > 1 && total > 1)
  for (int64_t t = 0; t < total; t++) {
    const int64_t b = t / (mChunks * nChunks), rest = t % (mChunks * nChunks);
    const int64_t mi = rest / nChunks, ni = rest % nChunks;
    gemm_block(tA, tB, M, N, K, A + aOff[b], B + bOff[b], C + b * M * N, mi * mw, std::min(M, (mi + 1) * mw),
               ni * nw, std::min(N, (ni + 1) * nw));
  }
}

}  // namespace gl
