/**
 * Leaner gradients for the native backend. tfjs composes batch-norm's backward pass (and the
 * gradient of the Mean in tf.moments) from a dozen elementwise ops over the whole activation —
 * tile, sub, mul, mul, sum… — which costs more than the convolutions once those are native.
 * Here, when the active backend is `native`, FusedBatchNorm's gradient takes its two per-channel
 * reductions (Σdy, Σdy·(x−μ)) from ONE native pass (Ioffe & Szegedy 2015, §3 — the same
 * formulas tfjs' FusedBatchNorm_grad uses), computed lazily only if a parameter gradient is
 * wanted (an input gradient through an inference-mode model skips it), and dx is one broadcast
 * multiply; Mean's gradient is
 * one broadcast of dy/n; ReLU's and Square's gradients are one fused pass each. On every other backend the original
 * tfjs gradient runs unchanged.
 */
import * as tf from '@tensorflow/tfjs';
import { NATIVE_BACKEND_NAME } from './name.js';
import { f32, type Backend } from './util.js';
import type { NativeAddon } from './addon.js';
import { RELU_GRAD_KERNEL, SQUARE_GRAD_KERNEL } from './elementwise.js';

let addonRef: NativeAddon | null = null;

/** [Σdy; Σdy·(x−mean)] per channel of the last axis, computed in one native pass (no tensor). */
function bnStats(x: tf.Tensor, dy: tf.Tensor, mean: tf.Tensor): Float32Array | null {
  const backend = tf.backend() as unknown as Backend;
  const xv = f32(backend, x),
    dyv = f32(backend, dy),
    mv = f32(backend, mean);
  if (!addonRef || !xv || !dyv || !mv) return null;
  const out = new Float32Array(2 * mv.length);
  addonRef.bnGradStats(xv, dyv, mv, out);
  return out;
}

type GradFunc = tf.GradConfig['gradFunc'];

function wrap(kernelName: string, native: GradFunc): void {
  const orig = tf.getGradient(kernelName);
  if (!orig) return;
  const fallback = orig.gradFunc;
  tf.registerGradient({
    ...orig,
    gradFunc: (dy, saved, attrs) => {
      if (tf.getBackend() === NATIVE_BACKEND_NAME) {
        const r = native(dy, saved, attrs);
        if (r) return r;
      }
      return fallback(dy, saved, attrs);
    },
  });
}

const batchNormGrad = ((dy: tf.Tensor, saved: tf.Tensor[], attrs: tf.NamedAttrMap) => {
  const [x, mean, variance, scale] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor | undefined];
  const C = mean.shape[0]!;
  if (mean.rank !== 1 || variance.rank !== 1 || variance.size !== C || x.rank < 2 || x.shape[x.rank - 1] !== C)
    return null;
  if (scale && scale.size !== C && scale.size !== 1) return null;
  if (x.dtype !== 'float32' || dy.dtype !== 'float32' || mean.dtype !== 'float32') return null;
  const eps = Number((attrs as { varianceEpsilon?: number }).varianceEpsilon ?? 0.001);
  const inv = tf.rsqrt(tf.add(variance, tf.scalar(eps)));
  const invScale = scale ? tf.mul(inv, scale) : inv;
  let stats: Float32Array | null = null;
  const sums = (row: number): tf.Tensor => {
    stats ??= bnStats(x, dy, mean);
    if (!stats) {
      // not a native tensor after all: the composed formula
      const t = row === 0 ? dy : tf.mul(dy, tf.sub(x, mean));
      return tf.reshape(
        tf.sum(
          t,
          Array.from({ length: x.rank - 1 }, (_, i) => i),
        ),
        mean.shape,
      );
    }
    return tf.tensor(stats.slice(row * C, (row + 1) * C), mean.shape, 'float32');
  };
  return {
    x: () => tf.mul(dy, invScale),
    mean: () => tf.mul(tf.neg(invScale), sums(0)),
    variance: () =>
      tf.mul(tf.mul(tf.mul(tf.mul(inv, tf.square(inv)), tf.scalar(-0.5)), scale ?? tf.scalar(1)), sums(1)),
    scale: () => tf.mul(inv, sums(1)),
    offset: () => sums(0),
  };
}) as unknown as GradFunc;

const meanGrad = ((dy: tf.Tensor, saved: tf.Tensor[], attrs: tf.NamedAttrMap) => {
  const [x] = saved as [tf.Tensor];
  if (x.dtype !== 'float32') return null;
  const axes = tf.util.parseAxisParam((attrs as { axis: number | number[] }).axis, x.shape);
  const expanded = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const n = axes.reduce((p, ax) => p * x.shape[ax]!, 1);
  return { x: () => tf.broadcastTo(tf.div(tf.reshape(dy, expanded), tf.scalar(n)), x.shape) };
}) as unknown as GradFunc;

/** d relu(x) = dy·[x > 0] and d x² = dy·2x, each one native pass instead of two or three. */
function fusedUnaryGrad(kernel: string): GradFunc {
  return ((dy: tf.Tensor, saved: tf.Tensor[]) => {
    const [x] = saved as [tf.Tensor];
    if (x.dtype !== 'float32' || dy.dtype !== 'float32' || dy.size < 4096) return null;
    return { x: () => tf.engine().runKernel(kernel, { a: dy, b: x }, {}) as tf.Tensor };
  }) as unknown as GradFunc;
}

let installed = false;
/** Install the backend-aware gradients (idempotent). */
export function installNativeGradients(addon: NativeAddon): void {
  addonRef = addon;
  if (installed) return;
  installed = true;
  wrap('FusedBatchNorm', batchNormGrad);
  wrap('Mean', meanGrad);
  wrap('Relu', fusedUnaryGrad(RELU_GRAD_KERNEL));
  wrap('Square', fusedUnaryGrad(SQUARE_GRAD_KERNEL));
}
