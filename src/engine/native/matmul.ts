/**
 * Native matrix products: BatchMatMul and _FusedMatMul (bias + activation) through oneDNN's
 * sgemm (native/eltwise.cc). Batch dimensions must be equal or one side's batch must be 1
 * (broadcast); other broadcasts fall back to the cpu kernel.
 */
import * as tf from '@tensorflow/tfjs';
import { activationCode, f32, output, size, type KernelArgs, type NativeImpl } from './util.js';
import { uninitF32 } from './addon.js';

function matmul(fused: boolean): NativeImpl {
  return ({ inputs, backend, attrs }: KernelArgs, addon) => {
    const a = f32(backend, inputs.a),
      b = f32(backend, inputs.b);
    if (!a || !b) return null;
    const aShape = inputs.a!.shape,
      bShape = inputs.b!.shape;
    if (aShape.length < 2 || bShape.length < 2) return null;
    const ta = Boolean(attrs.transposeA),
      tb = Boolean(attrs.transposeB);
    const ra = aShape.length,
      rb = bShape.length;
    const M = ta ? aShape[ra - 1] : aShape[ra - 2];
    const K = ta ? aShape[ra - 2] : aShape[ra - 1];
    const K2 = tb ? bShape[rb - 1] : bShape[rb - 2];
    const N = tb ? bShape[rb - 2] : bShape[rb - 1];
    if (K !== K2 || M === 0 || N === 0 || K === 0) return null;
    const batchA = aShape.slice(0, -2),
      batchB = bShape.slice(0, -2);
    const nA = size(batchA),
      nB = size(batchB);
    // Broadcast batch dims: each side either spans the whole output batch or is a single matrix.
    const batchShape = tf.backend_util.assertAndGetBroadcastShape(batchA, batchB);
    const batch = size(batchShape);
    if ((nA !== batch && nA !== 1) || (nB !== batch && nB !== 1)) return null;
    let act = 0;
    let bias: Float32Array | null = null;
    if (fused) {
      const code = activationCode(attrs.activation);
      if (code === null || inputs.preluActivationWeights) return null;
      act = code;
      if (inputs.bias) {
        bias = f32(backend, inputs.bias);
        if (!bias || (bias.length !== N && bias.length !== 1)) return null;
      }
    }
    const c = uninitF32(batch * M * N);
    addon.sgemm(a, b, c, [batch, M, N, K, ta ? 1 : 0, tb ? 1 : 0, nA === 1 ? 0 : M * K, nB === 1 ? 0 : K * N]);
    if (bias || act !== 0) addon.biasAct(c, bias, N, act, Number(attrs.leakyreluAlpha ?? 0.2));
    return output(backend, [...batchShape, M, N], c);
  };
}

export const matmulKernels: Record<string, NativeImpl> = {
  BatchMatMul: matmul(false),
  _FusedMatMul: matmul(true),
};
