// N-API surface of the native kernels. Arrays are Float32Array views (JS heap or the wasm heap);
// napi_get_typedarray_info returns the data pointer with the view's byte offset applied, so the
// kernels work in place on either. Every extent is bounds-checked here: a bad offset must throw,
// never scribble over the wasm heap.
#include <node_api.h>

#include <cmath>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <string>
#include <vector>

#include "kernels.h"

namespace {

struct Failure {
  std::string msg;
};

napi_value undefined(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

std::vector<napi_value> args(napi_env env, napi_callback_info info, size_t want) {
  size_t argc = want;
  std::vector<napi_value> argv(want);
  napi_get_cb_info(env, info, &argc, argv.data(), nullptr, nullptr);
  if (argc < want) throw Failure{"expected " + std::to_string(want) + " arguments"};
  return argv;
}

double number(napi_env env, napi_value v, const char* what) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok || !std::isfinite(d)) throw Failure{std::string(what) + " must be a number"};
  return d;
}

int64_t count(napi_env env, napi_value v, const char* what) {
  const double d = number(env, v, what);
  if (d < 0 || d != std::floor(d) || d > 9007199254740991.0) throw Failure{std::string(what) + " must be a non-negative integer"};
  return static_cast<int64_t>(d);
}

bool boolean(napi_env env, napi_value v) {
  bool b = false;
  napi_get_value_bool(env, v, &b);
  return b;
}

template <typename T>
T* typed(napi_env env, napi_value v, napi_typedarray_type want, int64_t* length, const char* what) {
  bool is = false;
  napi_is_typedarray(env, v, &is);
  napi_typedarray_type type;
  size_t len;
  void* data;
  if (!is || napi_get_typedarray_info(env, v, &type, &len, &data, nullptr, nullptr) != napi_ok || type != want)
    throw Failure{std::string(what) + (want == napi_float32_array ? " must be a Float32Array" : " must be a Float64Array")};
  *length = static_cast<int64_t>(len);
  return static_cast<T*>(data);
}

// An op code argument: an index into enum E, whose last member is `last`.
template <typename E>
E op_code(napi_env env, napi_value v, E last, const char* unknown) {
  const int64_t op = count(env, v, "op");
  if (op > static_cast<int64_t>(last)) throw Failure{unknown};
  return static_cast<E>(op);
}

template <typename F>
napi_value guarded(napi_env env, F&& body) {
  try {
    return body();
  } catch (const Failure& f) {
    napi_throw_range_error(env, "GEMMA_LAB_NATIVE", f.msg.c_str());
    return nullptr;
  }
}

// The operands of sgemm / bgemm: (transposeA, transposeB, M, N, K, A, aOffsets, B, bOffsets, C).
struct GemmArgs {
  bool tA, tB;
  int64_t batch, M, N, K;
  const float *A, *B;
  float* C;
  std::vector<int64_t> aOff, bOff;
};

GemmArgs gemm_args(napi_env env, const std::vector<napi_value>& a) {
  GemmArgs g;
  g.tA = boolean(env, a[0]);
  g.tB = boolean(env, a[1]);
  g.M = count(env, a[2], "M");
  g.N = count(env, a[3], "N");
  g.K = count(env, a[4], "K");
  const int64_t M = g.M, N = g.N, K = g.K;
  int64_t lenA, lenAo, lenB, lenBo, lenC;
  g.A = typed<float>(env, a[5], napi_float32_array, &lenA, "A");
  const double* aOffD = typed<double>(env, a[6], napi_float64_array, &lenAo, "aOffsets");
  g.B = typed<float>(env, a[7], napi_float32_array, &lenB, "B");
  const double* bOffD = typed<double>(env, a[8], napi_float64_array, &lenBo, "bOffsets");
  g.C = typed<float>(env, a[9], napi_float32_array, &lenC, "C");
  if (lenAo != lenBo) throw Failure{"aOffsets and bOffsets differ in length"};
  g.batch = lenAo;
  if (lenC < g.batch * M * N) throw Failure{"C is too small for batch*M*N"};
  g.aOff.resize(g.batch);
  g.bOff.resize(g.batch);
  for (int64_t b = 0; b < g.batch; b++) {
    const double ao = aOffD[b], bo = bOffD[b];
    if (!(ao >= 0 && ao == std::floor(ao) && ao + static_cast<double>(M * K) <= lenA))
      throw Failure{"A offset " + std::to_string(b) + " out of bounds"};
    if (!(bo >= 0 && bo == std::floor(bo) && bo + static_cast<double>(K * N) <= lenB))
      throw Failure{"B offset " + std::to_string(b) + " out of bounds"};
    g.aOff[b] = static_cast<int64_t>(ao);
    g.bOff[b] = static_cast<int64_t>(bo);
  }
  return g;
}

