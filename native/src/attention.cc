// Fused attention, forward and backward, with masks given as rules and an online (blockwise)
// softmax: memory O(B*H*T*d), never a [T, S] score matrix, and only the key blocks a rule can see
// are visited (a sliding layer costs its band, not T*S); inside a visited tile, the row groups and
// key vectors a rule hides are skipped too (the band's edge tiles and the causal diagonal).
//
// Scores s = scale * q.k, optionally cap * tanh(s / cap); invisible keys get probability 0. A query
// row that sees no key at all averages v over every key, which is exactly what the dense path's
// large finite mask bias gives (all of its scores round to the same value); that output does not
// depend on q or k, so its gradient reaches only v.
//
// Determinism: every output element is written by one OpenMP task, accumulating in a fixed order
// that does not depend on the thread count (forward: one task per (b, h, query tile); backward: one
// task per pair of query heads of a kv head, which owns their dQ and one slice of dK/dV, the first
// pair's slice being dK/dV itself; the slices of a kv head are then summed in pair order).
#define __FAST_MATH__ 1  // only so glibc declares the libmvec SIMD expf/tanhf (see elementwise.cc)
#include <math.h>
#undef __FAST_MATH__

#include <omp.h>

// The row loops here (logits, exp, softmax) vectorise at 256 bits by default on -march targets that
// prefer it; the tiles are 512-bit-vector shaped, so ask for full width (libmvec then has 16-lane expf).
#if defined(__x86_64__)
#pragma GCC target("prefer-vector-width=512")
#endif

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "kernels.h"
#include "simd.h"

namespace gl {
namespace {

constexpr int64_t BQ = 32;  // query rows per tile
constexpr int64_t BK = 32;  // keys per tile (2 vectors of 16 floats): small, so a band wastes few keys
constexpr int NVK = BK / 16;
constexpr float kLazyRescale = 8.f;  // see attention_forward

typedef float v16 __attribute__((vector_size(64)));
typedef float v16u __attribute__((vector_size(64), aligned(4)));

struct Buf {  // 64-byte aligned float scratch
  float* p = nullptr;
  explicit Buf(int64_t n) { p = static_cast<float*>(std::aligned_alloc(64, sizeof(float) * std::max<int64_t>(16, (n + 15) / 16 * 16))); }
  ~Buf() { std::free(p); }
  Buf(const Buf&) = delete;
  Buf& operator=(const Buf&) = delete;
};

// Large per-call scratch (transposed K/V, dK/dV slices of head pairs), kept between calls by the calling
// thread: allocating it fresh each call cost page faults on every page (~7% of a sliding layer's
// backward). Grow-only up to kKeepFloats; a larger request is allocated for that call alone.
// thread_local: Node worker threads may call the addon concurrently (OpenMP workers never do).
class Scratch {
 public:
  float* get(int64_t n) {
    if (n <= cap_) return p_;
    std::free(p_);
    p_ = static_cast<float*>(std::aligned_alloc(64, sizeof(float) * ((n + 15) / 16 * 16)));
    cap_ = n;
    return p_;
  }
  ~Scratch() { std::free(p_); }

 private:
  float* p_ = nullptr;
  int64_t cap_ = 0;
};

constexpr int64_t kKeepFloats = int64_t{1} << 26;  // 256 MiB per buffer

// A scratch array of n floats: the thread's kept buffer `slot`, or a one-off one when n is large.
struct ScratchArray {
  Buf own;
  float* p;
  ScratchArray(Scratch& slot, int64_t n) : own(n > kKeepFloats ? n : 0), p(n > kKeepFloats ? own.p : slot.get(n)) {}
};

enum ScratchSlot { kSlotKt, kSlotVt, kSlotPk, kSlotPv, kSlots };
Scratch& scratch(ScratchSlot slot) {
  thread_local Scratch slots[kSlots];
  return slots[slot];
}

// Brings regions into L2 ahead of use, a few lines per step: the data a band's next tile touches first
// (its query rows, its output rows) otherwise arrives one cache miss at a time, a fixed cost that a
// short band cannot hide, while a burst of prefetches stalls on the line fill buffers.
class Prefetcher {
 public:
  void add(const float* p, int64_t n) {
    if (n > 0 && count_ < kMax) regions_[count_++] = {reinterpret_cast<const char*>(p), reinterpret_cast<const char*>(p + n)};
  }
  int64_t lines() const {
    int64_t n = 0;
    for (int i = next_; i < count_; i++) n += (regions_[i].end - regions_[i].at + 63) / 64;
    return n;
  }
  void step(int64_t lines) {  // issue up to `lines` more prefetches
    for (; lines > 0 && next_ < count_; lines--) {
      Region& r = regions_[next_];
      __builtin_prefetch(r.at, 0, 2);  // prefetcht1 on x86: into L2
      r.at += 64;
      if (r.at >= r.end) next_++;
    }
  }
  void clear() { count_ = next_ = 0; }

