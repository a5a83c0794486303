/**
 * JSMA — Jacobian-based Saliency Map Attack (gray images: one feature per pixel; colour images:
 * one feature per channel value).
 * N. Papernot, P. McDaniel, S. Jha, M. Fredrikson, Z. B. Celik, A. Swami, "The Limitations of Deep
 * Learning in Adversarial Settings", IEEE EuroS&P 2016.
 *
 * Targeted, greedy, on pairs of features. With α = ∂Z_t/∂x and β = Σ_{j≠t} ∂Z_j/∂x, pick
 *   (p*, q*) = argmax_{p,q ∈ Γ, α_p+α_q > 0, β_p+β_q < 0}  (α_p + α_q) · |β_p + β_q|
 * and set x_p, x_q ← clip(x + θ); remove saturated features from the search domain Γ; stop when the
 * target is reached or a fraction γ of the features has changed. Untargeted mode targets the most
 * likely wrong class at the clean image (on binary tasks: the other class).
 * Defaults: θ = +1, γ = ε when the norm is L0 (else 0.1), logits Z. Native norm: L0 (ε = fraction of
 * features). Usage: `medshield attack --attack jsma --norm l0 --eps 0.05 --targeted --target 1`.
 */
import type { Attack, AttackOptions } from '../types.js';
import { finalize, setup } from '../common.js';
import { pickColumns } from '../targets/oracle.js';
import { unsupported } from '../../errors.js';
import { tf } from '../../engine/index.js';
import type { DifferentiableModel } from '../../models/model.js';

export const jsma: Attack = {
  name: 'jsma',
  reference: 'Papernot et al., IEEE EuroS&P 2016',
  threatModel: 'whitebox',
  defaultNorm: 'l0',
  norms: ['l0', 'l1', 'l2', 'linf'],
  minimumNorm: true,
  targeted: true,
  defaultSteps: 0,
  async run(model: DifferentiableModel, x0: Float32Array, y: Int32Array, opts: AttackOptions) {
    const s = setup(this, model, x0, y, opts);
    const { d, n, oracle, norm } = s;
    if (!s.goal.y)
      throw unsupported('JSMA needs a single-label view; choose one label of a multi-label head with --label');
    const k = s.goal.k;
    const theta = opts.theta ?? 1;
    const gamma = opts.gamma ?? (norm === 'l0' ? opts.eps : 0.1);
    const maxIter = Math.floor((gamma * d) / 2);
    // Target per sample
    let target = s.goal.target;
    if (!target) {
      const v = await oracle.logits(x0, s.goal);
      target = Int32Array.from({ length: n }, (_, i) => {
        let b = -1;
        for (let c = 0; c < k; c++) if (c !== s.goal.y![i] && (b < 0 || v[i * k + c] > v[i * k + b])) b = c;
        return b;
      });
    }
    const goal = s.goal.target ? s.goal : s.goal.withTarget(target);
    const x = Float32Array.from(x0);
    const domain = new Uint8Array(n * d);
    for (let j = 0; j < n * d; j++) domain[j] = theta > 0 ? (x0[j] < 1 ? 1 : 0) : x0[j] > 0 ? 1 : 0;
    let active = Array.from({ length: n }, (_, i) => i).filter((i) => s.goal.y![i] !== target![i]);
    for (let it = 0; it < maxIter && active.length; it++) {
      const xs = new Float32Array(active.length * d);
      active.forEach((i, r) => xs.set(x.subarray(i * d, (i + 1) * d), r * d));
      const g = goal.subset(active);
      const tgt = Int32Array.from(active, (i) => target![i]);
      const all = (v: tf.Tensor2D): tf.Tensor1D => tf.sum(v, 1) as tf.Tensor1D;
      const { logits, grads } = await oracle.jacobian(xs, g, [pickColumns(tgt, k), all]);
      const m = g.marginRows(logits);
      const next: number[] = [];
      active.forEach((i, r) => {
        if (m[r] < 0) return;
        const off = r * d;
        const dom = i * d;
        const a = grads[0].subarray(off, off + d);
        let bestScore = 0;
        let bp = -1;
        let bq = -1;
        for (let p = 0; p < d; p++) {
          if (!domain[dom + p]) continue;
          const ap = a[p];
          const bpv = grads[1][off + p] - ap;
          for (let q = p + 1; q < d; q++) {
            if (!domain[dom + q]) continue;
            const al = ap + a[q];
            const be = bpv + grads[1][off + q] - a[q];
            const sAl = theta > 0 ? al : -al;
            const sBe = theta > 0 ? be : -be;
            if (sAl > 0 && sBe < 0) {
              const sc = sAl * -sBe;
              if (sc > bestScore) {
                bestScore = sc;
                bp = p;
                bq = q;
              }
            }
          }
        }
        if (bp < 0) return; // no admissible pair: the attack gives up on this sample
        for (const p of [bp, bq]) {
          const v = Math.min(1, Math.max(0, x[dom + p] + theta));
          x[dom + p] = v;
          if ((theta > 0 && v >= 1) || (theta < 0 && v <= 0)) domain[dom + p] = 0;
        }
        next.push(i);
      });
      active = next;
      opts.onStep?.(it + 1, maxIter);
    }
    return finalize(s, x0, x);
  },
};
