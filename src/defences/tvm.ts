/**
 * Total-variation minimisation (Guo, Rana, Cissé & van der Maaten 2018, "Countering Adversarial Images
 * using Input Transformations", ICLR). A random Bernoulli mask X keeps each pixel with probability p;
 * the image is reconstructed from the kept pixels by
 *     z* = argmin_z ½‖X ⊙ (z − x)‖₂² + λ · TV(z),   TV(z) = Σᵢⱼ √((z_{i+1,j} − z_{ij})² + (z_{i,j+1} − z_{ij})² + δ)
 * per channel (isotropic TV, smoothed with δ = 10⁻³ so it is differentiable), solved by projected
 * gradient descent on [0,1] from z = x for `iters` steps of size 1/L (L the gradient's Lipschitz bound).
 * Guo et al. (and ART's TotalVarMin) use a squared-or-not L2 fidelity with a Bernoulli mask and L-BFGS;
 * the fixed-step solver here is ours (small images, no dependency). Defaults p = 0.5, λ = 0.03,
 * iters = 100. Randomized (the mask) — seeded through the wrapped model's Rng.
 *
 *   medshield defend --model default --defence tvm:p=0.5,lam=0.03 --attacks fgsm,pgd --eps 2/255 --json
 */
import { Rng } from '../engine/index.js';
import type { InputTransform } from './types.js';
import { specText, type TransformFactory } from './wrap.js';

const REFERENCE =
  'Guo et al. 2018: total-variation minimisation from a random pixel mask, argmin ½‖X⊙(z−x)‖² + λ·TV(z)';
const DELTA = 1e-3;

export function tvmTransform(p = 0.5, lam = 0.03, iters = 100): InputTransform {
  return {
    spec: specText('tvm', { p, lam, iters }),
    reference: REFERENCE,
    randomized: true,
    apply(x, n, [h, w, c], rng = new Rng(0)) {
      const d = h * w * c;
      const hw = h * w;
      const out = new Float32Array(n * d);
      const mask = new Uint8Array(hw);
      const z = new Float64Array(hw);
      const x0 = new Float64Array(hw);
      const g = new Float64Array(hw);
      const step = 1 / (1 + (8 * lam) / Math.sqrt(DELTA));
      for (let i = 0; i < n; i++) {
        for (let ch = 0; ch < c; ch++) {
          for (let q = 0; q < hw; q++) {
            mask[q] = rng.uniform() < p ? 1 : 0;
            x0[q] = x[i * d + q * c + ch];
            z[q] = x0[q];
          }
          for (let it = 0; it < iters; it++) {
            for (let q = 0; q < hw; q++) g[q] = mask[q] * (z[q] - x0[q]);
            for (let y = 0; y < h; y++)
              for (let xx = 0; xx < w; xx++) {
                const q = y * w + xx;
                const dv = y + 1 < h ? z[q + w] - z[q] : 0;
                const dh = xx + 1 < w ? z[q + 1] - z[q] : 0;
                const s = lam / Math.sqrt(dv * dv + dh * dh + DELTA);
                g[q] -= s * (dv + dh);
                if (y + 1 < h) g[q + w] += s * dv;
                if (xx + 1 < w) g[q + 1] += s * dh;
              }
            for (let q = 0; q < hw; q++) {
              const v = z[q] - step * g[q];
              z[q] = v < 0 ? 0 : v > 1 ? 1 : v;
            }
          }
          for (let q = 0; q < hw; q++) out[i * d + q * c + ch] = z[q];
        }
      }
      return out;
    },
  };
}

export const tvm: TransformFactory = {
  name: 'tvm',
  summary: 'total-variation minimisation from a random pixel mask (Guo et al.)',
  reference: REFERENCE,
  randomized: true,
  params: {
    p: { default: 0.5, min: 0, max: 1, minExclusive: true, help: 'probability of keeping a pixel, 0 < p ≤ 1' },
    lam: { default: 0.03, min: 0, max: 10, help: 'TV weight λ, 0 ≤ λ ≤ 10' },
    iters: { default: 100, min: 1, max: 10000, integer: true, help: 'gradient steps 1–10000' },
  },
  make: (q) => tvmTransform(q.p, q.lam, q.iters),
};