 private:
  struct Region {
    const char *at, *end;
  };
  static constexpr int kMax = 16;
  Region regions_[kMax];
  int count_ = 0, next_ = 0;
};

// Visible key range [lo, hi) of query row i under the positional rule (the key mask is applied per key).
inline void key_range(const AttnRule& r, int64_t S, int64_t i, int64_t* lo, int64_t* hi) {
  const int64_t pos = i + r.qOffset;
  int64_t a = 0, b = S;
  if (r.window > 0) {
    a = pos - r.window + 1;
    if (!r.causal) b = pos + r.window;
  }
  if (r.causal) b = std::min(b, pos + 1);
  *lo = std::max<int64_t>(a, 0);
  *hi = std::min(b, S);
}

// x: nbg slices of [S, d] -> xt: nbg slices of Sp / BK key blocks, each [d, BK] with xt[c, j] = x[j0 + j, c]
// (zero past S). Blocked so that a tile's d rows are one contiguous 32 KB run: with a [d, Sp] layout the
// rows sat Sp floats apart, a multiple of 4 KB that maps every row to the same L1 set. Shares out the
// blocks over the threads of the enclosing parallel region (one region per call: with passive waiting,
// each region start wakes the workers, tens of microseconds).
void transpose_blocks(const float* x, int64_t nbg, int64_t S, int64_t d, int64_t Sp, float* xt) {
  const int64_t blocks = Sp / BK;
#pragma omp for schedule(static)
  for (int64_t t = 0; t < nbg * blocks; t++) {
    const int64_t bg = t / blocks, j0 = (t % blocks) * BK, nk = std::min(BK, S - j0);
    const float* xs = x + (bg * S + j0) * d;
    float* xb = xt + bg * d * Sp + j0 * d;
    int64_t c0 = 0;
    if (nk == BK)
      for (; c0 + 16 <= d; c0 += 16)
        for (int64_t j = 0; j < BK; j += 16) simd::transpose16(xs + j * d + c0, d, xb + c0 * BK + j, BK);
    for (; c0 < d; c0 += 16) {
      const int64_t c1 = std::min(d, c0 + 16);
      for (int64_t j = 0; j < nk; j++)
        for (int64_t c = c0; c < c1; c++) xb[c * BK + j] = xs[j * d + c];
      for (int64_t j = nk; j < BK; j++)
        for (int64_t c = c0; c < c1; c++) xb[c * BK + j] = 0.f;
    }
  }
}

// Visible columns of each row of a tile and visible rows of each column, in tile coordinates:
// row r sees columns [lo[r], hi[r]) (empty when hi <= lo), column j is seen by rows [clo[j], chi[j]).
// Work outside them is skipped: a band's edge tiles (and the causal diagonal) are half masked, and a
// masked entry's probability is exactly 0, so skipping its terms leaves every sum unchanged.
struct TileRange {
  int32_t lo[BQ], hi[BQ], clo[BK], chi[BK];
};

// Fills t's row ranges, and its column ranges when `cols` (only the backward reads them). A rule's
// lo and hi never decrease with the row, so the rows that see column j are those past the first with
// hi > j and up to the last with lo <= j: two pointers, O(BQ + BK).
void tile_range(const AttnRule& rule, int64_t S, int64_t i0, int64_t nq, int64_t j0, int64_t nk, bool cols, TileRange* t) {
  for (int64_t r = 0; r < BQ; r++) {
    int64_t lo = 0, hi = 0;
    if (r < nq) {
      key_range(rule, S, i0 + r, &lo, &hi);
      lo = std::clamp<int64_t>(lo - j0, 0, nk);
      hi = std::clamp<int64_t>(hi - j0, lo, nk);
    }
    t->lo[r] = static_cast<int32_t>(lo);
    t->hi[r] = static_cast<int32_t>(hi);
  }
  if (!cols) return;
  int32_t first = 0, past = 0;  // first row with hi > j; rows [0, past) have lo <= j
  for (int32_t j = 0; j < static_cast<int32_t>(BK); j++) {
    while (first < nq && t->hi[first] <= j) first++;
    while (past < nq && t->lo[past] <= j) past++;
    const bool seen = j < nk && first < past;
    t->clo[j] = seen ? first : static_cast<int32_t>(BQ);
    t->chi[j] = seen ? past : 0;
  }
}

// Union of the ranges of items [r, r + n): [min lo, max hi), or lo >= hi when all are empty.
inline void group_range(const int32_t* lo, const int32_t* hi, int64_t r, int64_t n, int64_t* a, int64_t* b) {
  int64_t x = INT32_MAX, y = 0;
  for (int64_t k = r; k < r + n; k++)
    if (hi[k] > lo[k]) {
      x = std::min<int64_t>(x, lo[k]);
      y = std::max<int64_t>(y, hi[k]);
    }
  *a = x;
  *b = y;
}

// out[r, 16*V0 : 16*V1] = sum_c a[r*d + c] * bt[c*ldb + ...] for NRow rows (bt: BK columns of a [d, ldb]
// array, 64-aligned); the other vectors of those rows are zeroed. Each loaded vector of bt feeds NRow FMAs.
template <int NRow, int V0, int V1>
inline void abt_rows(const float* __restrict a, int64_t d, const float* __restrict bt, int64_t ldb, float* __restrict out) {
  constexpr int NV = V1 - V0;
  v16 acc[NRow][NV];  // fully unrolled below, so it stays in registers
#pragma GCC unroll 16
  for (int r = 0; r < NRow; r++)
#pragma GCC unroll 2
    for (int v = 0; v < NV; v++) acc[r][v] = v16{};
  for (int64_t c = 0; c < d; c++) {
    const v16* b = reinterpret_cast<const v16*>(bt + c * ldb) + V0;
    v16 bv[NV];
#pragma GCC unroll 2
    for (int v = 0; v < NV; v++) bv[v] = b[v];
#pragma GCC unroll 16
    for (int r = 0; r < NRow; r++) {
      const float s = a[r * d + c];
#pragma GCC unroll 2
      for (int v = 0; v < NV; v++) acc[r][v] += s * bv[v];
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < NRow; r++) {
    v16* o = reinterpret_cast<v16*>(out + r * BK);
#pragma GCC unroll 2
    for (int v = 0; v < NVK; v++) o[v] = v >= V0 && v < V1 ? acc[r][v - V0] : v16{};
  }
}

static_assert(NVK == 2, "abt_group dispatches on two vectors per key block");

// The key vectors [v0, v1) holding columns [lo, hi) (v0 >= v1 when empty).
inline void vector_span(int64_t lo, int64_t hi, int* v0, int* v1) {
  *v0 = hi <= lo ? NVK : static_cast<int>(lo / 16);
  *v1 = hi <= lo ? 0 : static_cast<int>((hi + 15) / 16);
}

// abt_rows over key vectors [v0, v1) (all zero when empty).
template <int NRow>
inline void abt_group(const float* a, int64_t d, const float* bt, int64_t ldb, float* out, int v0, int v1) {
  if (v1 <= v0) {
    std::fill(out, out + NRow * BK, 0.f);
  } else if (v0 == 1) {
    abt_rows<NRow, 1, 2>(a, d, bt, ldb, out);
  } else if (v1 == 1) {
    abt_rows<NRow, 0, 1>(a, d, bt, ldb, out);
  } else {
    abt_rows<NRow, 0, 2>(a, d, bt, ldb, out);
  }
}

// out[r, :] = a[r, :] . bt[:, columns] for r < nq, computing only the vectors row groups can see.
// Rows go 4 at a time, or 8 where both halves need the same single vector: with one key vector, 4 rows
// give only 4 independent FMA chains (latency-bound at half the FMA rate), 8 give 8.
void tile_abt(const float* __restrict a, int64_t nq, int64_t d, const float* __restrict bt, int64_t ldb, const TileRange& t,
              float* __restrict out) {
  int64_t r = 0, lo, hi;
  int v0, v1, w0, w1;
  while (r + 4 <= nq) {
    group_range(t.lo, t.hi, r, 4, &lo, &hi);
    vector_span(lo, hi, &v0, &v1);
    if (r + 8 <= nq) {
      group_range(t.lo, t.hi, r + 4, 4, &lo, &hi);
      vector_span(lo, hi, &w0, &w1);
      if (v0 == w0 && v1 == w1 && v1 - v0 == 1) {
        abt_group<8>(a + r * d, d, bt, ldb, out + r * BK, v0, v1);
        r += 8;
        continue;
      }
    }
    abt_group<4>(a + r * d, d, bt, ldb, out + r * BK, v0, v1);
    r += 4;
  }
  for (; r < nq; r++) {
    vector_span(t.lo[r], t.hi[r], &v0, &v1);
    abt_group<1>(a + r * d, d, bt, ldb, out + r * BK, v0, v1);
  }
}

// acc[r*d + c] (+)= sum_{ja <= j < jb} w[r*wr + j*wj] * x[j*d + c] over NRow rows r and columns [c0, c0 + 16*NV),
// "=" when Init: each loaded vector of x feeds NRow FMAs.
template <int NRow, int NV, bool Init>
inline void axpy_rows(const float* __restrict w, int64_t wr, int64_t wj, int64_t ja, int64_t jb, const float* __restrict x, int64_t d,
                      float* __restrict acc, int64_t c0) {
  v16 s[NRow][NV];
#pragma GCC unroll 4
  for (int r = 0; r < NRow; r++)
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) s[r][v] = Init ? v16{} : *reinterpret_cast<const v16u*>(acc + r * d + c0 + 16 * v);
  for (int64_t j = ja; j < jb; j++) {
    v16 xv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) xv[v] = *reinterpret_cast<const v16u*>(x + j * d + c0 + 16 * v);
#pragma GCC unroll 4
    for (int r = 0; r < NRow; r++) {
      const float p = w[r * wr + j * wj];
#pragma GCC unroll 4
      for (int v = 0; v < NV; v++) s[r][v] += p * xv[v];
    }
  }
#pragma GCC unroll 4
  for (int r = 0; r < NRow; r++)
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) *reinterpret_cast<v16u*>(acc + r * d + c0 + 16 * v) = s[r][v];
}

