/**
 * CW-L2 — the Carlini & Wagner L2 attack.
 * N. Carlini, D. Wagner, "Towards Evaluating the Robustness of Neural Networks", IEEE S&P 2017.
 *
 *   x(w) = ½(tanh(w) + 1)                     (change of variables: x always in [0,1])
 *   minimise_w  ‖x(w) − x‖₂² + c · max(m(x(w)), −κ)
 *   m = Z_y − max_{i≠y} Z_i (untargeted)   |   max_{i≠t} Z_i − Z_t (targeted)     (f₆ of the paper)
 *
 * solved with Adam (learning rate 0.01) for `steps` iterations, and a binary search over c per
 * sample: after a round that found an adversarial example c ← (c_lo + c)/2, otherwise c ← 10·c
 * (or the midpoint once an upper bound exists). The answer is the smallest-L2 adversarial iterate
 * seen; a sample never fooled returns its last iterate. CW is a minimum-norm attack: ε only bounds
 * the answer (the shared projection clips it to the ε ball of `--norm`, default L2).
 * Defaults: 5 binary-search steps from c = 1 (torchattacks' c), 50 Adam steps, κ = 0.
 * Usage: `medshield attack --attack cw --eps 0.5 --steps 50`.
 */
import type { Attack, AttackOptions } from '../types.js';
import { finalize, setup } from '../common.js';
import type { DifferentiableModel } from '../../models/model.js';

export const cw: Attack = {
  name: 'cw',
  reference: 'Carlini & Wagner, IEEE S&P 2017',
  threatModel: 'whitebox',
  defaultNorm: 'l2',
  norms: ['l2', 'linf', 'l1'],
  minimumNorm: true,
  targeted: true,
  defaultSteps: 50,
  async run(model: DifferentiableModel, x0: Float32Array, y: Int32Array, opts: AttackOptions) {
    const s = setup(this, model, x0, y, opts);
    const { d, n, goal, oracle } = s;
    const steps = opts.steps ?? this.defaultSteps;
    const lr = opts.learningRate ?? 0.01;
    const kappa = opts.confidence ?? 0;
    const rounds = opts.binarySteps ?? 5;
    const c = new Float64Array(n).fill(opts.initialConst ?? 1);
    const lo = new Float64Array(n);
    const hi = new Float64Array(n).fill(1e10);
    const bestL2 = new Float64Array(n).fill(Infinity);
    const best = Float32Array.from(x0);
    const w0 = Float32Array.from(x0, (v) => Math.atanh((2 * v - 1) * 0.999999));
    const beta1 = 0.9;
    const beta2 = 0.999;
    for (let r = 0; r < rounds; r++) {
      const w = Float32Array.from(w0);
      const m1 = new Float32Array(w.length);
      const m2 = new Float32Array(w.length);
      const found = new Uint8Array(n);
      const x = new Float32Array(w.length);
      for (let t = 1; t <= steps + 1; t++) {
        for (let j = 0; j < w.length; j++) x[j] = 0.5 * (Math.tanh(w[j]) + 1);
        const { logits, grad } = await oracle.lossGrad(x, goal, (v) => goal.margin(v));
        const m = goal.marginRows(logits);
        for (let i = 0; i < n; i++) {
          let l2 = 0;
          for (let j = i * d; j < (i + 1) * d; j++) l2 += (x[j] - x0[j]) ** 2;
          if (m[i] < -kappa || (kappa === 0 && m[i] < 0)) {
            found[i] = 1;
            if (l2 < bestL2[i]) {
              bestL2[i] = l2;
              best.set(x.subarray(i * d, (i + 1) * d), i * d);
            }
          }
          if (r === rounds - 1 && t === steps + 1 && bestL2[i] === Infinity)
            best.set(x.subarray(i * d, (i + 1) * d), i * d);
          if (t === steps + 1) continue;
          const active = m[i] > -kappa ? c[i] : 0;
          for (let j = i * d; j < (i + 1) * d; j++) {
            const gx = 2 * (x[j] - x0[j]) + active * grad[j];
            const g = gx * 2 * x[j] * (1 - x[j]);
            m1[j] = beta1 * m1[j] + (1 - beta1) * g;
            m2[j] = beta2 * m2[j] + (1 - beta2) * g * g;
            const mh = m1[j] / (1 - beta1 ** t);
            const vh = m2[j] / (1 - beta2 ** t);
            w[j] -= (lr * mh) / (Math.sqrt(vh) + 1e-8);
          }
        }
        opts.onStep?.(r * steps + Math.min(t, steps), rounds * steps);
      }
      for (let i = 0; i < n; i++) {
        if (found[i]) {
          hi[i] = Math.min(hi[i], c[i]);
          c[i] = (lo[i] + hi[i]) / 2;
        } else {
          lo[i] = Math.max(lo[i], c[i]);
          c[i] = hi[i] < 1e10 ? (lo[i] + hi[i]) / 2 : c[i] * 10;
        }
      }
    }
    return finalize(s, x0, best);
  },
};
