// 2-D max and average pooling, forward and backward, NHWC, OpenMP over images/rows.
// Tie rule (max pooling gradient): the whole gradient of an output goes to the FIRST maximum of
// its window in row-major scan order (strict '>'), exactly as tfjs' cpu backend
// (maxPoolPositions in tfjs-backend-cpu/src/utils/pool_utils.ts). NaNs never win, as there.
// Average pooling divides by the number of in-bounds pixels (padding excluded) in both passes,
// so the backward pass is the exact adjoint of the forward pass.
#include "common.h"
#include <cmath>
#include <limits>

namespace ms {
namespace {
// params: [N,H,W,C, OH,OW, KH,KW, sh,sw, pt,pl]
struct PoolShape { int64_t N, H, W, C, OH, OW, KH, KW, sh, sw, pt, pl; };
PoolShape parse(const std::vector<int64_t>& p) {
  if (p.size() != 12) throw std::runtime_error("pool params: expected 12 integers");
  for (size_t i = 0; i < 10; ++i)
    if (p[i] < 0) throw std::runtime_error("pool params: negative size");
  return {p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8], p[9], p[10], p[11]};
}
inline int64_t inSize(const PoolShape& s) { return s.N * s.H * s.W * s.C; }
inline int64_t outSize(const PoolShape& s) { return s.N * s.OH * s.OW * s.C; }
inline void window(const PoolShape& s, int64_t oh, int64_t ow, int64_t& h0, int64_t& h1, int64_t& w0, int64_t& w1) {
  int64_t hc = oh * s.sh - s.pt, wc = ow * s.sw - s.pl;
  h0 = hc < 0 ? 0 : hc; h1 = std::min(s.H, hc + s.KH);
  w0 = wc < 0 ? 0 : wc; w1 = std::min(s.W, wc + s.KW);
}
}  // namespace

// maxPoolForward(x, y, params)
Napi::Value MaxPoolForward(const Napi::CallbackInfo& info) {
  PoolShape s = parse(ints(info[2]));
  const float* x = f32n(info[0], inSize(s), "pool x");
  float* y = f32n(info[1], outSize(s), "pool y");
  const float ninf = -std::numeric_limits<float>::infinity();
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t n = 0; n < s.N; ++n)
    for (int64_t oh = 0; oh < s.OH; ++oh)
      for (int64_t ow = 0; ow < s.OW; ++ow) {
        float* out = y + ((n * s.OH + oh) * s.OW + ow) * s.C;
        for (int64_t c = 0; c < s.C; ++c) out[c] = ninf;
        int64_t h0, h1, w0, w1;
        window(s, oh, ow, h0, h1, w0, w1);
        for (int64_t h = h0; h < h1; ++h)
          for (int64_t w = w0; w < w1; ++w) {
            const float* in = x + ((n * s.H + h) * s.W + w) * s.C;
            for (int64_t c = 0; c < s.C; ++c) out[c] = in[c] > out[c] ? in[c] : out[c];
          }
      }
  return info.Env().Undefined();
}

// Whether the pooling windows tile the input exactly (stride = window, no padding, no remainder).
static bool tiles(const PoolShape& s) {
  return s.sh == s.KH && s.sw == s.KW && s.pt == 0 && s.pl == 0 && s.OH * s.KH == s.H && s.OW * s.KW == s.W;
}

// maxPoolBackward(x, dy, dx, params): dx must be zero-filled by the caller unless the windows
// tile the input (tiles() below; then every element is written).
Napi::Value MaxPoolBackward(const Napi::CallbackInfo& info) {
  PoolShape s = parse(ints(info[3]));
  const float* x = f32n(info[0], inSize(s), "maxPoolBackward x");
  const float* dy = f32n(info[1], outSize(s), "maxPoolBackward dy");
  float* dx = f32n(info[2], inSize(s), "maxPoolBackward dx");
  const float ninf = -std::numeric_limits<float>::infinity();
  if (tiles(s) && s.KH == 2 && s.KW == 2) {
    // 2×2 windows, stride 2 (the common case): branch-free, one pass, no scratch.
    const float ninf2 = -std::numeric_limits<float>::infinity();
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t n = 0; n < s.N; ++n)
      for (int64_t oh = 0; oh < s.OH; ++oh)
        for (int64_t ow = 0; ow < s.OW; ++ow) {
          const int64_t r0 = (n * s.H + 2 * oh) * s.W + 2 * ow, r1 = r0 + s.W;
          const float* i0 = x + r0 * s.C; const float* i1 = i0 + s.C;
          const float* i2 = x + r1 * s.C; const float* i3 = i2 + s.C;
          float* o0 = dx + r0 * s.C; float* o1 = o0 + s.C;
          float* o2 = dx + r1 * s.C; float* o3 = o2 + s.C;
          const float* g = dy + ((n * s.OH + oh) * s.OW + ow) * s.C;
#pragma omp simd
          for (int64_t c = 0; c < s.C; ++c) {
            float b = ninf2; int k = -1;
            if (i0[c] > b) { b = i0[c]; k = 0; }
            if (i1[c] > b) { b = i1[c]; k = 1; }
            if (i2[c] > b) { b = i2[c]; k = 2; }
            if (i3[c] > b) { k = 3; }
            const float gc = g[c];
            o0[c] = k == 0 ? gc : 0.f; o1[c] = k == 1 ? gc : 0.f;
            o2[c] = k == 2 ? gc : 0.f; o3[c] = k == 3 ? gc : 0.f;
          }
        }
    return info.Env().Undefined();
  }
  if (tiles(s)) {
    // Windows tile the input exactly (e.g. 2×2 stride 2): every dx element is written once,
    // so dx needs no zero fill, and the loops over channels vectorise (no scatter).
#pragma omp parallel
    {
      std::vector<float> best(s.C);
      std::vector<int32_t> sel(s.C);
#pragma omp for collapse(2) schedule(static)
      for (int64_t n = 0; n < s.N; ++n)
        for (int64_t oh = 0; oh < s.OH; ++oh)
          for (int64_t ow = 0; ow < s.OW; ++ow) {
            float* bp = best.data();
            int32_t* sp = sel.data();
            for (int64_t c = 0; c < s.C; ++c) { bp[c] = ninf; sp[c] = -1; }
            int32_t k = 0;
            for (int64_t h = oh * s.KH; h < (oh + 1) * s.KH; ++h)
              for (int64_t w = ow * s.KW; w < (ow + 1) * s.KW; ++w, ++k) {
                const float* in = x + ((n * s.H + h) * s.W + w) * s.C;
#pragma omp simd
                for (int64_t c = 0; c < s.C; ++c) {
                  bool gt = in[c] > bp[c];
                  bp[c] = gt ? in[c] : bp[c];
                  sp[c] = gt ? k : sp[c];
                }
              }
            const float* g = dy + ((n * s.OH + oh) * s.OW + ow) * s.C;
            k = 0;
            for (int64_t h = oh * s.KH; h < (oh + 1) * s.KH; ++h)
              for (int64_t w = ow * s.KW; w < (ow + 1) * s.KW; ++w, ++k) {
                float* o = dx + ((n * s.H + h) * s.W + w) * s.C;
#pragma omp simd
                for (int64_t c = 0; c < s.C; ++c) o[c] = sp[c] == k ? g[c] : 0.f;
              }
          }
    }
    return info.Env().Undefined();
  }