// acc rows [r, r + n) (+)= sum_{ja <= j < jb} w[r*wr + j*wj] * x[j, :] ("=" when Init; rows of length d).
template <int NRow, bool Init>
inline void axpy_group(const float* __restrict w, int64_t wr, int64_t wj, int64_t ja, int64_t jb, const float* __restrict x, int64_t d,
                       float* __restrict acc) {
  int64_t c = 0;
  for (; c + 64 <= d; c += 64) axpy_rows<NRow, 4, Init>(w, wr, wj, ja, jb, x, d, acc, c);
  for (; c + 16 <= d; c += 16) axpy_rows<NRow, 1, Init>(w, wr, wj, ja, jb, x, d, acc, c);
  for (; c < d; c++)
    for (int64_t r = 0; r < NRow; r++) {
      float sum = Init ? 0.f : acc[r * d + c];
      for (int64_t j = ja; j < jb; j++) sum += w[r * wr + j * wj] * x[j * d + c];
      acc[r * d + c] = sum;
    }
}

// Rows [r, r + NRow) of rows_axpy, over the union of their ranges.
template <int NRow>
inline void rows_axpy_group(const float* __restrict w, int64_t wr, int64_t wj, const int32_t* lo, const int32_t* hi, int64_t r,
                            const float* __restrict x, int64_t d, float* __restrict acc, bool init) {
  int64_t ja, jb;
  group_range(lo, hi, r, NRow, &ja, &jb);
  float* a = acc + r * d;
  if (jb <= ja) {
    if (init) std::fill(a, a + NRow * d, 0.f);
  } else if (init) {
    axpy_group<NRow, true>(w + r * wr, wr, wj, ja, jb, x, d, a);
  } else {
    axpy_group<NRow, false>(w + r * wr, wr, wj, ja, jb, x, d, a);
  }
}

