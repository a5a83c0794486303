/**
 * DeepFool (L2 and L∞).
 * S.-M. Moosavi-Dezfooli, A. Fawzi, P. Frossard, "DeepFool: a simple and accurate method to fool
 * deep neural networks", CVPR 2016.
 *
 * At each iteration, linearise the classifier around x^t; with f_l = Z_l − Z_ŷ and w_l = ∇Z_l − ∇Z_ŷ
 * (ŷ the true class; for a targeted goal only l = t is considered, against the current top class):
 *   l̂ = argmin_{l≠ŷ} |f_l| / ‖w_l‖_q              (q = 2 for L2, q = 1 — the dual of L∞)
 *   r^t = (|f_l̂| + 1e−4) / ‖w_l̂‖_q^q · |w_l̂|^{q−1} ⊙ sign(w_l̂)
 *   x^{t+1} = clip_[0,1]( x + (1 + η) Σ_{s≤t} r^s )
 * until the label changes (per sample) or `steps` iterations. Defaults: 50 iterations, overshoot
 * η = 0.02. Minimum-norm: ε only bounds the answer. Usage: `medshield attack --attack deepfool --norm l2 --eps 1`.
 */
import type { Attack, AttackOptions } from '../types.js';
import { finalize, setup } from '../common.js';
import { column } from '../targets/oracle.js';
import { takeRows } from '../project.js';
import { unsupported } from '../../errors.js';
import type { DifferentiableModel } from '../../models/model.js';

export const deepfool: Attack = {
  name: 'deepfool',
  reference: 'Moosavi-Dezfooli, Fawzi & Frossard, CVPR 2016',
  threatModel: 'whitebox',
  defaultNorm: 'l2',
  norms: ['l2', 'linf'],
  minimumNorm: true,
  targeted: true,
  defaultSteps: 50,
  async run(model: DifferentiableModel, x0: Float32Array, y: Int32Array, opts: AttackOptions) {
    const s = setup(this, model, x0, y, opts);
    const { d, n, goal, oracle, norm } = s;
    if (!goal.y)
      throw unsupported('DeepFool needs a single-label view; choose one label of a multi-label head with --label');
    const steps = opts.steps ?? this.defaultSteps;
    const eta = opts.overshoot ?? 0.02;
    const k = goal.k;
    const out = Float32Array.from(x0);
    let idx = Array.from({ length: n }, (_, i) => i);
    let rTot = new Float32Array(n * d);
    let x = Float32Array.from(x0);
    for (let t = 0; t <= steps && idx.length; t++) {
      const g = goal.subset(idx);
      const { logits, grads } = await oracle.jacobian(
        x,
        g,
        Array.from({ length: k }, (_, c) => column(c)),
      );
      const m = g.marginRows(logits);
      const stay: number[] = [];
      for (let j = 0; j < idx.length; j++) {
        if (m[j] < 0 || t === steps) out.set(x.subarray(j * d, (j + 1) * d), idx[j] * d);
        else stay.push(j);
      }
      if (t === steps || !stay.length) break;
      x = takeRows(x, d, stay);
      rTot = takeRows(rTot, d, stay);
      idx = stay.map((j) => idx[j]);
      const gs = grads.map((gr) => takeRows(gr, d, stay));
      const lg = takeRows(logits, k, stay);
      const sub = goal.subset(idx);
      for (let j = 0; j < idx.length; j++) {
        const off = j * d;
        // reference class a and candidate classes l: untargeted a = y, l ≠ y; targeted l = t, a = top class ≠ t
        let a = sub.y![j];
        let cands = Array.from({ length: k }, (_, c) => c).filter((c) => c !== a);
        if (sub.target) {
          const tt = sub.target[j];
          a = -1;
          for (let c = 0; c < k; c++) if (c !== tt && (a < 0 || lg[j * k + c] > lg[j * k + a])) a = c;
          cands = [tt];
        }
        let bestL = -1;
        let bestRatio = Infinity;
        let bestF = 0;
        let bestNq = 0;
        for (const l of cands) {
          const f = lg[j * k + l] - lg[j * k + a];
          let nq = 0;
          for (let q = 0; q < d; q++) {
            const w = gs[l][off + q] - gs[a][off + q];
            nq += norm === 'l2' ? w * w : Math.abs(w);
          }
          const ratio = Math.abs(f) / ((norm === 'l2' ? Math.sqrt(nq) : nq) + 1e-12);
          if (ratio < bestRatio) {
            bestRatio = ratio;
            bestL = l;
            bestF = f;
            bestNq = nq;
          }
        }
        const scale = (Math.abs(bestF) + 1e-4) / (bestNq + 1e-12);
        for (let q = 0; q < d; q++) {
          const w = gs[bestL][off + q] - gs[a][off + q];
          rTot[off + q] += norm === 'l2' ? scale * w : scale * Math.sign(w);
        }
      }
      const x0s = takeRows(x0, d, idx);
      x = new Float32Array(x0s.length);
      for (let q = 0; q < x.length; q++) x[q] = Math.min(1, Math.max(0, x0s[q] + (1 + eta) * rTot[q]));
      opts.onStep?.(t + 1, steps);
    }
    return finalize(s, x0, out);
  },
};
