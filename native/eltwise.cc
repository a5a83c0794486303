// Matrix products (oneDNN sgemm) and the memory-bound kernels a training step is full of:
// broadcasting binary ops, unary ops, per-channel affine (batch-norm inference form),
// reductions over leading/trailing axes, bias+activation. All OpenMP-parallel, float32.
#include "common.h"
#include <cmath>
#include <algorithm>
#include <cstring>

namespace ms {

namespace {
// e^x in float, vectorisable (no libm call inside `omp simd` loops): Cody–Waite range reduction
// x = n·ln2 + r and the degree-6 minimax polynomial of Cephes' expf (≈ 1 ulp on [-87, 88]); NaN
// propagates, x < −87.34 gives 0, x > 88.72 +inf (between 88 and 88.72: e^88).
inline float vexpf(float x) {
  float c = std::min(std::max(x, -87.33654f), 88.f);  // n ≤ 127: the exponent bits stay finite
  float n = std::floor(c * 1.44269504088896341f + 0.5f);
  float r = c - n * 0.693359375f + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  float y = p * r * r + r + 1.f;
  int32_t bits = ((int32_t)n + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, 4);
  y *= scale;
  y = x > 88.72283f ? INFINITY : (x < -87.33654f ? 0.f : y);
  return x != x ? x : y;
}
}  // namespace

// sgemm(a, b, c, [batch, M, N, K, transA, transB, strideA, strideB]) — row-major C = op(A)·op(B)
// per batch; a zero stride broadcasts that operand over the batch.
Napi::Value Sgemm(const Napi::CallbackInfo& info) {
  auto p = ints(info[3]);
  if (p.size() != 8) throw std::runtime_error("sgemm params: expected 8 integers");
  int64_t batch = p[0], M = p[1], N = p[2], K = p[3];
  bool ta = p[4] != 0, tb = p[5] != 0;
  int64_t sa = p[6], sb = p[7];
  if (batch < 1 || M < 0 || N < 0 || K < 0 || sa < 0 || sb < 0) throw std::runtime_error("sgemm: bad shape");
  const float* a = f32n(info[0], (batch - 1) * sa + M * K, "sgemm a");
  const float* b = f32n(info[1], (batch - 1) * sb + K * N, "sgemm b");
  float* c = f32n(info[2], batch * M * N, "sgemm c");
  int64_t lda = ta ? M : K, ldb = tb ? K : N;
  for (int64_t i = 0; i < batch; ++i) {
    dnnl_status_t st = dnnl_sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', M, N, K, 1.f, a + i * sa, lda,
                                  b + i * sb, ldb, 0.f, c + i * M * N, N);
    if (st != dnnl_success) throw std::runtime_error("dnnl_sgemm failed");
  }
  return info.Env().Undefined();
}

namespace {
template <typename F>
void binaryLoop(const float* a, const float* b, float* o, const int64_t* d, const int64_t* as,
                const int64_t* bs, F f) {
  int64_t d0 = d[0], d1 = d[1], d2 = d[2];
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t i = 0; i < d0; ++i)
    for (int64_t j = 0; j < d1; ++j) {
      const float* pa = a + i * as[0] + j * as[1];
      const float* pb = b + i * bs[0] + j * bs[1];
      float* po = o + (i * d1 + j) * d2;
      if (as[2] && bs[2]) for (int64_t k = 0; k < d2; ++k) po[k] = f(pa[k], pb[k]);
      else if (as[2]) { float vb = pb[0]; for (int64_t k = 0; k < d2; ++k) po[k] = f(pa[k], vb); }
      else if (bs[2]) { float va = pa[0]; for (int64_t k = 0; k < d2; ++k) po[k] = f(va, pb[k]); }
      else { float v = f(pa[0], pb[0]); for (int64_t k = 0; k < d2; ++k) po[k] = v; }
    }
}
}  // namespace

