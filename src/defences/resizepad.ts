/**
 * Random resizing and padding (Xie, Wang, Zhang, Ren & Yuille 2018, "Mitigating Adversarial Effects
 * Through Randomization", ICLR). Per image and per call: resize the H×W image to r×r' with r drawn
 * uniformly from the integers in [H, P], P = round(H·max) (r' = round(W·r/H)); place it at a random
 * offset (top ∈ [0, P−r], left ∈ [0, P'−r']) in a P×P' canvas of zeros; the paper then feeds the
 * 331×331 canvas (299·1.107) to the network. Our models take a fixed input, so the canvas is resized
 * back to H×W (bilinear). Randomized: the wrapped model draws from its seeded Rng, so the same seed
 * gives the same outputs. Default max = 1.15 (28 px → canvas 32 px).
 *
 *   medshield defend --model default --defence resizepad:max=1.15 --attacks fgsm,pgd --eps 2/255 --json
 */
import { Rng } from '../engine/index.js';
import type { InputTransform } from './types.js';
import { specText, type TransformFactory } from './wrap.js';
import { resizeBilinear } from './ops.js';

const REFERENCE = 'Xie et al. 2018: random resize to r ∈ [H, H·max], random zero padding, resize back';

export function resizePadTransform(max = 1.15): InputTransform {
  return {
    spec: specText('resizepad', { max }), reference: REFERENCE, randomized: true,
    apply(x, n, [h, w, c], rng = new Rng(0)) {
      const d = h * w * c;
      const P = Math.max(h, Math.round(h * max)); const Pw = Math.max(w, Math.round(w * max));
      const out = new Float32Array(n * d);
      for (let i = 0; i < n; i++) {
        const r = h + rng.int(P - h + 1);
        const rw = Math.min(Pw, Math.max(w, Math.round((w * r) / h)));
        const small = resizeBilinear(x.subarray(i * d, (i + 1) * d), h, w, c, r, rw);
        const top = rng.int(P - r + 1); const left = rng.int(Pw - rw + 1);
        const canvas = new Float32Array(P * Pw * c);
        for (let y = 0; y < r; y++) canvas.set(small.subarray(y * rw * c, (y + 1) * rw * c), ((top + y) * Pw + left) * c);
        out.set(resizeBilinear(canvas, P, Pw, c, h, w), i * d);
      }
      return out;
    },
  };
}

export const resizepad: TransformFactory = {
  name: 'resizepad', summary: 'random resize to [H, H·max] and random zero padding (Xie et al.), then back to H×W', reference: REFERENCE, randomized: true,
  params: { max: { default: 1.15, min: 1, max: 2, minExclusive: true, help: 'largest scale, 1 < max ≤ 2' } },
  make: (p) => resizePadTransform(p.max),
};