// sgemm(transposeA, transposeB, M, N, K, A, aOffsets, B, bOffsets, C)
// batch = aOffsets.length; C[b] (M x N, contiguous) = op(A at aOffsets[b]) * op(B at bOffsets[b]).
napi_value Sgemm(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    const GemmArgs g = gemm_args(env, args(env, info, 10));
    gl::sgemm_batched(g.tA, g.tB, g.batch, g.M, g.N, g.K, g.A, g.aOff.data(), g.B, g.bOff.data(), g.C);
    return undefined(env);
  });
}

// bgemm(transposeA, transposeB, M, N, K, A, aOffsets, B, bOffsets, C, path) -> path that ran
// As sgemm with bf16-rounded operands and float32 accumulation; path: 0 auto, 1 avx512 (falls back
// to exact without the CPU feature), 2 exact (portable, same bits).
napi_value Bgemm(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    auto a = args(env, info, 11);
    const GemmArgs g = gemm_args(env, a);
    const gl::Bf16Path path = op_code(env, a[10], gl::Bf16Path::Exact, "unknown bf16 path");
    const gl::Bf16Path ran =
        gl::bgemm_batched(path, g.tA, g.tB, g.batch, g.M, g.N, g.K, g.A, g.aOff.data(), g.B, g.bOff.data(), g.C);
    napi_value v;
    napi_create_int32(env, static_cast<int32_t>(ran), &v);
    return v;
  });
}

// cpuFeatures() -> { avx512bf16 }
napi_value CpuFeatures(napi_env env, napi_callback_info) {
  napi_value obj, flag;
  napi_create_object(env, &obj);
  napi_get_boolean(env, gl::cpu_has_avx512bf16(), &flag);
  napi_set_named_property(env, obj, "avx512bf16", flag);
  return obj;
}

// unary(op, x, y): y = f(x); op indexes gl::Unary.
napi_value UnaryOp(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    auto a = args(env, info, 3);
    const gl::Unary op = op_code(env, a[0], gl::Unary::Log, "unknown unary op");
    int64_t nx, ny;
    const float* x = typed<float>(env, a[1], napi_float32_array, &nx, "x");
    float* y = typed<float>(env, a[2], napi_float32_array, &ny, "y");
    if (nx != ny) throw Failure{"x and y differ in length"};
    gl::unary(op, x, y, nx);
    return undefined(env);
  });
}

// binary(op, a, b, c): c = a (op) b, all the same length; op indexes gl::Binary.
napi_value BinaryOp(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    auto a = args(env, info, 4);
    const gl::Binary op = op_code(env, a[0], gl::Binary::Div, "unknown binary op");
    int64_t na, nb, nc;
    const float* x = typed<float>(env, a[1], napi_float32_array, &na, "a");
    const float* y = typed<float>(env, a[2], napi_float32_array, &nb, "b");
    float* z = typed<float>(env, a[3], napi_float32_array, &nc, "c");
    if (na != nb || na != nc) throw Failure{"a, b and c differ in length"};
    gl::binary(op, x, y, z, na);
    return undefined(env);
  });
}