// binary(op, a, b, out, [d0,d1,d2, as0,as1,as2, bs0,bs1,bs2]) — out[i,j,k] = op(a[..], b[..]) with
// element strides (0 = broadcast). ops: 0 add, 1 sub, 2 mul, 3 div, 4 squaredDifference, 5 max, 6 min,
// 7 broadcast copy of a (Tile of size-1 dims), 8 ReLU gradient a·[b > 0], 9 Square gradient a·2b,
// 10 SiLU gradient a·σ(b)·(1 + b·(1 − σ(b))) (one pass instead of six; σ with vexpf like unary op 8).
Napi::Value Binary(const Napi::CallbackInfo& info) {
  int op = info[0].As<Napi::Number>().Int32Value();
  auto p = ints(info[4]);
  if (p.size() != 9) throw std::runtime_error("binary params: expected 9 integers");
  for (auto v : p) if (v < 0) throw std::runtime_error("binary: negative size or stride");
  const int64_t* d = p.data();
  const int64_t* as = p.data() + 3;
  const int64_t* bs = p.data() + 6;
  const float* a = f32n(info[1], span3(d, as), "binary a");
  const float* b = f32n(info[2], span3(d, bs), "binary b");
  float* o = f32n(info[3], d[0] * d[1] * d[2], "binary out");
  switch (op) {
    case 0: binaryLoop(a, b, o, d, as, bs, [](float x, float y) { return x + y; }); break;
    case 1: binaryLoop(a, b, o, d, as, bs, [](float x, float y) { return x - y; }); break;
    case 2: binaryLoop(a, b, o, d, as, bs, [](float x, float y) { return x * y; }); break;
    case 3: binaryLoop(a, b, o, d, as, bs, [](float x, float y) { return (float)((double)x / (double)y); }); break;
    case 4: binaryLoop(a, b, o, d, as, bs, [](float x, float y) { float t = x - y; return t * t; }); break;
    case 5: binaryLoop(a, b, o, d, as, bs, [](float x, float y) { return (std::isnan(x) || std::isnan(y)) ? NAN : (x > y ? x : y); }); break;
    case 6: binaryLoop(a, b, o, d, as, bs, [](float x, float y) { return (std::isnan(x) || std::isnan(y)) ? NAN : (x < y ? x : y); }); break;
    case 7: binaryLoop(a, b, o, d, as, bs, [](float x, float) { return x; }); break;
    case 8: binaryLoop(a, b, o, d, as, bs, [](float g, float x) { return std::isnan(x) ? NAN : (x > 0.f ? g : 0.f); }); break;
    case 9: binaryLoop(a, b, o, d, as, bs, [](float g, float x) { return g * (2.f * x); }); break;
    case 10:
      binaryLoop(a, b, o, d, as, bs, [](float g, float x) {
        float s = 1.f / (1.f + vexpf(-x));
        return g * s * (1.f + x * (1.f - s));
      });
      break;
    default: throw std::runtime_error("binary: unknown op");
  }
  return info.Env().Undefined();
}

// unary(op, x, y, alpha). ops: 0 relu, 1 step(alpha), 2 rsqrt, 3 sqrt, 4 neg, 5 exp, 6 square,
// 7 relu6, 8 sigmoid, 9 reciprocal, 10 log, 11 abs.
Napi::Value Unary(const Napi::CallbackInfo& info) {
  int op = info[0].As<Napi::Number>().Int32Value();
  const float* x = f32(info[1]);
  int64_t n = (int64_t)f32len(info[1]);
  float* y = f32n(info[2], n, "unary out");
  float alpha = info[3].As<Napi::Number>().FloatValue();
#define MS_UNARY(EXPR) _Pragma("omp parallel for simd schedule(static)") for (int64_t i = 0; i < n; ++i) { float v = x[i]; y[i] = (EXPR); } break;
  switch (op) {
    case 0: MS_UNARY(v < 0.f ? 0.f : v)
    case 1: MS_UNARY(std::isnan(v) ? NAN : (v > 0.f ? 1.f : alpha))
    case 2: MS_UNARY((float)(1.0 / std::sqrt((double)v)))
    case 3: MS_UNARY(std::sqrt(v))
    case 4: MS_UNARY(-v)
    case 5: MS_UNARY(std::exp(v))
    case 6: MS_UNARY(v * v)
    case 7: MS_UNARY(v < 0.f ? 0.f : (v > 6.f ? 6.f : v))
    case 8: MS_UNARY(1.f / (1.f + vexpf(-v)))
    case 9: MS_UNARY((float)(1.0 / (double)v))
    case 10: MS_UNARY(std::log(v))
    case 11: MS_UNARY(std::fabs(v))
    default: throw std::runtime_error("unary: unknown op");
  }
#undef MS_UNARY
  return info.Env().Undefined();
}

