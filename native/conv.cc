// 2-D convolution (forward, backward data, backward weights) through oneDNN primitives.
// Layouts are tfjs': activations NHWC (reordered to a blocked layout around the primitive for
// small feature maps, see blockedMaxHw), filters HWIO ([KH,KW,C,OC]); depthwise filters
// [KH,KW,C,mult] are a grouped convolution with G=C (oneDNN tag hwigo). Primitives are cached
// per shape; the filter is reordered into the primitive's preferred blocked layout each call.
#include "common.h"
#include <memory>
#include <mutex>
#include <unordered_map>
#include <cstdlib>

using namespace dnnl;
using tag = memory::format_tag;
using dt = memory::data_type;

namespace ms {
namespace {

// params: [N,H,W,C, OH,OW,OC, KH,KW, sh,sw, pt,pl,pb,pr, dh,dw, G, act, hasBias]
struct ConvShape {
  memory::dims src, wei, dst, bias, strides, dil, pl, pr;
  tag wtag;
  int act;
  bool hasBias;
  int64_t nSrc, nDst, nWei;  // elements of the NHWC source, NHWC destination and the filter
};

ConvShape parse(const std::vector<int64_t>& p) {
  if (p.size() != 20) throw std::runtime_error("conv params: expected 20 integers");
  ConvShape s;
  int64_t N = p[0], H = p[1], W = p[2], C = p[3], OH = p[4], OW = p[5], OC = p[6];
  int64_t KH = p[7], KW = p[8], G = p[17];
  s.src = {N, C, H, W};
  s.dst = {N, OC, OH, OW};
  if (G == 1) { s.wei = {OC, C, KH, KW}; s.wtag = tag::hwio; }
  else { s.wei = {G, OC / G, C / G, KH, KW}; s.wtag = tag::hwigo; }
  s.bias = {OC};
  s.strides = {p[9], p[10]};
  s.pl = {p[11], p[12]};
  s.pr = {p[13], p[14]};
  s.dil = {p[15] - 1, p[16] - 1};
  s.act = (int)p[18];
  s.hasBias = p[19] != 0;
  for (int i = 0; i < 9; ++i)
    if (p[i] < 1) throw std::runtime_error("conv params: sizes must be ≥ 1");
  if (G < 1 || C % G || OC % G) throw std::runtime_error("conv params: groups must divide the channels");
  s.nSrc = N * H * W * C;
  s.nDst = N * OH * OW * OC;
  s.nWei = KH * KW * (C / G) * OC;
  return s;
}

memory::desc md(const memory::dims& d, tag t) { return memory::desc(d, dt::f32, t); }
memory::desc anyMd(const memory::dims& d) { return memory::desc(d, dt::f32, tag::any); }

/** Which pass a primitive serves (the blocked-layout thresholds differ). */
enum Pass { kFwd = 0, kBwdData = 1, kBwdWeights = 2 };

/**
 * Blocked activation layouts for small feature maps. oneDNN's NHWC kernels lose efficiency at
 * small spatial size; for convolutions with at most this many output pixels (OH·OW) the
 * primitive may pick a blocked layout (nChw16c…) and the activations are reordered from/to NHWC
 * around the call. Measured here (GFLOP per CPU-second, batch 128, 3×3): forward 4×4 186 blocked
 * vs 113 NHWC, 28×28 153 vs 188; backward-data 14×14 146 vs 120, 28×28 141 vs 162; backward-
 * weights 4×4 125 vs 112, 14×14 158 vs 173. Defaults: forward and backward-weights ≤ 16 pixels,
 * backward-data ≤ 196. MEDSHIELD_CONV_BLOCKED_MAX_HW=N overrides all three (0 = NHWC always).
 */
int64_t blockedMaxHw(Pass pass) {
  static const int64_t env = [] { const char* e = std::getenv("MEDSHIELD_CONV_BLOCKED_MAX_HW"); return e && *e ? std::atoll(e) : (int64_t)-1; }();
  if (env >= 0) return env;
  return pass == kBwdData ? 196 : 16;
}
bool useBlocked(const ConvShape& s, Pass pass) { return s.dst[2] * s.dst[3] <= blockedMaxHw(pass); }
memory::desc actMd(const ConvShape& s, const memory::dims& d, Pass pass) { return useBlocked(s, pass) ? anyMd(d) : md(d, tag::nhwc); }

convolution_forward::primitive_desc fwdPd(const ConvShape& s, float alpha, bool withPost, Pass pass) {
  auto d = s.hasBias
      ? convolution_forward::desc(prop_kind::forward_training, algorithm::convolution_direct,
            actMd(s, s.src, pass), anyMd(s.wei), md(s.bias, tag::a), actMd(s, s.dst, pass),
            s.strides, s.dil, s.pl, s.pr)
      : convolution_forward::desc(prop_kind::forward_training, algorithm::convolution_direct,
            actMd(s, s.src, pass), anyMd(s.wei), actMd(s, s.dst, pass), s.strides, s.dil, s.pl, s.pr);
  primitive_attr attr;
  if (withPost && s.act != 0) {
    post_ops po;
    switch (s.act) {
      case 1: po.append_eltwise(1.f, algorithm::eltwise_relu, 0.f, 0.f); break;
      case 2: po.append_eltwise(1.f, algorithm::eltwise_clip, 0.f, 6.f); break;
      case 3: po.append_eltwise(1.f, algorithm::eltwise_relu, alpha, 0.f); break;
      case 4: po.append_eltwise(1.f, algorithm::eltwise_logistic, 0.f, 0.f); break;
      case 5: po.append_eltwise(1.f, algorithm::eltwise_elu, 1.f, 0.f); break;
      default: throw std::runtime_error("conv: unsupported activation");
    }
    attr.set_post_ops(po);
  }
  return convolution_forward::primitive_desc(d, attr, cpuEngine());
}

/** A weights buffer in a primitive's layout plus the reorder that fills/empties it. */
struct WeightsPort {
  bool needed = false;
  double lastId = -1;  // id of the user filter currently held in buf (-1: none / unknown)
  memory::desc user, prim;
  memory buf;
  reorder r;
  void init(const memory::desc& u, const memory::desc& p, bool toPrim) {
    user = u; prim = p; needed = (u != p);
    if (needed) {
      buf = memory(p, cpuEngine());
      r = toPrim ? reorder(memory(u, cpuEngine(), DNNL_MEMORY_NONE), buf)
                 : reorder(buf, memory(u, cpuEngine(), DNNL_MEMORY_NONE));
    }
  }
};

struct FwdEntry {
  uint64_t lastUse = 0;
  convolution_forward::primitive_desc pd;
  convolution_forward prim;
  WeightsPort w, src, dst;
};
struct BwdDataEntry {
  uint64_t lastUse = 0;
  convolution_backward_data::primitive_desc pd;
  convolution_backward_data prim;
  WeightsPort w, diffDst, diffSrc;
};
struct BwdWeightsEntry {
  uint64_t lastUse = 0;
  convolution_backward_weights::primitive_desc pd;
  convolution_backward_weights prim;
  WeightsPort w, src, diffDst;
};

/** Memory for a user NHWC buffer on a port: the user's own, or the port's buffer after an
 *  input reorder. */
memory portIn(WeightsPort& p, memory user, stream& st) {
  if (!p.needed) return user;
  p.r.execute(st, user, p.buf);
  return p.buf;
}

// Per JS thread (main thread, each worker_thread): the entries hold scratch buffers, so two
// threads must never share one.
thread_local std::mutex cacheMutex;
thread_local std::unordered_map<std::string, std::unique_ptr<FwdEntry>> fwdCache;
thread_local std::unordered_map<std::string, std::unique_ptr<BwdDataEntry>> bwdDataCache;
thread_local std::unordered_map<std::string, std::unique_ptr<BwdWeightsEntry>> bwdWeightsCache;

// The caches are keyed by shape, batch size included, and every entry holds reorder buffers sized
// by its batch: query attacks, whose batches shrink one image at a time, would otherwise create
// thousands of entries (a replication run grew to 8.5 GB and was killed). Least recently used
// entries beyond this many per kind are dropped; a ResNet-50 has 53 convolutions.
size_t cacheLimit() {
  static const size_t n = [] {
    const char* e = std::getenv("MEDSHIELD_CONV_CACHE");
    long v = e && *e ? std::atol(e) : 0;
    return v > 0 ? (size_t)v : (size_t)160;
  }();
  return n;
}
thread_local uint64_t useClock = 0;

template <class E, class Make>
E* cached(std::unordered_map<std::string, std::unique_ptr<E>>& cache, const std::string& k, Make make) {
  std::lock_guard<std::mutex> g(cacheMutex);
  auto it = cache.find(k);
  if (it == cache.end()) {
    if (cache.size() >= cacheLimit()) {
      auto victim = cache.begin();
      for (auto j = cache.begin(); j != cache.end(); ++j) if (j->second->lastUse < victim->second->lastUse) victim = j;
      cache.erase(victim);
    }
    it = cache.emplace(k, make()).first;
    ++convBuilds;
  }
  it->second->lastUse = ++useClock;
  return it->second.get();
}

}  // namespace

uint64_t convBuilds = 0;  // primitives created (cache misses), for `info()`

namespace {

std::string convKey(const char* kind, const std::vector<int64_t>& p, float alpha) {
  return key(kind, p) + "|" + std::to_string(alpha);
}

}  // namespace

// conv2dForward(x, filter, bias|null, y, params, alpha, filterId)
// filterId ≥ 0 identifies the filter's (immutable) contents: when the cached primitive already
// holds that filter in its blocked layout the reorder is skipped (fixed weights: inference,
// attacks). −1 always reorders.
Napi::Value Conv2dForward(const Napi::CallbackInfo& info) {
  auto p = ints(info[4]);
  float alpha = info[5].As<Napi::Number>().FloatValue();
  double wid = info.Length() > 6 && info[6].IsNumber() ? info[6].As<Napi::Number>().DoubleValue() : -1;
  ConvShape s = parse(p);
  std::string k = convKey("fwd", p, alpha);
  FwdEntry* e = cached(fwdCache, k, [&] {
    auto ne = std::make_unique<FwdEntry>();
    ne->pd = fwdPd(s, alpha, true, kFwd);
    ne->prim = convolution_forward(ne->pd);
    ne->w.init(md(s.wei, s.wtag), ne->pd.weights_desc(), true);
    ne->src.init(md(s.src, tag::nhwc), ne->pd.src_desc(), true);
    ne->dst.init(md(s.dst, tag::nhwc), ne->pd.dst_desc(), false);
    return ne;
  });
  auto& eng = cpuEngine();
  auto& st = cpuStream();
  memory userSrc(md(s.src, tag::nhwc), eng, f32n(info[0], s.nSrc, "conv x"));
  memory userW(e->w.user, eng, f32n(info[1], s.nWei, "conv filter"));
  memory userDst(md(s.dst, tag::nhwc), eng, f32n(info[3], s.nDst, "conv y"));
  memory src = portIn(e->src, userSrc, st);
  memory dst = e->dst.needed ? e->dst.buf : userDst;
  memory wei = userW;
  if (e->w.needed) {
    if (wid < 0 || wid != e->w.lastId) e->w.r.execute(st, userW, e->w.buf);
    e->w.lastId = wid;
    wei = e->w.buf;
  }
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wei}, {DNNL_ARG_DST, dst}};
  if (s.hasBias) args.emplace(DNNL_ARG_BIAS, memory(md(s.bias, tag::a), eng, f32n(info[2], s.dst[1], "conv bias")));
  e->prim.execute(st, args);
  if (e->dst.needed) e->dst.r.execute(st, e->dst.buf, userDst);
  st.wait();
  return info.Env().Undefined();
}

