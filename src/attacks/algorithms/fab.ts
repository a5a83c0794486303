/**
 * FAB-T — targeted Fast Adaptive Boundary attack (L∞ and L2), as run by AutoAttack.
 * F. Croce, M. Hein, "Minimally distorted Adversarial Examples with a Fast Adaptive Boundary
 * Attack", ICML 2020; ported from the authors' autoattack/fab_base.py.
 *
 * For a target t, linearise g(x) = z_t(x) − z_y(x) at x^k: the decision hyperplane is
 * π = {z : ∇g·z = ∇g·x^k − g(x^k)}. With P the projection onto π ∩ [0,1]^d (in the attack's norm),
 *   δ^k = P(x^k) − x^k,   δ^k_orig = P(x_orig) − x_orig,
 *   α = min( ‖δ^k‖ / (‖δ^k‖ + ‖δ^k_orig‖), α_max )
 *   x^{k+1} = clip_[0,1]( (1 − α)(x^k + η δ^k) + α (x_orig + η δ^k_orig) )
 * and once x^{k+1} is adversarial it is recorded if closer than the best so far, then pulled back:
 * x^{k+1} ← x_orig + β (x^{k+1} − x_orig). Targets: the τ-th most likely classes at the clean
 * image, τ = 2 … min(9, k−1)+1 (AutoAttack standard). Defaults: 100 iterations, α_max = 0.1,
 * η = 1.05, β = 0.9, 1 restart (further restarts start at a random point at distance ε/2).
 * The projection P solves min ‖d‖ s.t. w·(p + d) = b, p + d ∈ [0,1]^d: its solution is
 * d_i = clip(λ s_i, −p_i, 1 − p_i) with s = sign(w) (L∞) or s = w (L2), and λ ≥ 0 is found by
 * bisection on the monotone function λ ↦ w·d(λ) (when the box makes the plane unreachable the
 * unconstrained projection is used and the box clip applies afterwards, as in the reference code).
 * Minimum-norm: ε only bounds the answer. Usage: `medshield attack --attack fab-t --eps 8/255`.
 */
import type { Attack, AttackOptions, Norm } from '../types.js';
import { finalize, pendingTargeted, roundTargets, setup, targetedPlan } from '../common.js';
import { pickColumns } from '../targets/oracle.js';
import { takeRows, perturbationSize } from '../project.js';
import { unsupported } from '../../errors.js';
import { tf } from '../../engine/index.js';
import type { DifferentiableModel } from '../../models/model.js';

/** d with w·(p + d) = b, p + d in the unit box, ‖d‖ minimal (norm L∞ or L2). */
export function projectHyperplaneBox(p: Float32Array, w: Float32Array, b: number, norm: Norm): Float32Array {
  const D = p.length;
  let c = b;
  for (let i = 0; i < D; i++) c -= w[i] * p[i];
  const sgn = c < 0 ? -1 : 1;
  c *= sgn;
  const s = new Float32Array(D);
  for (let i = 0; i < D; i++) {
    const wi = w[i] * sgn;
    s[i] = norm === 'linf' ? Math.sign(wi) : wi;
  }
  const dAt = (lam: number, out?: Float32Array): number => {
    let g = 0;
    for (let i = 0; i < D; i++) {
      const lo = -p[i];
      const hi = 1 - p[i];
      const v = Math.min(hi, Math.max(lo, lam * s[i]));
      if (out) out[i] = v;
      g += w[i] * sgn * v;
    }
    return g;
  };
  const d = new Float32Array(D);
  let lamHi = 0;
  for (let i = 0; i < D; i++) if (s[i] !== 0) lamHi = Math.max(lamHi, 1 / Math.abs(s[i]));
  if (c === 0) return d;
  if (dAt(lamHi) < c) {
    let den = 0;
    for (let i = 0; i < D; i++) den += w[i] * sgn * s[i];
    const lam = den > 0 ? c / den : 0;
    for (let i = 0; i < D; i++) d[i] = lam * s[i];
    return d;
  }
  let lo = 0;
  let hi = lamHi;
  for (let it = 0; it < 50; it++) {
    const mid = (lo + hi) / 2;
    if (dAt(mid) < c) lo = mid;
    else hi = mid;
  }
  dAt(hi, d);
  return d;
}