// binaryStrided(op, a, aRow, aCol, b, bRow, bCol, c, rows, inner): see gl::binary_strided.
napi_value BinaryStrided(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    auto a = args(env, info, 10);
    const gl::Binary op = op_code(env, a[0], gl::Binary::Div, "unknown binary op");
    int64_t na, nb, nc;
    const float* x = typed<float>(env, a[1], napi_float32_array, &na, "a");
    const int64_t aRow = count(env, a[2], "aRow"), aCol = count(env, a[3], "aCol");
    const float* y = typed<float>(env, a[4], napi_float32_array, &nb, "b");
    const int64_t bRow = count(env, a[5], "bRow"), bCol = count(env, a[6], "bCol");
    float* z = typed<float>(env, a[7], napi_float32_array, &nc, "c");
    const int64_t rows = count(env, a[8], "rows"), inner = count(env, a[9], "inner");
    if (aCol > 1 || bCol > 1) throw Failure{"column strides must be 0 or 1"};
    if (nc < rows * inner) throw Failure{"c is too small for rows*inner"};
    if (rows > 0 && inner > 0) {
      if ((rows - 1) * aRow + (inner - 1) * aCol >= na) throw Failure{"a is too small for its strides"};
      if ((rows - 1) * bRow + (inner - 1) * bCol >= nb) throw Failure{"b is too small for its strides"};
      gl::binary_strided(op, x, aRow, aCol, y, bRow, bCol, z, rows, inner);
    }
    return undefined(env);
  });
}

// transpose(x, y, shape: Float64Array, perm: Float64Array): y = x permuted (rank 1..8).
napi_value Transpose(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    auto a = args(env, info, 4);
    int64_t nx, ny, ns, np;
    const float* x = typed<float>(env, a[0], napi_float32_array, &nx, "x");
    float* y = typed<float>(env, a[1], napi_float32_array, &ny, "y");
    const double* shapeD = typed<double>(env, a[2], napi_float64_array, &ns, "shape");
    const double* permD = typed<double>(env, a[3], napi_float64_array, &np, "perm");
    if (ns != np || ns < 1 || ns > 8) throw Failure{"shape and perm must have the same rank in 1..8"};
    int64_t shape[8], perm[8];
    bool seen[8] = {false};
    int64_t total = 1;
    for (int64_t d = 0; d < ns; d++) {
      if (!(shapeD[d] >= 0 && shapeD[d] == std::floor(shapeD[d]))) throw Failure{"bad shape"};
      const double p = permD[d];
      if (!(p >= 0 && p < ns && p == std::floor(p)) || seen[static_cast<int>(p)]) throw Failure{"perm is not a permutation"};
      seen[static_cast<int>(p)] = true;
      shape[d] = static_cast<int64_t>(shapeD[d]);
      perm[d] = static_cast<int64_t>(p);
      total *= shape[d];
    }
    if (nx != total || ny != total) throw Failure{"x and y must have shape's size"};
    gl::transpose(x, y, shape, perm, static_cast<int>(ns));
    return undefined(env);
  });
}

// softmaxRows(x, y, n): softmax over consecutive rows of length n.
napi_value SoftmaxRows(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    auto a = args(env, info, 3);
    int64_t nx, ny;
    const float* x = typed<float>(env, a[0], napi_float32_array, &nx, "x");
    float* y = typed<float>(env, a[1], napi_float32_array, &ny, "y");
    const int64_t n = count(env, a[2], "n");
    if (nx != ny) throw Failure{"x and y differ in length"};
    if (n == 0 ? nx != 0 : nx % n != 0) throw Failure{"length is not a multiple of n"};
    if (n > 0) gl::softmax_rows(x, y, nx / n, n);
    return undefined(env);
  });
}

// sumMiddle(x, y, P, Q, R): y[p, r] = sum_q x[p, q, r].
napi_value SumMiddle(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    auto a = args(env, info, 5);
    int64_t nx, ny;
    const float* x = typed<float>(env, a[0], napi_float32_array, &nx, "x");
    float* y = typed<float>(env, a[1], napi_float32_array, &ny, "y");
    const int64_t P = count(env, a[2], "P"), Q = count(env, a[3], "Q"), R = count(env, a[4], "R");
    if (nx != P * Q * R || ny != P * R) throw Failure{"x must have P*Q*R and y P*R elements"};
    gl::sum_middle(x, y, P, Q, R);
    return undefined(env);
  });
}

