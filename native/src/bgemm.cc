// bf16 GEMM: both operands rounded to bfloat16 (round to nearest even) while they are packed,
// products accumulated in float32. Same Goto/BLIS blocking and OpenMP task split as sgemm.cc, but
// the packed panels hold k-pairs: one uint32 = (op[k] low half, op[k+1] high half), which is the
// operand layout of AVX512-BF16's vdpbf16ps (16 lanes x 2 products per instruction, twice the
// FLOPs of an fp32 FMA for the same register traffic).
//
// Two micro-kernels read the same packed panels:
//  - avx512: vdpbf16ps, compiled with a per-function target attribute so the addon still builds
//    and loads where the compiler or CPU lacks AVX512-BF16; chosen at run time by CPU detection.
//  - exact: portable GCC vector code that reproduces vdpbf16ps lane by lane. Each bf16 x bf16
//    product is exact in float32 (8-bit x 8-bit significands), and vdpbf16ps adds the odd (k+1)
//    product to the accumulator first, then the even one, rounding after each add (checked on
//    Zen 4 against 16M random lanes: 0 mismatches; any other order mismatches ~10%). The exact
//    kernel does the same two rounded adds, so both give identical bits whenever the products are
//    normal floats (the hardware flushes denormal intermediates; inputs are flushed at packing).
#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#ifdef __x86_64__
#include <immintrin.h>
#endif

#include "gemm_split.h"
#include "kernels.h"

namespace gl {
namespace {

constexpr int64_t MR = 12, NR = 32;               // micro-tile: 12 rows x 2 vectors of 16 floats
constexpr int64_t KC = 512, MC = 120, NC = 2048;  // KC in k (bf16 halves the bytes: same cache footprint as sgemm's 256)
constexpr int64_t KP = KC / 2;                    // k-pairs per block
constexpr double kSerialFlops = 2e6;

// float32 -> bf16 bits, round to nearest even. Zero and denormal inputs become signed zero (what
// vcvtneps2bf16 does: it assumes DAZ); NaN stays a (quiet) NaN instead of rounding into infinity.
inline uint32_t bf16_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7f800000u) == 0) return (u >> 16) & 0x8000u;
  if ((u & 0x7fffffffu) > 0x7f800000u) return (u >> 16) | 0x40u;
  return (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
}

inline uint32_t pair(float lo, float hi) { return bf16_bits(lo) | (bf16_bits(hi) << 16); }

// The same rounding on 16 lanes at once (packing is a quarter of the run time when scalar).
typedef uint32_t u16 __attribute__((vector_size(64)));
typedef uint32_t u16u __attribute__((vector_size(64), aligned(4)));
typedef uint16_t h32 __attribute__((vector_size(64)));

// bf16_bits of each lane, left in the high half (low half zero).
inline u16 bf16_high(u16 u) {
  const u16 rounded = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
  const u16 zero = u & 0x80000000u, nan = (u | 0x00400000u) & 0xffff0000u;
  u16 r = (u & 0x7f800000u) == 0 ? zero : rounded;
  return (u & 0x7fffffffu) > 0x7f800000u ? nan : r;
}

inline u16 load16(const float* p) { return *reinterpret_cast<const u16u*>(p); }

// dst[j] = pair(lo[j], hi[j]) for j < n; hi == nullptr means zeros.
__attribute__((always_inline)) inline void col_pairs(const float* lo, const float* hi, int64_t n, uint32_t* dst) {
  int64_t j = 0;
  for (; j + 16 <= n; j += 16) {
    const u16 h = hi ? bf16_high(load16(hi + j)) : u16{};
    *reinterpret_cast<u16u*>(dst + j) = (bf16_high(load16(lo + j)) >> 16) | h;
  }
  for (; j < n; j++) dst[j] = pair(lo[j], hi ? hi[j] : 0.f);
}

