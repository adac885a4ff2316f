// Kernels of the gemma-lab native addon (float32, row-major, no system BLAS).
#pragma once
#include <cstddef>
#include <cstdint>

namespace gl {

// C[b] = op(A + aOff[b]) * op(B + bOff[b]) for b in [0, batch), op = transpose when tA / tB.
// op(A) is M x K, op(B) is K x N, C[b] is M x N at C + b*M*N. Offsets are in floats.
void sgemm_batched(bool tA, bool tB, int64_t batch, int64_t M, int64_t N, int64_t K,
                   const float* A, const int64_t* aOff, const float* B, const int64_t* bOff, float* C);

// bf16 compute: the same product with A and B rounded to bfloat16 (nearest even; denormals -> 0)
// and float32 accumulation. Avx512 = vdpbf16ps; Exact = portable code giving the same bits;
// Auto = Avx512 when the CPU has AVX512-BF16 (else Exact). Returns the path that ran.
enum class Bf16Path { Auto, Avx512, Exact };
Bf16Path bgemm_batched(Bf16Path path, bool tA, bool tB, int64_t batch, int64_t M, int64_t N, int64_t K, const float* A,
                       const int64_t* aOff, const float* B, const int64_t* bOff, float* C);
// Run-time CPU detection (cpuid + OS zmm support): AVX512F/BW/VL and AVX512-BF16.
bool cpu_has_avx512bf16();

enum class Unary { Exp, Tanh, Neg, Square, Rsqrt, Log };
enum class Binary { Add, Mul, Sub, Div };
void unary(Unary op, const float* x, float* y, int64_t n);
void binary(Binary op, const float* a, const float* b, float* c, int64_t n);
// c[r, j] = a[r*aRow + j*aCol] (op) b[r*bRow + j*bCol] for r < rows, j < inner; strides are element
// counts, each column stride 0 or 1. Covers scalar, trailing-vector and [..., 1]-column broadcasts.
void binary_strided(Binary op, const float* a, int64_t aRow, int64_t aCol, const float* b, int64_t bRow, int64_t bCol,
                    float* c, int64_t rows, int64_t inner);

// y = x transposed by perm (y.shape[i] = x.shape[perm[i]]), any rank <= 8.
void transpose(const float* x, float* y, const int64_t* shape, const int64_t* perm, int rank);
// Softmax over the last axis of a [rows, n] array.
void softmax_rows(const float* x, float* y, int64_t rows, int64_t n);

// y[p, r] = sum_q x[p, q, r] for x viewed as [P, Q, R] (sums over one contiguous block of axes),
// accumulated in double.
void sum_middle(const float* x, float* y, int64_t P, int64_t Q, int64_t R);

int max_threads();
// Sets the OpenMP thread count of later kernels (tests compare 1 and 2 threads bit for bit).
void set_threads(int n);

// Fused attention. q: [B, H, T, d]; k, v: [B, G, S, d] (query head h reads kv head h / (H/G)).
struct AttnDims {
  int64_t B, H, G, T, S, d;
};
// Query i (position i + qOffset in key coordinates) sees key j when: keyMask[b, j] != 0 (if given),
// causal => j <= pos, window W > 0 => j > pos - W (causal) or |pos - j| < W (bidirectional).
struct AttnRule {
  bool causal;
  int64_t window;  // 0 = none
  int64_t qOffset;
};
// o: [B, H, T, d]; lse: [B, H, T] log-sum-exp of each row's logits (+inf for a row that sees no key).
// cap <= 0 means no softcap.
void attention_forward(const AttnDims& D, const AttnRule& rule, float scale, float cap, const float* q, const float* k,
                       const float* v, const float* keyMask, float* o, float* lse);
void attention_backward(const AttnDims& D, const AttnRule& rule, float scale, float cap, const float* q, const float* k,
                        const float* v, const float* keyMask, const float* o, const float* lse, const float* dO,
                        float* dq, float* dk, float* dv);

// RMSNorm over rows of length D: y = x * rstd * (1 + w), rstd = 1 / sqrt(mean(x^2) + eps) (saved for backward).
void rmsnorm_forward(const float* x, const float* w, float* y, float* rstd, int64_t N, int64_t D, float eps);
void rmsnorm_backward(const float* x, const float* w, const float* rstd, const float* dy, float* dx, float* dw, int64_t N,
                      int64_t D);
// h = gelu_tanh(gate) * up, and its gradients.
void geglu_forward(const float* gate, const float* up, float* h, int64_t n);
void geglu_backward(const float* gate, const float* up, const float* dh, float* dgate, float* dup, int64_t n);
// y = x * cos + sign * rotate_half(x) * sin over [rows, T, K] with cos/sin [T, K] (sign -1: the backward).
void rope_apply(const float* x, const float* cos, const float* sin, float* y, int64_t rows, int64_t T, int64_t K, float sign);
// In-place AdamW (PyTorch order): p = p*decay - stepSize * m / (sqrt(v)/sqrtBc2 + eps).
struct AdamWStep {
  float beta1, beta2, eps, decay, stepSize, sqrtBc2, oneMinusBeta1, oneMinusBeta2;  // 1 - beta rounded once from double
};
void adamw_update(float* p, const float* g, float* m, float* v, int64_t n, const AdamWStep& h);

}  // namespace gl
