/**
 * Training-mode batch normalisation as one fused op on the native backend.
 *
 * tfjs-layers' BatchNormalization (training) computes `{mean, variance} = tf.moments(x)` (one
 * native pass, moments.ts) and then `tf.batchNorm4d(x, mean, variance, β, γ, ε)`. Differentiated
 * as composed, the backward pass is four passes over the activation — FusedBatchNorm's dx
 * multiply, its two per-channel sums, the moments' affine backward and the Add that accumulates
 * the two paths. Here, when batchNorm4d receives the very mean/variance the native moments
 * produced for the same x, it runs one op y = (x − μ)·γ/√(σ²+ε) + β (one affine pass) whose
 * gradient is the closed form (Ioffe & Szegedy 2015, §3), in TWO passes:
 *   pass 1: S₁ = Σ dy, S₂ = Σ dy·(x − μ) per channel              (bnGradStats)
 *   pass 2: dx = a·dy + b·x + c with a = γ·r, b = −γ·r³·S₂/N, c = −γ·r·S₁/N − b·μ   (bnBackward)
 * where r = 1/√(σ²+ε); dγ = r·S₂, dβ = S₁. Per-channel arithmetic in double on the JS side.
 * The mean/variance tensors still go to the moving-average update (no gradient flows there).
 * Installed by wrapping tfjs-core's `batchNorm4d` export; anything else goes to the original.
 */
import * as tf from '@tensorflow/tfjs';
import { createRequire } from 'node:module';
import { NATIVE_BACKEND_NAME } from './name.js';
import { f32, type Backend } from './util.js';
import { uninitF32, type NativeAddon } from './addon.js';
import { AFFINE_KERNEL } from './moments.js';

/** mean/variance tensors produced by the native moments → the x they describe. */
export const momentsOrigin = new WeakMap<tf.Tensor, tf.Tensor>();

let addonRef: NativeAddon | null = null;

/** How many times the fused op ran forward / backward (tests check the fused path was taken). */
export const fusedBnCalls = { forward: 0, backward: 0 };

type BatchNorm4d = (
  x: tf.Tensor4D | tf.TensorLike,
  mean: tf.Tensor | tf.TensorLike,
  variance: tf.Tensor | tf.TensorLike,
  offset?: tf.Tensor | tf.TensorLike,
  scale?: tf.Tensor | tf.TensorLike,
  varianceEpsilon?: number,
) => tf.Tensor4D;

const vals = (t: tf.Tensor): Float32Array => {
  const v = f32(tf.backend() as unknown as Backend, t);
  if (!v) throw new Error('batch norm: expected a float32 tensor of the native backend');
  return v;
};

