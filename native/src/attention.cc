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
// task per query head, which owns its dQ and its own slice of dK/dV; the slices of a kv head are then
// summed in head order).
#define __FAST_MATH__ 1  // only so glibc declares the libmvec SIMD expf/tanhf (see elementwise.cc)
#include <math.h>
#undef __FAST_MATH__

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "kernels.h"

namespace gl {
namespace {

constexpr int64_t BQ = 32;  // query rows per tile
constexpr int64_t BK = 32;  // keys per tile (2 vectors of 16 floats): small, so a band wastes few keys
constexpr int NVK = BK / 16;

typedef float v16 __attribute__((vector_size(64)));
typedef float v16u __attribute__((vector_size(64), aligned(4)));

struct Buf {  // 64-byte aligned float scratch
  float* p = nullptr;
  explicit Buf(int64_t n) { p = static_cast<float*>(std::aligned_alloc(64, sizeof(float) * std::max<int64_t>(16, (n + 15) / 16 * 16))); }
  ~Buf() { std::free(p); }
  Buf(const Buf&) = delete;
  Buf& operator=(const Buf&) = delete;
};

// Large per-call scratch (transposed K/V, per-head dK/dV slices), kept between calls by the calling
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

// xt[bg][c, j] = x[bg][j, c] for j < S, zero for S <= j < Sp: x is nbg slices of [S, d], xt nbg slices of
// [d, Sp]. Parallel over slices and 16-column strips of x (one slice is common: B = G = 1), and blocked
// 16 x 16 so both sides move whole cache lines.
void transpose_pad(const float* x, int64_t nbg, int64_t S, int64_t d, int64_t Sp, float* xt, bool par) {
  const int64_t strips = (d + 15) / 16;
#pragma omp parallel for schedule(static) if (par)
  for (int64_t t = 0; t < nbg * strips; t++) {
    const int64_t bg = t / strips, c0 = (t % strips) * 16, c1 = std::min(d, c0 + 16);
    const float* xs = x + bg * S * d;
    float* xts = xt + bg * d * Sp;
    for (int64_t j0 = 0; j0 < S; j0 += 16) {
      const int64_t j1 = std::min(S, j0 + 16);
      for (int64_t c = c0; c < c1; c++)
        for (int64_t j = j0; j < j1; j++) xts[c * Sp + j] = xs[j * d + c];
    }
    for (int64_t c = c0; c < c1; c++)
      for (int64_t j = S; j < Sp; j++) xts[c * Sp + j] = 0.f;
  }
}

// Visible columns of each row of a tile and visible rows of each column, in tile coordinates:
// row r sees columns [lo[r], hi[r]) (empty when hi <= lo), column j is seen by rows [clo[j], chi[j]).
// Work outside them is skipped: a band's edge tiles (and the causal diagonal) are half masked, and a
// masked entry's probability is exactly 0, so skipping its terms leaves every sum unchanged.
struct TileRange {
  int32_t lo[BQ], hi[BQ], clo[BK], chi[BK];
};

void tile_range(const AttnRule& rule, int64_t S, int64_t i0, int64_t nq, int64_t j0, int64_t nk, TileRange* t) {
  for (int64_t j = 0; j < BK; j++) {
    t->clo[j] = static_cast<int32_t>(BQ);
    t->chi[j] = 0;
  }
  for (int64_t r = 0; r < BQ; r++) {
    int64_t lo = 0, hi = 0;
    if (r < nq) {
      key_range(rule, S, i0 + r, &lo, &hi);
      lo = std::clamp<int64_t>(lo - j0, 0, nk);
      hi = std::clamp<int64_t>(hi - j0, lo, nk);
    }
    t->lo[r] = static_cast<int32_t>(lo);
    t->hi[r] = static_cast<int32_t>(hi);
    for (int64_t j = lo; j < hi; j++) {
      t->clo[j] = std::min(t->clo[j], static_cast<int32_t>(r));
      t->chi[j] = static_cast<int32_t>(r + 1);
    }
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
  v16 acc[NRow][NVK];
  for (int r = 0; r < NRow; r++)
    for (int v = 0; v < NVK; v++) acc[r][v] = v16{};
  for (int64_t c = 0; c < d; c++) {
    const v16* b = reinterpret_cast<const v16*>(bt + c * ldb);
    v16 bv[NVK];
    for (int v = V0; v < V1; v++) bv[v] = b[v];
#pragma GCC unroll 4
    for (int r = 0; r < NRow; r++) {
      const float s = a[r * d + c];
      for (int v = V0; v < V1; v++) acc[r][v] += s * bv[v];
    }
  }
  for (int r = 0; r < NRow; r++) {
    v16* o = reinterpret_cast<v16*>(out + r * BK);
    for (int v = 0; v < NVK; v++) o[v] = acc[r][v];
  }
}

static_assert(NVK == 2, "abt_group dispatches on two vectors per key block");

// abt_rows over the vectors holding columns [lo, hi) (all zero when empty).
template <int NRow>
inline void abt_group(const float* a, int64_t d, const float* bt, int64_t ldb, float* out, int64_t lo, int64_t hi) {
  if (hi <= lo) {
    std::fill(out, out + NRow * BK, 0.f);
  } else if (lo >= 16) {
    abt_rows<NRow, 1, 2>(a, d, bt, ldb, out);
  } else if (hi <= 16) {
    abt_rows<NRow, 0, 1>(a, d, bt, ldb, out);
  } else {
    abt_rows<NRow, 0, 2>(a, d, bt, ldb, out);
  }
}

// out[r, :] = a[r, :] . bt[:, columns] for r < nq, computing only the vectors row groups can see.
void tile_abt(const float* __restrict a, int64_t nq, int64_t d, const float* __restrict bt, int64_t ldb, const TileRange& t,
              float* __restrict out) {
  int64_t r = 0, lo, hi;
  for (; r + 4 <= nq; r += 4) {
    group_range(t.lo, t.hi, r, 4, &lo, &hi);
    abt_group<4>(a + r * d, d, bt, ldb, out + r * BK, lo, hi);
  }
  for (; r < nq; r++) abt_group<1>(a + r * d, d, bt, ldb, out + r * BK, t.lo[r], t.hi[r]);
}

// acc[r*d + c] += sum_{ja <= j < jb} w[r*wr + j*wj] * x[j*d + c] over NRow rows r and columns [c0, c0 + 16*NV):
// each loaded vector of x feeds NRow FMAs.
template <int NRow, int NV>
inline void axpy_rows(const float* __restrict w, int64_t wr, int64_t wj, int64_t ja, int64_t jb, const float* __restrict x, int64_t d,
                      float* __restrict acc, int64_t c0) {
  v16 s[NRow][NV];
  for (int r = 0; r < NRow; r++)
    for (int v = 0; v < NV; v++) s[r][v] = *reinterpret_cast<const v16u*>(acc + r * d + c0 + 16 * v);
  for (int64_t j = ja; j < jb; j++) {
    v16 xv[NV];
    for (int v = 0; v < NV; v++) xv[v] = *reinterpret_cast<const v16u*>(x + j * d + c0 + 16 * v);
#pragma GCC unroll 4
    for (int r = 0; r < NRow; r++) {
      const float p = w[r * wr + j * wj];
      for (int v = 0; v < NV; v++) s[r][v] += p * xv[v];
    }
  }
  for (int r = 0; r < NRow; r++)
    for (int v = 0; v < NV; v++) *reinterpret_cast<v16u*>(acc + r * d + c0 + 16 * v) = s[r][v];
}

// acc[r, :] += sum_j w[r*wr + j*wj] * x[j, :] for r < nrows, j in [lo[r], hi[r]) (x and acc rows have
// length d). Rows go 4 at a time over the union of their ranges (terms outside a row's own are 0).
void rows_axpy(const float* __restrict w, int64_t wr, int64_t wj, int64_t nrows, const int32_t* lo, const int32_t* hi,
               const float* __restrict x, int64_t d, float* __restrict acc) {
  int64_t r = 0, ja, jb;
  for (; r + 4 <= nrows; r += 4) {
    group_range(lo, hi, r, 4, &ja, &jb);
    if (jb <= ja) continue;
    int64_t c = 0;
    for (; c + 64 <= d; c += 64) axpy_rows<4, 4>(w + r * wr, wr, wj, ja, jb, x, d, acc + r * d, c);
    for (; c + 16 <= d; c += 16) axpy_rows<4, 1>(w + r * wr, wr, wj, ja, jb, x, d, acc + r * d, c);
    for (; c < d; c++)
      for (int64_t rr = r; rr < r + 4; rr++) {
        float sum = acc[rr * d + c];
        for (int64_t j = ja; j < jb; j++) sum += w[rr * wr + j * wj] * x[j * d + c];
        acc[rr * d + c] = sum;
      }
  }
  for (; r < nrows; r++) {
    ja = lo[r];
    jb = hi[r];
    if (jb <= ja) continue;
    int64_t c = 0;
    for (; c + 64 <= d; c += 64) axpy_rows<1, 4>(w + r * wr, wr, wj, ja, jb, x, d, acc + r * d, c);
    for (; c + 16 <= d; c += 16) axpy_rows<1, 1>(w + r * wr, wr, wj, ja, jb, x, d, acc + r * d, c);
    for (; c < d; c++) {
      float sum = acc[r * d + c];
      for (int64_t j = ja; j < jb; j++) sum += w[r * wr + j * wj] * x[j * d + c];
      acc[r * d + c] = sum;
    }
  }
}

// acc[r, :] += sum_j p[r*BK + j] * x[j*d + :] for r < nq over the keys row r sees (acc rows have stride d).
inline void tile_pv(const float* __restrict p, int64_t nq, const TileRange& t, const float* __restrict x, int64_t d,
                    float* __restrict acc) {
  rows_axpy(p, BK, 1, nq, t.lo, t.hi, x, d, acc);
}

// acc[j, :] += sum_r p[r*BK + j] * x[r*d + :] for j < nk over the queries that see key j (the transposed product).
inline void tile_ptx(const float* __restrict p, int64_t nk, const TileRange& t, const float* __restrict x, int64_t d,
                     float* __restrict acc) {
  rows_axpy(p, 1, BK, nk, t.clo, t.chi, x, d, acc);
}

// sr[j] <- exp(sr[j] - m), exactly 0 for a masked logit (-inf), without handing expf an infinite
// argument: libmvec's vector expf sends each lane outside its fast range to a scalar call, which made
// the masked half of a band's edge tiles cost more than the visible half. Two loops, so the expf call
// is unconditional and vectorises (glibc declares only unmasked SIMD variants; a select feeding the
// call in one loop is not if-converted).
inline void masked_exp_row(float* __restrict sr, float m) {
  alignas(64) float keep[BK];
#pragma omp simd
  for (int64_t j = 0; j < BK; j++) {
    const bool masked = sr[j] == -INFINITY;
    keep[j] = masked ? 0.f : 1.f;
    sr[j] = masked ? 0.f : sr[j] - m;
  }
#pragma omp simd
  for (int64_t j = 0; j < BK; j++) sr[j] = expf(sr[j]) * keep[j];
}

// Raw scores of a tile -> logits in place (scale, softcap; tanh kept in `th` for the backward), and
// invisible keys -> -inf. Row r is query i0 + r, column j is key j0 + j.
void logits_tile(float* __restrict s, float* __restrict th, int64_t nq, int64_t i0, int64_t j0, int64_t nk, int64_t S,
                 const AttnRule& rule, float scale, float cap, const float* keyMask) {
  for (int64_t r = 0; r < nq; r++) {
    float* sr = s + r * BK;
    if (cap > 0.f) {
      float* tr = th + r * BK;
      const float k = scale / cap;
#pragma omp simd
      for (int64_t j = 0; j < BK; j++) {
        tr[j] = tanhf(sr[j] * k);
        sr[j] = cap * tr[j];
      }
    } else {
#pragma omp simd
      for (int64_t j = 0; j < BK; j++) sr[j] *= scale;
    }
    int64_t lo, hi;
    key_range(rule, S, i0 + r, &lo, &hi);
    for (int64_t j = 0; j < BK; j++) {
      const int64_t key = j0 + j;
      if (j >= nk || key < lo || key >= hi || (keyMask && keyMask[key] == 0.f)) sr[j] = -INFINITY;
    }
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
  ScratchArray kt(scratch(kSlotKt), B * G * d * Sp);  // K transposed per (b, g): [d, Sp] (Sp: S rounded up to BK)
  transpose_pad(k, B * G, S, d, Sp, kt.p, B * G * S * d >= (1 << 15));

  const int64_t qTiles = (T + BQ - 1) / BQ, tasks = B * H * qTiles;
  const double work = static_cast<double>(B) * H * T * std::min<int64_t>(S, rule.window > 0 ? 2 * rule.window : S) * d;
#pragma omp parallel if (work >= 1e6)
  {
    Buf s(BQ * BK), th(BQ * BK), acc(BQ * d), m(BQ), l(BQ);
    TileRange tr;
#pragma omp for schedule(dynamic, 1)
    for (int64_t t = 0; t < tasks; t++) {
      const int64_t bh = t / qTiles, i0 = (t % qTiles) * BQ, nq = std::min(BQ, T - i0);
      const int64_t b = bh / H, h = bh % H, g = h / R;
      const float* qt = q + (bh * T + i0) * d;
      const float* kv = v + (b * G + g) * S * d;
      const float* ktb = kt.p + (b * G + g) * d * Sp;
      const float* km = keyMask ? keyMask + b * S : nullptr;
      std::fill(acc.p, acc.p + nq * d, 0.f);
      std::fill(m.p, m.p + nq, -INFINITY);
      std::fill(l.p, l.p + nq, 0.f);
      int64_t kb0, kb1;
      block_span(rule, S, i0, i0 + nq, &kb0, &kb1);
      for (int64_t kb = kb0; kb < kb1; kb++) {
        const int64_t j0 = kb * BK, nk = std::min(BK, S - j0);
        tile_range(rule, S, i0, nq, j0, nk, &tr);
        tile_abt(qt, nq, d, ktb + j0, Sp, tr, s.p);
        logits_tile(s.p, th.p, nq, i0, j0, nk, S, rule, scale, cap, km);
        for (int64_t r = 0; r < nq; r++) {
          float* sr = s.p + r * BK;
          float mx = m.p[r];
          for (int64_t j = 0; j < BK; j++) mx = sr[j] > mx ? sr[j] : mx;
          if (mx == -INFINITY) {  // nothing visible yet in this row
#pragma omp simd
            for (int64_t j = 0; j < BK; j++) sr[j] = 0.f;
            continue;
          }
          const float corr = expf(m.p[r] - mx);  // 0 when m was -inf
          masked_exp_row(sr, mx);
          float sum = 0.f;
#pragma omp simd reduction(+ : sum)
          for (int64_t j = 0; j < BK; j++) sum += sr[j];
          l.p[r] = l.p[r] * corr + sum;
          m.p[r] = mx;
          if (corr != 1.f) {
            float* ar = acc.p + r * d;
#pragma omp simd
            for (int64_t c = 0; c < d; c++) ar[c] *= corr;
          }
        }
        tile_pv(s.p, nq, tr, kv + j0 * d, d, acc.p);
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
  const float *q, *k, *dO, *lse, *delta, *kt, *vt, *keyMask;
};

struct TileBufs {
  Buf s, th, dp;
  TileRange range;
  TileBufs() : s(BQ * BK), th(BQ * BK), dp(BQ * BK) {}
};

// For query tile [i0, i0+nq) of head bh and key block kb: s <- p (probabilities), dp <- d(q.k)
// (the score gradient through softmax, softcap and scale).
void tile_grads(const BackCtx& c, int64_t bh, int64_t i0, int64_t nq, int64_t kb, TileBufs& t) {
  const int64_t b = bh / c.H, g = (bh % c.H) / c.R, bg = b * c.G + g, j0 = kb * BK, nk = std::min(BK, c.S - j0);
  tile_range(*c.rule, c.S, i0, nq, j0, nk, &t.range);
  tile_abt(c.q + (bh * c.T + i0) * c.d, nq, c.d, c.kt + bg * c.d * c.Sp + j0, c.Sp, t.range, t.s.p);
  logits_tile(t.s.p, t.th.p, nq, i0, j0, nk, c.S, *c.rule, c.scale, c.cap, c.keyMask ? c.keyMask + b * c.S : nullptr);
  tile_abt(c.dO + (bh * c.T + i0) * c.d, nq, c.d, c.vt + bg * c.d * c.Sp + j0, c.Sp, t.range, t.dp.p);  // dO_i . v_j
  for (int64_t rr = 0; rr < nq; rr++) {
    float* sr = t.s.p + rr * BK;
    float* dpr = t.dp.p + rr * BK;
    const float L = c.lse[bh * c.T + i0 + rr], dl = c.delta[bh * c.T + i0 + rr];
    // p = exp(logit - lse): 0 for invisible keys and for rows without any (lse = +inf).
    masked_exp_row(sr, L);
    if (c.cap > 0.f) {
      const float* tr = t.th.p + rr * BK;
#pragma omp simd
      for (int64_t j = 0; j < BK; j++) dpr[j] = sr[j] * (dpr[j] - dl) * (1.f - tr[j] * tr[j]) * c.scale;
    } else {
#pragma omp simd
      for (int64_t j = 0; j < BK; j++) dpr[j] = sr[j] * (dpr[j] - dl) * c.scale;
    }
  }
}

// One query head's share of the gradients: dQ of head bh (complete), and its contribution to dK/dV
// of its kv head, written to this head's own slices pk/pv [S, d]. Key blocks ascend, and within one,
// query tiles ascend, so the summation order is fixed. The task zeroes what it owns (its dQ rows, each
// key block of its slices just before accumulating into it): in parallel and while the block is hot.
void head_grads(const BackCtx& c, int64_t bh, TileBufs& t, float* dq, float* pk, float* pv) {
  const int64_t b = bh / c.H, g = (bh % c.H) / c.R, bg = b * c.G + g, d = c.d;
  const int64_t qTiles = (c.T + BQ - 1) / BQ, kBlocks = c.Sp / BK;
  std::memset(dq + bh * c.T * d, 0, sizeof(float) * c.T * d);
  for (int64_t kb = 0; kb < kBlocks; kb++) {
    const int64_t j0 = kb * BK, nk = std::min(BK, c.S - j0);
    float* dka = pk + j0 * d;
    float* dva = pv + j0 * d;
    std::memset(dka, 0, sizeof(float) * nk * d);
    std::memset(dva, 0, sizeof(float) * nk * d);
    for (int64_t qt = 0; qt < qTiles; qt++) {
      const int64_t i0 = qt * BQ, nq = std::min(BQ, c.T - i0);
      int64_t kb0, kb1;
      block_span(*c.rule, c.S, i0, i0 + nq, &kb0, &kb1);
      if (kb < kb0 || kb >= kb1) continue;
      tile_grads(c, bh, i0, nq, kb, t);
      tile_ptx(t.s.p, nk, t.range, c.dO + (bh * c.T + i0) * d, d, dva);                       // dV_j += p_ij dO_i
      tile_ptx(t.dp.p, nk, t.range, c.q + (bh * c.T + i0) * d, d, dka);                       // dK_j += ds_ij q_i
      tile_pv(t.dp.p, nq, t.range, c.k + (bg * c.S + j0) * d, d, dq + (bh * c.T + i0) * d);  // dQ_i += ds_ij k_j
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
  const bool parT = B * G * S * d >= (1 << 15);
  transpose_pad(k, B * G, S, d, Sp, kt.p, parT);
  transpose_pad(v, B * G, S, d, Sp, vt.p, parT);
#pragma omp parallel for schedule(static) if (B * H * T * d >= (1 << 15))
  for (int64_t row = 0; row < B * H * T; row++) {  // delta_i = dO_i . O_i
    float s = 0.f;
    for (int64_t c = 0; c < d; c++) s += dO[row * d + c] * o[row * d + c];
    delta.p[row] = s;
  }
  const BackCtx c{H, G, T, S, d, R, Sp, &rule, scale, cap, q, k, dO, lse, delta.p, kt.p, vt.p, keyMask};
  const double work = static_cast<double>(B) * H * T * std::min<int64_t>(S, rule.window > 0 ? 2 * rule.window : S) * d;
  const bool par = work >= 1e6;
  // One task per query head (its dQ, and its own dK/dV slice), then dK/dV of each kv head = the sum
  // of its R query heads' slices in head order: no tile is computed twice, and the result does not
  // depend on the thread count.
  const bool grouped = R > 1;
  // zeroed by their tasks
  ScratchArray pk(scratch(kSlotPk), grouped ? B * H * S * d : 0), pv(scratch(kSlotPv), grouped ? B * H * S * d : 0);
#pragma omp parallel if (par)
  {
    TileBufs t;
#pragma omp for schedule(dynamic, 1)
    for (int64_t bh = 0; bh < B * H; bh++) {
      float* hk = grouped ? pk.p + bh * S * d : dk + bh * S * d;  // R == 1: bh is the kv head index
      float* hv = grouped ? pv.p + bh * S * d : dv + bh * S * d;
      head_grads(c, bh, t, dq, hk, hv);
    }
    if (grouped) {  // in chunks, so one kv head (B = G = 1) still splits over the threads
      constexpr int64_t kChunk = 1 << 14;
      const int64_t chunks = (S * d + kChunk - 1) / kChunk;
#pragma omp for schedule(static)
      for (int64_t t = 0; t < B * G * chunks; t++) {
        const int64_t bg = t / chunks, b = bg / G, g = bg % G, x0 = (t % chunks) * kChunk, x1 = std::min(S * d, x0 + kChunk);
        float* ok = dk + bg * S * d;
        float* ov = dv + bg * S * d;
        const float* sk = pk.p + (b * H + g * R) * S * d;
        const float* sv = pv.p + (b * H + g * R) * S * d;
        std::memcpy(ok + x0, sk + x0, sizeof(float) * (x1 - x0));
        std::memcpy(ov + x0, sv + x0, sizeof(float) * (x1 - x0));
        for (int64_t r = 1; r < R; r++) {
#pragma omp simd
          for (int64_t x = x0; x < x1; x++) {
            ok[x] += sk[r * S * d + x];
            ov[x] += sv[r * S * d + x];
          }
        }
      }
    }
  }
  // Rows that saw no key averaged every v: dV_j += (sum of their dO) / S.
#pragma omp parallel for schedule(static) if (par)
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

void set_threads(int n) { omp_set_num_threads(n); }

}  // namespace gl