// dst[q] = pair(src[2q], src[2q+1]) for q < ceil(n/2) (the odd last one pairs with zero): a row of
// bf16 in memory order, read as uint32 pairs.
__attribute__((always_inline)) inline void row_pairs(const float* src, int64_t n, uint32_t* dst) {
  int64_t k = 0;
  for (; k + 32 <= n; k += 32) {
    const h32 a = reinterpret_cast<h32>(bf16_high(load16(src + k))), b = reinterpret_cast<h32>(bf16_high(load16(src + k + 16)));
    // high halves of the 32 lanes, in order (little endian: the odd uint16 of each lane)
    const h32 packed = __builtin_shufflevector(a, b, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31, 33, 35, 37, 39, 41, 43,
                                               45, 47, 49, 51, 53, 55, 57, 59, 61, 63);
    *reinterpret_cast<u16u*>(dst + k / 2) = reinterpret_cast<u16>(packed);
  }
  for (; k + 1 < n; k += 2) dst[k / 2] = pair(src[k], src[k + 1]);
  if (k < n) dst[k / 2] = pair(src[k], 0.f);
}

constexpr int64_t kRowTmp = (std::max(KC, MC) + 1) / 2 + 16;

// Ap <- op(A)[i0:i0+mc, p0:p0+kc] as ceil(mc/12) panels of (kp x 12) pairs, zero padded (rows and
// the odd k at the end of the block).
void pack_a(bool tA, const float* A, int64_t M, int64_t K, int64_t i0, int64_t mc, int64_t p0, int64_t kc, uint32_t* Ap) {
  const int64_t kp = (kc + 1) / 2;
  alignas(64) uint32_t tmp[std::max(kRowTmp, MC + 16)];
  if (!tA) {  // A is [M, K]: rows contiguous in k
    for (int64_t ip = 0; ip < mc; ip += MR) {
      const int64_t mr = std::min(MR, mc - ip);
      uint32_t* dst = Ap + ip * kp;
      for (int64_t r = 0; r < mr; r++) {
        row_pairs(A + (i0 + ip + r) * K + p0, kc, tmp);
        for (int64_t q = 0; q < kp; q++) dst[q * MR + r] = tmp[q];
      }
      for (int64_t q = 0; q < kp; q++)
        for (int64_t r = mr; r < MR; r++) dst[q * MR + r] = 0;
    }
  } else {  // A is [K, M]: contiguous in i; one k-pair of all mc rows at a time, then split into panels
    for (int64_t q = 0; q < kp; q++) {
      const float* s0 = A + (p0 + 2 * q) * M + i0;
      col_pairs(s0, 2 * q + 1 < kc ? s0 + M : nullptr, mc, tmp);
      for (int64_t ip = 0; ip < mc; ip += MR) {
        const int64_t mr = std::min(MR, mc - ip);
        uint32_t* dst = Ap + ip * kp + q * MR;
        std::memcpy(dst, tmp + ip, sizeof(uint32_t) * mr);
        for (int64_t r = mr; r < MR; r++) dst[r] = 0;
      }
    }
  }
}

// Bp <- op(B)[p0:p0+kc, j0:j0+nc] as ceil(nc/32) panels of (kp x 32) pairs, zero padded.
void pack_b(bool tB, const float* B, int64_t N, int64_t K, int64_t j0, int64_t nc, int64_t p0, int64_t kc, uint32_t* Bp) {
  const int64_t kp = (kc + 1) / 2;
  alignas(64) uint32_t tmp[kRowTmp];
  for (int64_t jp = 0; jp < nc; jp += NR) {
    const int64_t nr = std::min(NR, nc - jp);
    uint32_t* dst = Bp + jp * kp;
    if (!tB) {  // B is [K, N]: contiguous in j
      for (int64_t q = 0; q < kp; q++) {
        const float* s0 = B + (p0 + 2 * q) * N + j0 + jp;
        uint32_t* d = dst + q * NR;
        col_pairs(s0, 2 * q + 1 < kc ? s0 + N : nullptr, nr, d);
        for (int64_t j = nr; j < NR; j++) d[j] = 0;
      }
    } else {  // B is [N, K]: rows contiguous in k
      for (int64_t j = 0; j < nr; j++) {
        row_pairs(B + (j0 + jp + j) * K + p0, kc, tmp);
        for (int64_t q = 0; q < kp; q++) dst[q * NR + j] = tmp[q];
      }
      for (int64_t q = 0; q < kp; q++)
        for (int64_t j = nr; j < NR; j++) dst[q * NR + j] = 0;
    }
  }
}