// conv2dBackwardData(dy, filter, dx, params, filterId) — filterId as in conv2dForward.
Napi::Value Conv2dBackwardData(const Napi::CallbackInfo& info) {
  auto p = ints(info[3]);
  double wid = info.Length() > 4 && info[4].IsNumber() ? info[4].As<Napi::Number>().DoubleValue() : -1;
  p[18] = 0; p[19] = 0;
  ConvShape s = parse(p);
  std::string k = key("bwdd", p);
  BwdDataEntry* e = cached(bwdDataCache, k, [&] {
    auto ne = std::make_unique<BwdDataEntry>();
    auto hint = fwdPd(s, 0.f, false, kBwdData);
    convolution_backward_data::desc d(algorithm::convolution_direct, actMd(s, s.src, kBwdData),
        anyMd(s.wei), actMd(s, s.dst, kBwdData), s.strides, s.dil, s.pl, s.pr);
    ne->pd = convolution_backward_data::primitive_desc(d, cpuEngine(), hint);
    ne->prim = convolution_backward_data(ne->pd);
    ne->w.init(md(s.wei, s.wtag), ne->pd.weights_desc(), true);
    ne->diffDst.init(md(s.dst, tag::nhwc), ne->pd.diff_dst_desc(), true);
    ne->diffSrc.init(md(s.src, tag::nhwc), ne->pd.diff_src_desc(), false);
    return ne;
  });
  auto& eng = cpuEngine();
  auto& st = cpuStream();
  memory userDiffDst(md(s.dst, tag::nhwc), eng, f32n(info[0], s.nDst, "conv dy"));
  memory userW(e->w.user, eng, f32n(info[1], s.nWei, "conv filter"));
  memory userDiffSrc(md(s.src, tag::nhwc), eng, f32n(info[2], s.nSrc, "conv dx"));
  memory diffDst = portIn(e->diffDst, userDiffDst, st);
  memory diffSrc = e->diffSrc.needed ? e->diffSrc.buf : userDiffSrc;
  memory wei = userW;
  if (e->w.needed) {
    if (wid < 0 || wid != e->w.lastId) e->w.r.execute(st, userW, e->w.buf);
    e->w.lastId = wid;
    wei = e->w.buf;
  }
  e->prim.execute(st, {{DNNL_ARG_DIFF_DST, diffDst}, {DNNL_ARG_WEIGHTS, wei}, {DNNL_ARG_DIFF_SRC, diffSrc}});
  if (e->diffSrc.needed) e->diffSrc.r.execute(st, e->diffSrc.buf, userDiffSrc);
  st.wait();
  return info.Env().Undefined();
}