// Attention dims and rule from a Float64Array [B, H, G, T, S, d, causal, window, qOffset].
struct AttnSpec {
  gl::AttnDims dims;
  gl::AttnRule rule;
};

AttnSpec attn_spec(napi_env env, napi_value v) {
  int64_t n;
  const double* p = typed<double>(env, v, napi_float64_array, &n, "dims");
  if (n != 9) throw Failure{"dims must be [B, H, G, T, S, d, causal, window, qOffset]"};
  int64_t x[9];
  for (int i = 0; i < 9; i++) {
    if (!(p[i] == std::floor(p[i]) && std::fabs(p[i]) < 9007199254740991.0)) throw Failure{"dims must be integers"};
    x[i] = static_cast<int64_t>(p[i]);
  }
  for (int i = 0; i < 6; i++)
    if (x[i] < 0) throw Failure{"negative attention extent"};
  if (x[7] < 0) throw Failure{"negative window"};
  if (x[2] == 0 ? x[1] != 0 : x[1] % x[2] != 0) throw Failure{"H must be a multiple of G"};
  return {{x[0], x[1], x[2], x[3], x[4], x[5]}, {x[6] != 0, x[7], x[8]}};
}

const float* f32(napi_env env, napi_value v, int64_t want, const char* what) {
  int64_t n;
  const float* p = typed<float>(env, v, napi_float32_array, &n, what);
  if (n != want) throw Failure{std::string(what) + " has " + std::to_string(n) + " elements, expected " + std::to_string(want)};
  return p;
}

float* f32w(napi_env env, napi_value v, int64_t want, const char* what) { return const_cast<float*>(f32(env, v, want, what)); }

// keyMask: a Float32Array of B*S 0/1 values, or an empty one for "every key".
const float* key_mask(napi_env env, napi_value v, const gl::AttnDims& D) {
  int64_t n;
  const float* p = typed<float>(env, v, napi_float32_array, &n, "keyMask");
  if (n == 0) return nullptr;
  if (n != D.B * D.S) throw Failure{"keyMask must have B*S elements (or none)"};
  return p;
}

// The inputs both attention directions share: dims at a[dimsAt]; q, k, v, keyMask at a[0..3].
struct AttnInputs {
  AttnSpec sp;
  int64_t nq, nkv, nlse;  // elements of q (and o, dO, dq), of k (v, dk, dv), of lse
  const float *q, *k, *v, *km;
};

AttnInputs attn_inputs(napi_env env, const std::vector<napi_value>& a, size_t dimsAt) {
  const AttnSpec sp = attn_spec(env, a[dimsAt]);
  const gl::AttnDims& D = sp.dims;
  const int64_t nq = D.B * D.H * D.T * D.d, nkv = D.B * D.G * D.S * D.d;
  const float* q = f32(env, a[0], nq, "q");
  const float* k = f32(env, a[1], nkv, "k");
  const float* v = f32(env, a[2], nkv, "v");
  return {sp, nq, nkv, D.B * D.H * D.T, q, k, v, key_mask(env, a[3], D)};
}

// attention(q, k, v, keyMask, o, lse, dims, scale, cap)
napi_value Attention(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    auto a = args(env, info, 9);
    const AttnInputs in = attn_inputs(env, a, 6);
    float* o = f32w(env, a[4], in.nq, "o");
    float* lse = f32w(env, a[5], in.nlse, "lse");
    gl::attention_forward(in.sp.dims, in.sp.rule, static_cast<float>(number(env, a[7], "scale")),
                          static_cast<float>(number(env, a[8], "cap")), in.q, in.k, in.v, in.km, o, lse);
    return undefined(env);
  });
}

