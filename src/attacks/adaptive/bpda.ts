/**
 * BPDA — Backward Pass Differentiable Approximation. A. Athalye, N. Carlini & D. Wagner, "Obfuscated
 * gradients give a false sense of security: circumventing defenses to adversarial examples", ICML 2018.
 *
 * Against a deterministic, non-differentiable input transform T (JPEG, bit depth, median, blur, TV
 * minimisation), attack f∘T with the gradient of f at T(x) and the identity for T:
 *   x^{t+1} = Π_{B_ε(x)}( x^t + α · sign ∇_z ℓ(f(z), y)|_{z = T(x^t)} )
 * The forward pass — and so every success check — runs the real transform. The white-box attack on the
 * view is `opts.base` (default PGD; `apgd-ce` works too), with its own steps and restarts.
 *
 * Usage: `medshield scorecard --defences jpeg:q=75` (the scorecard picks BPDA for deterministic transforms).
 */
import { getAttack } from '../registry.js';
import { unsupported } from '../../errors.js';
import type { AdaptiveAttack, AdaptiveOptions, AdaptiveResult, Pipeline } from './types.js';
import { DefenceView, type ViewSpec } from './view.js';
import { pipelineResult } from './pipeline.js';

/** Run the base white-box attack on the attacker's view of the pipeline, then judge the result on the real pipeline. */
export async function attackView(
  p: Pipeline,
  spec: ViewSpec,
  x: Float32Array,
  y: Int32Array,
  opts: AdaptiveOptions,
  label: string,
): Promise<AdaptiveResult> {
  const base = getAttack(opts.base ?? 'pgd');
  if (base.threatModel !== 'whitebox') throw unsupported(`${label} needs a white-box base attack, not '${base.name}'`);
  const view = new DefenceView(p.model, spec);
  // Randomized views: no early stop — an image that just crosses the boundary of one estimate of the
  // expectation often falls back under fresh draws, so EOT keeps pushing for all its steps.
  const r = await base.run(view, x, y, {
    ...opts,
    norm: opts.norm ?? 'linf',
    earlyStop: opts.earlyStop ?? view.samples === 1,
  });
  const notes = [
    ...r.notes,
    `${label}: ${base.name} on the attacker's view${view.samples > 1 ? ` (${view.samples} draws per gradient)` : ''}`,
  ];
  return pipelineResult(
    p,
    r.xAdv,
    y,
    { forward: r.queries.forward * view.samples, gradient: r.queries.gradient * view.samples },
    notes,
  );
}

export const bpda: AdaptiveAttack = {
  name: 'bpda',
  reference: 'Athalye, Carlini & Wagner, ICML 2018: ∇ₓ f(T(x)) ≈ ∇_z f(z)|_{z=T(x)} (straight-through identity for T)',
  applies: (p: Pipeline) => !!p.defence?.transform && !p.defence.randomized,
  async run(p, x, y, opts) {
    if (!p.defence?.transform) throw unsupported('BPDA attacks an input-transform defence; this pipeline has none');
    return attackView(
      p,
      { transform: p.defence.transform, seed: opts.seed },
      x,
      y,
      opts,
      `BPDA through ${p.defence.spec}`,
    );
  },
};
