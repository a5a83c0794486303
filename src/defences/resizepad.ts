/**
 * Random resizing and padding (Xie, Wang, Zhang, Ren & Yuille 2018, "Mitigating Adversarial Effects
 * Through Randomization", ICLR). Per image and per call: resize the H×W image to r×r' with r drawn
 * uniformly from the integers in [H, P], P = round(H·max) (r' = round(W·r/H)); place it at a random
 * offset (top ∈ [0, P−r], left ∈ [0, P'−r']) in a P×P' canvas of zeros; the paper then feeds the
 * 331×331 canvas (299·1.107) to the network. Our models take a fixed input, so the canvas is resized
 * back to H×W (bilinear). Randomized: the wrapped model draws from its seeded Rng, so the same seed
 * gives the same outputs. Default max = 1.15 (28 px → canvas 32 px). `differentiable` does the same on
 * tensors, drawing the same random numbers in the same order, so for equal Rng states it gives
 * apply's output and exact gradients: per image the map is linear, out = A_y·X·A_wᵀ with A = resize
 * back · zero placement · resize (matrices below). Not tf.image.resizeBilinear: its gradient kernel
 * (tfjs 4.22) ignores halfPixelCenters, so its gradients do not match its forward pass.
 *
 *   medshield defend --model default --defence resizepad:max=1.15 --attacks fgsm,pgd --eps 2/255 --json
 */
import { Rng, tf } from '../engine/index.js';
import { badInput } from '../errors.js';
import type { InputTransform } from './types.js';
import { specText, type TransformFactory } from './wrap.js';
import { resizeBilinear } from './ops.js';

/**
 * The 1-D bilinear interpolation matrix of ops.ts' resizeBilinear (half-pixel centres): rows = output
 * positions (m), columns = input positions (n).
 */
function resizeMatrix(n: number, m: number): Float64Array {
  const a = new Float64Array(m * n);
  const s = n / m;
  for (let y = 0; y < m; y++) {
    const f = Math.min(Math.max((y + 0.5) * s - 0.5, 0), n - 1);
    const y0 = Math.floor(f);
    const y1 = Math.min(y0 + 1, n - 1);
    const t = f - y0;
    a[y * n + y0] += 1 - t;
    a[y * n + y1] += t;
  }
  return a;
}

/** size → r (resize), placed at `offset` in a zero canvas of length P, → size (resize): a size×size matrix. */
function placedResizeMatrix(size: number, r: number, P: number, offset: number): Float32Array {
  const down = resizeMatrix(size, r); // r × size
  const back = resizeMatrix(P, size); // size × P
  const out = new Float32Array(size * size);
  for (let i = 0; i < size; i++)
    for (let j = 0; j < size; j++) {
      let s = 0;
      for (let k = 0; k < r; k++) s += back[i * P + offset + k] * down[k * size + j];
      out[i * size + j] = s;
    }
  return out;
}

const REFERENCE = 'Xie et al. 2018: random resize to r ∈ [H, H·max], random zero padding, resize back';

export function resizePadTransform(max = 1.15): InputTransform {
  return {
    spec: specText('resizepad', { max }),
    reference: REFERENCE,
    randomized: true,
    apply(x, n, [h, w, c], rng = new Rng(0)) {
      const d = h * w * c;
      const P = Math.max(h, Math.round(h * max));
      const Pw = Math.max(w, Math.round(w * max));
      const out = new Float32Array(n * d);
      for (let i = 0; i < n; i++) {
        const r = h + rng.int(P - h + 1);
        const rw = Math.min(Pw, Math.max(w, Math.round((w * r) / h)));
        const small = resizeBilinear(x.subarray(i * d, (i + 1) * d), h, w, c, r, rw);
        const top = rng.int(P - r + 1);
        const left = rng.int(Pw - rw + 1);
        const canvas = new Float32Array(P * Pw * c);
        for (let y = 0; y < r; y++)
          canvas.set(small.subarray(y * rw * c, (y + 1) * rw * c), ((top + y) * Pw + left) * c);
        out.set(resizeBilinear(canvas, P, Pw, c, h, w), i * d);
      }
      return out;
    },
    differentiable(x, rng = new Rng(0)) {
      if (x.rank !== 4) throw badInput(`resizepad expects an NHWC batch (rank 4), got rank ${x.rank}`);
      const [n, h, w, c] = x.shape;
      const P = Math.max(h, Math.round(h * max));
      const Pw = Math.max(w, Math.round(w * max));
      // Per image the transform is linear and separable: out = A_y · X · A_wᵀ per channel, where
      // A = (resize P→H) · (place at offset) · (resize H→r). Same draws, same order as apply.
      const ay = new Float32Array(n * h * h);
      const aw = new Float32Array(n * w * w);
      for (let i = 0; i < n; i++) {
        const r = h + rng.int(P - h + 1);
        const rw = Math.min(Pw, Math.max(w, Math.round((w * r) / h)));
        const top = rng.int(P - r + 1);
        const left = rng.int(Pw - rw + 1);
        ay.set(placedResizeMatrix(h, r, P, top), i * h * h);
        aw.set(placedResizeMatrix(w, rw, Pw, left), i * w * w);
      }
      return tf.tidy(() => {
        // [n,h,w,c] → [n,c,h,w] → batched matmuls with each image's matrices repeated per channel
        const ayT = tf.reshape(tf.tile(tf.reshape(tf.tensor3d(ay, [n, h, h]), [n, 1, h, h]), [1, c, 1, 1]), [
          n * c,
          h,
          h,
        ]) as tf.Tensor3D;
        const awT = tf.reshape(tf.tile(tf.reshape(tf.tensor3d(aw, [n, w, w]), [n, 1, w, w]), [1, c, 1, 1]), [
          n * c,
          w,
          w,
        ]) as tf.Tensor3D;
        const xs = tf.reshape(tf.transpose(x, [0, 3, 1, 2]), [n * c, h, w]) as tf.Tensor3D;
        const y = tf.matMul(tf.matMul(ayT, xs), awT, false, true);
        return tf.transpose(tf.reshape(y, [n, c, h, w]), [0, 2, 3, 1]) as tf.Tensor4D;
      });
    },
  };
}

export const resizepad: TransformFactory = {
  name: 'resizepad',
  summary: 'random resize to [H, H·max] and random zero padding (Xie et al.), then back to H×W',
  reference: REFERENCE,
  randomized: true,
  params: { max: { default: 1.15, min: 1, max: 2, minExclusive: true, help: 'largest scale, 1 < max ≤ 2' } },
  make: (p) => resizePadTransform(p.max),
};
