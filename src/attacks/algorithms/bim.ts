/**
 * BIM / I-FGSM — Basic Iterative Method.
 * A. Kurakin, I. Goodfellow, S. Bengio, "Adversarial examples in the physical world", ICLR workshop 2017.
 *
 *   x⁰ = x;   x^{t+1} = Clip_{x,ε}( x^t + α · sign(∇ₓ ℓ(f(x^t), y)) )
 *
 * Defaults: 20 steps of α = ε/20 — the setting of X. Ma et al., "Understanding adversarial attacks on
 * deep learning based medical image analysis systems", Pattern Recognition 2021 — loss CE, no random
 * start, early stop per sample. Usage: `medshield attack --attack bim --eps 3/255 --steps 20`.
 */
import type { Attack, AttackOptions } from '../types.js';
import { finalize, setup } from '../common.js';
import { gradientAscent } from '../iterative.js';
import type { DifferentiableModel } from '../../models/model.js';

export const bim: Attack = {
  name: 'bim',
  reference: 'Kurakin, Goodfellow & Bengio, ICLR workshop 2017',
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
      stepSize: opts.stepSize ?? opts.eps / 20,
      randomStart: false,
      restarts: 1,
      decay: 0,
      loss: opts.loss ?? 'ce',
      earlyStop: opts.earlyStop ?? true,
      onStep: opts.onStep,
    });
    return finalize(s, x, xa);
  },
};
