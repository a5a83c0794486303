/**
 * FGSM — Fast Gradient Sign Method.
 * I. Goodfellow, J. Shlens, C. Szegedy, "Explaining and Harnessing Adversarial Examples", ICLR 2015.
 *
 *   x_adv = clip_[0,1]( x + ε · sign(∇ₓ ℓ(f(x), y)) )          (L∞, one step)
 *   x_adv = clip_[0,1]( x + ε · ∇ₓℓ / ‖∇ₓℓ‖₂ )                 (L2 variant, "fast gradient method")
 *
 * Defaults: loss CE; targeted mode descends the loss of the target class (ℓ = log p_t is maximised).
 * Usage: `medshield attack --attack fgsm --eps 2/255`.
 */
import type { Attack, AttackOptions } from './types.js';
import { finalize, setup } from './common.js';
import { gradientAscent } from './iterative.js';
import type { DifferentiableModel } from '../models/model.js';

export const fgsm: Attack = {
  name: 'fgsm', reference: 'Goodfellow, Shlens & Szegedy, ICLR 2015', threatModel: 'whitebox',
  defaultNorm: 'linf', norms: ['linf', 'l2'], minimumNorm: false, targeted: true, defaultSteps: 1,
  async run(model: DifferentiableModel, x: Float32Array, y: Int32Array, opts: AttackOptions) {
    const s = setup(this, model, x, y, opts);
    const xa = await gradientAscent(s, x, { steps: 1, stepSize: opts.eps, randomStart: false, restarts: 1, decay: 0, loss: opts.loss ?? 'ce', earlyStop: false, onStep: opts.onStep });
    return finalize(s, x, xa);
  },
};