// acc[r, :] (+)= sum_j w[r*wr + j*wj] * x[j, :] for r < nrows, j in [lo[r], hi[r]) (x and acc rows have
// length d). Rows go 4 at a time over the union of their ranges (terms outside a row's own are 0).
// init: write instead of accumulate (rows without any term become 0), which spares zeroing acc first.
void rows_axpy(const float* __restrict w, int64_t wr, int64_t wj, int64_t nrows, const int32_t* lo, const int32_t* hi,
               const float* __restrict x, int64_t d, float* __restrict acc, bool init) {
  int64_t r = 0;
  for (; r + 4 <= nrows; r += 4) rows_axpy_group<4>(w, wr, wj, lo, hi, r, x, d, acc, init);
  for (; r < nrows; r++) rows_axpy_group<1>(w, wr, wj, lo, hi, r, x, d, acc, init);
}

// acc[r, :] (+)= sum_j p[r*BK + j] * x[j*d + :] for r < nq over the keys row r sees (acc rows have stride d).
inline void tile_pv(const float* __restrict p, int64_t nq, const TileRange& t, const float* __restrict x, int64_t d,
                    float* __restrict acc, bool init) {
  rows_axpy(p, BK, 1, nq, t.lo, t.hi, x, d, acc, init);
}

// acc[j, :] (+)= sum_r p[r*BK + j] * x[r*d + :] for j < nk over the queries that see key j (the transposed product).
inline void tile_ptx(const float* __restrict p, int64_t nk, const TileRange& t, const float* __restrict x, int64_t d,
                     float* __restrict acc, bool init) {
  rows_axpy(p, 1, BK, nk, t.clo, t.chi, x, d, acc, init);
}

// The columns [*a, *b) of row r that the per-element work covers: the whole vectors holding its
// visible range (empty: 0, 0). Outside them a row's logits are -inf and its probabilities 0, so a
// band's edge tiles pay for the vectors they see, not for the tile.
inline void row_cols(const TileRange& t, int64_t r, int32_t* a, int32_t* b) {
  const int32_t lo = t.lo[r], hi = t.hi[r];
  *a = hi > lo ? lo / 16 * 16 : 0;
  *b = hi > lo ? std::min<int32_t>(static_cast<int32_t>(BK), (hi + 15) / 16 * 16) : 0;
}

// sr[j] <- exp(sr[j] - m) on columns [a, b), exactly 0 for a masked logit (-inf) and outside [a, b),
// without handing expf an infinite argument: libmvec's vector expf sends each lane outside its fast
// range to a scalar call, which made the masked half of a band's edge tiles cost more than the
// visible half. Two loops, so the expf call is unconditional and vectorises (glibc declares only
// unmasked SIMD variants; a select feeding the call in one loop is not if-converted).
inline void masked_exp_row(float* __restrict sr, float m, int32_t a, int32_t b) {
  alignas(64) float keep[BK];
#pragma omp simd
  for (int32_t j = a; j < b; j++) {
    const bool masked = sr[j] == -INFINITY;
    keep[j] = masked ? 0.f : 1.f;
    sr[j] = masked ? 0.f : sr[j] - m;
  }
#pragma omp simd
  for (int32_t j = a; j < b; j++) sr[j] = expf(sr[j]) * keep[j];
  std::fill(sr, sr + a, 0.f);
  std::fill(sr + b, sr + BK, 0.f);
}

