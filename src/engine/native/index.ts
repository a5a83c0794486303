/**
 * The `native` backend: tfjs' CPU backend (MathBackendCPU — tensors are plain Float32Arrays)
 * with its hot kernels replaced by a oneDNN N-API addon (native/*.cc) that reads and writes those
 * arrays in place. Every kernel of `cpu` is registered for `native` first, then native ones
 * override convolution (+ depthwise, + fused bias/activation, + both gradients), matrix
 * products, pooling (+ gradients), batch-norm forward, the large elementwise/reduction ops and the
 * strided copies of Slice, SplitV (Concat's gradient), Concat, Transpose and PadV2 (slice.ts), and
 * Softmax and Erf in one JS pass each (rowwise.ts).
 * While `native` is active, batch-norm's / Mean's / ReLU's / Square's gradients use leaner native
 * formulations (gradients.ts), the tf.moments of tfjs-layers' batch normalisation is one native
 * pass (moments.ts) and its batchNorm4d one fused op with a two-pass backward (batchnorm.ts),
 * bias-free fused convolutions get lazy per-input gradients (fused.ts), `convBiasAct` is one
 * conv+bias+ReLU kernel with lazy gradients (fused.ts, for the folded inference path of
 * src/models/inference.ts), Adam is one pass per variable (optim.ts), and large outputs are
 * pooled and reused on dispose (addon.ts).
 * Any case a native kernel does not cover (NCHW, prelu, odd broadcasts, int32…) runs the cpu
 * kernel. oneDNN and the elementwise kernels share one OpenMP pool of `threads` threads.
 */
import * as tf from '@tensorflow/tfjs';
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { loadAddon, installBufferPool, type NativeAddon } from './addon.js';
import { withFallback, type NativeImpl } from './util.js';
import { convKernels } from './conv.js';
import { matmulKernels } from './matmul.js';
import { poolKernels } from './pool.js';
import {
  elementwiseKernels,
  extraKernels,
  SILU_GRAD_KERNEL,
  AFFINE_RELU_KERNEL,
  AFFINE_RELU_GRAD_KERNEL,
} from './elementwise.js';
import { sliceKernels } from './slice.js';
import { rowwiseKernels } from './rowwise.js';
import { installNativeGradients } from './gradients.js';
import { installNativeMoments, momentsKernels } from './moments.js';
import { installLazyConvGradients, FUSED_CONV_KERNEL } from './fused.js';
import { installNativeTrainBatchNorm } from './batchnorm.js';
import {
  nativeConvBiasAct,
  nativeConstConv,
  constConvKernel,
  CONST_CONV_KERNEL,
  CONST_CONV_RELU_KERNEL,
} from './fused.js';
import { backendOps } from '../hooks.js';
import { optimKernels, nativeAdam, setOptimAddon } from './optim.js';
import { NATIVE_BACKEND_NAME } from './name.js';

export { nativeErrors, nativeCounts, countNativeCalls } from './util.js';
export { loadAddon, poolStats } from './addon.js';
export { nativeMoments } from './moments.js';
export { nativeConvBiasAct } from './fused.js';
export { coreBatchNorm4d, fusedBnCalls } from './batchnorm.js';

export const NATIVE_BACKEND = NATIVE_BACKEND_NAME;

/** Every kernel the addon provides, by tfjs kernel name. */
export const NATIVE_KERNELS: Record<string, NativeImpl> = {
  ...convKernels,
  ...matmulKernels,
  ...poolKernels,
  ...elementwiseKernels,
  ...sliceKernels,
  ...rowwiseKernels,
};

let registered: { threads: number; simd: boolean } | null = null;

