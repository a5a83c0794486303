// medshield_native: oneDNN kernels for medshield's 'native' tfjs backend (N-API, node-addon-api).
// Every function is synchronous, reads its inputs from and writes its outputs into caller-owned
// Float32Arrays (zero copy); see src/engine/native/ for the tfjs kernels that call them.
#include "common.h"
#include <omp.h>
#include <malloc.h>
#include <cstdlib>
#include <sstream>

namespace ms {

dnnl::engine& cpuEngine() { static dnnl::engine e(dnnl::engine::kind::cpu, 0); return e; }
dnnl::stream& cpuStream() { thread_local dnnl::stream s(cpuEngine()); return s; }

std::string key(const char* kind, const std::vector<int64_t>& p) {
  std::ostringstream o;
  o << kind;
  for (auto v : p) o << ',' << v;
  return o.str();
}

namespace {

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  int n = info[0].As<Napi::Number>().Int32Value();
  if (n > 0) omp_set_num_threads(n);
  return Napi::Number::New(info.Env(), omp_get_max_threads());
}

Napi::Value Info(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  auto o = Napi::Object::New(env);
  const dnnl_version_t* v = dnnl_version();
  std::ostringstream ver;
  ver << v->major << '.' << v->minor << '.' << v->patch;
  o.Set("onednn", ver.str());
  o.Set("threads", omp_get_max_threads());
  const char* isa = "unknown";
  switch (dnnl::get_effective_cpu_isa()) {
    case dnnl::cpu_isa::sse41: isa = "sse41"; break;
    case dnnl::cpu_isa::avx: isa = "avx"; break;
    case dnnl::cpu_isa::avx2: isa = "avx2"; break;
    case dnnl::cpu_isa::avx512_core: isa = "avx512_core"; break;
    case dnnl::cpu_isa::avx512_core_vnni: isa = "avx512_core_vnni"; break;
    case dnnl::cpu_isa::avx512_core_bf16: isa = "avx512_core_bf16"; break;
    case dnnl::cpu_isa::avx512_core_amx: isa = "avx512_core_amx"; break;
    default: break;
  }
  o.Set("isa", isa);
  o.Set("convBuilds", (double)convBuilds);
  return o;
}

/** Wrap a kernel so oneDNN / std exceptions become JS errors (the TS side then falls back). */
template <Napi::Value (*F)(const Napi::CallbackInfo&)>
Napi::Value guarded(const Napi::CallbackInfo& info) {
  try {
    return F(info);
  } catch (const Napi::Error&) {
    throw;
  } catch (const dnnl::error& e) {
    throw Napi::Error::New(info.Env(), std::string("oneDNN: ") + e.what());
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), e.what());
  }
}

// Large tensor buffers (Node ArrayBuffers, malloc'd) above glibc's mmap threshold are mapped
// fresh on every allocation and unmapped on free: each batch-128 activation (12–26 MB) then costs
// ~3000–6000 page faults when first written, ~4.5 ms per 12.8 MB measured here — ten times the
// ReLU that writes it. Serving allocations up to 32 MB (glibc's maximum) from the heap and keeping
// freed heap memory lets them reuse warm pages. MEDSHIELD_NO_MALLOPT=1 leaves glibc's defaults.
void tuneMalloc() {
#ifdef __GLIBC__
  const char* off = std::getenv("MEDSHIELD_NO_MALLOPT");
  if (off && off[0] == '1') return;
  mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
  mallopt(M_TRIM_THRESHOLD, 512 * 1024 * 1024);
#endif
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  tuneMalloc();
  exports.Set("setThreads", Napi::Function::New(env, guarded<SetThreads>));
  exports.Set("info", Napi::Function::New(env, guarded<Info>));
  exports.Set("conv2dForward", Napi::Function::New(env, guarded<Conv2dForward>));
  exports.Set("conv2dBackwardData", Napi::Function::New(env, guarded<Conv2dBackwardData>));
  exports.Set("conv2dBackwardWeights", Napi::Function::New(env, guarded<Conv2dBackwardWeights>));
  exports.Set("sgemm", Napi::Function::New(env, guarded<Sgemm>));
  exports.Set("maxPoolForward", Napi::Function::New(env, guarded<MaxPoolForward>));
  exports.Set("maxPoolBackward", Napi::Function::New(env, guarded<MaxPoolBackward>));
  exports.Set("avgPoolForward", Napi::Function::New(env, guarded<AvgPoolForward>));
  exports.Set("avgPoolBackward", Napi::Function::New(env, guarded<AvgPoolBackward>));
  exports.Set("channelAffine", Napi::Function::New(env, guarded<ChannelAffine>));
  exports.Set("binary", Napi::Function::New(env, guarded<Binary>));
  exports.Set("unary", Napi::Function::New(env, guarded<Unary>));
  exports.Set("reduceSum", Napi::Function::New(env, guarded<ReduceRows>));
  exports.Set("biasAct", Napi::Function::New(env, guarded<BiasAct>));
  exports.Set("bnGradStats", Napi::Function::New(env, guarded<BnGradStats>));
  exports.Set("momentsStats", Napi::Function::New(env, guarded<MomentsStats>));
  exports.Set("affine", Napi::Function::New(env, guarded<Affine>));
  exports.Set("bnBackward", Napi::Function::New(env, guarded<BnBackward>));
  exports.Set("adamUpdate", Napi::Function::New(env, guarded<AdamUpdate>));
  exports.Set("reduceMid", Napi::Function::New(env, guarded<ReduceMid>));
  return exports;
}

}  // namespace
}  // namespace ms

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return ms::Init(env, exports); }
NODE_API_MODULE(medshield_native, InitModule)