// max_j sr[j] over a tile row (the masked entries are -inf), lane-wise then across lanes: the compiler
// keeps a scalar loop for a float max (its NaN ordering), a serial chain per row and tile.
inline float row_max(const float* __restrict sr) {
  static_assert(BK % 16 == 0, "row_max reads whole vectors");
  v16 m = reinterpret_cast<const v16*>(sr)[0];
  for (int v = 1; v < NVK; v++) {
    const v16 x = reinterpret_cast<const v16*>(sr)[v];
    m = x > m ? x : m;
  }
  float r = m[0];
  for (int i = 1; i < 16; i++) r = m[i] > r ? m[i] : r;
  return r;
}

// Raw scores of a tile -> logits in place (scale, softcap; tanh kept in `th` for the backward), and
// invisible keys -> -inf. Row r is query i0 + r, column j is key j0 + j (keyMask is indexed by key).
void logits_tile(float* __restrict s, float* __restrict th, int64_t nq, int64_t j0, const TileRange& t, float scale, float cap,
                 const float* keyMask) {
  for (int64_t r = 0; r < nq; r++) {
    float* sr = s + r * BK;
    const int32_t lo = t.lo[r], hi = t.hi[r];
    int32_t a, b;
    row_cols(t, r, &a, &b);
    if (cap > 0.f) {
      float* tr = th + r * BK;
      const float k = scale / cap;
#pragma omp simd
      for (int32_t j = a; j < b; j++) {
        tr[j] = tanhf(sr[j] * k);
        sr[j] = cap * tr[j];
      }
    } else {
#pragma omp simd
      for (int32_t j = a; j < b; j++) sr[j] *= scale;
    }
#pragma omp simd
    for (int32_t j = 0; j < static_cast<int32_t>(BK); j++) sr[j] = j >= lo && j < hi ? sr[j] : -INFINITY;
    if (keyMask)
      for (int64_t j = lo; j < hi; j++)
        if (keyMask[j0 + j] == 0.f) sr[j] = -INFINITY;
  }
}

// Key blocks [kb0, kb1) (in units of BK) that some query of rows [i0, i1) can see.
inline void block_span(const AttnRule& rule, int64_t S, int64_t i0, int64_t i1, int64_t* kb0, int64_t* kb1) {
  int64_t lo0, hi0, lo1, hi1;
  key_range(rule, S, i0, &lo0, &hi0);
  key_range(rule, S, i1 - 1, &lo1, &hi1);
  const int64_t lo = lo0, hi = std::max(hi0, hi1);  // lo and hi never decrease with i
  if (hi <= lo) {
    *kb0 = *kb1 = 0;
    return;
  }
  *kb0 = lo / BK;
  *kb1 = (hi + BK - 1) / BK;
}

}  // namespace