typedef float v16 __attribute__((vector_size(64)));
typedef float v16u __attribute__((vector_size(64), aligned(4)));

inline void store_tile(const v16* c0, const v16* c1, float* c, int64_t ldc, bool accumulate) {
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

// c[0:12, 0:32] (+)= a_panel * b_panel over kp k-pairs, portable. Mirrors vdpbf16ps: per lane,
// acc += odd product, then acc += even product (both products exact, so FMA contraction by the
// compiler changes nothing).
void micro_exact(int64_t kp, const uint32_t* __restrict a, const uint32_t* __restrict b, float* __restrict c, int64_t ldc,
                 bool accumulate) {
  v16 c0[MR], c1[MR];
  for (int i = 0; i < MR; i++) c0[i] = c1[i] = v16{};
  const u16 hiMask = u16{} + 0xffff0000u;
  for (int64_t q = 0; q < kp; q++) {
    const u16 w0 = *reinterpret_cast<const u16*>(b + q * NR);
    const u16 w1 = *reinterpret_cast<const u16*>(b + q * NR + 16);
    const v16 be0 = reinterpret_cast<v16>(w0 << 16), bo0 = reinterpret_cast<v16>(w0 & hiMask);
    const v16 be1 = reinterpret_cast<v16>(w1 << 16), bo1 = reinterpret_cast<v16>(w1 & hiMask);
    const uint32_t* aq = a + q * MR;
    for (int i = 0; i < MR; i++) {
      const uint32_t lo = aq[i] << 16, hi = aq[i] & 0xffff0000u;
      float ae, ao;
      std::memcpy(&ae, &lo, 4);
      std::memcpy(&ao, &hi, 4);
      c0[i] += ao * bo0;
      c0[i] += ae * be0;
      c1[i] += ao * bo1;
      c1[i] += ae * be1;
    }
  }
  store_tile(c0, c1, c, ldc, accumulate);
}

#ifdef __x86_64__
__attribute__((target("avx512bf16,avx512f,avx512bw,avx512vl"))) void micro_avx512(int64_t kp, const uint32_t* __restrict a,
                                                                                  const uint32_t* __restrict b, float* __restrict c,
                                                                                  int64_t ldc, bool accumulate) {
  __m512 c0[MR], c1[MR];
#pragma GCC unroll 12
  for (int i = 0; i < MR; i++) c0[i] = c1[i] = _mm512_setzero_ps();
  for (int64_t q = 0; q < kp; q++) {
    const __m512bh b0 = reinterpret_cast<__m512bh>(_mm512_load_si512(b + q * NR));
    const __m512bh b1 = reinterpret_cast<__m512bh>(_mm512_load_si512(b + q * NR + 16));
    const uint32_t* aq = a + q * MR;
#pragma GCC unroll 12
    for (int i = 0; i < MR; i++) {
      const __m512bh ai = reinterpret_cast<__m512bh>(_mm512_set1_epi32(static_cast<int>(aq[i])));
      c0[i] = _mm512_dpbf16_ps(c0[i], ai, b0);
      c1[i] = _mm512_dpbf16_ps(c1[i], ai, b1);
    }
  }
#pragma GCC unroll 12
  for (int i = 0; i < MR; i++) {
    float* row = c + i * ldc;
    if (accumulate) {
      _mm512_storeu_ps(row, _mm512_add_ps(_mm512_loadu_ps(row), c0[i]));
      _mm512_storeu_ps(row + 16, _mm512_add_ps(_mm512_loadu_ps(row + 16), c1[i]));
    } else {
      _mm512_storeu_ps(row, c0[i]);
      _mm512_storeu_ps(row + 16, c1[i]);
    }
  }
}
#endif

typedef void (*Micro)(int64_t, const uint32_t*, const uint32_t*, float*, int64_t, bool);

struct ThreadBuffers {
  uint32_t* a = nullptr;
  uint32_t* b = nullptr;
  ThreadBuffers() {
    a = static_cast<uint32_t*>(std::aligned_alloc(64, sizeof(uint32_t) * MC * KP));
    b = static_cast<uint32_t*>(std::aligned_alloc(64, sizeof(uint32_t) * NC * KP));
  }
  ~ThreadBuffers() {
    std::free(a);
    std::free(b);
  }
};

void gemm_block(Micro micro, bool tA, bool tB, int64_t M, int64_t N, int64_t K, const float* A, const float* B, float* C, int64_t i0,
                int64_t i1, int64_t j0, int64_t j1) {
  thread_local ThreadBuffers buf;
  alignas(64) float tmp[MR * NR];
  for (int64_t jc = j0; jc < j1; jc += NC) {
    const int64_t nc = std::min(NC, j1 - jc);
    for (int64_t pc = 0; pc < K; pc += KC) {
      const int64_t kc = std::min(KC, K - pc), kp = (kc + 1) / 2;
      const bool accumulate = pc > 0;
      pack_b(tB, B, N, K, jc, nc, pc, kc, buf.b);
      for (int64_t ic = i0; ic < i1; ic += MC) {
        const int64_t mc = std::min(MC, i1 - ic);
        pack_a(tA, A, M, K, ic, mc, pc, kc, buf.a);
        for (int64_t jr = 0; jr < nc; jr += NR) {
          const int64_t nr = std::min(NR, nc - jr);
          const uint32_t* bp = buf.b + jr * kp;
          for (int64_t ir = 0; ir < mc; ir += MR) {
            const int64_t mr = std::min(MR, mc - ir);
            float* c = C + (ic + ir) * N + jc + jr;
            if (mr == MR && nr == NR) {
              micro(kp, buf.a + ir * kp, bp, c, N, accumulate);
            } else {  // edge tile: full padded tile aside, then the valid part
              micro(kp, buf.a + ir * kp, bp, tmp, NR, false);
              for (int64_t i = 0; i < mr; i++)
                for (int64_t j = 0; j < nr; j++) c[i * N + j] = accumulate ? c[i * N + j] + tmp[i * NR + j] : tmp[i * NR + j];
            }
          }
        }
      }
    }
  }
}

}  // namespace

