// How the packed GEMMs (sgemm.cc, bgemm.cc) cut C into tasks, one per OpenMP thread at most.
#pragma once
#include <cstdint>

namespace gl {

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Chunk sizes [mw rows, nw columns] of C: split one side until every thread has a task. Each task
// packs its own panels: its share of the split operand and all of the other, so split the larger
// one (rows when M >= N, as for activations x weights in training; columns for few tokens x a
// wide weight, which also halves each core's read of the weight from memory: 4% of a
// gemma-3-270m B4 T128 forward). Splitting no further than the thread count (rather than 4x it)
// halved the packing on model shapes. No split changes any sum (k blocks are the same in every
// task), so results do not depend on the thread count.
struct GemmSplit {
  int64_t mw, nw;
};
inline GemmSplit gemm_split(int64_t batch, int64_t M, int64_t N, int threads, int64_t MR, int64_t NR, int64_t MC,
                            int64_t NC) {
  int64_t nw = N < NC ? ceil_div(N, NR) * NR : NC, mw = ceil_div(M, MR) * MR;
  auto tasks = [&] { return batch * ceil_div(M, mw) * ceil_div(N, nw); };
  auto split_rows = [&] {
    while (threads > 1 && tasks() < threads && mw > 2 * MC) mw = ceil_div(mw / 2, MR) * MR;
  };
  auto split_cols = [&] {
    while (threads > 1 && tasks() < threads && nw > 256) nw = ceil_div(nw / 2, NR) * NR;
  };
  if (N > M) {
    split_cols();
    split_rows();
  } else {
    split_rows();
    split_cols();
  }
  return {mw, nw};
}

}  // namespace gl
