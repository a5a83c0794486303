/**
 * BPDA with a learned differentiable approximation — Athalye, Carlini & Wagner, ICML 2018, §4.1:
 * when the identity is a poor stand-in for a transform T (median filter, JPEG at low resolution),
 * train a small network g ≈ T and use its gradient:
 *   forward T(x) (exactly),  backward ∇ₓ g(x);   g = argmin_θ E_x ‖g_θ(x) − T(x)‖²
 * g(x) = x + a four-layer 3×3 convolutional residual (receptive field 9 px), fitted with Adam on the
 * attacked images and noisy copies of them (the attacker can run T on any input it likes). The value
 * is T(x) through g(x) + const(T(x) − g(x)) (the constant built from values, so no gradient).
 *
 * Usage: `medshield scorecard --defences median:k=3` (the scorecard chains it after identity BPDA).
 */
import { tf, Rng } from '../../engine/index.js';
import type { InputTransform } from '../../defences/types.js';
import { unsupported } from '../../errors.js';
import type { AdaptiveAttack, Pipeline } from './types.js';
import { attackView } from './bpda.js';

const cache = new WeakMap<InputTransform, tf.LayersModel>();

function network([h, w, c]: [number, number, number], seed: number): tf.LayersModel {
  const rng = new Rng(seed ^ 0x1ea7);
  const input = tf.input({ shape: [h, w, c] });
  let z: tf.SymbolicTensor = input;
  for (const [i, f] of [32, 32, 32, c].entries()) {
    z = tf.layers
      .conv2d({
        filters: f,
        kernelSize: 3,
        padding: 'same',
        activation: i < 3 ? 'relu' : 'linear',
        kernelInitializer: tf.initializers.glorotUniform({ seed: rng.int(1 << 30) }),
      })
      .apply(z) as tf.SymbolicTensor;
  }
  return tf.model({ inputs: input, outputs: tf.layers.add().apply([input, z]) as tf.SymbolicTensor });
}

/** Fit g ≈ T on the images x (n × d) and noisy copies (uniform noise up to 16/255 and Gaussian σ 0.05). */
async function learnApproximation(
  t: InputTransform,
  x: Float32Array,
  n: number,
  shape: [number, number, number],
  o: { steps?: number; seed?: number } = {},
): Promise<tf.LayersModel> {
  const cached = cache.get(t);
  if (cached) return cached;
  const [h, w, c] = shape;
  const d = h * w * c;
  const rng = new Rng((o.seed ?? 0) ^ 0xa9);
  const copies = Math.max(4, Math.ceil(512 / n));
  const m = n * copies;
  const xs = new Float32Array(m * d);
  for (let k = 0; k < copies; k++)
    for (let i = 0; i < n * d; i++) {
      const noise = k === 0 ? 0 : k % 2 ? (2 * rng.uniform() - 1) * (16 / 255) * (k / copies) : 0.05 * rng.normal();
      xs[k * n * d + i] = Math.min(1, Math.max(0, x[i] + noise));
    }
  const ty = await t.apply(xs, m, shape, t.randomized ? rng : undefined);
  const g = network(shape, o.seed ?? 0);
  const opt = tf.train.adam(2e-3);
  const steps = o.steps ?? 300;
  const batch = 64;
  for (let s = 0; s < steps; s++) {
    const idx = Array.from({ length: batch }, () => rng.int(m));
    const xb = new Float32Array(batch * d);
    const yb = new Float32Array(batch * d);
    idx.forEach((j, b) => {
      xb.set(xs.subarray(j * d, (j + 1) * d), b * d);
      yb.set(ty.subarray(j * d, (j + 1) * d), b * d);
    });
    tf.tidy(() => {
      const X = tf.tensor4d(xb, [batch, h, w, c]);
      const Y = tf.tensor4d(yb, [batch, h, w, c]);
      opt.minimize(() => tf.mean(tf.square(tf.sub(g.apply(X) as tf.Tensor, Y))) as tf.Scalar);
    });
  }
  opt.dispose();
  cache.set(t, g);
  return g;
}

export const bpdaLearned: AdaptiveAttack = {
  name: 'bpda-learned',
  reference:
    'Athalye, Carlini & Wagner, ICML 2018, §4.1: forward T(x), ' +
    'backward ∇ₓ g(x) with g ≈ T learned (min ‖g(x) − T(x)‖²)',
  applies: (p: Pipeline) => !!p.defence?.transform && !p.defence.randomized,
  async run(p, x, y, opts) {
    const t = p.defence?.transform;
    if (!t || p.defence!.randomized)
      throw unsupported(
        'BPDA with a learned approximation attacks a deterministic input transform; this pipeline has none',
      );
    const g = await learnApproximation(t, x, y.length, p.model.inputShape, { seed: opts.seed });
    return attackView(
      p,
      { transform: t, approx: g, seed: opts.seed },
      x,
      y,
      opts,
      `BPDA (learned approximation of ${t.spec})`,
    );
  },
};