bool cpu_has_avx512bf16() {
#ifdef __x86_64__
  __builtin_cpu_init();
  // libgcc's detection also checks that the OS saves the zmm state (XCR0).
  return __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl");
#else
  return false;
#endif
}

Bf16Path bgemm_batched(Bf16Path path, bool tA, bool tB, int64_t batch, int64_t M, int64_t N, int64_t K, const float* A,
                       const int64_t* aOff, const float* B, const int64_t* bOff, float* C) {
  static const bool hw = cpu_has_avx512bf16();
  if (path == Bf16Path::Auto) path = hw ? Bf16Path::Avx512 : Bf16Path::Exact;
  if (path == Bf16Path::Avx512 && !hw) path = Bf16Path::Exact;
  Micro micro = micro_exact;
#ifdef __x86_64__
  if (path == Bf16Path::Avx512) micro = micro_avx512;
#endif
  if (batch <= 0 || M <= 0 || N <= 0) return path;
  if (K == 0) {
    std::memset(C, 0, sizeof(float) * batch * M * N);
    return path;
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
    gemm_block(micro, tA, tB, M, N, K, A + aOff[b], B + bOff[b], C + b * M * N, mi * mw, std::min(M, (mi + 1) * mw), ni * nw,
               std::min(N, (ni + 1) * nw));
  }
  return path;
}

}  // namespace gl