// reduceSum(x, out, outer, inner, overOuter): x is [outer, inner]; sums over outer (out: inner)
// or over inner (out: outer). Accumulates in double like tfjs' cpu backend (JS numbers).
Napi::Value ReduceRows(const Napi::CallbackInfo& info) {
  int64_t outer = info[2].As<Napi::Number>().Int64Value();
  int64_t inner = info[3].As<Napi::Number>().Int64Value();
  bool overOuter = info[4].As<Napi::Boolean>().Value();
  if (outer < 0 || inner < 0) throw std::runtime_error("reduceSum: negative size");
  const float* x = f32n(info[0], outer * inner, "reduceSum x");
  float* out = f32n(info[1], overOuter ? inner : outer, "reduceSum out");
  if (overOuter) {
    std::vector<double> acc(inner, 0.0);
#pragma omp parallel
    {
      std::vector<double> part(inner, 0.0);
#pragma omp for schedule(static) nowait
      for (int64_t i = 0; i < outer; ++i) {
        const float* r = x + i * inner;
        for (int64_t k = 0; k < inner; ++k) part[k] += r[k];
      }
#pragma omp critical
      for (int64_t k = 0; k < inner; ++k) acc[k] += part[k];
    }
    for (int64_t k = 0; k < inner; ++k) out[k] = (float)acc[k];
  } else {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < outer; ++i) {
      const float* r = x + i * inner;
      double s = 0.0;
      for (int64_t k = 0; k < inner; ++k) s += r[k];
      out[i] = (float)s;
    }
  }
  return info.Env().Undefined();
}

// reduceMid(x, out, outer, mid, inner): x is [outer, mid, inner]; out[o, i] = Σ_m x[o, m, i]
// (e.g. global average pooling: NHWC summed over H, W). Double accumulators.
Napi::Value ReduceMid(const Napi::CallbackInfo& info) {
  int64_t outer = info[2].As<Napi::Number>().Int64Value();
  int64_t mid = info[3].As<Napi::Number>().Int64Value();
  int64_t inner = info[4].As<Napi::Number>().Int64Value();
  if (outer < 0 || mid < 0 || inner < 0) throw std::runtime_error("reduceMid: negative size");
  const float* x = f32n(info[0], outer * mid * inner, "reduceMid x");
  float* out = f32n(info[1], outer * inner, "reduceMid out");
#pragma omp parallel
  {
    std::vector<double> acc(inner);
#pragma omp for schedule(static)
    for (int64_t o = 0; o < outer; ++o) {
      std::fill(acc.begin(), acc.end(), 0.0);
      for (int64_t m = 0; m < mid; ++m) {
        const float* r = x + (o * mid + m) * inner;
        for (int64_t i = 0; i < inner; ++i) acc[i] += r[i];
      }
      for (int64_t i = 0; i < inner; ++i) out[o * inner + i] = (float)acc[i];
    }
  }
  return info.Env().Undefined();
}

// channelAffine(x, y, C, mean, variance, offset|null, scale|null, eps):
// y = (x - mean)·scale/sqrt(variance + eps) + offset over the last axis (tf.batchNorm).
// Each parameter has length C or 1.
Napi::Value ChannelAffine(const Napi::CallbackInfo& info) {
  const float* x = f32(info[0]);
  int64_t C = info[2].As<Napi::Number>().Int64Value();
  int64_t n = (int64_t)f32len(info[0]);
  if (C < 1) throw std::runtime_error("channelAffine: C must be ≥ 1");
  float* y = f32n(info[1], n, "channelAffine y");
  for (int idx = 3; idx <= 6; ++idx)
    if (info[idx].IsTypedArray() && f32len(info[idx]) != 1) f32n(info[idx], C, "channelAffine parameter");
  auto at = [&](int idx, int64_t c, float dflt) -> float {
    if (!info[idx].IsTypedArray()) return dflt;
    const float* p = f32(info[idx]);
    return f32len(info[idx]) == 1 ? p[0] : p[c];
  };
  float eps = info[7].As<Napi::Number>().FloatValue();
  std::vector<float> sc(C), sh(C);
  for (int64_t c = 0; c < C; ++c) {
    float inv = (float)(1.0 / std::sqrt((double)at(4, c, 0.f) + (double)eps));
    sc[c] = at(6, c, 1.f) * inv;
    sh[c] = at(5, c, 0.f) - at(3, c, 0.f) * sc[c];
  }
  int64_t rows = n / C;
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const float* xi = x + r * C;
    float* yi = y + r * C;
    for (int64_t c = 0; c < C; ++c) yi[c] = xi[c] * sc[c] + sh[c];
  }
  return info.Env().Undefined();
}