// attentionBackward(q, k, v, keyMask, o, lse, dO, dq, dk, dv, dims, scale, cap)
napi_value AttentionBackward(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    auto a = args(env, info, 13);
    const AttnInputs in = attn_inputs(env, a, 10);
    const float* o = f32(env, a[4], in.nq, "o");
    const float* lse = f32(env, a[5], in.nlse, "lse");
    const float* dO = f32(env, a[6], in.nq, "dO");
    float* dq = f32w(env, a[7], in.nq, "dq");
    float* dk = f32w(env, a[8], in.nkv, "dk");
    float* dv = f32w(env, a[9], in.nkv, "dv");
    gl::attention_backward(in.sp.dims, in.sp.rule, static_cast<float>(number(env, a[11], "scale")),
                           static_cast<float>(number(env, a[12], "cap")), in.q, in.k, in.v, in.km, o, lse, dO, dq, dk, dv);
    return undefined(env);
  });
}

int64_t f32len(napi_env env, napi_value v, const char* what) {
  int64_t n;
  typed<float>(env, v, napi_float32_array, &n, what);
  return n;
}

// Rows of length D in n elements (RMSNorm's x is [N, D]).
int64_t rows_of(int64_t n, int64_t D) {
  if (D == 0 || n % D != 0) throw Failure{"x length is not a multiple of D"};
  return n / D;
}

// rmsNorm(x, w, y, rstd, D, eps)
napi_value RmsNorm(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    auto a = args(env, info, 6);
    const int64_t D = count(env, a[4], "D");
    const int64_t n = f32len(env, a[0], "x"), N = rows_of(n, D);
    gl::rmsnorm_forward(f32(env, a[0], n, "x"), f32(env, a[1], D, "w"), f32w(env, a[2], n, "y"), f32w(env, a[3], N, "rstd"), N, D,
                        static_cast<float>(number(env, a[5], "eps")));
    return undefined(env);
  });
}

// rmsNormBackward(x, w, rstd, dy, dx, dw, D)
napi_value RmsNormBackward(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    auto a = args(env, info, 7);
    const int64_t D = count(env, a[6], "D");
    const int64_t n = f32len(env, a[0], "x"), N = rows_of(n, D);
    gl::rmsnorm_backward(f32(env, a[0], n, "x"), f32(env, a[1], D, "w"), f32(env, a[2], N, "rstd"), f32(env, a[3], n, "dy"),
                         f32w(env, a[4], n, "dx"), f32w(env, a[5], D, "dw"), N, D);
    return undefined(env);
  });
}

// geglu(gate, up, h)
napi_value Geglu(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    auto a = args(env, info, 3);
    const int64_t n = f32len(env, a[0], "gate");
    gl::geglu_forward(f32(env, a[0], n, "gate"), f32(env, a[1], n, "up"), f32w(env, a[2], n, "h"), n);
    return undefined(env);
  });
}

// gegluBackward(gate, up, dh, dgate, dup)
napi_value GegluBackward(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    auto a = args(env, info, 5);
    const int64_t n = f32len(env, a[0], "gate");
    gl::geglu_backward(f32(env, a[0], n, "gate"), f32(env, a[1], n, "up"), f32(env, a[2], n, "dh"), f32w(env, a[3], n, "dgate"),
                       f32w(env, a[4], n, "dup"), n);
    return undefined(env);
  });
}

// rope(x, cos, sin, y, T, K, sign)
napi_value Rope(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    auto a = args(env, info, 7);
    const int64_t T = count(env, a[4], "T"), K = count(env, a[5], "K");
    const int64_t n = f32len(env, a[0], "x");
    if (T == 0 || K == 0 || K % 2 != 0 || n % (T * K) != 0) throw Failure{"x must be [rows, T, K] with an even K"};
    gl::rope_apply(f32(env, a[0], n, "x"), f32(env, a[1], T * K, "cos"), f32(env, a[2], T * K, "sin"), f32w(env, a[3], n, "y"), n / (T * K),
                   T, K, static_cast<float>(number(env, a[6], "sign")));
    return undefined(env);
  });
}