void attention_forward(const AttnDims& D, const AttnRule& rule, float scale, float cap, const float* q, const float* k,
                       const float* v, const float* keyMask, float* o, float* lse) {
  const int64_t B = D.B, H = D.H, G = D.G, T = D.T, S = D.S, d = D.d, R = H / G;
  if (B * H * T == 0) return;
  const int64_t Sp = (S + BK - 1) / BK * BK;
  ScratchArray kt(scratch(kSlotKt), B * G * d * Sp);  // K per (b, g) as Sp / BK transposed key blocks [d, BK] (Sp: S rounded up to BK)
  const int64_t qTiles = (T + BQ - 1) / BQ, tasks = B * H * qTiles;
  const double work = static_cast<double>(B) * H * T * std::min<int64_t>(S, rule.window > 0 ? 2 * rule.window : S) * d;
#pragma omp parallel if (work >= 1e6)
  {
    transpose_blocks(k, B * G, S, d, Sp, kt.p);
    Buf s(BQ * BK), th(BQ * BK), acc(BQ * d), m(BQ), l(BQ);
    TileRange tr;
    Prefetcher pf;
#pragma omp for schedule(dynamic, 1)
    for (int64_t t = 0; t < tasks; t++) {
      const int64_t bh = t / qTiles, i0 = (t % qTiles) * BQ, nq = std::min(BQ, T - i0);
      const int64_t b = bh / H, h = bh % H, g = h / R;
      const float* qt = q + (bh * T + i0) * d;
      const float* kv = v + (b * G + g) * S * d;
      const float* ktb = kt.p + (b * G + g) * d * Sp;
      const float* km = keyMask ? keyMask + b * S : nullptr;
      std::fill(m.p, m.p + nq, -INFINITY);
      std::fill(l.p, l.p + nq, 0.f);
      int64_t kb0, kb1;
      block_span(rule, S, i0, i0 + nq, &kb0, &kb1);
      pf.clear();
      pf.add(o + (bh * T + i0) * d, nq * d);  // written at the end of this task
      if (t + 1 < tasks) {                    // the next task's query rows (this thread's next, or the other's)
        const int64_t t1 = t + 1, i1 = (t1 % qTiles) * BQ;
        pf.add(q + ((t1 / qTiles) * T + i1) * d, std::min(BQ, T - i1) * d);
      }
      const int64_t pfStep = kb1 > kb0 ? (pf.lines() + kb1 - kb0 - 1) / (kb1 - kb0) : 0;
      for (int64_t kb = kb0; kb < kb1; kb++) {
        const int64_t j0 = kb * BK, nk = std::min(BK, S - j0);
        tile_range(rule, S, i0, nq, j0, nk, false, &tr);
        pf.step(pfStep);
        tile_abt(qt, nq, d, ktb + j0 * d, BK, tr, s.p);
        logits_tile(s.p, th.p, nq, j0, tr, scale, cap, km);
        for (int64_t r = 0; r < nq; r++) {
          float* sr = s.p + r * BK;
          // m is the row's reference for exp: the running max, moved only when the new max passes it
          // by more than kLazyRescale (probabilities then stay below e^kLazyRescale before
          // normalising), so most tiles skip rescaling the [d] accumulator; a short band rescales
          // about as often per row as a long one, which made it a sliding layer's largest overhead.
          const float mt = row_max(sr);
          if (mt == -INFINITY && m.p[r] == -INFINITY) {  // nothing visible yet in this row
#pragma omp simd
            for (int64_t j = 0; j < BK; j++) sr[j] = 0.f;
            continue;
          }
          if (mt > m.p[r] + kLazyRescale) {
            if (m.p[r] != -INFINITY) {  // else acc is still 0 (no visible key so far)
              const float corr = expf(m.p[r] - mt);
              l.p[r] *= corr;
              float* ar = acc.p + r * d;
#pragma omp simd
              for (int64_t c = 0; c < d; c++) ar[c] *= corr;
            }
            m.p[r] = mt;
          }
          int32_t a, b;
          row_cols(tr, r, &a, &b);
          masked_exp_row(sr, m.p[r], a, b);
          float sum = 0.f;
#pragma omp simd reduction(+ : sum)
          for (int64_t j = 0; j < BK; j++) sum += sr[j];
          l.p[r] += sum;
        }
        tile_pv(s.p, nq, tr, kv + j0 * d, d, acc.p, kb == kb0);
      }
      for (int64_t r = 0; r < nq; r++) {
        float* orow = o + (bh * T + i0 + r) * d;
        const float* ar = acc.p + r * d;
        if (m.p[r] == -INFINITY) {  // no visible key: the uniform average over all keys
          for (int64_t c = 0; c < d; c++) orow[c] = 0.f;
          for (int64_t j = 0; j < S; j++)
            for (int64_t c = 0; c < d; c++) orow[c] += kv[j * d + c];
          for (int64_t c = 0; c < d; c++) orow[c] /= static_cast<float>(S);
          lse[bh * T + i0 + r] = INFINITY;
        } else {
          const float inv = 1.f / l.p[r];
          for (int64_t c = 0; c < d; c++) orow[c] = ar[c] * inv;
          lse[bh * T + i0 + r] = m.p[r] + logf(l.p[r]);
        }
      }
    }
  }
}