// bnGradStats(x, dy, mean, out): per channel c of the last axis, out[c] = Σ dy and
// out[C + c] = Σ dy·(x − mean[c]) over all other axes (double accumulators) — the two reductions
// batch normalisation's backward pass needs (Ioffe & Szegedy 2015, §3), in one pass.
Napi::Value BnGradStats(const Napi::CallbackInfo& info) {
  const float* x = f32(info[0]);
  const float* mean = f32(info[2]);
  int64_t C = (int64_t)f32len(info[2]);
  if (C < 1) throw std::runtime_error("bnGradStats: empty mean");
  int64_t rows = (int64_t)f32len(info[0]) / C;
  const float* dy = f32n(info[1], rows * C, "bnGradStats dy");
  float* out = f32n(info[3], 2 * C, "bnGradStats out");
  std::vector<double> s1(C, 0.0), s2(C, 0.0);
#pragma omp parallel
  {
    std::vector<double> p1(C, 0.0), p2(C, 0.0);
#pragma omp for schedule(static) nowait
    for (int64_t r = 0; r < rows; ++r) {
      const float* xr = x + r * C;
      const float* gr = dy + r * C;
      for (int64_t c = 0; c < C; ++c) {
        double g = gr[c];
        p1[c] += g;
        p2[c] += g * ((double)xr[c] - (double)mean[c]);
      }
    }
#pragma omp critical
    for (int64_t c = 0; c < C; ++c) { s1[c] += p1[c]; s2[c] += p2[c]; }
  }
  for (int64_t c = 0; c < C; ++c) { out[c] = (float)s1[c]; out[C + c] = (float)s2[c]; }
  return info.Env().Undefined();
}

// momentsStats(x, out): per channel c of the last axis, out[c] = mean, out[C + c] = population
// variance over all other axes, one pass with double sums (var = E[x²] − mean², exact enough in
// double for float32 data).
Napi::Value MomentsStats(const Napi::CallbackInfo& info) {
  const float* x = f32(info[0]);
  float* out = f32(info[1]);
  int64_t C = (int64_t)f32len(info[1]) / 2;
  if (C < 1) throw std::runtime_error("momentsStats: empty output");
  int64_t rows = (int64_t)f32len(info[0]) / C;
  std::vector<double> s1(C, 0.0), s2(C, 0.0);
#pragma omp parallel
  {
    std::vector<double> p1(C, 0.0), p2(C, 0.0);
#pragma omp for schedule(static) nowait
    for (int64_t r = 0; r < rows; ++r) {
      const float* xr = x + r * C;
      for (int64_t c = 0; c < C; ++c) { double v = xr[c]; p1[c] += v; p2[c] += v * v; }
    }
#pragma omp critical
    for (int64_t c = 0; c < C; ++c) { s1[c] += p1[c]; s2[c] += p2[c]; }
  }
  for (int64_t c = 0; c < C; ++c) {
    double m = s1[c] / (double)rows;
    double v = s2[c] / (double)rows - m * m;
    out[c] = (float)m;
    out[C + c] = (float)(v > 0.0 ? v : 0.0);
  }
  return info.Env().Undefined();
}

// affine(x, y, scale, shift): y = x·scale[c] + shift[c] over the last axis (length C).
Napi::Value Affine(const Napi::CallbackInfo& info) {
  const float* x = f32(info[0]);
  const float* sc = f32(info[2]);
  int64_t C = (int64_t)f32len(info[2]);
  if (C < 1) throw std::runtime_error("affine: empty scale");
  int64_t rows = (int64_t)f32len(info[0]) / C;
  float* y = f32n(info[1], rows * C, "affine y");
  const float* sh = f32n(info[3], C, "affine shift");
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const float* xi = x + r * C;
    float* yi = y + r * C;
    for (int64_t c = 0; c < C; ++c) yi[c] = xi[c] * sc[c] + sh[c];
  }
  return info.Env().Undefined();
}

