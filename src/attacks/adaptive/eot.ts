/**
 * EOT — Expectation over Transformation. A. Athalye, L. Engstrom, A. Ilyas & K. Kwok, "Synthesizing
 * robust adversarial examples", ICML 2018; used against randomized defences in Athalye, Carlini &
 * Wagner, ICML 2018 (and, for randomized smoothing, Salman et al., NeurIPS 2019, SmoothAdv).
 *
 * Against a randomized defence t ~ T (random resize-and-pad, Gaussian noise of randomized smoothing):
 *   maximise ℓ( log E_{t~T}[ softmax f(t(x)) ], y ),  ∇ estimated with `samples` draws per step
 * (BPDA straight-through for non-differentiable draws). Success is judged by the deployed defence,
 * with its own randomness.
 *
 * Usage: `medshield scorecard --defences resizepad,smoothing:sigma=0.25` (default 8 draws; `--eot-samples`).
 */
import { unsupported } from '../../errors.js';
import type { AdaptiveAttack, Pipeline } from './types.js';
import { attackView } from './bpda.js';

export const eot: AdaptiveAttack = {
  name: 'eot',
  reference:
    'Athalye et al., ICML 2018: ∇ₓ E_{t~T} ℓ(f(t(x)), y) ≈ (1/k) Σ_{i≤k} ∇ₓ ℓ(f(t_i(x)), y), BPDA through each t_i',
  applies: (p: Pipeline) => !!p.defence?.randomized,
  async run(p, x, y, opts) {
    const d = p.defence;
    if (!d?.randomized) throw unsupported('EOT attacks a randomized defence; this pipeline has none');
    const samples = opts.samples ?? 8;
    return attackView(
      p,
      { transform: d.transform, noiseSigma: d.noise?.sigma, samples, seed: opts.seed },
      x,
      y,
      opts,
      `EOT over ${d.spec}`,
    );
  },
};
