/**
 * Gaussian blur, the classic low-pass input transform (used as a baseline pre-processing defence in
 * Xu et al. 2018 and Guo et al. 2018): x' = G_σ * x per channel, with the separable kernel
 * g(t) ∝ exp(−t²/2σ²) for |t| ≤ ⌈4σ⌉ (scipy.ndimage.gaussian_filter's truncate = 4), normalised to
 * sum 1, reflect padding. High-frequency perturbations are attenuated, along with image detail.
 * Default σ = 1 (pixels). Deterministic.
 *
 *   medshield defend --model default --defence blur:sigma=1 --attacks fgsm,pgd --eps 2/255 --json
 */
import type { InputTransform } from './types.js';
import { specText, type TransformFactory } from './wrap.js';
import { reflect, clamp01 } from './ops.js';

const REFERENCE = "Gaussian blur x' = G_σ * x (separable, truncate 4σ, reflect padding)";

export function gaussianKernel(sigma: number): Float64Array {
  const r = Math.max(1, Math.ceil(4 * sigma));
  const g = new Float64Array(2 * r + 1);
  let s = 0;
  for (let t = -r; t <= r; t++) { g[t + r] = Math.exp(-(t * t) / (2 * sigma * sigma)); s += g[t + r]; }
  for (let i = 0; i < g.length; i++) g[i] /= s;
  return g;
}

export function blurTransform(sigma = 1): InputTransform {
  const g = gaussianKernel(sigma);
  const r = (g.length - 1) >> 1;
  return {
    spec: specText('blur', { sigma }), reference: REFERENCE, randomized: false,
    apply(x, n, [h, w, c]) {
      const d = h * w * c;
      const out = new Float32Array(n * d);
      const tmp = new Float64Array(d);
      for (let i = 0; i < n; i++) {
        const base = i * d;
        // rows, then columns
        for (let y = 0; y < h; y++) for (let xx = 0; xx < w; xx++) for (let ch = 0; ch < c; ch++) {
          let s = 0;
          for (let t = -r; t <= r; t++) s += g[t + r] * x[base + (y * w + reflect(xx + t, w)) * c + ch];
          tmp[(y * w + xx) * c + ch] = s;
        }
        for (let y = 0; y < h; y++) for (let xx = 0; xx < w; xx++) for (let ch = 0; ch < c; ch++) {
          let s = 0;
          for (let t = -r; t <= r; t++) s += g[t + r] * tmp[(reflect(y + t, h) * w + xx) * c + ch];
          out[base + (y * w + xx) * c + ch] = clamp01(s);
        }
      }
      return out;
    },
  };
}

export const blur: TransformFactory = {
  name: 'blur', summary: 'Gaussian blur with standard deviation σ (pixels)', reference: REFERENCE, randomized: false,
  params: { sigma: { default: 1, min: 0, max: 10, minExclusive: true, help: 'σ in pixels, 0 < σ ≤ 10' } },
  make: (p) => blurTransform(p.sigma),
};