// bnBackward(dy, x, dx, a, b, c): dx = a[c]·dy + b[c]·x + c[c] over the last axis (length C) —
// the input gradient of training-mode batch normalisation once its two per-channel sums are
// known (bnGradStats), in one pass (see src/engine/native/batchnorm.ts for a, b, c).
Napi::Value BnBackward(const Napi::CallbackInfo& info) {
  const float* dy = f32(info[0]);
  const float* a = f32(info[3]);
  int64_t C = (int64_t)f32len(info[3]);
  if (C < 1) throw std::runtime_error("bnBackward: empty coefficients");
  int64_t rows = (int64_t)f32len(info[0]) / C;
  const float* x = f32n(info[1], rows * C, "bnBackward x");
  float* dx = f32n(info[2], rows * C, "bnBackward dx");
  const float* b = f32n(info[4], C, "bnBackward b");
  const float* c = f32n(info[5], C, "bnBackward c");
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const float* gi = dy + r * C;
    const float* xi = x + r * C;
    float* oi = dx + r * C;
#pragma omp simd
    for (int64_t k = 0; k < C; ++k) oi[k] = a[k] * gi[k] + b[k] * xi[k] + c[k];
  }
  return info.Env().Undefined();
}

// adamUpdate(w, g, m, v, w2, m2, v2, [lr, beta1, beta2, eps, 1-beta1^t, 1-beta2^t]): one Adam
// step in one pass, the formula and operation order of tfjs' AdamOptimizer:
// m2 = b1·m + (1−b1)·g; v2 = b2·v + (1−b2)·g²; w2 = w + (m2/(1−b1^t)) / (√(v2/(1−b2^t)) + eps) · (−lr).
Napi::Value AdamUpdate(const Napi::CallbackInfo& info) {
  const float* w = f32(info[0]);
  const int64_t nw = (int64_t)f32len(info[0]);
  const float* g = f32n(info[1], nw, "adamUpdate g");
  const float* m = f32n(info[2], nw, "adamUpdate m");
  const float* v = f32n(info[3], nw, "adamUpdate v");
  float* w2 = f32n(info[4], nw, "adamUpdate w2");
  float* m2 = f32n(info[5], nw, "adamUpdate m2");
  float* v2 = f32n(info[6], nw, "adamUpdate v2");
  auto p = info[7].As<Napi::Array>();
  auto num = [&](uint32_t i) { return p.Get(i).As<Napi::Number>().FloatValue(); };
  const float lr = num(0), b1 = num(1), b2 = num(2), eps = num(3), c1 = num(4), c2 = num(5);
  const float ob1 = 1.f - b1, ob2 = 1.f - b2;
  int64_t n = (int64_t)f32len(info[0]);
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    float gi = g[i];
    float mi = m[i] * b1 + gi * ob1;
    float vi = v[i] * b2 + (gi * gi) * ob2;
    m2[i] = mi; v2[i] = vi;
    w2[i] = (mi / c1) / (std::sqrt(vi / c2) + eps) * (-lr) + w[i];
  }
  return info.Env().Undefined();
}

// biasAct(y, bias|null, C, act, alpha): in place y = act(y + bias) over the last axis.
// act: 0 linear, 1 relu, 2 relu6, 3 leakyrelu(alpha), 4 sigmoid, 5 elu.
Napi::Value BiasAct(const Napi::CallbackInfo& info) {
  float* y = f32(info[0]);
  bool hasBias = info[1].IsTypedArray();
  const float* b = hasBias ? f32(info[1]) : nullptr;
  int64_t bl = hasBias ? (int64_t)f32len(info[1]) : 0;
  int64_t C = info[2].As<Napi::Number>().Int64Value();
  int act = info[3].As<Napi::Number>().Int32Value();
  float alpha = info[4].As<Napi::Number>().FloatValue();
  int64_t n = (int64_t)f32len(info[0]);
  if (hasBias && (C < 1 || (bl != 1 && bl < C))) throw std::runtime_error("biasAct: bias shorter than C");
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    float v = y[i];
    if (hasBias) v += bl == 1 ? b[0] : b[i % C];
    switch (act) {
      case 1: v = v < 0.f ? 0.f : v; break;
      case 2: v = v < 0.f ? 0.f : (v > 6.f ? 6.f : v); break;
      case 3: v = v < 0.f ? alpha * v : v; break;
      case 4: v = (float)(1.0 / (1.0 + std::exp(-(double)v))); break;
      case 5: v = v < 0.f ? (float)std::expm1((double)v) : v; break;
      default: break;
    }
    y[i] = v;
  }
  return info.Env().Undefined();
}

}  // namespace ms