// adamw(params[], grads[], m[], v[], hyper = [beta1, beta2, eps, decay, stepSize, sqrtBc2, 1-beta1, 1-beta2]): in place, one call per group.
napi_value AdamW(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    auto a = args(env, info, 5);
    uint32_t len[4];
    for (int i = 0; i < 4; i++) {
      bool isArr = false;
      napi_is_array(env, a[i], &isArr);
      if (!isArr) throw Failure{"adamw: params, grads, m and v must be arrays"};
      napi_get_array_length(env, a[i], &len[i]);
    }
    if (len[1] != len[0] || len[2] != len[0] || len[3] != len[0]) throw Failure{"adamw: params, grads, m and v differ in length"};
    int64_t nh;
    const double* hp = typed<double>(env, a[4], napi_float64_array, &nh, "hyper");
    if (nh != 8) throw Failure{"adamw: hyper must be [beta1, beta2, eps, decay, stepSize, sqrtBc2, 1 - beta1, 1 - beta2]"};
    gl::AdamWStep h;
    float* fields[] = {&h.beta1, &h.beta2, &h.eps, &h.decay, &h.stepSize, &h.sqrtBc2, &h.oneMinusBeta1, &h.oneMinusBeta2};
    for (int i = 0; i < 8; i++) *fields[i] = static_cast<float>(hp[i]);
    for (uint32_t i = 0; i < len[0]; i++) {
      napi_value e[4];
      for (int j = 0; j < 4; j++) napi_get_element(env, a[j], i, &e[j]);
      const int64_t n = f32len(env, e[0], "param");
      gl::adamw_update(f32w(env, e[0], n, "param"), f32(env, e[1], n, "grad"), f32w(env, e[2], n, "m"), f32w(env, e[3], n, "v"), n, h);
    }
    return undefined(env);
  });
}

// setThreads(n): OpenMP threads for later kernels.
napi_value SetThreads(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    auto a = args(env, info, 1);
    const int64_t n = count(env, a[0], "n");
    if (n < 1 || n > 1024) throw Failure{"threads must be in 1..1024"};
    gl::set_threads(static_cast<int>(n));
    return undefined(env);
  });
}

napi_value Threads(napi_env env, napi_callback_info) {
  napi_value v;
  napi_create_int32(env, gl::max_threads(), &v);
  return v;
}

// trim(): hands free heap memory back to the OS (glibc malloc_trim). The cpu backend's tensors are
// ArrayBuffers from malloc; big ones are mmapped and unmapped on free, but buffers under the
// mmap threshold (which glibc raises up to 32 MiB as big blocks are freed) stay in the arena.
napi_value Trim(napi_env env, napi_callback_info) {
#if defined(__GLIBC__)
  const bool released = malloc_trim(0) != 0;
#else
  const bool released = false;
#endif
  napi_value v;
  napi_get_boolean(env, released, &v);
  return v;
}

napi_value Init(napi_env env, napi_value exports) {
  const napi_property_descriptor props[] = {
      {"sgemm", nullptr, Sgemm, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"bgemm", nullptr, Bgemm, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"cpuFeatures", nullptr, CpuFeatures, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"unary", nullptr, UnaryOp, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"binary", nullptr, BinaryOp, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"binaryStrided", nullptr, BinaryStrided, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"transpose", nullptr, Transpose, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"softmaxRows", nullptr, SoftmaxRows, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"sumMiddle", nullptr, SumMiddle, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"attention", nullptr, Attention, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"attentionBackward", nullptr, AttentionBackward, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"rmsNorm", nullptr, RmsNorm, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"rmsNormBackward", nullptr, RmsNormBackward, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"geglu", nullptr, Geglu, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"gegluBackward", nullptr, GegluBackward, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"rope", nullptr, Rope, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"adamw", nullptr, AdamW, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"setThreads", nullptr, SetThreads, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"threads", nullptr, Threads, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"trim", nullptr, Trim, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
