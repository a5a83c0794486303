/**
 * Geometry of the adversarial patch (`patch.ts`): where a patch goes (centre, rotation, side), the
 * bilinear resampling tables of a batch, pasting, and the adjoint of pasting (the gradient with
 * respect to the patch).
 *
 * Pasting is linear in the patch p: A(p, x, t) = x ⊙ (1 − m_t) + M_t p, with m_t the hard mask of the
 * rotated square and M_t the bilinear resampling (edge-clamped) of p at every covered pixel, so
 * ∂ℓ/∂p = M_tᵀ ∂ℓ/∂A — a scatter-add of the input gradient with the same weights (`patchGradient`).
 * A is a convex combination of x and patch values, so it stays in [0,1].
 */
import { Rng } from '../../engine/index.js';
import { badArgument } from '../../errors.js';

/** Where one patch goes on one image: centre (pixels), rotation (radians), side (pixels). */
export interface Placement {
  cx: number;
  cy: number;
  angle: number;
  side: number;
}

/** Patch side in pixels for a fraction `scale` of an H×W image. */
export function patchSide(scale: number, h: number, w: number): number {
  if (!(scale > 0 && scale <= 1))
    throw badArgument(`patch scale must be in (0, 1] (fraction of the image area), got ${scale}`);
  return Math.max(1, Math.min(Math.min(h, w), Math.round(Math.sqrt(scale * h * w))));
}

/**
 * A random placement: rotation in ±rotationMax°, side × U[1−jitter, 1+jitter], centre so that the rotated square fits
 * (when it can).
 */
export function randomPlacement(
  rng: Rng,
  h: number,
  w: number,
  side: number,
  rotationMax = 22.5,
  jitter = 0,
): Placement {
  const angle = ((2 * rng.uniform() - 1) * (rotationMax * Math.PI)) / 180;
  const sd = side * (1 + (2 * rng.uniform() - 1) * jitter);
  const ext = (sd / 2) * (Math.abs(Math.cos(angle)) + Math.abs(Math.sin(angle)));
  const pos = (len: number): number => (ext * 2 >= len ? len / 2 : ext + rng.uniform() * (len - 2 * ext));
  const cx = pos(w);
  const cy = pos(h);
  return { cx, cy, angle, side: sd };
}

/** Seeded placements, one per image (the same for every patch evaluated with the same seed). */
export function placementsFor(
  n: number,
  h: number,
  w: number,
  side: number,
  seed: number,
  rotationMax = 22.5,
): Placement[] {
  const rng = new Rng(seed ^ 0x9a7c);
  return Array.from({ length: n }, () => randomPlacement(rng, h, w, side, rotationMax, 0));
}

/**
 * Resampling tables for a batch: for pixel q of image i, 4 patch-pixel indices and bilinear
 * weights (all zero outside the mask) and the mask itself.
 */
export interface Sampling {
  idx: Int32Array;
  wt: Float32Array;
  mask: Float32Array;
}

export function sampling(placements: Placement[], h: number, w: number, s: number): Sampling {
  const n = placements.length;
  const hw = h * w;
  const idx = new Int32Array(n * hw * 4);
  const wt = new Float32Array(n * hw * 4);
  const mask = new Float32Array(n * hw);
  const clampI = (v: number): number => (v < 0 ? 0 : v > s - 1 ? s - 1 : v);
  placements.forEach((p, i) => {
    const c = Math.cos(p.angle);
    const sn = Math.sin(p.angle);
    const half = p.side / 2;
    const f = s / p.side;
    for (let py = 0; py < h; py++) {
      for (let px = 0; px < w; px++) {
        const dx = px + 0.5 - p.cx;
        const dy = py + 0.5 - p.cy;
        const ru = c * dx + sn * dy;
        const rv = -sn * dx + c * dy;
        if (Math.abs(ru) > half || Math.abs(rv) > half) continue;
        const q = i * hw + py * w + px;
        mask[q] = 1;
        const u = Math.min(s - 1, Math.max(0, (ru + half) * f - 0.5));
        const v = Math.min(s - 1, Math.max(0, (rv + half) * f - 0.5));
        const u0 = Math.floor(u);
        const v0 = Math.floor(v);
        const fu = u - u0;
        const fv = v - v0;
        const u1 = clampI(u0 + 1);
        const v1 = clampI(v0 + 1);
        idx[q * 4] = v0 * s + u0;
        wt[q * 4] = (1 - fu) * (1 - fv);
        idx[q * 4 + 1] = v0 * s + u1;
        wt[q * 4 + 1] = fu * (1 - fv);
        idx[q * 4 + 2] = v1 * s + u0;
        wt[q * 4 + 2] = (1 - fu) * fv;
        idx[q * 4 + 3] = v1 * s + u1;
        wt[q * 4 + 3] = fu * fv;
      }
    }
  });
  return { idx, wt, mask };
}

/** Side of a patch of `channels` channels from its length. */
export function sideOf(patch: Float32Array, channels: number): number {
  const s = Math.round(Math.sqrt(patch.length / channels));
  if (s * s * channels !== patch.length)
    throw badArgument(`a patch must have s×s×${channels} values, got ${patch.length}`);
  return s;
}

/**
 * Paste a patch on every image of x (NHWC rows of the given shape): one patch for all images or one
 * per image (same side), one placement for all or one per image. Returns new images in [0,1].
 */
export function applyPatch(
  x: Float32Array,
  patch: Float32Array | Float32Array[],
  placement: Placement | Placement[],
  shape: [number, number, number],
): Float32Array {
  const [h, w, ch] = shape;
  const hw = h * w;
  const n = x.length / (hw * ch);
  const ps = Array.isArray(patch) ? patch : [patch];
  if (Array.isArray(patch) && patch.length !== n) throw badArgument(`got ${patch.length} patches for ${n} images`);
  const s = sideOf(ps[0], ch);
  for (const p of ps)
    if (p.length !== ps[0].length) throw badArgument('all patches of one batch must have the same size');
  const pl = Array.isArray(placement) ? placement : Array.from({ length: n }, () => placement);
  if (pl.length !== n) throw badArgument(`got ${pl.length} placements for ${n} images`);
  const { idx, wt, mask } = sampling(pl, h, w, s);
  const out = Float32Array.from(x);
  for (let q = 0; q < n * hw; q++) {
    if (!mask[q]) continue;
    const p = ps.length === 1 ? ps[0] : ps[Math.floor(q / hw)];
    for (let c = 0; c < ch; c++) {
      let v = 0;
      for (let k = 0; k < 4; k++) v += wt[q * 4 + k] * p[idx[q * 4 + k] * ch + c];
      out[q * ch + c] = v < 0 ? 0 : v > 1 ? 1 : v;
    }
  }
  return out;
}

/** ∂ℓ/∂p = Σ_i M_iᵀ ∂ℓ/∂A_i for one patch pasted on a batch (gradA: NHWC input gradient at the patched images). */
export function patchGradient(
  gradA: Float32Array,
  sm: Sampling,
  n: number,
  hw: number,
  ch: number,
  s: number,
): Float32Array {
  const g = new Float32Array(s * s * ch);
  for (let q = 0; q < n * hw; q++) {
    if (!sm.mask[q]) continue;
    for (let k = 0; k < 4; k++) {
      const wq = sm.wt[q * 4 + k];
      if (!wq) continue;
      const j = sm.idx[q * 4 + k] * ch;
      for (let c = 0; c < ch; c++) g[j + c] += wq * gradA[q * ch + c];
    }
  }
  return g;
}
