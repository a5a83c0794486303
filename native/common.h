// Shared helpers for the medshield oneDNN addon (N-API via node-addon-api).
#pragma once
#include <napi.h>
#include <dnnl.hpp>
#include <cstdint>
#include <string>
#include <vector>

namespace ms {

dnnl::engine& cpuEngine();
dnnl::stream& cpuStream();

/** Zero-copy view of a JS Float32Array (honours its byte offset). */
inline float* f32(const Napi::Value& v) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    throw Napi::TypeError::New(v.Env(), "expected a Float32Array");
  return v.As<Napi::Float32Array>().Data();
}
inline size_t f32len(const Napi::Value& v) { return v.As<Napi::Float32Array>().ElementLength(); }

/**
 * f32() of an argument that must hold at least `n` elements: a kernel never reads or writes past the
 * end of a caller's buffer, whatever shape parameters it is given (a short buffer is a RangeError,
 * which the TS side turns into the cpu kernel's fallback, or rethrows under MEDSHIELD_NATIVE_STRICT=1).
 */
inline float* f32n(const Napi::Value& v, int64_t n, const char* what) {
  float* p = f32(v);
  int64_t len = (int64_t)f32len(v);
  if (n < 0 || len < n)
    throw Napi::RangeError::New(v.Env(), std::string(what) + ": buffer of " + std::to_string(len) +
                                             " elements, the shape needs " + std::to_string(n));
  return p;
}

/** Elements spanned by a strided [d0,d1,d2] view (strides in elements; 0 = broadcast). */
inline int64_t span3(const int64_t* d, const int64_t* s) {
  if (d[0] <= 0 || d[1] <= 0 || d[2] <= 0) return 0;
  return 1 + (d[0] - 1) * s[0] + (d[1] - 1) * s[1] + (d[2] - 1) * s[2];
}

/** A JS array of integers as a std::vector<int64_t>. */
inline std::vector<int64_t> ints(const Napi::Value& v) {
  auto a = v.As<Napi::Array>();
  std::vector<int64_t> r(a.Length());
  for (uint32_t i = 0; i < a.Length(); ++i) r[i] = a.Get(i).As<Napi::Number>().Int64Value();
  return r;
}

std::string key(const char* kind, const std::vector<int64_t>& p);

/** Convolution primitives created so far (conv.cc's cache misses). */
extern uint64_t convBuilds;

// Kernels (each returns undefined and writes into caller-allocated outputs).
Napi::Value Conv2dForward(const Napi::CallbackInfo& info);
Napi::Value Conv2dBackwardData(const Napi::CallbackInfo& info);
Napi::Value Conv2dBackwardWeights(const Napi::CallbackInfo& info);
Napi::Value Sgemm(const Napi::CallbackInfo& info);
Napi::Value MaxPoolForward(const Napi::CallbackInfo& info);
Napi::Value MaxPoolBackward(const Napi::CallbackInfo& info);
Napi::Value AvgPoolForward(const Napi::CallbackInfo& info);
Napi::Value AvgPoolBackward(const Napi::CallbackInfo& info);
Napi::Value ChannelAffine(const Napi::CallbackInfo& info);
Napi::Value Binary(const Napi::CallbackInfo& info);
Napi::Value Unary(const Napi::CallbackInfo& info);
Napi::Value ReduceRows(const Napi::CallbackInfo& info);
Napi::Value BiasAct(const Napi::CallbackInfo& info);
Napi::Value BnGradStats(const Napi::CallbackInfo& info);
Napi::Value MomentsStats(const Napi::CallbackInfo& info);
Napi::Value Affine(const Napi::CallbackInfo& info);
Napi::Value BnBackward(const Napi::CallbackInfo& info);
Napi::Value AdamUpdate(const Napi::CallbackInfo& info);
Napi::Value ReduceMid(const Napi::CallbackInfo& info);

}  // namespace ms