namespace {

// Everything the backward tiles read.
struct BackCtx {
  int64_t H, G, T, S, d, R, Sp;
  const AttnRule* rule;
  float scale, cap;
  const float *q, *k, *dO, *o, *lse;
  float* delta;  // filled per query tile by heads_grads
  const float *kt, *vt, *keyMask;
};

struct TileBufs {
  Buf s, th, dp;
  TileRange range;
  Prefetcher pf;
  TileBufs() : s(BQ * BK), th(BQ * BK), dp(BQ * BK) {}
};

// For query tile [i0, i0+nq) of head bh and key block kb: s <- p (probabilities), dp <- d(q.k)
// (the score gradient through softmax, softcap and scale).
void tile_grads(const BackCtx& c, int64_t bh, int64_t i0, int64_t nq, int64_t kb, TileBufs& t) {
  const int64_t b = bh / c.H, g = (bh % c.H) / c.R, bg = b * c.G + g, j0 = kb * BK, nk = std::min(BK, c.S - j0);
  tile_range(*c.rule, c.S, i0, nq, j0, nk, true, &t.range);
  tile_abt(c.q + (bh * c.T + i0) * c.d, nq, c.d, c.kt + (bg * c.Sp + j0) * c.d, BK, t.range, t.s.p);
  logits_tile(t.s.p, t.th.p, nq, j0, t.range, c.scale, c.cap, c.keyMask ? c.keyMask + b * c.S : nullptr);
  tile_abt(c.dO + (bh * c.T + i0) * c.d, nq, c.d, c.vt + (bg * c.Sp + j0) * c.d, BK, t.range, t.dp.p);  // dO_i . v_j
  for (int64_t rr = 0; rr < nq; rr++) {
    float* sr = t.s.p + rr * BK;
    float* dpr = t.dp.p + rr * BK;
    const float L = c.lse[bh * c.T + i0 + rr], dl = c.delta[bh * c.T + i0 + rr];
    int32_t a, b;
    row_cols(t.range, rr, &a, &b);
    // p = exp(logit - lse): 0 for invisible keys and for rows without any (lse = +inf).
    masked_exp_row(sr, L, a, b);
    if (c.cap > 0.f) {
      const float* tr = t.th.p + rr * BK;
#pragma omp simd
      for (int32_t j = a; j < b; j++) dpr[j] = sr[j] * (dpr[j] - dl) * (1.f - tr[j] * tr[j]) * c.scale;
    } else {
#pragma omp simd
      for (int32_t j = a; j < b; j++) dpr[j] = sr[j] * (dpr[j] - dl) * c.scale;
    }
    std::fill(dpr, dpr + a, 0.f);
    std::fill(dpr + b, dpr + BK, 0.f);
  }
}

// delta_i = dO_i . O_i for the rows of one query tile (the softmax backward's row term).
void tile_delta(const float* dO, const float* o, int64_t nq, int64_t d, float* delta) {
  for (int64_t r = 0; r < nq; r++) {
    float s = 0.f;
#pragma omp simd reduction(+ : s)  // lane-wise partial sums: a serial sum left the vector units idle
    for (int64_t c = 0; c < d; c++) s += dO[r * d + c] * o[r * d + c];
    delta[r] = s;
  }
}

// One query head's share of the gradients: its dQ (complete), and its contribution to its kv head's
// dK/dV, added to pk/pv [S, d] (written instead when init: the head is the first to contribute).
// Key blocks ascend, and within one, query tiles ascend, so the summation order is fixed. The first
// contribution to a dQ tile (or, when init, a dK/dV block) writes it rather than accumulating, which
// spares zeroing them first; delta of a query tile is computed at its first block too, while its dO
// rows are being read anyway.
void head_grads(const BackCtx& c, int64_t bh, bool init, TileBufs& t, float* dq, float* pk, float* pv) {
  const int64_t b = bh / c.H, g = (bh % c.H) / c.R, bg = b * c.G + g, d = c.d;
  const int64_t qTiles = (c.T + BQ - 1) / BQ, kBlocks = c.Sp / BK;
  for (int64_t qt = 0; qt < qTiles; qt++) {  // tiles no rule lets see any key
    const int64_t i0 = qt * BQ, nq = std::min(BQ, c.T - i0);
    int64_t kb0, kb1;
    block_span(*c.rule, c.S, i0, i0 + nq, &kb0, &kb1);
    if (kb0 >= kb1) std::memset(dq + (bh * c.T + i0) * d, 0, sizeof(float) * nq * d);
  }
  for (int64_t kb = 0; kb < kBlocks; kb++) {
    const int64_t j0 = kb * BK, nk = std::min(BK, c.S - j0);
    float* dka = pk + j0 * d;
    float* dva = pv + j0 * d;
    int64_t qa = qTiles, qb = 0;  // the query tiles that see block kb: [qa, qb) (a rule's are contiguous)
    for (int64_t qt = 0; qt < qTiles; qt++) {
      const int64_t i0 = qt * BQ;
      int64_t kb0, kb1;
      block_span(*c.rule, c.S, i0, std::min(c.T, i0 + BQ), &kb0, &kb1);
      if (kb >= kb0 && kb < kb1) {
        qa = std::min(qa, qt);
        qb = qt + 1;
      }
    }
    t.pf.clear();
    if (kb + 1 < kBlocks) {  // what key block kb + 1 touches first, fetched while this one computes
      const int64_t n1 = std::min(BK, c.S - j0 - BK) * d;
      t.pf.add(dka + BK * d, n1);
      t.pf.add(dva + BK * d, n1);
      for (int64_t qt = qb; qt < qTiles; qt++) {
        const int64_t i0 = qt * BQ, nq = std::min(BQ, c.T - i0);
        int64_t kb0, kb1;
        block_span(*c.rule, c.S, i0, i0 + nq, &kb0, &kb1);
        if (kb0 != kb + 1) break;
        t.pf.add(c.q + (bh * c.T + i0) * d, nq * d);
        t.pf.add(c.dO + (bh * c.T + i0) * d, nq * d);
        t.pf.add(c.o + (bh * c.T + i0) * d, nq * d);
      }
    }
    const int64_t pfStep = qb > qa ? (t.pf.lines() + 4 * (qb - qa) - 1) / (4 * (qb - qa)) : 0;
    bool first = init;
    for (int64_t qt = qa; qt < qb; qt++) {
      const int64_t i0 = qt * BQ, nq = std::min(BQ, c.T - i0);
      int64_t kb0, kb1;
      block_span(*c.rule, c.S, i0, i0 + nq, &kb0, &kb1);
      const int64_t row = bh * c.T + i0;
      if (kb == kb0) tile_delta(c.dO + row * d, c.o + row * d, nq, d, c.delta + row);
      tile_grads(c, bh, i0, nq, kb, t);
      t.pf.step(pfStep);
      tile_ptx(t.s.p, nk, t.range, c.dO + row * d, d, dva, first);  // dV_j += p_ij dO_i
      t.pf.step(pfStep);
      tile_ptx(t.dp.p, nk, t.range, c.q + row * d, d, dka, first);  // dK_j += ds_ij q_i
      t.pf.step(pfStep);
      tile_pv(t.dp.p, nq, t.range, c.k + (bg * c.S + j0) * d, d, dq + row * d, kb == kb0);  // dQ_i += ds_ij k_j
      t.pf.step(pfStep);
      first = false;
    }
    if (first) {  // init, and no query sees this block
      std::memset(dka, 0, sizeof(float) * nk * d);
      std::memset(dva, 0, sizeof(float) * nk * d);
    }
  }
}

}  // namespace

