/**
 * MI-FGSM — Momentum Iterative FGSM.
 * Y. Dong, F. Liao, T. Pang, H. Su, J. Zhu, X. Hu, J. Li, "Boosting Adversarial Attacks with
 * Momentum", CVPR 2018.
 *
 *   g^{t+1} = µ · g^t + ∇ₓℓ(x^t) / ‖∇ₓℓ(x^t)‖₁;   x^{t+1} = Clip_{x,ε}( x^t + α · sign(g^{t+1}) )
 *
 * Defaults (paper and torchattacks): 10 steps, α = ε/steps, µ = 1.0, no random start, loss CE.
 * Usage: `medshield attack --attack mifgsm --eps 4/255 --steps 10`.
 */
import type { Attack, AttackOptions } from '../types.js';
import { finalize, setup } from '../common.js';
import { gradientAscent } from '../iterative.js';
import type { DifferentiableModel } from '../../models/model.js';

export const mifgsm: Attack = {
  name: 'mifgsm',
  reference: 'Dong et al., CVPR 2018',
  threatModel: 'whitebox',
  defaultNorm: 'linf',
  norms: ['linf', 'l2'],
  minimumNorm: false,
  targeted: true,
  defaultSteps: 10,
  async run(model: DifferentiableModel, x: Float32Array, y: Int32Array, opts: AttackOptions) {
    const s = setup(this, model, x, y, opts);
    const steps = opts.steps ?? this.defaultSteps;
    const xa = await gradientAscent(s, x, {
      steps,
      stepSize: opts.stepSize ?? opts.eps / steps,
      randomStart: false,
      restarts: 1,
      decay: opts.decay ?? 1.0,
      loss: opts.loss ?? 'ce',
      earlyStop: opts.earlyStop ?? true,
      onStep: opts.onStep,
    });
    return finalize(s, x, xa);
  },
};
