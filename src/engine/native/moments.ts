/**
 * One-pass tf.moments for batch normalisation in training on the native backend.
 *
 * tfjs-layers' BatchNormalization (training) calls tf.moments(x, [0..rank−2]), which tfjs
 * composes as mean(x), sub, square, mean — 4 passes forward and ~10 on the way back (broadcasts,
 * square/sub gradients, sums, accumulations). Here the per-channel mean and population variance
 * come from ONE native pass (double sums), and the backward pass is ONE per-channel affine pass:
 *   ∂L/∂x = ∂L/∂μ / N + ∂L/∂σ² · 2(x − μ) / N      (μ = Σx/N, σ² = Σ(x−μ)²/N).
 * Installed by wrapping the `moments` export of @tensorflow/tfjs-core that tfjs-layers calls;
 * the wrapper defers to the original whenever the backend is not `native` or the call is not
 * the per-channel float32 form (axes = all but the last, keepDims false).
 */
import * as tf from '@tensorflow/tfjs';
import { createRequire } from 'node:module';
import { NATIVE_BACKEND_NAME } from './name.js';
import { f32, output, type KernelArgs, type NativeImpl } from './util.js';
import { uninitF32 } from './addon.js';
import { momentsOrigin } from './batchnorm.js';

export const MOMENTS_KERNEL = 'MedshieldMoments';
export const AFFINE_KERNEL = 'MedshieldChannelAffine';

/** Kernel: {x} → [2, C] = [mean; variance] over all but the last axis. */
const momentsKernel: NativeImpl = ({ inputs, backend }: KernelArgs, addon) => {
  const x = f32(backend, inputs.x);
  if (!x) return null;
  const C = inputs.x!.shape[inputs.x!.shape.length - 1]!;
  const out = new Float32Array(2 * C);
  addon.momentsStats(x, out);
  return output(backend, [2, C], out);
};

/** Kernel: {x, scale[C], shift[C]} → x·scale + shift over the last axis. */
const affineKernel: NativeImpl = ({ inputs, backend }: KernelArgs, addon) => {
  const x = f32(backend, inputs.x),
    sc = f32(backend, inputs.scale),
    sh = f32(backend, inputs.shift);
  if (!x || !sc || !sh) return null;
  const y = uninitF32(x.length);
  addon.affine(x, y, sc, sh);
  return output(backend, inputs.x!.shape, y);
};

export const momentsKernels: Record<string, NativeImpl> = {
  [MOMENTS_KERNEL]: momentsKernel,
  [AFFINE_KERNEL]: affineKernel,
};

const statsOp = tf.customGrad(((x: tf.Tensor, save: tf.GradSaveFunc) => {
  const stats = tf.engine().runKernel(MOMENTS_KERNEL, { x }, {}) as tf.Tensor;
  save([x, stats]);
  return {
    value: stats,
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [xs, st] = saved as [tf.Tensor, tf.Tensor];
      const C = st.shape[1]!;
      const n = xs.size / C;
      const mean = tf.reshape(tf.slice(st, [0, 0], [1, C]), [C]);
      const dMean = tf.reshape(tf.slice(dy, [0, 0], [1, C]), [C]);
      const dVar = tf.reshape(tf.slice(dy, [1, 0], [1, C]), [C]);
      const scale = tf.mul(dVar, tf.scalar(2 / n));
      const shift = tf.sub(tf.div(dMean, tf.scalar(n)), tf.mul(mean, scale));
      return tf.engine().runKernel(AFFINE_KERNEL, { x: xs, scale, shift }, {}) as tf.Tensor;
    },
  };
}) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (x: tf.Tensor) => tf.Tensor;

type Moments = (x: tf.Tensor, axis?: number | number[], keepDims?: boolean) => { mean: tf.Tensor; variance: tf.Tensor };

function eligible(x: unknown, axis: unknown, keepDims: unknown): x is tf.Tensor {
  if (tf.getBackend() !== NATIVE_BACKEND_NAME || keepDims || !(x instanceof tf.Tensor)) return false;
  if (x.dtype !== 'float32' || x.rank < 2 || x.size < 4096) return false;
  const axes = tf.util.parseAxisParam(axis as number | number[], x.shape).sort((a, b) => a - b);
  return axes.length === x.rank - 1 && axes.every((a, i) => a === i);
}

let installed = false;
/** Wrap tfjs-core's `moments` export (what tfjs-layers calls). Idempotent; no-op if not writable. */
export function installNativeMoments(): boolean {
  if (installed) return true;
  const core = createRequire(import.meta.url)('@tensorflow/tfjs-core') as { moments: Moments };
  const desc = Object.getOwnPropertyDescriptor(core, 'moments');
  if (!desc?.writable) return false;
  const orig = core.moments;
  core.moments = (x, axis, keepDims) => {
    if (!eligible(x, axis, keepDims)) return orig(x, axis, keepDims);
    const r = tf.tidy(() => {
      const C = x.shape[x.rank - 1]!;
      const st = statsOp(x);
      return {
        mean: tf.reshape(tf.slice(st, [0, 0], [1, C]), [C]),
        variance: tf.reshape(tf.slice(st, [1, 0], [1, C]), [C]),
      };
    });
    // Remember which x these describe: batchNorm4d on the same x fuses (batchnorm.ts).
    momentsOrigin.set(r.mean, x);
    momentsOrigin.set(r.variance, x);
    return r;
  };
  installed = true;
  return true;
}

/** tf.moments through the native path when eligible (for tests / callers holding `tf`). */
export function nativeMoments(x: tf.Tensor, axis: number | number[]): { mean: tf.Tensor; variance: tf.Tensor } {
  const core = createRequire(import.meta.url)('@tensorflow/tfjs-core') as { moments: Moments };
  return core.moments(x, axis);
}