#pragma omp parallel
  {
    std::vector<float> best(s.C);
    std::vector<int64_t> pos(s.C);
#pragma omp for schedule(static)
    for (int64_t n = 0; n < s.N; ++n)
      for (int64_t oh = 0; oh < s.OH; ++oh)
        for (int64_t ow = 0; ow < s.OW; ++ow) {
          for (int64_t c = 0; c < s.C; ++c) { best[c] = ninf; pos[c] = -1; }
          int64_t h0, h1, w0, w1;
          window(s, oh, ow, h0, h1, w0, w1);
          for (int64_t h = h0; h < h1; ++h)
            for (int64_t w = w0; w < w1; ++w) {
              int64_t base = ((n * s.H + h) * s.W + w) * s.C;
              const float* in = x + base;
              for (int64_t c = 0; c < s.C; ++c)
                if (in[c] > best[c]) { best[c] = in[c]; pos[c] = base; }
            }
          const float* g = dy + ((n * s.OH + oh) * s.OW + ow) * s.C;
          for (int64_t c = 0; c < s.C; ++c)
            if (pos[c] >= 0) dx[pos[c] + c] += g[c];
        }
  }
  return info.Env().Undefined();
}

// avgPoolForward(x, y, params)
Napi::Value AvgPoolForward(const Napi::CallbackInfo& info) {
  PoolShape s = parse(ints(info[2]));
  const float* x = f32n(info[0], inSize(s), "pool x");
  float* y = f32n(info[1], outSize(s), "pool y");
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t n = 0; n < s.N; ++n)
    for (int64_t oh = 0; oh < s.OH; ++oh)
      for (int64_t ow = 0; ow < s.OW; ++ow) {
        float* out = y + ((n * s.OH + oh) * s.OW + ow) * s.C;
        for (int64_t c = 0; c < s.C; ++c) out[c] = 0.f;
        int64_t h0, h1, w0, w1;
        window(s, oh, ow, h0, h1, w0, w1);
        for (int64_t h = h0; h < h1; ++h)
          for (int64_t w = w0; w < w1; ++w) {
            const float* in = x + ((n * s.H + h) * s.W + w) * s.C;
            for (int64_t c = 0; c < s.C; ++c) out[c] += in[c];
          }
        int64_t cnt = (h1 - h0) * (w1 - w0);
        float inv = cnt > 0 ? 1.f / (float)cnt : 0.f;
        for (int64_t c = 0; c < s.C; ++c) out[c] *= inv;
      }
  return info.Env().Undefined();
}

// avgPoolBackward(dy, dx, params): dx must be zero-filled by the caller.
Napi::Value AvgPoolBackward(const Napi::CallbackInfo& info) {
  PoolShape s = parse(ints(info[2]));
  const float* dy = f32n(info[0], outSize(s), "avgPoolBackward dy");
  float* dx = f32n(info[1], inSize(s), "avgPoolBackward dx");
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < s.N; ++n)
    for (int64_t oh = 0; oh < s.OH; ++oh)
      for (int64_t ow = 0; ow < s.OW; ++ow) {
        int64_t h0, h1, w0, w1;
        window(s, oh, ow, h0, h1, w0, w1);
        int64_t cnt = (h1 - h0) * (w1 - w0);
        if (cnt <= 0) continue;
        float inv = 1.f / (float)cnt;
        const float* g = dy + ((n * s.OH + oh) * s.OW + ow) * s.C;
        for (int64_t h = h0; h < h1; ++h)
          for (int64_t w = w0; w < w1; ++w) {
            float* o = dx + ((n * s.H + h) * s.W + w) * s.C;
            for (int64_t c = 0; c < s.C; ++c) o[c] += g[c] * inv;
          }
      }
  return info.Env().Undefined();
}

}  // namespace ms