/** The fused training-mode batch norm (x, γ, β; statistics given) with its two-pass gradient. */
function fusedTrainBn(
  x: tf.Tensor4D,
  mean: tf.Tensor1D,
  variance: tf.Tensor1D,
  scale: tf.Tensor1D,
  offset: tf.Tensor1D,
  eps: number,
): tf.Tensor4D {
  const C = mean.size;
  const op = tf.customGrad(((xi: tf.Tensor4D, g: tf.Tensor1D, b: tf.Tensor1D, save: tf.GradSaveFunc) => {
    fusedBnCalls.forward++;
    const mv = vals(mean),
      vv = vals(variance),
      gv = vals(g),
      bv = vals(b);
    const a = new Float32Array(C),
      sh = new Float32Array(C);
    for (let c = 0; c < C; c++) {
      const r = 1 / Math.sqrt(vv[c]! + eps);
      a[c] = gv[c]! * r;
      sh[c] = bv[c]! - mv[c]! * gv[c]! * r;
    }
    const y = tf
      .engine()
      .runKernel(AFFINE_KERNEL, { x: xi, scale: tf.tensor1d(a), shift: tf.tensor1d(sh) }, {}) as tf.Tensor4D;
    save([xi, g, mean, variance]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor4D, saved: tf.Tensor[]) => {
        fusedBnCalls.backward++;
        const [xs, gs, ms, vs] = saved as [tf.Tensor4D, tf.Tensor1D, tf.Tensor1D, tf.Tensor1D];
        const xv = vals(xs),
          dyv = vals(dy),
          mu = vals(ms),
          va = vals(vs),
          ga = vals(gs);
        const sums = new Float32Array(2 * C);
        addonRef!.bnGradStats(xv, dyv, mu, sums);
        const n = xs.size / C;
        const A = new Float32Array(C),
          B = new Float32Array(C),
          Cc = new Float32Array(C);
        const dg = new Float32Array(C),
          db = new Float32Array(C);
        for (let c = 0; c < C; c++) {
          const r = 1 / Math.sqrt(va[c]! + eps);
          const s1 = sums[c]!,
            s2 = sums[C + c]!;
          A[c] = ga[c]! * r;
          B[c] = (-ga[c]! * r * r * r * s2) / n;
          Cc[c] = (-ga[c]! * r * s1) / n - B[c]! * mu[c]!;
          dg[c] = r * s2;
          db[c] = s1;
        }
        const dx = uninitF32(xv.length);
        addonRef!.bnBackward(dyv, xv, dx, A, B, Cc);
        return [tf.tensor4d(dx, xs.shape), tf.tensor1d(dg), tf.tensor1d(db)];
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (
    x: tf.Tensor4D,
    g: tf.Tensor1D,
    b: tf.Tensor1D,
  ) => tf.Tensor4D;
  return op(x, scale, offset);
}

function eligible(x: unknown, mean: unknown, variance: unknown, offset: unknown, scale: unknown): boolean {
  if (tf.getBackend() !== NATIVE_BACKEND_NAME || !addonRef) return false;
  if (!(x instanceof tf.Tensor) || !(mean instanceof tf.Tensor) || !(variance instanceof tf.Tensor)) return false;
  if (momentsOrigin.get(mean) !== x || momentsOrigin.get(variance) !== x) return false;
  if (!(offset instanceof tf.Tensor) || !(scale instanceof tf.Tensor)) return false;
  const C = x.shape[x.rank - 1]!;
  return (
    x.rank === 4 &&
    x.dtype === 'float32' &&
    mean.rank === 1 &&
    mean.size === C &&
    variance.size === C &&
    offset.rank === 1 &&
    offset.size === C &&
    scale.rank === 1 &&
    scale.size === C &&
    offset.dtype === 'float32' &&
    scale.dtype === 'float32'
  );
}

let installed = false;
/** Wrap tfjs-core's `batchNorm4d` export (what tfjs-layers calls). Idempotent. */
export function installNativeTrainBatchNorm(addon: NativeAddon): boolean {
  addonRef = addon;
  if (installed) return true;
  const core = createRequire(import.meta.url)('@tensorflow/tfjs-core') as { batchNorm4d: BatchNorm4d };
  const desc = Object.getOwnPropertyDescriptor(core, 'batchNorm4d');
  if (!desc?.writable) return false;
  const orig = core.batchNorm4d;
  core.batchNorm4d = (x, mean, variance, offset, scale, eps = 0.001) => {
    if (!eligible(x, mean, variance, offset, scale)) return orig(x, mean, variance, offset, scale, eps);
    return fusedTrainBn(
      x as tf.Tensor4D,
      mean as tf.Tensor1D,
      variance as tf.Tensor1D,
      scale as tf.Tensor1D,
      offset as tf.Tensor1D,
      eps,
    );
  };
  installed = true;
  return true;
}

/** tf.batchNorm4d through the (possibly wrapped) tfjs-core export, for tests. */
export function coreBatchNorm4d(...args: Parameters<BatchNorm4d>): tf.Tensor4D {
  return (createRequire(import.meta.url)('@tensorflow/tfjs-core') as { batchNorm4d: BatchNorm4d }).batchNorm4d(...args);
}