export const fabT: Attack = {
  name: 'fab-t',
  reference: 'Croce & Hein, ICML 2020 (FAB)',
  threatModel: 'whitebox',
  defaultNorm: 'linf',
  norms: ['linf', 'l2'],
  minimumNorm: true,
  targeted: true,
  defaultSteps: 100,
  async run(model: DifferentiableModel, x0: Float32Array, y: Int32Array, opts: AttackOptions) {
    const s = setup(this, model, x0, y, opts);
    const { d, n, goal, oracle, norm, eps } = s;
    if (!goal.y)
      throw unsupported('FAB-T needs a single-label view; choose one label of a multi-label head with --label');
    const nIter = opts.steps ?? this.defaultSteps;
    const restarts = opts.restarts ?? 1;
    const alphaMax = 0.1;
    const eta = opts.overshoot ?? 1.05;
    const beta = 0.9;
    const k = goal.k;
    const out = Float32Array.from(x0);
    const best = new Float64Array(n).fill(Infinity);
    const { fooled, ranks, nTargets, total } = await targetedPlan(s, x0, opts.targetClasses, restarts, nIter);
    let done = 0;
    for (let tc = 2; tc < nTargets + 2; tc++) {
      for (let r = 0; r < restarts; r++) {
        const idx = pendingTargeted(n, fooled, goal);
        if (!idx.length) break;
        const m = idx.length;
        const im = takeRows(x0, d, idx);
        const sub = goal.subset(idx);
        const yy = Int32Array.from(idx, (i) => goal.y![i]);
        const tt = roundTargets(goal, idx, ranks, tc);
        const diff = (vv: tf.Tensor2D): tf.Tensor1D =>
          tf.sub(pickColumns(tt, k)(vv), pickColumns(yy, k)(vv)) as tf.Tensor1D;
        const x1 = Float32Array.from(im);
        if (r > 0) {
          for (let i = 0; i < m; i++) {
            const t = new Float32Array(d);
            if (norm === 'linf') s.rng.fillUniform(t, -1, 1);
            else s.rng.fillNormal(t);
            const nt = perturbationSize(t, norm) || 1;
            for (let j = 0; j < d; j++)
              x1[i * d + j] = Math.min(1, Math.max(0, im[i * d + j] + ((eps * t[j]) / nt) * 0.5));
          }
        }
        const res = new Float64Array(m).fill(Infinity);
        const adv = Float32Array.from(im);
        for (let it = 0; it < nIter; it++) {
          const { logits, grad } = await oracle.lossGrad(x1, sub, diff);
          for (let i = 0; i < m; i++) {
            const off = i * d;
            const df = logits[i * k + tt[i]] - logits[i * k + yy[i]];
            const w = grad.subarray(off, off + d);
            let b = -df;
            for (let j = 0; j < d; j++) b += w[j] * x1[off + j];
            const d1 = projectHyperplaneBox(x1.subarray(off, off + d), w, b, norm);
            const d2 = projectHyperplaneBox(im.subarray(off, off + d), w, b, norm);
            const a1 = Math.max(perturbationSize(d1, norm), 1e-8);
            const a2 = Math.max(perturbationSize(d2, norm), 1e-8);
            const alpha = Math.min(Math.max(a1 / (a1 + a2), 0), alphaMax);
            for (let j = 0; j < d; j++) {
              x1[off + j] = Math.min(
                1,
                Math.max(0, (x1[off + j] + eta * d1[j]) * (1 - alpha) + (im[off + j] + eta * d2[j]) * alpha),
              );
            }
          }
          const mm = sub.marginRows(await oracle.logits(x1, sub));
          for (let i = 0; i < m; i++) {
            if (!(mm[i] < 0)) continue;
            const off = i * d;
            let t = 0;
            for (let j = 0; j < d; j++) {
              const a = Math.abs(x1[off + j] - im[off + j]);
              t = norm === 'linf' ? Math.max(t, a) : t + a * a;
            }
            if (norm === 'l2') t = Math.sqrt(t);
            if (t < res[i]) {
              res[i] = t;
              adv.set(x1.subarray(off, off + d), off);
            }
            for (let j = 0; j < d; j++) x1[off + j] = im[off + j] + (x1[off + j] - im[off + j]) * beta;
          }
          opts.onStep?.(++done, total);
        }
        idx.forEach((i, j) => {
          if (res[j] < best[i]) {
            best[i] = res[j];
            out.set(adv.subarray(j * d, (j + 1) * d), i * d);
          }
          if (res[j] <= eps) fooled[i] = 1;
        });
      }
    }
    return finalize(s, x0, out);
  },
};