void attention_backward(const AttnDims& D, const AttnRule& rule, float scale, float cap, const float* q, const float* k,
                        const float* v, const float* keyMask, const float* o, const float* lse, const float* dO,
                        float* dq, float* dk, float* dv) {
  const int64_t B = D.B, H = D.H, G = D.G, T = D.T, S = D.S, d = D.d, R = H / G;
  if (B * H * T * S == 0) {
    std::memset(dq, 0, sizeof(float) * B * H * T * d);
    std::memset(dk, 0, sizeof(float) * B * G * S * d);
    std::memset(dv, 0, sizeof(float) * B * G * S * d);
    return;
  }
  const int64_t Sp = (S + BK - 1) / BK * BK;
  ScratchArray kt(scratch(kSlotKt), B * G * d * Sp), vt(scratch(kSlotVt), B * G * d * Sp);
  Buf delta(B * H * T);
  const BackCtx c{H, G, T, S, d, R, Sp, &rule, scale, cap, q, k, dO, o, lse, delta.p, kt.p, vt.p, keyMask};
  const double work = static_cast<double>(B) * H * T * std::min<int64_t>(S, rule.window > 0 ? 2 * rule.window : S) * d;
  const bool par = work >= 1e6;
  // One task per pair of query heads of a kv head (their dQ, and the pair's dK/dV contribution, one
  // head after the other): the first pair of each kv head writes dK/dV itself, the others their own
  // slices, summed afterwards in pair order. Pairs rather than single heads halve the slices' memory
  // traffic; single heads when pairs would leave one task (B = G = 1, R = 2), so two threads still
  // share the work. The split depends on the shapes only, so the result does not depend on the
  // thread count.
  const int64_t perTask = B * G * ((R + 1) / 2) >= 2 ? 2 : 1;  // query heads per task
  const int64_t perGroup = (R + perTask - 1) / perTask;        // tasks per kv head
  const int64_t nSlices = B * G * (perGroup - 1);
  ScratchArray pk(scratch(kSlotPk), nSlices * S * d), pv(scratch(kSlotPv), nSlices * S * d);
#pragma omp parallel if (par)
  {
    transpose_blocks(k, B * G, S, d, Sp, kt.p);
    transpose_blocks(v, B * G, S, d, Sp, vt.p);
    TileBufs t;
#pragma omp for schedule(dynamic, 1)
    for (int64_t task = 0; task < B * G * perGroup; task++) {
      const int64_t bg = task / perGroup, p = task % perGroup, b = bg / G, g = bg % G;
      const int64_t h0 = g * R + p * perTask, nh = std::min(perTask, R - p * perTask);
      float* hk = p == 0 ? dk + bg * S * d : pk.p + (bg * (perGroup - 1) + p - 1) * S * d;
      float* hv = p == 0 ? dv + bg * S * d : pv.p + (bg * (perGroup - 1) + p - 1) * S * d;
      for (int64_t h = h0; h < h0 + nh; h++) head_grads(c, b * H + h, h == h0, t, dq, hk, hv);
    }
    if (perGroup > 1) {  // in chunks, so one kv head (B = G = 1) still splits over the threads
      constexpr int64_t kChunk = 1 << 14;
      const int64_t chunks = (S * d + kChunk - 1) / kChunk;
#pragma omp for schedule(static)
      for (int64_t t = 0; t < B * G * chunks; t++) {
        const int64_t bg = t / chunks, x0 = (t % chunks) * kChunk, x1 = std::min(S * d, x0 + kChunk);
        float* ok = dk + bg * S * d;
        float* ov = dv + bg * S * d;
        const float* sk = pk.p + bg * (perGroup - 1) * S * d;
        const float* sv = pv.p + bg * (perGroup - 1) * S * d;
#pragma omp simd
        for (int64_t x = x0; x < x1; x++) {  // pair 0, then + pair 1, + pair 2, ...
          float ak = ok[x], av = ov[x];
          for (int64_t r = 0; r < perGroup - 1; r++) {
            ak += sk[r * S * d + x];
            av += sv[r * S * d + x];
          }
          ok[x] = ak;
          ov[x] = av;
        }
      }
    }
    // Rows that saw no key averaged every v: dV_j += (sum of their dO) / S.
#pragma omp for schedule(static)
    for (int64_t bg = 0; bg < B * G; bg++) {
      const int64_t b = bg / G, g = bg % G;
      std::vector<float> empty(static_cast<size_t>(d), 0.f);
      bool any = false;
      for (int64_t r = 0; r < R; r++) {
        const int64_t bh = b * H + g * R + r;
        for (int64_t i = 0; i < T; i++) {
          if (lse[bh * T + i] != INFINITY) continue;
          any = true;
          for (int64_t x = 0; x < d; x++) empty[x] += dO[(bh * T + i) * d + x];
        }
      }
      if (!any) continue;
      const float invS = 1.f / static_cast<float>(S);
      for (int64_t j = 0; j < S; j++)
        for (int64_t x = 0; x < d; x++) dv[(bg * S + j) * d + x] += empty[x] * invS;
    }
  }
}

void set_threads(int n) { omp_set_num_threads(n); }

}  // namespace gl