function register(addon: NativeAddon): void {
  tf.registerBackend(
    NATIVE_BACKEND,
    () => {
      const b = new MathBackendCPU();
      installBufferPool(b as unknown as Parameters<typeof installBufferPool>[0]);
      return b;
    },
    0,
  );
  const cpuKernels = new Map<string, tf.KernelFunc>();
  for (const k of tf.getKernelsForBackend('cpu')) {
    cpuKernels.set(k.kernelName, k.kernelFunc);
    tf.registerKernel({ ...k, backendName: NATIVE_BACKEND });
  }
  for (const [name, impl] of Object.entries(NATIVE_KERNELS)) {
    const fallback = cpuKernels.get(name);
    if (!fallback) continue; // kernel unknown to this tfjs version
    tf.unregisterKernel(name, NATIVE_BACKEND);
    tf.registerKernel({
      kernelName: name,
      backendName: NATIVE_BACKEND,
      kernelFunc: withFallback(name, impl, fallback, addon),
    });
  }
  for (const [name, impl] of Object.entries({ ...extraKernels, ...momentsKernels, ...optimKernels })) {
    const kernelFunc = withFallback(
      name,
      impl,
      () => {
        throw new Error(`${name}: unsupported inputs`);
      },
      addon,
    );
    tf.registerKernel({ kernelName: name, backendName: NATIVE_BACKEND, kernelFunc });
  }
  const fusedFallback = cpuKernels.get('FusedConv2D');
  if (fusedFallback) {
    tf.registerKernel({
      kernelName: FUSED_CONV_KERNEL,
      backendName: NATIVE_BACKEND,
      kernelFunc: withFallback(FUSED_CONV_KERNEL, convKernels.FusedConv2D!, fusedFallback, addon),
    });
  }
  for (const [name, relu] of [
    [CONST_CONV_KERNEL, false],
    [CONST_CONV_RELU_KERNEL, true],
  ] as const)
    tf.registerKernel({
      kernelName: name,
      backendName: NATIVE_BACKEND,
      kernelFunc: withFallback(
        name,
        constConvKernel(relu),
        () => {
          throw new Error(`${name}: unsupported inputs`);
        },
        addon,
      ),
    });
  backendOps.nativeConvBiasAct = nativeConvBiasAct;
  backendOps.nativeConstConv = nativeConstConv;
  setOptimAddon(addon);
  backendOps.nativeAdam = nativeAdam;
  backendOps.nativeSiluGrad = (dy, x) => tf.engine().runKernel(SILU_GRAD_KERNEL, { a: dy, b: x }) as tf.Tensor;
  backendOps.nativeAffineRelu = (x, scale, shift) =>
    tf.customGrad(((xx: tf.Tensor, save: tf.GradSaveFunc) => {
      const value = tf.engine().runKernel(AFFINE_RELU_KERNEL, { x: xx, scale, shift }) as tf.Tensor;
      save([value]);
      return {
        value,
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => [
          tf.engine().runKernel(AFFINE_RELU_GRAD_KERNEL, { dy, y: saved[0], scale }) as tf.Tensor,
        ],
      };
    }) as unknown as Parameters<typeof tf.customGrad>[0])(x);
  installNativeGradients(addon);
  installNativeMoments();
  installNativeTrainBatchNorm(addon);
  installLazyConvGradients();
}

/**
 * Register the `native` backend (idempotent). Returns its thread count and whether the CPU has
 * SIMD oneDNN uses (AVX2 or better), or a one-line reason when the addon is unavailable.
 */
export async function registerNativeBackend(threads: number): Promise<{ threads: number; simd: boolean } | string> {
  const addon = loadAddon();
  if (typeof addon === 'string') return addon;
  const n = addon.setThreads(threads);
  if (registered) return (registered = { ...registered, threads: n });
  if (!tf.getKernelsForBackend('cpu').length) return 'the tfjs cpu backend has no kernels registered';
  register(addon);
  const isa = addon.info().isa;
  registered = { threads: n, simd: isa.startsWith('avx') };
  return registered;
}

/** The addon's build/runtime facts (oneDNN version, ISA, threads), or null if it is not loaded. */
export function nativeInfo(): { onednn: string; threads: number; isa: string } | null {
  const addon = loadAddon();
  return typeof addon === 'string' ? null : addon.info();
}
