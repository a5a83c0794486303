/**
 * PGD — Projected Gradient Descent (L∞ and L2).
 * A. Madry, A. Makelov, L. Schmidt, D. Tsipras, A. Vladu, "Towards Deep Learning Models Resistant to
 * Adversarial Attacks", ICLR 2018.
 *
 *   x⁰ = x + U(B_ε(x));   x^{t+1} = Π_{B_ε(x) ∩ [0,1]^d}( x^t + α · s(∇ₓ ℓ(f(x^t), y)) )
 *   s = sign (L∞) or g/‖g‖₂ (L2)
 *
 * Defaults: 20 steps, α = ε/4 (Madry et al.'s CIFAR-10 setting, 2/255 at 8/255, and torchattacks'
 * default α = 2/255 at ε = 8/255), random start, 1 restart, loss CE (or `cw`, `dlr`), early stop per
 * sample. With 20 steps the walk covers 5ε: it can cross the ball and still turn. The seed papers' settings:
 * Ma et al. 2021 use α = 2ε/20; Finlayson et al. (Science 2019) α = 0.01 at ε = 0.02 on [−1,1]
 * inputs, i.e. α = ε/2 (`replicate` runs both; `--step-size` sets α).
 * Usage: `medshield attack --attack pgd --eps 2/255,8/255 --steps 20 [--norm l2]`.
 */
import type { Attack, AttackOptions } from '../types.js';
import { finalize, setup } from '../common.js';
import { gradientAscent } from '../iterative.js';
import type { DifferentiableModel } from '../../models/model.js';

export const pgd: Attack = {
  name: 'pgd',
  reference: 'Madry et al., ICLR 2018',
  threatModel: 'whitebox',
  defaultNorm: 'linf',
  norms: ['linf', 'l2'],
  minimumNorm: false,
  targeted: true,
  defaultSteps: 20,
  async run(model: DifferentiableModel, x: Float32Array, y: Int32Array, opts: AttackOptions) {
    const s = setup(this, model, x, y, opts);
    const steps = opts.steps ?? this.defaultSteps;
    const xa = await gradientAscent(s, x, {
      steps,
      stepSize: opts.stepSize ?? opts.eps / 4,
      randomStart: opts.randomStart ?? true,
      restarts: opts.restarts ?? 1,
      decay: 0,
      loss: opts.loss ?? 'ce',
      earlyStop: opts.earlyStop ?? true,
      onStep: opts.onStep,
    });
    return finalize(s, x, xa);
  },
};
