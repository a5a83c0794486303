/**
 * The one place that keeps adversarial images legal: inside the image range [0,1] and inside the
 * ε ball around the clean image. Every attack passes its final answer (and its iterates) through
 * `project`; a test checks the result of every registered attack.
 *
 * Projections, per sample (δ = x_adv − x):
 * - L∞: δ ← clip(δ, −ε, ε) then x_adv ← clip(x + δ, 0, 1). Both constraints hold at once because the
 *   box and the ball are both coordinate-wise intervals (their intersection is an interval).
 * - L2: δ ← δ · min(1, ε / ‖δ‖₂), then clip to [0,1]. Clipping moves every coordinate towards x,
 *   so it never increases ‖δ‖₂: the result stays in the ball.
 * - L1: δ ← Euclidean projection onto the L1 ball (Duchi et al., ICML 2008, sort-based), then clip
 *   (clipping only shrinks |δᵢ|, so ‖δ‖₁ ≤ ε still holds).
 * - L0: keep the ⌊ε·d⌋ largest |δᵢ| (ε is a fraction of the d input values), then clip.
 * A tiny slack (1e-6 of ε, float32 rounding) is removed before clipping so the check holds exactly.
 */
import type { Norm } from './types.js';

/** Per-sample norms of δ = a − b over rows of length d. */
export function rowNorms(
  a: Float32Array,
  b: Float32Array,
  d: number,
): { l0: Float64Array; l1: Float64Array; l2: Float64Array; linf: Float64Array } {
  const n = a.length / d;
  const l0 = new Float64Array(n);
  const l1 = new Float64Array(n);
  const l2 = new Float64Array(n);
  const linf = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let c0 = 0;
    let s1 = 0;
    let s2 = 0;
    let m = 0;
    for (let j = i * d; j < (i + 1) * d; j++) {
      const v = Math.abs(a[j] - b[j]);
      if (v > 1e-7) c0++;
      s1 += v;
      s2 += v * v;
      if (v > m) m = v;
    }
    l0[i] = c0;
    l1[i] = s1;
    l2[i] = Math.sqrt(s2);
    linf[i] = m;
  }
  return { l0, l1, l2, linf };
}

/** The size of δ in the given norm (L0: fraction of changed values). */
export function perturbationSize(delta: ArrayLike<number>, norm: Norm, off = 0, d = delta.length): number {
  let s = 0;
  for (let j = off; j < off + d; j++) {
    const v = Math.abs(delta[j]);
    if (norm === 'linf') {
      if (v > s) s = v;
    } else if (norm === 'l2') s += v * v;
    else if (norm === 'l1') s += v;
    else if (v > 1e-7) s++;
  }
  return norm === 'l2' ? Math.sqrt(s) : norm === 'l0' ? s / d : s;
}

const SLACK = 1 - 1e-6;

/** Project the L1 ball of radius eps (Duchi et al. 2008) in place on v[off, off+d). */
function projectL1(v: Float32Array, off: number, d: number, eps: number): void {
  let s = 0;
  for (let j = off; j < off + d; j++) s += Math.abs(v[j]);
  if (s <= eps) return;
  const u = Float64Array.from(v.subarray(off, off + d), Math.abs)
    .sort()
    .reverse();
  let cum = 0;
  let theta = 0;
  for (let k = 0; k < d; k++) {
    cum += u[k];
    const t = (cum - eps) / (k + 1);
    if (k === d - 1 || u[k + 1] <= t) {
      theta = t;
      break;
    }
  }
  for (let j = off; j < off + d; j++) {
    const a = Math.abs(v[j]) - theta;
    v[j] = a > 0 ? Math.sign(v[j]) * a : 0;
  }
}

/**
 * Return x0 + δ projected onto {‖δ‖ ≤ eps} ∩ [0,1]^d for every row (d = values per image).
 * `x` is not modified.
 */
export function project(x0: Float32Array, x: Float32Array, d: number, norm: Norm, eps: number): Float32Array {
  const out = new Float32Array(x.length);
  const n = x.length / d;
  const e = eps * SLACK;
  const delta = new Float32Array(d);
  for (let i = 0; i < n; i++) {
    const off = i * d;
    for (let j = 0; j < d; j++) {
      const v = x[off + j];
      delta[j] = (Number.isFinite(v) ? v : x0[off + j]) - x0[off + j];
    }
    if (norm === 'linf') {
      for (let j = 0; j < d; j++) delta[j] = delta[j] > e ? e : delta[j] < -e ? -e : delta[j];
    } else if (norm === 'l2') {
      let s = 0;
      for (let j = 0; j < d; j++) s += delta[j] * delta[j];
      const r = Math.sqrt(s);
      if (r > e) {
        const f = e / r;
        for (let j = 0; j < d; j++) delta[j] *= f;
      }
    } else if (norm === 'l1') {
      projectL1(delta, 0, d, e);
    } else {
      const keep = Math.floor(eps * d + 1e-9);
      let changed = 0;
      for (let j = 0; j < d; j++) if (delta[j] !== 0) changed++;
      if (changed > keep) {
        const order = Array.from({ length: d }, (_, j) => j).sort((a, b) => Math.abs(delta[b]) - Math.abs(delta[a]));
        for (let r = keep; r < d; r++) delta[order[r]] = 0;
      }
    }
    for (let j = 0; j < d; j++) {
      const v = x0[off + j] + delta[j];
      out[off + j] = v < 0 ? 0 : v > 1 ? 1 : v;
    }
  }
  return out;
}

/** True when every row of x is inside [0,1] and within eps (plus float tolerance) of x0. */
export function withinBall(x0: Float32Array, x: Float32Array, d: number, norm: Norm, eps: number, tol = 1e-5): boolean {
  for (let j = 0; j < x.length; j++) if (!(x[j] >= 0 && x[j] <= 1)) return false;
  const n = x.length / d;
  const delta = new Float32Array(d);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) delta[j] = x[i * d + j] - x0[i * d + j];
    const s = perturbationSize(delta, norm);
    if (norm === 'l0' ? s * d > Math.floor(eps * d + 1e-9) : s > eps * (1 + tol) + 1e-7) return false;
  }
  return true;
}

/** Rows `idx` of a row-major array with rows of length d. */
export function takeRows<T extends Float32Array | Int32Array | Uint8Array>(a: T, d: number, idx: ArrayLike<number>): T {
  const C = a.constructor as new (n: number) => T;
  const out = new C(idx.length * d);
  for (let r = 0; r < idx.length; r++) out.set(a.subarray(idx[r] * d, (idx[r] + 1) * d), r * d);
  return out;
}

/** Write rows of `src` back into `dst` at `idx`. */
export function putRows(dst: Float32Array, src: Float32Array, d: number, idx: ArrayLike<number>): void {
  for (let r = 0; r < idx.length; r++) dst.set(src.subarray(r * d, (r + 1) * d), idx[r] * d);
}