// conv2dBackwardWeights(x, dy, dw, params, dbias|null)
Napi::Value Conv2dBackwardWeights(const Napi::CallbackInfo& info) {
  auto p = ints(info[3]);
  bool wantBias = info.Length() > 4 && info[4].IsTypedArray();
  p[18] = 0; p[19] = wantBias ? 1 : 0;
  ConvShape s = parse(p);
  std::string k = key("bwdw", p);
  BwdWeightsEntry* e = cached(bwdWeightsCache, k, [&] {
    auto ne = std::make_unique<BwdWeightsEntry>();
    auto hint = fwdPd(s, 0.f, false, kBwdWeights);
    auto d = wantBias
        ? convolution_backward_weights::desc(algorithm::convolution_direct, actMd(s, s.src, kBwdWeights),
              anyMd(s.wei), md(s.bias, tag::a), actMd(s, s.dst, kBwdWeights), s.strides, s.dil, s.pl, s.pr)
        : convolution_backward_weights::desc(algorithm::convolution_direct, actMd(s, s.src, kBwdWeights),
              anyMd(s.wei), actMd(s, s.dst, kBwdWeights), s.strides, s.dil, s.pl, s.pr);
    ne->pd = convolution_backward_weights::primitive_desc(d, cpuEngine(), hint);
    ne->prim = convolution_backward_weights(ne->pd);
    ne->w.init(md(s.wei, s.wtag), ne->pd.diff_weights_desc(), false);
    ne->src.init(md(s.src, tag::nhwc), ne->pd.src_desc(), true);
    ne->diffDst.init(md(s.dst, tag::nhwc), ne->pd.diff_dst_desc(), true);
    return ne;
  });
  auto& eng = cpuEngine();
  auto& st = cpuStream();
  memory src = portIn(e->src, memory(md(s.src, tag::nhwc), eng, f32n(info[0], s.nSrc, "conv x")), st);
  memory diffDst = portIn(e->diffDst, memory(md(s.dst, tag::nhwc), eng, f32n(info[1], s.nDst, "conv dy")), st);
  memory userDw(e->w.user, eng, f32n(info[2], s.nWei, "conv dw"));
  memory dw = e->w.needed ? e->w.buf : userDw;
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, src}, {DNNL_ARG_DIFF_DST, diffDst}, {DNNL_ARG_DIFF_WEIGHTS, dw}};
  if (wantBias) args.emplace(DNNL_ARG_DIFF_BIAS, memory(md(s.bias, tag::a), eng, f32n(info[4], s.dst[1], "conv dbias")));
  e->prim.execute(st, args);
  if (e->w.needed) e->w.r.execute(st, e->w.buf, userDw);
  st.wait();
  return info.Env().Undefined();
}

}  // namespace ms
