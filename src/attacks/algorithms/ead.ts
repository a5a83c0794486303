/**
 * EAD — Elastic-net Attack to DNNs (L1-oriented).
 * P.-Y. Chen, Y. Sharma, H. Zhang, J. Yi, C.-J. Hsieh, "EAD: Elastic-Net Attacks to Deep Neural
 * Networks via Adversarial Examples", AAAI 2018.
 *
 *   minimise_x'  c · max(m(x'), −κ) + ‖x' − x‖₂² + β ‖x' − x‖₁,   x' ∈ [0,1]^d
 *
 * by FISTA: with slack y and g = ∇_y( c·max(m(y),−κ) + ‖y − x‖₂² ),
 *   x^{k+1} = S_β(y^k − α_k g),   S_β(z)_i = min(z_i − β, 1) if z_i − x_i > β;  x_i if |z_i − x_i| ≤ β;
 *                                             max(z_i + β, 0) if z_i − x_i < −β
 *   y^{k+1} = x^{k+1} + k/(k+3) · (x^{k+1} − x^k),   α_k = α₀ (1 − k/K)^{1/2}
 * plus the binary search over c of CW. Decision rule "EN": among adversarial iterates keep the one
 * with the smallest elastic-net distance ‖δ‖₂² + β‖δ‖₁.
 * Defaults: β = 1e−3, α₀ = 0.01, 100 iterations, 6 binary-search steps from c = 0.01, κ = 0.
 * Minimum-norm: ε (default norm L1) only bounds the answer.
 * Usage: `medshield attack --attack ead --norm l1 --eps 1`.
 */
import type { Attack, AttackOptions } from '../types.js';
import { finalize, setup } from '../common.js';
import type { DifferentiableModel } from '../../models/model.js';

export const ead: Attack = {
  name: 'ead',
  reference: 'Chen et al., AAAI 2018',
  threatModel: 'whitebox',
  defaultNorm: 'l1',
  norms: ['l1', 'l2', 'linf'],
  minimumNorm: true,
  targeted: true,
  defaultSteps: 100,
  async run(model: DifferentiableModel, x0: Float32Array, y: Int32Array, opts: AttackOptions) {
    const s = setup(this, model, x0, y, opts);
    const { d, n, goal, oracle } = s;
    const K = opts.steps ?? this.defaultSteps;
    const lr0 = opts.learningRate ?? 0.01;
    const beta = opts.beta ?? 1e-3;
    const kappa = opts.confidence ?? 0;
    const rounds = opts.binarySteps ?? 6;
    const c = new Float64Array(n).fill(opts.initialConst ?? 0.01);
    const lo = new Float64Array(n);
    const hi = new Float64Array(n).fill(1e10);
    const bestEN = new Float64Array(n).fill(Infinity);
    const best = Float32Array.from(x0);
    for (let r = 0; r < rounds; r++) {
      let xk = Float32Array.from(x0);
      const yk = Float32Array.from(x0);
      const found = new Uint8Array(n);
      for (let k = 0; k <= K; k++) {
        const { logits, grad } = await oracle.lossGrad(yk, goal, (v) => goal.margin(v));
        const m = goal.marginRows(logits);
        // record the slack point if it is adversarial (decision rule EN)
        for (let i = 0; i < n; i++) {
          if (!(m[i] < -kappa || (kappa === 0 && m[i] < 0))) continue;
          found[i] = 1;
          let l1 = 0;
          let l2 = 0;
          for (let j = i * d; j < (i + 1) * d; j++) {
            const v = yk[j] - x0[j];
            l1 += Math.abs(v);
            l2 += v * v;
          }
          const en = l2 + beta * l1;
          if (en < bestEN[i]) {
            bestEN[i] = en;
            best.set(yk.subarray(i * d, (i + 1) * d), i * d);
          }
        }
        if (k === K) break;
        const lr = lr0 * Math.sqrt(1 - k / K);
        const xNew = new Float32Array(xk.length);
        for (let i = 0; i < n; i++) {
          const active = m[i] > -kappa ? c[i] : 0;
          for (let j = i * d; j < (i + 1) * d; j++) {
            const z = yk[j] - lr * (active * grad[j] + 2 * (yk[j] - x0[j]));
            const diff = z - x0[j];
            xNew[j] = diff > beta ? Math.min(z - beta, 1) : diff < -beta ? Math.max(z + beta, 0) : x0[j];
          }
        }
        const mom = k / (k + 3);
        for (let j = 0; j < yk.length; j++) {
          yk[j] = Math.min(1, Math.max(0, xNew[j] + mom * (xNew[j] - xk[j])));
        }
        xk = xNew;
        opts.onStep?.(r * K + k + 1, rounds * K);
      }
      for (let i = 0; i < n; i++) {
        if (r === rounds - 1 && bestEN[i] === Infinity) best.set(xk.subarray(i * d, (i + 1) * d), i * d);
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
